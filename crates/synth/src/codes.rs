//! Code lists and the distributions drawn from them: age pyramid, sex,
//! ethnic category, condition codes, flag rates.
//!
//! Sources (rounded, England): ONS mid-2022 population estimates by 5-year
//! age band; 2021 Census ethnic group for London and for the rest of England;
//! NHS Quality and Outcomes Framework and survey prevalences for conditions.

/// An ethnic category of the NHS Data Dictionary with its ONS group.
#[derive(Clone, Copy, Debug)]
pub struct Ethnicity {
    /// NHS Data Dictionary letter.
    pub code: u8,
    /// ONS five-group label the letter reports under.
    pub group: &'static str,
    /// Share per 1000 in London (2021 Census).
    pub london: u32,
    /// Share per 1000 in England outside London (2021 Census).
    pub rest: u32,
}

/// The 16 stated categories; `Z` (not stated) is drawn separately at
/// [`NOT_STATED_PER_MILLE`].
pub const ETHNICITIES: &[Ethnicity] = &[
    Ethnicity {
        code: b'A',
        group: "White",
        london: 368,
        rest: 803,
    },
    Ethnicity {
        code: b'B',
        group: "White",
        london: 18,
        rest: 7,
    },
    Ethnicity {
        code: b'C',
        group: "White",
        london: 147,
        rest: 49,
    },
    Ethnicity {
        code: b'D',
        group: "Mixed",
        london: 15,
        rest: 8,
    },
    Ethnicity {
        code: b'E',
        group: "Mixed",
        london: 9,
        rest: 4,
    },
    Ethnicity {
        code: b'F',
        group: "Mixed",
        london: 12,
        rest: 7,
    },
    Ethnicity {
        code: b'G',
        group: "Mixed",
        london: 17,
        rest: 5,
    },
    Ethnicity {
        code: b'H',
        group: "Asian",
        london: 75,
        rest: 25,
    },
    Ethnicity {
        code: b'J',
        group: "Asian",
        london: 33,
        rest: 26,
    },
    Ethnicity {
        code: b'K',
        group: "Asian",
        london: 37,
        rest: 6,
    },
    Ethnicity {
        code: b'L',
        group: "Asian",
        london: 46,
        rest: 10,
    },
    Ethnicity {
        code: b'M',
        group: "Black",
        london: 39,
        rest: 6,
    },
    Ethnicity {
        code: b'N',
        group: "Black",
        london: 79,
        rest: 15,
    },
    Ethnicity {
        code: b'P',
        group: "Black",
        london: 16,
        rest: 3,
    },
    Ethnicity {
        code: b'R',
        group: "Other",
        london: 17,
        rest: 5,
    },
    Ethnicity {
        code: b'S',
        group: "Other",
        london: 63,
        rest: 14,
    },
];

/// Records whose ethnic category is `Z` (not stated), per 1000.
pub const NOT_STATED_PER_MILLE: u32 = 60;

/// ONS group of an NHS ethnic category letter (`Not stated` for `Z`).
pub fn ethnic_group(code: u8) -> &'static str {
    ETHNICITIES
        .iter()
        .find(|e| e.code == code)
        .map_or("Not stated", |e| e.group)
}

/// England mid-2022 by age band: `(first age, last age, thousands)`.
pub const AGE_BANDS: &[(u32, u32, u32)] = &[
    (0, 4, 3200),
    (5, 9, 3500),
    (10, 14, 3550),
    (15, 17, 2000),
    (18, 19, 1330),
    (20, 24, 3550),
    (25, 29, 3750),
    (30, 34, 3900),
    (35, 39, 3850),
    (40, 44, 3650),
    (45, 49, 3450),
    (50, 54, 3800),
    (55, 59, 3850),
    (60, 64, 3400),
    (65, 69, 2900),
    (70, 74, 2800),
    (75, 79, 2250),
    (80, 84, 1500),
    (85, 89, 900),
    (90, 94, 420),
    (95, 99, 110),
    (100, 104, 15),
];

/// Oldest age generated.
pub const MAX_AGE: u32 = 104;

/// Per-year weights for ages `min_age..=MAX_AGE` (hundreds of people).
pub fn age_weights(min_age: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for &(lo, hi, k) in AGE_BANDS {
        let per_year = k * 100 / (hi - lo + 1);
        for age in lo.max(min_age)..=hi {
            v.push((age, per_year));
        }
    }
    v
}

/// Share of women (per 1000) at `age`: older ages are more female.
pub fn female_per_mille(age: u32) -> u32 {
    match age {
        0..=44 => 495,
        45..=64 => 508,
        65..=74 => 522,
        75..=84 => 553,
        85..=89 => 615,
        _ => 700,
    }
}

/// Sex recorded as `other` (Data Dictionary 9, not specified), per 100,000.
pub const SEX_OTHER_PER_100K: u32 = 50;
/// Sex recorded as `unknown` (X, not known), per 100,000.
pub const SEX_UNKNOWN_PER_100K: u32 = 200;

/// A long-term condition with its SNOMED CT concept id and prevalence by age
/// group (18–39, 40–59, 60–79, 80+), per 10,000.
#[derive(Clone, Copy, Debug)]
pub struct Condition {
    /// SNOMED CT concept id written in the `conditions` column.
    pub code: &'static str,
    /// Preferred term.
    pub name: &'static str,
    /// Prevalence per 10,000 by age group.
    pub per_10k: [u32; 4],
}

/// Condition codes in the order they appear in the `conditions` column.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        code: "38341003",
        name: "Hypertensive disorder",
        per_10k: [300, 1500, 4000, 5500],
    },
    Condition {
        code: "44054006",
        name: "Diabetes mellitus type 2",
        per_10k: [100, 600, 1500, 1600],
    },
    Condition {
        code: "46635009",
        name: "Diabetes mellitus type 1",
        per_10k: [50, 50, 50, 40],
    },
    Condition {
        code: "195967001",
        name: "Asthma",
        per_10k: [900, 700, 700, 600],
    },
    Condition {
        code: "13645005",
        name: "Chronic obstructive lung disease",
        per_10k: [20, 150, 500, 700],
    },
    Condition {
        code: "53741008",
        name: "Coronary arteriosclerosis",
        per_10k: [10, 200, 900, 1500],
    },
    Condition {
        code: "49436004",
        name: "Atrial fibrillation",
        per_10k: [10, 50, 500, 1200],
    },
    Condition {
        code: "84114007",
        name: "Heart failure",
        per_10k: [5, 30, 200, 600],
    },
    Condition {
        code: "230690007",
        name: "Cerebrovascular accident",
        per_10k: [10, 80, 300, 700],
    },
    Condition {
        code: "709044004",
        name: "Chronic kidney disease",
        per_10k: [20, 100, 800, 2500],
    },
    Condition {
        code: "35489007",
        name: "Depressive disorder",
        per_10k: [1300, 1400, 1000, 800],
    },
    Condition {
        code: "414916001",
        name: "Obesity",
        per_10k: [1000, 1300, 1200, 600],
    },
    Condition {
        code: "363346000",
        name: "Malignant neoplastic disease",
        per_10k: [30, 150, 600, 1000],
    },
    Condition {
        code: "69896004",
        name: "Rheumatoid arthritis",
        per_10k: [30, 80, 150, 150],
    },
    Condition {
        code: "396275006",
        name: "Osteoarthritis",
        per_10k: [100, 800, 2000, 3000],
    },
    Condition {
        code: "52448006",
        name: "Dementia",
        per_10k: [0, 10, 200, 1500],
    },
];

/// Age group index (0: under 40, 1: 40–59, 2: 60–79, 3: 80+) for condition prevalence.
pub fn condition_age_group(age: u32) -> usize {
    match age {
        0..=39 => 0,
        40..=59 => 1,
        60..=79 => 2,
        _ => 3,
    }
}

/// Probability (per 100,000) of the `deceased` flag at `age`.
pub fn deceased_per_100k(age: u32) -> u32 {
    match age {
        0..=49 => 200,
        50..=69 => 1000,
        70..=84 => 4000,
        _ => 12_000,
    }
}

/// Probability (per 100,000) of the `armed_forces` flag.
pub fn armed_forces_per_100k(age: u32, male: bool) -> u32 {
    match (age, male) {
        (18..=40, true) => 800,
        (41..=55, true) => 300,
        (18..=40, false) => 150,
        (41..=55, false) => 50,
        _ => 0,
    }
}

/// Probability (per 100,000) of the `prison` flag.
pub fn prison_per_100k(age: u32, male: bool) -> u32 {
    match (age, male) {
        (18..=49, true) => 400,
        (50..=69, true) => 100,
        (18..=69, false) => 20,
        _ => 0,
    }
}

/// S-flag (restricted record) per 100,000.
pub const S_FLAG_PER_100K: u32 = 100;
/// National Data Opt-out per 100,000 (about 5.4% of England).
pub const OPT_OUT_PER_100K: u32 = 5400;
/// `ZZ99 3VZ` (no fixed abode) per 100,000.
pub const NO_FIXED_ABODE_PER_100K: u32 = 50;
/// `ZZ99 3WZ` (address not known) per 100,000.
pub const ADDRESS_NOT_KNOWN_PER_100K: u32 = 100;

/// Probability (per 1000) of having a mobile number recorded at `age`.
pub fn mobile_per_mille(age: u32) -> u32 {
    match age {
        0..=15 => 300,
        16..=64 => 920,
        65..=79 => 800,
        _ => 550,
    }
}

/// Probability (per 1000) of having an email address recorded at `age`.
pub fn email_per_mille(age: u32) -> u32 {
    match age {
        0..=15 => 100,
        16..=64 => 800,
        65..=79 => 550,
        _ => 250,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_are_well_formed() {
        let letters: Vec<u8> = ETHNICITIES.iter().map(|e| e.code).collect();
        assert_eq!(letters, b"ABCDEFGHJKLMNPRS".to_vec());
        let london: u32 = ETHNICITIES.iter().map(|e| e.london).sum();
        let rest: u32 = ETHNICITIES.iter().map(|e| e.rest).sum();
        assert!((980..=1000).contains(&london) && (980..=1000).contains(&rest));
        assert_eq!(ethnic_group(b'Z'), "Not stated");
        assert_eq!(ethnic_group(b'N'), "Black");
        assert!(CONDITIONS.len() <= 32);
        let mut codes: Vec<&str> = CONDITIONS.iter().map(|c| c.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), CONDITIONS.len());
        let w = age_weights(18);
        assert_eq!(w.first().unwrap().0, 18);
        assert_eq!(w.last().unwrap().0, MAX_AGE);
        assert_eq!(w.len() as u32, MAX_AGE - 18 + 1);
        // Bands tile 0..=MAX_AGE without gaps.
        assert!(AGE_BANDS.windows(2).all(|p| p[0].1 + 1 == p[1].0));
    }
}
