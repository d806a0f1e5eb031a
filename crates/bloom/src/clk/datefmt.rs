//! The subset of Python's `datetime.strptime` that linkage schemas use, so
//! that a date field is accepted and normalised exactly as clkhash does.
//!
//! Supported directives: `%Y %m %d %y %b %B %H %M %S %%`; whitespace in the
//! format matches one or more whitespace characters; other characters match
//! themselves. Matching is case-insensitive and tries the same alternatives,
//! in the same order, as CPython's `_strptime` regular expressions, with
//! backtracking. The whole input must match and the date must exist.

/// A parsed strptime format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    items: Vec<Item>,
    source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Lit(char),
    Space,
    Year4,
    Year2,
    Month,
    Day,
    MonthAbbr,
    MonthFull,
    Hour,
    Minute,
    Second,
}

/// Why a format string is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateFormatError {
    /// A `%` directive this implementation does not support.
    #[error("unsupported strptime directive %{0} (supported: %Y %m %d %y %b %B %H %M %S %%)")]
    Unsupported(char),
    /// The format ends with a lone `%`.
    #[error("format ends with a lone %")]
    TrailingPercent,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

#[derive(Default, Clone, Copy)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
}

fn digits(s: &[char], n: usize) -> Option<u32> {
    if s.len() < n {
        return None;
    }
    let mut v = 0;
    for c in &s[..n] {
        v = v * 10 + c.to_digit(10).filter(|_| c.is_ascii_digit())?;
    }
    Some(v)
}

impl DateFormat {
    /// Parse a strptime format string.
    pub fn parse(fmt: &str) -> Result<Self, DateFormatError> {
        let mut items = Vec::new();
        let mut it = fmt.chars();
        while let Some(c) = it.next() {
            if c == '%' {
                let d = it.next().ok_or(DateFormatError::TrailingPercent)?;
                items.push(match d {
                    'Y' => Item::Year4,
                    'y' => Item::Year2,
                    'm' => Item::Month,
                    'd' => Item::Day,
                    'b' => Item::MonthAbbr,
                    'B' => Item::MonthFull,
                    'H' => Item::Hour,
                    'M' => Item::Minute,
                    'S' => Item::Second,
                    '%' => Item::Lit('%'),
                    other => return Err(DateFormatError::Unsupported(other)),
                });
            } else if c.is_whitespace() {
                if items.last() != Some(&Item::Space) {
                    items.push(Item::Space);
                }
            } else {
                items.push(Item::Lit(c));
            }
        }
        Ok(DateFormat {
            items,
            source: fmt.to_string(),
        })
    }

    /// The format string as written in the schema.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Parse `s` and return it as `YYYYMMDD` (clkhash's output format), or
    /// `None` if it does not match or is not a real date.
    pub fn normalise(&self, s: &str) -> Option<String> {
        let mut out = String::with_capacity(8);
        self.normalise_into(s, &mut out).then_some(out)
    }

    /// [`DateFormat::normalise`] appending `YYYYMMDD` to `out`; `false` (and
    /// `out` untouched) if `s` does not match or is not a real date. No
    /// allocation for values of up to 64 characters.
    pub fn normalise_into(&self, s: &str, out: &mut String) -> bool {
        let mut stack = ['\0'; 64];
        let heap: Vec<char>;
        let chars: &[char] = if s.len() <= stack.len() {
            let mut n = 0;
            for c in s.chars() {
                stack[n] = c;
                n += 1;
            }
            &stack[..n]
        } else {
            heap = s.chars().collect();
            &heap
        };
        let Some(f) = self.matches(0, chars, Fields::default()) else {
            return false;
        };
        let year = f.year.unwrap_or(1900);
        let month = f.month.unwrap_or(1);
        let day = f.day.unwrap_or(1);
        if !(1..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > tabular::calendar::days_in_month(i64::from(year), month)
        {
            return false;
        }
        // year ≤ 9999, month ≤ 12, day ≤ 31: fixed-width ASCII digits.
        let digits = [
            year / 1000,
            year / 100 % 10,
            year / 10 % 10,
            year % 10,
            month as i32 / 10,
            month as i32 % 10,
            day as i32 / 10,
            day as i32 % 10,
        ];
        out.extend(digits.iter().map(|d| (b'0' + *d as u8) as char));
        true
    }

    fn matches(&self, idx: usize, s: &[char], f: Fields) -> Option<Fields> {
        let Some(item) = self.items.get(idx) else {
            return if s.is_empty() { Some(f) } else { None };
        };
        // Candidates (consumed, fields) in the order CPython's regex tries
        // them; the first that lets the rest match wins.
        macro_rules! cand {
            ($k:expr, $f:expr) => {
                if let Some(r) = self.matches(idx + 1, &s[$k..], $f) {
                    return Some(r);
                }
            };
        }
        match *item {
            Item::Lit(c) => {
                if let Some(&h) = s.first() {
                    if h == c || (h.to_lowercase().eq(c.to_lowercase())) {
                        cand!(1, f);
                    }
                }
            }
            Item::Space => {
                let n = s.iter().take_while(|c| c.is_whitespace()).count();
                // \s+ is greedy: longest first.
                for k in (1..=n).rev() {
                    cand!(k, f);
                }
            }
            Item::Year4 => {
                if let Some(v) = digits(s, 4) {
                    cand!(
                        4,
                        Fields {
                            year: Some(v as i32),
                            ..f
                        }
                    );
                }
            }
            Item::Year2 => {
                if let Some(v) = digits(s, 2) {
                    let y = if v <= 68 { 2000 + v } else { 1900 + v };
                    cand!(
                        2,
                        Fields {
                            year: Some(y as i32),
                            ..f
                        }
                    );
                }
            }
            Item::Month => {
                // 1[0-2]|0[1-9]|[1-9]
                if let Some(v) = digits(s, 2) {
                    if (10..=12).contains(&v) || (1..=9).contains(&v) && s[0] == '0' {
                        cand!(2, Fields { month: Some(v), ..f });
                    }
                }
                if let Some(v) = digits(s, 1) {
                    if v >= 1 {
                        cand!(1, Fields { month: Some(v), ..f });
                    }
                }
            }
            Item::Day => {
                // 3[01]|[12]\d|0[1-9]|[1-9]| [1-9]
                if let Some(v) = digits(s, 2) {
                    if (30..=31).contains(&v) || (10..=29).contains(&v) || (1..=9).contains(&v) && s[0] == '0'
                    {
                        cand!(2, Fields { day: Some(v), ..f });
                    }
                }
                if let Some(v) = digits(s, 1) {
                    if v >= 1 {
                        cand!(1, Fields { day: Some(v), ..f });
                    }
                }
                if s.first() == Some(&' ') {
                    if let Some(v) = digits(&s[1..], 1) {
                        if v >= 1 {
                            cand!(2, Fields { day: Some(v), ..f });
                        }
                    }
                }
            }
            Item::MonthAbbr | Item::MonthFull => {
                for (i, name) in MONTHS.iter().enumerate() {
                    let name: Vec<char> = if *item == Item::MonthAbbr {
                        name.chars().take(3).collect()
                    } else {
                        name.chars().collect()
                    };
                    if s.len() >= name.len()
                        && s[..name.len()]
                            .iter()
                            .zip(&name)
                            .all(|(a, b)| a.to_ascii_lowercase() == *b)
                    {
                        cand!(
                            name.len(),
                            Fields {
                                month: Some(i as u32 + 1),
                                ..f
                            }
                        );
                    }
                }
            }
            Item::Hour | Item::Minute | Item::Second => {
                let max = match *item {
                    Item::Hour => 23,
                    Item::Minute => 59,
                    _ => 61,
                };
                if let Some(v) = digits(s, 2) {
                    if v <= max {
                        cand!(2, f);
                    }
                }
                if digits(s, 1).is_some() {
                    cand!(1, f);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(fmt: &str, s: &str) -> Option<String> {
        DateFormat::parse(fmt).unwrap().normalise(s)
    }

    #[test]
    fn like_python_strptime() {
        assert_eq!(n("%Y-%m-%d", "1955-12-16").as_deref(), Some("19551216"));
        assert_eq!(n("%Y-%m-%d", "1955-1-6").as_deref(), Some("19550106"));
        assert_eq!(n("%Y-%m-%d", "1955-02-29"), None);
        assert_eq!(n("%Y-%m-%d", "2000-02-29").as_deref(), Some("20000229"));
        assert_eq!(n("%Y-%m-%d", "1955-12-16 "), None);
        assert_eq!(n("%d/%m/%Y", "16/12/1955").as_deref(), Some("19551216"));
        assert_eq!(n("%Y%m%d", "19551216").as_deref(), Some("19551216"));
        assert_eq!(n("%d %b %Y", "6 dec 1955").as_deref(), Some("19551206"));
        assert_eq!(n("%d %B %Y", "06  December 1955").as_deref(), Some("19551206"));
        assert_eq!(n("%y%m%d", "690101").as_deref(), Some("19690101"));
        assert_eq!(n("%y%m%d", "680101").as_deref(), Some("20680101"));
        assert_eq!(n("%Y-%m-%d", "１９５５-12-16"), None);
        assert_eq!(n("%Y-%m-%d", ""), None);
        assert!(DateFormat::parse("%j").is_err());
        assert!(DateFormat::parse("%").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(fmt in "[%YmdyBbHMS/ -]{0,12}", s in "\\PC{0,16}") {
            if let Ok(f) = DateFormat::parse(&fmt) { let _ = f.normalise(&s); }
        }

        #[test]
        fn iso_roundtrip(y in 1000i32..9999, m in 1u32..=12, d in 1u32..=28) {
            let s = format!("{y:04}-{m:02}-{d:02}");
            prop_assert_eq!(n("%Y-%m-%d", &s), Some(format!("{y:04}{m:02}{d:02}")));
        }
    }
}
