//! The study register's TOML file (what `trialink study add` and
//! `trialink study update` read). Unknown keys are refused; every error
//! names the file, the line and column or the key, and what was expected.
//!
//! ```toml
//! study = "trial-001"
//! organisation = "Example Clinical Trials Unit"
//! routes = ["service-mailer", "nhs-notification"]
//! channels = ["postal", "email"]
//! retain_until = "2032-12-31"
//! reminders = true                        # optional: may send reminders (default false)
//!
//! [approvals]
//! ethics_reference = "24/NE/0001"
//! section_251_reference = "24/CAG/0002"   # optional
//! dsa_reference = "DSA-2026-0001"
//! dsa_expires = "2027-03-31"
//! registry_basis = "consent"              # none | consent | section-251
//! enrolled_basis = "none"
//! ```

use crate::register::{Approvals, LegalBasis, OutputRoute, RegisterChannel, StudyEntry};
use crate::StoreError;
use pseudonym::Date;
use serde::Deserialize;

/// Why a register file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterFileError {
    /// Not valid TOML, an unknown or missing key, or a value of the wrong
    /// TOML type.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message (names the key for unknown/missing keys).
        message: String,
    },
    /// The file could not be read (missing, too large, not UTF-8).
    #[error("reading {origin}: {detail}")]
    Read {
        /// The file.
        origin: String,
        /// Why (from the operating system or the size limit; no content).
        detail: String,
    },
    /// A value that is not one of those allowed.
    #[error("{origin}: key {key}: expected {expected}")]
    Invalid {
        /// The file.
        origin: String,
        /// The key, dotted (`approvals.dsa_expires`, `routes[2]`).
        key: String,
        /// What was expected.
        expected: String,
    },
}

impl RegisterFileError {
    /// What to do about it, for the command line.
    pub fn hint(&self) -> &'static str {
        match self {
            RegisterFileError::Read { .. } => "give the path of a study register TOML file",
            _ => "see fixtures/studies/example.toml for every key, with comments",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    study: String,
    organisation: String,
    routes: Vec<String>,
    channels: Vec<String>,
    retain_until: String,
    #[serde(default)]
    reminders: bool,
    approvals: RawApprovals,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    ethics_reference: String,
    #[serde(default)]
    section_251_reference: Option<String>,
    dsa_reference: String,
    dsa_expires: String,
    registry_basis: String,
    enrolled_basis: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Read (at most [`tabular::limited::STUDY`] bytes of UTF-8) and parse a
/// register file; errors name the file.
pub fn read_entry(path: &std::path::Path) -> Result<StudyEntry, RegisterFileError> {
    let origin = path.display().to_string();
    let text = tabular::limited::read_to_string(path, tabular::limited::STUDY).map_err(|e| {
        RegisterFileError::Read {
            origin: origin.clone(),
            detail: e.to_string(),
        }
    })?;
    parse_entry(&text, &origin)
}

/// Parse and check a register entry from TOML text; `origin` names the
/// file in errors.
pub fn parse_entry(text: &str, origin: &str) -> Result<StudyEntry, RegisterFileError> {
    let raw: RawEntry = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        RegisterFileError::Parse {
            origin: origin.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    let invalid = |key: String, expected: &str| RegisterFileError::Invalid {
        origin: origin.to_string(),
        key,
        expected: expected.to_string(),
    };
    let date =
        |key: &str, s: &str| Date::parse_iso(s).ok_or_else(|| invalid(key.to_string(), "a date YYYY-MM-DD"));
    let basis = |key: &str, s: &str| {
        s.parse::<LegalBasis>()
            .map_err(|_| invalid(key.to_string(), "one of none, consent, section-251"))
    };
    let routes = raw
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse::<OutputRoute>().map_err(|_| {
                invalid(
                    format!("routes[{}]", i + 1),
                    "one of nhs-notification, service-mailer, org-provider, organisation",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let channels = raw
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.parse::<RegisterChannel>()
                .map_err(|_| invalid(format!("channels[{}]", i + 1), "one of postal, sms, email"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let a = raw.approvals;
    let mut entry = StudyEntry {
        study: raw.study,
        organisation: raw.organisation,
        approvals: Approvals {
            ethics_reference: a.ethics_reference,
            section_251_reference: a.section_251_reference,
            dsa_reference: a.dsa_reference,
            dsa_expires: date("approvals.dsa_expires", &a.dsa_expires)?,
            registry_basis: basis("approvals.registry_basis", &a.registry_basis)?,
            enrolled_basis: basis("approvals.enrolled_basis", &a.enrolled_basis)?,
        },
        routes,
        channels,
        retain_until: date("retain_until", &raw.retain_until)?,
        reminders: raw.reminders,
    };
    entry.normalise().map_err(|e| match e {
        StoreError::InvalidEntry { field, expected } => invalid(field.to_string(), expected),
        other => invalid("?".into(), &other.to_string()),
    })?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
study = "trial-001"
organisation = "Example Clinical Trials Unit"
routes = ["service-mailer", "nhs-notification"]
channels = ["postal", "email"]
retain_until = "2032-12-31"

[approvals]
ethics_reference = "24/NE/0001"
dsa_reference = "DSA-2026-0001"
dsa_expires = "2027-03-31"
registry_basis = "consent"
enrolled_basis = "none"
"#;

    #[test]
    fn parses_a_good_file() {
        let e = parse_entry(GOOD, "s.toml").unwrap();
        assert_eq!(e.study, "trial-001");
        assert_eq!(
            e.routes,
            [OutputRoute::NhsNotification, OutputRoute::ServiceMailer]
        );
        assert_eq!(e.channels, [RegisterChannel::Postal, RegisterChannel::Email]);
        assert_eq!(e.approvals.section_251_reference, None);
        assert_eq!(e.approvals.dsa_expires, Date::new(2027, 3, 31).unwrap());
        assert_eq!(e.approvals.registry_basis, LegalBasis::Consent);
    }

    #[test]
    fn the_committed_example_parses() {
        let text = include_str!("../../../fixtures/studies/example.toml");
        let e = parse_entry(text, "example.toml").unwrap();
        assert_eq!(e.routes.len(), 2);
    }

    #[test]
    fn errors_name_the_key_and_position() {
        let unknown = GOOD.replace("enrolled_basis", "colour = \"red\"\nenrolled_basis");
        let msg = parse_entry(&unknown, "s.toml").unwrap_err().to_string();
        assert!(msg.starts_with("s.toml:13:") && msg.contains("colour"), "{msg}");

        let missing = GOOD.replace("dsa_reference = \"DSA-2026-0001\"\n", "");
        let msg = parse_entry(&missing, "s.toml").unwrap_err().to_string();
        assert!(msg.contains("dsa_reference"), "{msg}");

        for (from, to, key) in [
            ("\"nhs-notification\"", "\"pigeon\"", "routes[2]"),
            ("\"email\"", "\"fax\"", "channels[2]"),
            ("2027-03-31", "2027-02-30", "approvals.dsa_expires"),
            ("2032-12-31", "31/12/2032", "retain_until"),
            ("\"consent\"", "\"implied\"", "approvals.registry_basis"),
            ("\"trial-001\"", "\"trial 001\"", "study"),
            ("\"consent\"", "\"section-251\"", "approvals.registry_basis"),
        ] {
            let bad = GOOD.replace(from, to);
            let msg = parse_entry(&bad, "s.toml").unwrap_err().to_string();
            assert!(msg.contains(&format!("key {key}:")), "{key}: {msg}");
        }
        let msg = parse_entry("study = 5\n", "s.toml").unwrap_err().to_string();
        assert!(msg.starts_with("s.toml:1:"), "{msg}");
    }
}
