//! Disclosure-control policies as data (TOML), and the built-in policies.
//!
//! A policy file looks like this (every table and key is checked; an unknown
//! key is an error naming it and its line):
//!
//! ```toml
//! name = "nhs-hes"
//! description = "counts 1-7 suppressed, others rounded to the nearest 5"
//!
//! [suppress]
//! min = 1            # smallest positive count that is suppressed
//! max = 7            # largest count that is suppressed
//! zero = "publish"   # "publish" (0 stays 0) or "suppress" (0 shown as `*`)
//!
//! [round]
//! base = 5                # 1 = no rounding; else nearest multiple, half up
//! totals = "round-true"   # or "sum-of-rounded"
//!
//! [protect]
//! min_width = 6            # each suppressed cell's feasible interval: hi - lo >= 6
//! min_rounded_values = 3   # each rounded count: at least 3 feasible values
//! ```
//!
//! `min_rounded_values` defaults to 3 when counts are rounded to a base of
//! 3 or more (a published 25 under base 5 may be 23..=27: a reader must not
//! be able to narrow it to fewer than 3 of those), and to 1 (no check)
//! without rounding.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// What happens to a true count of zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZeroRule {
    /// 0 is published as 0 (and a `*` therefore means at least 1).
    #[default]
    Publish,
    /// 0 is suppressed like any other small count.
    Suppress,
}

/// How margins and totals are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TotalsRule {
    /// A total is computed from true counts and then rounded like a cell.
    #[default]
    RoundTrue,
    /// A total is the sum of the rounded values of the cells it adds up
    /// (suppressed cells included), as OpenSAFELY publishes them.
    SumOfRounded,
}

/// The `[suppress]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressRule {
    /// Smallest positive count that is suppressed (at least 1).
    #[serde(default = "one")]
    pub min: u64,
    /// Largest count that is suppressed.
    pub max: u64,
    /// What happens to zero.
    #[serde(default)]
    pub zero: ZeroRule,
}

/// The `[round]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundRule {
    /// Round published counts to the nearest multiple of `base` (half up);
    /// 1 means no rounding.
    #[serde(default = "one")]
    pub base: u64,
    /// How totals are formed.
    #[serde(default)]
    pub totals: TotalsRule,
}

impl Default for RoundRule {
    fn default() -> Self {
        RoundRule {
            base: 1,
            totals: TotalsRule::RoundTrue,
        }
    }
}

/// The `[protect]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectRule {
    /// The narrowest feasible interval (`hi - lo`) a reader may be able to
    /// derive for a suppressed cell (or for the difference of two cumulative
    /// releases) whose lower bound lies in the suppression range. Default:
    /// the width of the suppression range itself.
    #[serde(default)]
    pub min_width: Option<u64>,
    /// The fewest integer values a reader may be left with for a rounded
    /// (published, non-exempt) count, from everything published. Default:
    /// 3 when `round.base` is 3 or more, else 1 (no check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rounded_values: Option<u64>,
}

/// A disclosure-control policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Short name, e.g. `nhs-hes`.
    pub name: String,
    /// One line describing the rule for readers of a report.
    #[serde(default)]
    pub description: String,
    /// Primary suppression.
    pub suppress: SuppressRule,
    /// Rounding.
    #[serde(default)]
    pub round: RoundRule,
    /// Protection required against recovery of suppressed cells.
    #[serde(default)]
    pub protect: ProtectRule,
}

fn one() -> u64 {
    1
}

/// Names of the built-in policies; the first is the default.
pub const BUILTIN_POLICIES: [&str; 3] = ["nhs-hes", "opensafely", "threshold-10"];

const NHS_HES: &str = include_str!("../policies/nhs-hes.toml");
const OPENSAFELY: &str = include_str!("../policies/opensafely.toml");
const THRESHOLD_10: &str = include_str!("../policies/threshold-10.toml");

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// File name (or `built-in <name>`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong and what was expected (from the TOML parser).
        message: String,
    },
    /// A key has a value outside its allowed range.
    #[error("{origin}: key `{key}`: expected {expected}")]
    Invalid {
        /// File name.
        origin: String,
        /// Dotted key, e.g. `suppress.max`.
        key: &'static str,
        /// What is allowed.
        expected: String,
    },
    /// Neither a built-in name nor a readable file.
    #[error("`{name}` is not a built-in policy ({}) and could not be read as a file: {source}", BUILTIN_POLICIES.join(", "))]
    NotFound {
        /// The name or path given.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Policy {
    /// The default policy, `nhs-hes`.
    pub fn default_policy() -> Policy {
        Policy::builtin("nhs-hes").expect("built-in policy parses")
    }

    /// A built-in policy by name.
    pub fn builtin(name: &str) -> Option<Policy> {
        let text = match name {
            "nhs-hes" => NHS_HES,
            "opensafely" => OPENSAFELY,
            "threshold-10" => THRESHOLD_10,
            _ => return None,
        };
        Some(Policy::from_toml_str(text, &format!("built-in {name}")).expect("built-in policy parses"))
    }

    /// Parse and validate a policy from TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            PolicyError::Parse {
                origin: origin.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        policy.validate(origin)?;
        Ok(policy)
    }

    /// A built-in name, or else a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Policy, PolicyError> {
        if let Some(p) = Policy::builtin(name_or_path) {
            return Ok(p);
        }
        let path = Path::new(name_or_path);
        let text = tabular::limited::read_to_string(path, tabular::limited::POLICY).map_err(|source| {
            PolicyError::NotFound {
                name: name_or_path.to_string(),
                source,
            }
        })?;
        Policy::from_toml_str(&text, name_or_path)
    }

    fn validate(&self, origin: &str) -> Result<(), PolicyError> {
        let bad = |key, expected: &str| {
            Err(PolicyError::Invalid {
                origin: origin.to_string(),
                key,
                expected: expected.to_string(),
            })
        };
        if self.name.trim().is_empty() {
            return bad("name", "a non-empty name");
        }
        if self.suppress.min == 0 {
            return bad(
                "suppress.min",
                "at least 1 (use `zero = \"suppress\"` to suppress zeros)",
            );
        }
        if self.suppress.max < self.suppress.min {
            return bad("suppress.max", "a count at least `suppress.min`");
        }
        if self.suppress.max > 1_000_000 {
            return bad("suppress.max", "at most 1000000");
        }
        if self.round.base == 0 || self.round.base > 1000 {
            return bad("round.base", "1 (no rounding) to 1000");
        }
        if let Some(w) = self.protect.min_width {
            if w > 1_000_000 {
                return bad("protect.min_width", "at most 1000000");
            }
        }
        if let Some(v) = self.protect.min_rounded_values {
            if v == 0 || v > self.round.base.max(1) {
                return bad("protect.min_rounded_values", "1 to `round.base`");
            }
        }
        Ok(())
    }

    /// True when a true count must be suppressed (primary suppression).
    pub fn is_small(&self, count: u64) -> bool {
        if count == 0 {
            self.suppress.zero == ZeroRule::Suppress
        } else {
            count >= self.suppress.min && count <= self.suppress.max
        }
    }

    /// The published value of an unsuppressed count: nearest multiple of
    /// `round.base`, halves rounded up (22 → 20, 23 → 25 for base 5).
    pub fn round(&self, count: u64) -> u64 {
        let b = self.round.base;
        if b <= 1 {
            return count;
        }
        // (count + b/2) / b * b, without overflow near u64::MAX
        let r = count / b * b;
        if count - r >= b - b / 2 {
            r.saturating_add(b)
        } else {
            r
        }
    }

    /// The range of true counts a reader infers from a published value `v`
    /// of a rounded cell: `[v - ⌊b/2⌋, v - ⌊b/2⌋ + b - 1]`, clipped at 0,
    /// less the suppression range (those counts would have been `*`).
    /// Saturating at `u64::MAX` (counts are capped far below it when read,
    /// see [`crate::table::MAX_PUBLISHED_COUNT`]).
    pub fn published_interval(&self, v: u64) -> (u64, u64) {
        let b = self.round.base.max(1);
        let lo = v.saturating_sub(b / 2);
        let hi = v.saturating_add(b - 1).saturating_sub(b / 2);
        let (mut lo, mut hi) = (lo, hi.max(lo));
        let (smin, smax) = self.sensitive_range();
        if lo >= smin && lo <= smax && smax < hi {
            lo = smax + 1;
        } else if lo < smin && hi >= smin && hi <= smax && smin > 0 {
            hi = smin - 1;
        } else if lo < smin && hi > smax && smin > 0 {
            // The interval straddles the whole suppression range: keep the
            // hull (a linear program cannot express the hole); sound, if loose.
        }
        if lo > hi {
            hi = lo;
        }
        (lo, hi)
    }

    /// The counts a reader must not be able to pin down: `[0 or min, max]`.
    pub fn sensitive_range(&self) -> (u64, u64) {
        let lo = if self.suppress.zero == ZeroRule::Suppress {
            0
        } else {
            self.suppress.min
        };
        (lo, self.suppress.max)
    }

    /// What a reader knows about any `*` cell a priori: at least this much
    /// (1 when zeros are published, because zero cells are never suppressed).
    pub fn suppressed_lower_bound(&self) -> u64 {
        if self.suppress.zero == ZeroRule::Suppress {
            0
        } else {
            1
        }
    }

    /// The narrowest acceptable feasible interval width.
    pub fn min_width(&self) -> u64 {
        let (lo, hi) = self.sensitive_range();
        self.protect.min_width.unwrap_or(hi - lo)
    }

    /// The fewest feasible values a rounded count may be narrowed to.
    pub fn min_rounded_values(&self) -> u64 {
        self.protect
            .min_rounded_values
            .unwrap_or(if self.round.base >= 3 { 3 } else { 1 })
    }

    /// The policy as TOML (for recording next to a release).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("policy serialises")
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_differ() {
        let hes = Policy::builtin("nhs-hes").unwrap();
        assert_eq!((hes.suppress.min, hes.suppress.max, hes.round.base), (1, 7, 5));
        assert_eq!(hes.suppress.zero, ZeroRule::Publish);
        assert_eq!(hes.min_width(), 6);
        assert_eq!(hes.min_rounded_values(), 3);
        assert_eq!(Policy::builtin("threshold-10").unwrap().min_rounded_values(), 1);
        let os = Policy::builtin("opensafely").unwrap();
        assert_eq!(os.round.totals, TotalsRule::SumOfRounded);
        assert!(os.is_small(0));
        assert!(!hes.is_small(0));
        let t10 = Policy::builtin("threshold-10").unwrap();
        assert!(t10.is_small(9) && !t10.is_small(10) && t10.round(13) == 13);
        assert_eq!(Policy::default_policy(), hes);
        assert!(Policy::builtin("nope").is_none());
    }

    #[test]
    fn rounding_half_up_and_intervals() {
        let hes = Policy::builtin("nhs-hes").unwrap();
        assert_eq!(
            [
                hes.round(8),
                hes.round(22),
                hes.round(23),
                hes.round(27),
                hes.round(28)
            ],
            [10, 20, 25, 25, 30]
        );
        assert_eq!(hes.published_interval(25), (23, 27));
        assert_eq!(hes.published_interval(10), (8, 12));
        assert_eq!(hes.published_interval(0), (0, 0));
        // every count maps back into the interval of its published value
        for x in 0..200u64 {
            if hes.is_small(x) {
                continue;
            }
            let (lo, hi) = hes.published_interval(hes.round(x));
            assert!(lo <= x && x <= hi, "{x}");
        }
        let mut p10 = hes.clone();
        p10.round.base = 10;
        assert_eq!(p10.round(15), 20);
        assert_eq!(p10.published_interval(20), (15, 24));
        // near u64::MAX: no overflow, the interval saturates
        assert_eq!(p10.round(u64::MAX), u64::MAX);
        assert_eq!(p10.round(u64::MAX - 10), u64::MAX - 5);
        assert_eq!(p10.published_interval(u64::MAX), (u64::MAX - 5, u64::MAX - 5));
        assert_eq!(hes.published_interval(u64::MAX - 3), (u64::MAX - 5, u64::MAX - 2));
        for x in (u64::MAX - 100)..=u64::MAX {
            let (lo, hi) = p10.published_interval(x);
            assert!(lo <= hi);
        }
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let text = "name = \"x\"\n[suppress]\nmax = 7\nmaximum = 8\n";
        let e = Policy::from_toml_str(text, "p.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("p.toml:4:"), "{msg}");
        assert!(msg.contains("maximum"), "{msg}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let text = "name = \"x\"\n[suppress]\nmin = 5\nmax = 3\n";
        let msg = Policy::from_toml_str(text, "p.toml").unwrap_err().to_string();
        assert!(msg.contains("suppress.max"), "{msg}");
        let text = "name = \"x\"\n[suppress]\nmax = 3\n[round]\nbase = 0\n";
        let msg = Policy::from_toml_str(text, "p.toml").unwrap_err().to_string();
        assert!(msg.contains("round.base"), "{msg}");
        let text =
            "name = \"x\"\n[suppress]\nmax = 3\n[round]\nbase = 5\n[protect]\nmin_rounded_values = 6\n";
        let msg = Policy::from_toml_str(text, "p.toml").unwrap_err().to_string();
        assert!(msg.contains("protect.min_rounded_values"), "{msg}");
        let text = "name = \"x\"\n[suppress]\nmax = \"seven\"\n";
        let msg = Policy::from_toml_str(text, "p.toml").unwrap_err().to_string();
        assert!(msg.starts_with("p.toml:3:"), "{msg}");
    }

    #[test]
    fn toml_round_trip() {
        for name in BUILTIN_POLICIES {
            let p = Policy::builtin(name).unwrap();
            assert_eq!(Policy::from_toml_str(&p.to_toml(), "rt").unwrap(), p);
        }
    }
}
