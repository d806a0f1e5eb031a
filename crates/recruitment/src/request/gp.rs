//! GP practice criteria: include and exclude lists of ODS practice codes
//! and code prefixes, normalised to upper case and checked when the request
//! is read (errors give the key, the index, and the line and column of the
//! value, never the value), then against each cohort row's practice.

use super::{Bad, Criteria, RequestError};

/// GP practice criteria, codes normalised to upper case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpCriteria {
    /// Practice codes included.
    pub include: Vec<String>,
    /// Practice code prefixes included.
    pub include_prefixes: Vec<String>,
    /// Practice codes excluded.
    pub exclude: Vec<String>,
    /// Practice code prefixes excluded.
    pub exclude_prefixes: Vec<String>,
}

/// Why a cohort row fails the GP practice criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpVerdict {
    /// The practice passes.
    Ok,
    /// No practice given: cannot be shown to pass (not eligible).
    Unknown,
    /// Not a practice code (the row is rejected).
    Malformed,
    /// Not among the included practices.
    NotIncluded,
    /// Among the excluded practices.
    Excluded,
}

impl GpVerdict {
    /// Reason code in summaries (`gp_practice_…`).
    pub fn code(self) -> &'static str {
        match self {
            GpVerdict::Ok => "gp_practice_ok",
            GpVerdict::Unknown => "gp_practice_unknown",
            GpVerdict::Malformed => "bad_gp_practice",
            GpVerdict::NotIncluded => "gp_practice_not_included",
            GpVerdict::Excluded => "gp_practice_excluded",
        }
    }
}

/// Whether `s` is an ODS GP practice code: a letter then five letters or
/// digits (upper case).
pub fn is_practice_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub(crate) fn is_practice_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=5).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl GpCriteria {
    /// Whether any GP criterion is set.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
            && self.include_prefixes.is_empty()
            && self.exclude.is_empty()
            && self.exclude_prefixes.is_empty()
    }

    /// Check a cohort cell (trimmed, case-insensitive).
    pub fn check(&self, cell: &[u8]) -> GpVerdict {
        let t = cell.trim_ascii();
        if t.is_empty() {
            return GpVerdict::Unknown;
        }
        let Ok(code) = std::str::from_utf8(t).map(str::to_ascii_uppercase) else {
            return GpVerdict::Malformed;
        };
        if !is_practice_code(&code) {
            return GpVerdict::Malformed;
        }
        let hit = |codes: &[String], prefixes: &[String]| {
            codes.contains(&code) || prefixes.iter().any(|p| code.starts_with(p.as_str()))
        };
        if hit(&self.exclude, &self.exclude_prefixes) {
            GpVerdict::Excluded
        } else if (!self.include.is_empty() || !self.include_prefixes.is_empty())
            && !hit(&self.include, &self.include_prefixes)
        {
            GpVerdict::NotIncluded
        } else {
            GpVerdict::Ok
        }
    }
}

/// GP practice lists: each code an ODS practice code (a letter and five
/// letters or digits), each prefix one to five such characters; no code
/// both included and excluded. Errors give the key, the index and the
/// line and column of the value.
pub(super) fn validate_gp(bad: &Bad<'_>, c: &Criteria) -> Result<GpCriteria, RequestError> {
    let norm = |key: &str, v: &[toml::Spanned<String>], prefix: bool| -> Result<Vec<String>, RequestError> {
        let mut out = Vec::with_capacity(v.len());
        for (i, x) in v.iter().enumerate() {
            let code = x.get_ref().trim().to_ascii_uppercase();
            let ok = if prefix {
                is_practice_prefix(&code)
            } else {
                is_practice_code(&code)
            };
            if !ok {
                let expected = if prefix {
                    "expected a GP practice code prefix: a letter, then up to four letters or digits (e.g. \"A81\")"
                } else {
                    "expected a GP practice (ODS) code: a letter, then five letters or digits (e.g. \"A81001\")"
                };
                return Err(bad.spanned(&format!("{key}[{i}]"), x.span(), expected));
            }
            out.push(code);
        }
        out.sort();
        out.dedup();
        Ok(out)
    };
    let gp = GpCriteria {
        include: norm("criteria.gp_practices", &c.gp_practices, false)?,
        include_prefixes: norm("criteria.gp_practice_prefixes", &c.gp_practice_prefixes, true)?,
        exclude: norm("criteria.excluded_gp_practices", &c.excluded_gp_practices, false)?,
        exclude_prefixes: norm(
            "criteria.excluded_gp_practice_prefixes",
            &c.excluded_gp_practice_prefixes,
            true,
        )?,
    };
    if let Some((i, x)) = c
        .gp_practices
        .iter()
        .enumerate()
        .find(|(_, x)| gp.check(x.get_ref().as_bytes()) == GpVerdict::Excluded)
    {
        return Err(bad.spanned(
            &format!("criteria.gp_practices[{i}]"),
            x.span(),
            "this practice is also excluded (excluded_gp_practices or a prefix): nobody there can be eligible",
        ));
    }
    Ok(gp)
}
