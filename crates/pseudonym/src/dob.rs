//! Dates of birth (docs/formats.md (identifiers)): the three standard formats, others by option,
//! a real calendar date, year ≥ 1900, not after the run's as-of date.

use crate::date::{digits, Date};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A valid date of birth, normalised to `YYYY-MM-DD`.
///
/// `Debug` is redacted; there is no `Display` and no `Serialize`. The date is
/// reached through [`Dob::iso`] or [`Dob::date`] and zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Dob {
    iso: [u8; 10],
}

/// Why a date of birth was rejected. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DobError {
    /// Empty after trimming.
    #[error("date of birth is missing")]
    Missing,
    /// Matches none of the accepted formats.
    #[error("date of birth matches none of the accepted formats")]
    Format,
    /// Matches a format but is not a real calendar date.
    #[error("date of birth is not a real calendar date")]
    NotADate,
    /// Before 1900-01-01.
    #[error("date of birth is before 1900")]
    TooEarly,
    /// After the run's as-of date.
    #[error("date of birth is after the as-of date")]
    AfterAsOf,
}

impl DobError {
    /// A stable reason code for rejects files.
    pub fn code(self) -> &'static str {
        match self {
            DobError::Missing => "dob_missing",
            DobError::Format => "dob_format",
            DobError::NotADate => "dob_not_a_date",
            DobError::TooEarly => "dob_before_1900",
            DobError::AfterAsOf => "dob_after_as_of",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Year,
    Month,
    Day,
    Lit(u8),
}

/// A date format in strftime notation restricted to `%Y` (4 digits), `%m`
/// (2 digits), `%d` (2 digits), `%%` and literal ASCII characters, e.g.
/// `%d.%m.%Y`. Each of `%Y`, `%m`, `%d` must appear exactly once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DobFormat {
    parts: Vec<Part>,
    text: String,
}

/// Why a `--dob-format` pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DobFormatError {
    /// A `%` directive other than `%Y`, `%m`, `%d`, `%%`.
    #[error("unsupported directive in date format (use %Y, %m, %d, %% and literal characters)")]
    Directive,
    /// `%Y`, `%m` or `%d` missing or repeated.
    #[error("date format must contain each of %Y, %m and %d exactly once")]
    Fields,
    /// A non-ASCII literal character.
    #[error("date format literals must be ASCII")]
    NonAscii,
}

impl DobFormat {
    /// Parse a format pattern.
    pub fn new(pattern: &str) -> Result<DobFormat, DobFormatError> {
        if !pattern.is_ascii() {
            return Err(DobFormatError::NonAscii);
        }
        let b = pattern.as_bytes();
        let mut parts = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let p = match b.get(i + 1) {
                    Some(b'Y') => Part::Year,
                    Some(b'm') => Part::Month,
                    Some(b'd') => Part::Day,
                    Some(b'%') => Part::Lit(b'%'),
                    _ => return Err(DobFormatError::Directive),
                };
                parts.push(p);
                i += 2;
            } else {
                parts.push(Part::Lit(b[i]));
                i += 1;
            }
        }
        for f in [Part::Year, Part::Month, Part::Day] {
            if parts.iter().filter(|&&p| p == f).count() != 1 {
                return Err(DobFormatError::Fields);
            }
        }
        Ok(DobFormat {
            parts,
            text: pattern.to_string(),
        })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.text
    }

    /// Match `s` exactly; returns (year, month, day) numbers if the shape fits.
    fn fields(&self, s: &[u8]) -> Option<(u32, u32, u32)> {
        let (mut y, mut m, mut d) = (0, 0, 0);
        let mut i = 0;
        for p in &self.parts {
            match *p {
                Part::Lit(c) => {
                    if s.get(i) != Some(&c) {
                        return None;
                    }
                    i += 1;
                }
                Part::Year => {
                    y = digits(s.get(i..i + 4)?)?;
                    i += 4;
                }
                Part::Month => {
                    m = digits(s.get(i..i + 2)?)?;
                    i += 2;
                }
                Part::Day => {
                    d = digits(s.get(i..i + 2)?)?;
                    i += 2;
                }
            }
        }
        (i == s.len()).then_some((y, m, d))
    }
}

/// The formats tried, in order; the first whose shape fits decides.
#[derive(Clone, Debug)]
pub struct DobFormats(Vec<DobFormat>, bool);

impl Default for DobFormats {
    /// `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY` (docs/formats.md (identifiers)).
    fn default() -> Self {
        DobFormats(
            ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"]
                .iter()
                .map(|p| DobFormat::new(p).expect("built-in format"))
                .collect(),
            false,
        )
    }
}

impl DobFormats {
    /// Exactly these formats, replacing the defaults (so that a US-style
    /// `%m/%d/%Y` is not shadowed by the default `%d/%m/%Y`).
    pub fn custom(formats: Vec<DobFormat>) -> DobFormats {
        if formats.is_empty() {
            DobFormats::default()
        } else {
            DobFormats(formats, false)
        }
    }

    /// The defaults plus the other unambiguous forms seen in exported lists
    ///: `DD.MM.YYYY`, `DD-MM-YYYY`, `YYYY/MM/DD`; and an ISO date-time
    /// (`YYYY-MM-DDThh:mm[:ss][Z]`), read as its date part; Unicode
    /// digits and spaces and a leading `'` are normalised first.
    /// Used where a list feeds suppression (`noncontact add`, `invite`).
    pub fn lenient() -> DobFormats {
        DobFormats(
            [
                "%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
            ]
            .iter()
            .map(|p| DobFormat::new(p).expect("built-in format"))
            .collect(),
            true,
        )
    }

    /// The patterns, for manifests.
    pub fn patterns(&self) -> Vec<String> {
        self.0.iter().map(|f| f.text.clone()).collect()
    }
}

impl Dob {
    /// Parse a date of birth against `formats`, valid on `as_of`.
    pub fn parse(input: &str, formats: &DobFormats, as_of: Date) -> Result<Dob, DobError> {
        Self::parse_bytes(input.as_bytes(), formats, as_of)
    }

    /// As [`Dob::parse`], over bytes.
    ///
    /// With [`DobFormats::lenient`], unambiguous forms are normalised first
    /// ([`crate::normalise`]: Unicode spaces and digits, a leading `'`) and
    /// an ISO date-time `YYYY-MM-DDThh:mm[:ss][Z]` is read as its date.
    pub fn parse_bytes(input: &[u8], formats: &DobFormats, as_of: Date) -> Result<Dob, DobError> {
        let owned;
        let t: &[u8] = if !formats.1 {
            input.trim_ascii()
        } else {
            match crate::normalise::normalise(input) {
                std::borrow::Cow::Borrowed(b) => b,
                std::borrow::Cow::Owned(v) => {
                    owned = zeroize::Zeroizing::new(v);
                    &owned
                }
            }
        };
        if t.is_empty() {
            return Err(DobError::Missing);
        }
        let t = if formats.1 {
            iso_date_part(t).unwrap_or(t)
        } else {
            t
        };
        let (y, m, d) = formats
            .0
            .iter()
            .find_map(|f| f.fields(t))
            .ok_or(DobError::Format)?;
        let date = Date::new(y as u16, m as u8, d as u8).ok_or(DobError::NotADate)?;
        if date.year() < 1900 {
            return Err(DobError::TooEarly);
        }
        if date > as_of {
            return Err(DobError::AfterAsOf);
        }
        Ok(Dob::from_date(date))
    }

    /// A date of birth from an already-validated date (e.g. synthetic data).
    pub fn from_date(date: Date) -> Dob {
        let mut iso = [0u8; 10];
        date.write_iso(&mut iso);
        Dob { iso }
    }

    /// `YYYY-MM-DD`.
    pub fn iso(&self) -> &str {
        std::str::from_utf8(&self.iso).expect("ASCII date")
    }

    /// The date itself (for age bands computed inside the pseudonymised domain).
    pub fn date(&self) -> Date {
        Date::parse_iso(self.iso()).expect("valid by construction")
    }
}

/// The date part of `YYYY-MM-DDThh:mm[:ss][Z]` (hours 00–23, minutes and
/// seconds 00–59), or `None` for anything else. Offsets other than `Z` are
/// not accepted: the date part would depend on the zone.
fn iso_date_part(s: &[u8]) -> Option<&[u8]> {
    if s.len() < 16 || (s[10] != b'T' && s[10] != b't') {
        return None;
    }
    let time = s[11..]
        .strip_suffix(b"Z")
        .or_else(|| s[11..].strip_suffix(b"z"))
        .unwrap_or(&s[11..]);
    let two = |b: &[u8], max: u32| digits(b).is_some_and(|v| v <= max);
    let ok = match time.len() {
        5 => time[2] == b':' && two(&time[0..2], 23) && two(&time[3..5], 59),
        8 => {
            time[2] == b':'
                && time[5] == b':'
                && two(&time[0..2], 23)
                && two(&time[3..5], 59)
                && two(&time[6..8], 59)
        }
        _ => false,
    };
    (ok && s[4] == b'-' && s[7] == b'-').then_some(&s[..10])
}

impl fmt::Debug for Dob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dob(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn as_of() -> Date {
        Date::new(2026, 11, 21).unwrap()
    }

    #[test]
    fn lenient_forms() {
        let l = DobFormats::lenient();
        for s in [
            "05.01.1980",
            "05-01-1980",
            "1980/01/05",
            "1980-01-05T00:00",
            "1980-01-05T13:45:10Z",
            "'1980-01-05",
            "０５/０１/１９８０",
            "1980\u{00A0}-01-05",
        ] {
            let got = Dob::parse(s, &l, as_of()).map(|d| d.iso().to_string());
            if s.contains('\u{00A0}') {
                assert_eq!(got.unwrap_err(), DobError::Format, "{s:?}");
            } else {
                assert_eq!(got.unwrap(), "1980-01-05", "{s:?}");
            }
        }
        for s in [
            "1980-01-05T25:00",
            "1980-01-05T10:00+01:00",
            "05.13.1980",
            "1/5/1980",
        ] {
            assert!(Dob::parse(s, &l, as_of()).is_err(), "{s:?}");
        }
        // the defaults stay the three of docs/formats.md (identifiers)
        assert!(Dob::parse("05.01.1980", &DobFormats::default(), as_of()).is_err());
        assert!(Dob::parse("1980-01-05T00:00", &DobFormats::default(), as_of()).is_err());
    }

    fn p(s: &str) -> Result<String, DobError> {
        Dob::parse(s, &DobFormats::default(), as_of()).map(|d| d.iso().to_string())
    }

    #[test]
    fn formats_and_errors() {
        assert_eq!(p("2000-02-29").unwrap(), "2000-02-29");
        assert_eq!(p("29/02/2000").unwrap(), "2000-02-29");
        assert_eq!(p("20000229").unwrap(), "2000-02-29");
        assert_eq!(p(" 1980-01-05 ").unwrap(), "1980-01-05");
        assert_eq!(p("2001-02-29").unwrap_err(), DobError::NotADate);
        assert_eq!(p("1899-12-31").unwrap_err(), DobError::TooEarly);
        assert_eq!(p("2026-11-22").unwrap_err(), DobError::AfterAsOf);
        assert_eq!(p("1980-1-5").unwrap_err(), DobError::Format);
        assert_eq!(p("").unwrap_err(), DobError::Missing);
        assert_eq!(p("1980/01/05").unwrap_err(), DobError::Format);
    }

    #[test]
    fn custom_format_replaces_defaults() {
        let f = DobFormats::custom(vec![DobFormat::new("%m/%d/%Y").unwrap()]);
        assert_eq!(Dob::parse("01/05/1980", &f, as_of()).unwrap().iso(), "1980-01-05");
        assert_eq!(
            Dob::parse("1980-01-05", &f, as_of()).unwrap_err(),
            DobError::Format
        );
        assert_eq!(DobFormat::new("%Y-%m").unwrap_err(), DobFormatError::Fields);
        assert_eq!(
            DobFormat::new("%Y-%m-%d %H").unwrap_err(),
            DobFormatError::Directive
        );
        assert_eq!(DobFormat::new("%d.%m.%Y").unwrap().pattern(), "%d.%m.%Y");
    }

    #[test]
    fn debug_is_redacted() {
        let d = Dob::parse("1980-01-05", &DobFormats::default(), as_of()).unwrap();
        assert_eq!(format!("{d:?}"), "Dob(<redacted>)");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,16}") {
            let _ = p(&s);
        }

        #[test]
        fn all_formats_agree(days in -25567i64..20_000) {
            let d = Date::from_days_since_epoch(days).unwrap();
            let iso = d.to_string();
            let compact = iso.replace('-', "");
            let uk = format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year());
            prop_assert_eq!(p(&iso).unwrap(), iso.clone());
            prop_assert_eq!(p(&compact).unwrap(), iso.clone());
            prop_assert_eq!(p(&uk).unwrap(), iso);
        }
    }
}
