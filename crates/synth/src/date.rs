//! Calendar dates (proleptic Gregorian) as day numbers, with ISO formatting;
//! the arithmetic is `tabular::calendar`'s.
//!
//! Only what synthetic data needs: build from year/month/day with validation,
//! add days, step back whole years, and write `YYYY-MM-DD`.

use std::fmt;
use tabular::calendar;

/// A real calendar date, stored as days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Synthetic dates only; still, keep Debug free of the value so that a
        // Date never shows up in logs by accident.
        f.write_str("Date(..)")
    }
}

/// True for Gregorian leap years.
pub fn is_leap(y: i32) -> bool {
    calendar::is_leap(i64::from(y))
}

/// Days in month `m` (1..=12) of year `y`; 0 for any other month.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    calendar::days_in_month(i64::from(y), m)
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    calendar::days_from_civil(i64::from(y), m, d) as i32
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let (y, m, d) = calendar::civil_from_days(i64::from(z));
    (y as i32, m, d)
}

impl Date {
    /// The date `y-m-d`, or `None` if it is not a real calendar date.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date(days_from_civil(y, m, d)))
    }

    /// Day number since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// The date with day number `days` since 1970-01-01.
    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// This date moved by `n` days.
    pub fn add_days(self, n: i32) -> Date {
        Date(self.0 + n)
    }

    /// The same month and day `n` years earlier (29 February becomes 28).
    pub fn years_before(self, n: i32) -> Date {
        let (y, m, d) = self.ymd();
        let y = y - n;
        let d = d.min(days_in_month(y, m));
        Date(days_from_civil(y, m, d))
    }

    /// Whole years from `self` to `later` (age on `later` of someone born on `self`).
    pub fn years_until(self, later: Date) -> i32 {
        let (y0, m0, d0) = self.ymd();
        let (y1, m1, d1) = later.ymd();
        let mut years = y1 - y0;
        if (m1, d1) < (m0, d0) {
            years -= 1;
        }
        years
    }

    /// Parse `YYYY-MM-DD` (a real date only).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Some(v)
        };
        Date::from_ymd(num(0..4)? as i32, num(5..7)?, num(8..10)?)
    }

    /// Append `YYYY-MM-DD` to `out` (years 0–9999).
    pub fn write_iso(self, out: &mut Vec<u8>) {
        let (y, m, d) = self.ymd();
        let y = y.clamp(0, 9999) as u32;
        out.extend_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
            b'-',
            b'0' + (m / 10) as u8,
            b'0' + (m % 10) as u8,
            b'-',
            b'0' + (d / 10) as u8,
            b'0' + (d % 10) as u8,
        ]);
    }

    /// `YYYY-MM-DD` as a `String`.
    pub fn iso(self) -> String {
        let mut v = Vec::with_capacity(10);
        self.write_iso(&mut v);
        String::from_utf8(v).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(Date::from_ymd(1970, 1, 1).unwrap().days(), 0);
        assert_eq!(Date::from_ymd(2000, 3, 1).unwrap().days(), 11_017);
        assert_eq!(Date::from_ymd(1900, 1, 1).unwrap().days(), -25_567);
        assert!(Date::from_ymd(2023, 2, 29).is_none());
        assert!(Date::from_ymd(2024, 2, 29).is_some());
        assert!(Date::from_ymd(1900, 2, 29).is_none());
        assert!(Date::from_ymd(2000, 2, 29).is_some());
        assert!(Date::from_ymd(2024, 13, 1).is_none());
        assert!(Date::from_ymd(2024, 4, 31).is_none());
        assert_eq!(
            Date::from_ymd(2024, 2, 29).unwrap().years_before(1).iso(),
            "2023-02-28"
        );
        assert_eq!(Date::parse_iso("1999-12-31").unwrap().iso(), "1999-12-31");
        assert!(Date::parse_iso("1999-02-30").is_none());
        assert!(Date::parse_iso("1999-2-3").is_none());
        let born = Date::from_ymd(1980, 6, 15).unwrap();
        assert_eq!(born.years_until(Date::from_ymd(2026, 6, 14).unwrap()), 45);
        assert_eq!(born.years_until(Date::from_ymd(2026, 6, 15).unwrap()), 46);
    }

    proptest! {
        #[test]
        fn days_round_trip(z in -40_000i32..60_000) {
            let d = Date::from_days(z);
            let (y, m, dd) = d.ymd();
            prop_assert_eq!(Date::from_ymd(y, m, dd), Some(d));
            prop_assert_eq!(Date::parse_iso(&d.iso()), Some(d));
            prop_assert_eq!(d.add_days(1).days(), z + 1);
        }
    }
}
