//! Reading an invitation batch for the uptake simulation: its rows, the QA
//! seeds among them, and each invitee's cohort identity and profile, found
//! by the channel's contact fields.

use crate::date::Date;
use crate::nhs;
use crate::response::Profile;
use crate::SynthError;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The channel of a batch, from its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Letters.
    Postal,
    /// Text messages.
    Sms,
    /// Email.
    Email,
}

impl Channel {
    pub(crate) fn contact_columns(self) -> &'static [&'static str] {
        match self {
            Channel::Postal => &[
                "given_name",
                "family_name",
                "address_line_1",
                "address_line_2",
                "address_line_3",
                "address_line_4",
                "address_line_5",
                "postcode",
            ],
            Channel::Sms => &["given_name", "family_name", "mobile"],
            Channel::Email => &["given_name", "family_name", "email"],
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Postal => "postal",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> SynthError {
    let line = e.position().map_or(0, csv::Position::line);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("record has {len} fields, expected {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        csv::ErrorKind::Io(_) => "could not be read".to_string(),
        _ => "malformed CSV record".to_string(),
    };
    SynthError::Input {
        path: path.to_path_buf(),
        line,
        message,
    }
}

pub(crate) fn open(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), SynthError> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(io) => SynthError::io(path, io),
            _ => SynthError::Input {
                path: path.to_path_buf(),
                line: 1,
                message: "malformed CSV".into(),
            },
        })?;
    let h = r
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    Ok((r, h))
}

pub(crate) fn column(path: &Path, header: &[String], name: &str) -> Result<usize, SynthError> {
    header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(name))
        .ok_or_else(|| SynthError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            header: header.join(","),
        })
}

/// Contact key: the channel's fields, letters and digits only, upper case.
fn key(rec: &csv::ByteRecord, cols: &[usize]) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    for &c in cols {
        if let Some(f) = rec.get(c) {
            k.extend(
                f.iter()
                    .filter(|b| b.is_ascii_alphanumeric())
                    .map(u8::to_ascii_uppercase),
            );
        }
        k.push(0x1f);
    }
    k
}

/// A batch row.
pub(crate) struct Invite {
    pub reference: String,
    pub template: String,
    pub qa: bool,
    /// Cohort identity found by contact fields: `(nhs, dob)`, with how many
    /// cohort rows matched.
    pub found: Option<(u64, Date)>,
    pub matches: u32,
    /// What the response model knows of them (from the cohort row).
    pub profile: Option<Profile>,
}

/// A batch and its rows by contact key.
pub(crate) struct Batch {
    pub channel: Channel,
    pub invites: Vec<Invite>,
    by_key: HashMap<Vec<u8>, Vec<usize>>,
}

/// Read the batch file.
pub(crate) fn read(batch: &Path) -> Result<Batch, SynthError> {
    let (mut r, h) = open(batch)?;
    let channel = if h.iter().any(|c| c.eq_ignore_ascii_case("address_line_1")) {
        Channel::Postal
    } else if h.iter().any(|c| c.eq_ignore_ascii_case("mobile")) {
        Channel::Sms
    } else if h.iter().any(|c| c.eq_ignore_ascii_case("email")) {
        Channel::Email
    } else {
        return Err(SynthError::MissingColumn {
            path: batch.to_path_buf(),
            column: "address_line_1, mobile or email".into(),
            header: h.join(","),
        });
    };
    let ref_col = column(batch, &h, "reference")?;
    let tpl_col = column(batch, &h, "template")?;
    let contact = contact_indices(batch, &h, channel)?;
    let mut b = Batch {
        channel,
        invites: Vec::new(),
        by_key: HashMap::new(),
    };
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec).map_err(|e| csv_error(batch, e))? {
        let text = |c: usize| {
            String::from_utf8_lossy(rec.get(c).unwrap_or_default())
                .trim()
                .to_string()
        };
        b.by_key
            .entry(key(&rec, &contact))
            .or_default()
            .push(b.invites.len());
        b.invites.push(Invite {
            reference: text(ref_col),
            template: text(tpl_col),
            qa: false,
            found: None,
            matches: 0,
            profile: None,
        });
    }
    Ok(b)
}

pub(crate) fn contact_indices(path: &Path, h: &[String], channel: Channel) -> Result<Vec<usize>, SynthError> {
    channel
        .contact_columns()
        .iter()
        .map(|c| column(path, h, c))
        .collect()
}

impl Batch {
    /// The batch rows whose contact fields are those of `rec` (columns `cols`).
    pub(crate) fn rows_of(&self, rec: &csv::ByteRecord, cols: &[usize]) -> Option<&[usize]> {
        self.by_key.get(&key(rec, cols)).map(Vec::as_slice)
    }

    /// Mark the QA seeds (rows whose contact fields are a seed's).
    pub fn mark_qa(&mut self, qa: &Path) -> Result<(), SynthError> {
        let (mut r, h) = open(qa)?;
        let cols = contact_indices(qa, &h, self.channel)?;
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).map_err(|e| csv_error(qa, e))? {
            if let Some(rows) = self.by_key.get(&key(&rec, &cols)) {
                for &i in rows {
                    self.invites[i].qa = true;
                }
            }
        }
        Ok(())
    }

    /// Find each invitee's cohort identity, streaming the cohort once; with
    /// `profile_on`, also their profile (age on that date, sex, ethnic
    /// group, region), which needs those cohort columns.
    pub fn read_cohort(&mut self, cohort: &Path, profile_on: Option<Date>) -> Result<(), SynthError> {
        let (mut r, h) = open(cohort)?;
        let cols = contact_indices(cohort, &h, self.channel)?;
        let nhs_col = column(cohort, &h, "nhs_number")?;
        let dob_col = column(cohort, &h, "date_of_birth")?;
        let profile_cols = match profile_on {
            Some(_) => Some([
                column(cohort, &h, "sex")?,
                column(cohort, &h, "ethnic_category")?,
                column(cohort, &h, "region")?,
            ]),
            None => None,
        };
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).map_err(|e| csv_error(cohort, e))? {
            let Some(rows) = self.by_key.get(&key(&rec, &cols)) else {
                continue;
            };
            let cell = |c: usize| {
                std::str::from_utf8(rec.get(c).unwrap_or_default())
                    .unwrap_or("")
                    .trim()
            };
            let (nhs_s, dob_s) = (cell(nhs_col), cell(dob_col));
            let dob = Date::parse_iso(dob_s);
            let id = match (nhs::is_valid(nhs_s), dob) {
                (true, Some(d)) => nhs_s.parse::<u64>().ok().map(|n| (n, d)),
                _ => None,
            };
            let profile = match (profile_cols, profile_on, dob) {
                (Some([s, e, g]), Some(on), Some(d)) => Some(Profile {
                    age: d.years_until(on).max(0) as u32,
                    sex: cell(s).to_string(),
                    ethnic_group: crate::codes::ethnic_group(cell(e).bytes().next().unwrap_or(b'Z'))
                        .to_string(),
                    region: cell(g).to_string(),
                    registry: false,
                }),
                _ => None,
            };
            for &i in rows {
                self.invites[i].matches += 1;
                self.invites[i].found = id;
                self.invites[i].profile = profile.clone();
            }
        }
        Ok(())
    }

    /// Mark registry volunteers: invitees whose cohort NHS number is in the
    /// registry file's `nhs_number` column.
    pub fn mark_registry(&mut self, registry: &Path) -> Result<(), SynthError> {
        let (mut r, h) = open(registry)?;
        let col = column(registry, &h, "nhs_number")?;
        let mut numbers = HashSet::new();
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).map_err(|e| csv_error(registry, e))? {
            let s = std::str::from_utf8(rec.get(col).unwrap_or_default())
                .unwrap_or("")
                .trim();
            if let Ok(n) = s.parse::<u64>() {
                numbers.insert(n);
            }
        }
        for inv in &mut self.invites {
            if let (Some((n, _)), Some(p)) = (inv.found, inv.profile.as_mut()) {
                p.registry = numbers.contains(&n);
            }
        }
        Ok(())
    }
}
