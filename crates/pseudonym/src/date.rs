//! A proleptic Gregorian calendar date, enough for dates of birth and as-of
//! dates without a date-time dependency.

use std::fmt;

/// A calendar date (year 1..=9999). Not an identifier by itself: a date of
/// birth is wrapped in [`crate::Dob`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Days in a month of a year (month 1..=12).
fn days_in_month(y: u16, m: u8) -> u8 {
    tabular::calendar::days_in_month(i64::from(y), u32::from(m)) as u8
}

impl Date {
    /// A date, or `None` when it is not a real calendar date.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parse `YYYY-MM-DD` strictly (for options such as `--as-of`).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = digits(&b[0..4])?;
        let m = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        Date::new(y as u16, m as u8, d as u8)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        tabular::calendar::days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day))
    }

    /// The date `days` after 1970-01-01, if within years 1..=9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let (y, m, d) = tabular::calendar::civil_from_days(days);
        if !(1..=9999).contains(&y) {
            return None;
        }
        Date::new(y as u16, m as u8, d as u8)
    }

    /// Today's date in UTC from the system clock.
    pub fn today_utc() -> Date {
        Date::from_days_since_epoch(tabular::calendar::today_utc()).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// Whole years from `self` to `on` (age at a date); 0 if `on` is earlier.
    pub fn years_until(self, on: Date) -> u16 {
        if on < self {
            return 0;
        }
        let mut years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }

    /// Writes `YYYY-MM-DD` into a 10-byte buffer.
    pub fn write_iso(self, out: &mut [u8; 10]) {
        let y = self.year;
        out[0] = b'0' + (y / 1000) as u8;
        out[1] = b'0' + (y / 100 % 10) as u8;
        out[2] = b'0' + (y / 10 % 10) as u8;
        out[3] = b'0' + (y % 10) as u8;
        out[4] = b'-';
        out[5] = b'0' + self.month / 10;
        out[6] = b'0' + self.month % 10;
        out[7] = b'-';
        out[8] = b'0' + self.day / 10;
        out[9] = b'0' + self.day % 10;
    }
}

/// ASCII digits to a number; `None` on anything else.
pub(crate) fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`. (Only for non-identifying dates such as the as-of date.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn leap_years() {
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2023, 4, 31).is_none());
        assert!(Date::new(2023, 13, 1).is_none());
    }

    #[test]
    fn epoch_days() {
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(Date::new(2000, 3, 1).unwrap().days_since_epoch(), 11017);
        assert_eq!(Date::new(1900, 1, 1).unwrap().days_since_epoch(), -25567);
    }

    #[test]
    fn ages() {
        let dob = Date::new(1980, 6, 15).unwrap();
        assert_eq!(dob.years_until(Date::new(2026, 6, 14).unwrap()), 45);
        assert_eq!(dob.years_until(Date::new(2026, 6, 15).unwrap()), 46);
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -700_000i64..2_900_000) {
            let d = Date::from_days_since_epoch(days).unwrap();
            prop_assert_eq!(d.days_since_epoch(), days);
            prop_assert_eq!(Date::parse_iso(&d.to_string()), Some(d));
        }
    }
}
