//! Coarse demographics, the only person-level attributes kept beside tokens
//! for reports: five-year age band, sex, ONS ethnic group, region.

/// Sex codes (NHS Data Dictionary 1/2/9/X as words).
pub const SEXES: [&str; 4] = ["male", "female", "other", "unknown"];

/// ONS ethnic groups, plus `Not stated`.
pub const ETHNIC_GROUPS: [&str; 6] = ["White", "Mixed", "Asian", "Black", "Other", "Not stated"];

/// Regions: the nine English ONS regions, Wales, Scotland, Northern
/// Ireland; anything else is [`UNKNOWN_REGION`].
pub const REGIONS: [&str; 12] = [
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
    "Scotland",
    "Northern Ireland",
];

/// The label of a region cell outside [`REGIONS`] (or blank).
pub const UNKNOWN_REGION: &str = "Unknown";

fn squash(b: &[u8]) -> Vec<u8> {
    b.iter()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The region of a cell, from the fixed vocabulary (case- and
/// space-insensitive; `&` for `and`), or `None` for anything else — blank,
/// a postcode, free text — which the caller records as
/// [`UNKNOWN_REGION`]. No text from a cohort reaches the store or a report.
pub fn region(cell: &[u8]) -> Option<&'static str> {
    let mut k = squash(cell);
    if let Some(i) = k.windows(1).position(|w| w == b"&") {
        k.splice(i..i + 1, b"and".iter().copied());
    }
    if k == b"east" {
        return Some("East of England");
    }
    REGIONS.iter().copied().find(|r| squash(r.as_bytes()) == k)
}

/// A region label as given in a request (criteria, quotas): the
/// vocabulary's spelling, `Unknown`, or `None`.
pub fn region_label(s: &str) -> Option<&'static str> {
    if squash(s.as_bytes()) == b"unknown" {
        return Some(UNKNOWN_REGION);
    }
    region(s.as_bytes())
}

/// The five-year band of an age: `50-54`; `90+` from 90.
pub fn age_band(age: u16) -> String {
    if age >= 90 {
        "90+".to_string()
    } else {
        let lo = age / 5 * 5;
        format!("{lo}-{}", lo + 4)
    }
}

/// Parse a band label back to its inclusive age range.
pub fn parse_age_band(s: &str) -> Option<(u16, u16)> {
    if s == "90+" {
        return Some((90, u16::MAX));
    }
    let (a, b) = s.split_once('-')?;
    let lo: u16 = a.parse().ok()?;
    let hi: u16 = b.parse().ok()?;
    (hi == lo + 4 && lo < 90 && age_band(lo) == s).then_some((lo, hi))
}

/// Normalise a sex cell: the words (any case), or Data Dictionary codes
/// `1`/`2`/`9`/`X`, or `M`/`F`/`U`/`O`; blank is `unknown`. `None` for
/// anything else.
pub fn sex(cell: &[u8]) -> Option<&'static str> {
    let t = cell.trim_ascii();
    if t.is_empty() {
        return Some("unknown");
    }
    for (words, v) in [
        (&[&b"male"[..], b"m", b"1"][..], "male"),
        (&[&b"female"[..], b"f", b"2"][..], "female"),
        (&[&b"other"[..], b"o", b"9"][..], "other"),
        (&[&b"unknown"[..], b"u", b"x", b"0"][..], "unknown"),
    ] {
        if words.iter().any(|w| t.eq_ignore_ascii_case(w)) {
            return Some(v);
        }
    }
    None
}

/// The ONS group of an NHS ethnic category letter; blank is `Not stated`.
/// `None` for anything that is not a category letter.
pub fn ethnic_group(cell: &[u8]) -> Option<&'static str> {
    let t = cell.trim_ascii();
    if t.is_empty() {
        return Some("Not stated");
    }
    if t.len() != 1 {
        return None;
    }
    Some(match t[0].to_ascii_uppercase() {
        b'A' | b'B' | b'C' => "White",
        b'D' | b'E' | b'F' | b'G' => "Mixed",
        b'H' | b'J' | b'K' | b'L' => "Asian",
        b'M' | b'N' | b'P' => "Black",
        b'R' | b'S' => "Other",
        b'Z' => "Not stated",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bands() {
        assert_eq!(age_band(50), "50-54");
        assert_eq!(age_band(54), "50-54");
        assert_eq!(age_band(4), "0-4");
        assert_eq!(age_band(95), "90+");
        assert_eq!(parse_age_band("50-54"), Some((50, 54)));
        assert_eq!(parse_age_band("51-55"), None);
        assert_eq!(parse_age_band("90+"), Some((90, u16::MAX)));
        assert_eq!(parse_age_band("x"), None);
    }

    #[test]
    fn codes() {
        assert_eq!(sex(b"Female"), Some("female"));
        assert_eq!(sex(b"2"), Some("female"));
        assert_eq!(sex(b""), Some("unknown"));
        assert_eq!(sex(b"q"), None);
        assert_eq!(ethnic_group(b"N"), Some("Black"));
        assert_eq!(ethnic_group(b"z"), Some("Not stated"));
        assert_eq!(ethnic_group(b"I"), None);
        assert_eq!(ethnic_group(b"AB"), None);
    }

    #[test]
    fn regions_are_a_closed_vocabulary() {
        assert_eq!(region(b"london"), Some("London"));
        assert_eq!(
            region(b" YORKSHIRE AND THE HUMBER "),
            Some("Yorkshire and The Humber")
        );
        assert_eq!(
            region(b"Yorkshire & the Humber"),
            Some("Yorkshire and The Humber")
        );
        assert_eq!(region(b"northernireland"), Some("Northern Ireland"));
        assert_eq!(region(b"East"), Some("East of England"));
        assert_eq!(region(b"B25 0LG"), None);
        assert_eq!(region(b""), None);
        assert_eq!(region_label("unknown"), Some(UNKNOWN_REGION));
        for r in REGIONS {
            assert_eq!(region(r.as_bytes()), Some(r));
        }
    }

    proptest! {
        #[test]
        fn region_is_never_free_text(b in proptest::collection::vec(any::<u8>(), 0..30)) {
            if let Some(r) = region(&b) {
                prop_assert!(REGIONS.contains(&r));
            }
        }

        #[test]
        fn band_round_trips(age in 0u16..130) {
            let b = age_band(age);
            let (lo, hi) = parse_age_band(&b).unwrap();
            prop_assert!(lo <= age && age <= hi);
        }
    }
}
