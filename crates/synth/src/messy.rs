//! Objection lists as careless operators and spreadsheets really write them:
//! the same people, with NHS numbers and dates of birth in forms
//! that an unambiguous normaliser must accept — Unicode spaces inside the
//! number, full-width or Arabic-Indic digits, a spreadsheet's leading `'`,
//! and dates as `dd.mm.yyyy`, `dd-mm-yyyy`, `yyyy/mm/dd` or an ISO
//! date-time. Used by `trialink synth --messy-objections` to test that no
//! objector is lost to formatting.

use rand::Rng;

/// The forms an NHS number is written in (`0` = plain).
pub const NHS_FORMS: usize = 8;
/// The forms a date of birth is written in (`0` = ISO date).
pub const DOB_FORMS: usize = 5;

/// `nhs` (10 ASCII digits, or anything else, which is left alone) in messy
/// form `form` (`0..NHS_FORMS`).
pub fn nhs_in_form(nhs: &str, form: usize) -> String {
    if nhs.len() != 10 || !nhs.bytes().all(|b| b.is_ascii_digit()) {
        return nhs.to_string();
    }
    let (a, b, c) = (&nhs[..3], &nhs[3..6], &nhs[6..]);
    let digits = |base: u32| -> String {
        nhs.chars()
            .map(|d| char::from_u32(base + d.to_digit(10).expect("digit")).expect("a digit code point"))
            .collect()
    };
    match form % NHS_FORMS {
        0 => nhs.to_string(),
        1 => format!("{a}\u{a0}{b}\u{a0}{c}"),     // non-breaking spaces
        2 => format!("{a}\u{200b}{b}\u{200b}{c}"), // zero-width spaces
        3 => digits(0xff10),                       // full-width digits
        4 => digits(0x0660),                       // Arabic-Indic digits
        5 => format!("'{nhs}"),                    // spreadsheet text marker
        6 => format!("{a} {b} {c}"),               // the printed form
        _ => format!("\u{202f}{a}-{b}-{c}\u{2009}"), // narrow NBSP, thin space
    }
}

/// `iso` (`YYYY-MM-DD`, or anything else, which is left alone) in messy form
/// `form` (`0..DOB_FORMS`).
pub fn dob_in_form(iso: &str, form: usize) -> String {
    let b = iso.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return iso.to_string();
    }
    let (y, m, d) = (&iso[..4], &iso[5..7], &iso[8..]);
    match form % DOB_FORMS {
        0 => iso.to_string(),
        1 => format!("{d}.{m}.{y}"),
        2 => format!("{d}-{m}-{y}"),
        3 => format!("{y}/{m}/{d}"),
        _ => format!("{iso}T00:00:00Z"),
    }
}

/// A random messy NHS number and DOB for one row.
pub fn messy_row<R: Rng>(nhs: &str, dob: &str, rng: &mut R) -> (String, String) {
    (
        nhs_in_form(nhs, rng.gen_range(0..NHS_FORMS)),
        dob_in_form(dob, rng.gen_range(0..DOB_FORMS)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_keeps_the_digits_and_date() {
        let nhs = "9990001236";
        for f in 0..NHS_FORMS {
            let m = nhs_in_form(nhs, f);
            let digits: String = m
                .chars()
                .filter_map(|c| match c as u32 {
                    0x30..=0x39 => Some(c as u32 - 0x30),
                    0xff10..=0xff19 => Some(c as u32 - 0xff10),
                    0x0660..=0x0669 => Some(c as u32 - 0x0660),
                    _ => None,
                })
                .map(|d| char::from_digit(d, 10).unwrap())
                .collect();
            assert_eq!(digits, nhs, "form {f}");
            assert!(f == 0 || m != nhs, "form {f} is messy");
        }
        for f in 0..DOB_FORMS {
            let m = dob_in_form("1961-03-07", f);
            assert!(
                m.contains("1961") && m.contains("03") && m.contains("07"),
                "form {f}"
            );
        }
        // Values that are not clean are left alone (they are already errors).
        assert_eq!(nhs_in_form("99900", 3), "99900");
        assert_eq!(dob_in_form("", 2), "");
    }
}
