//! Simulated uptake feedback: what a trial sends back about an invitation
//! batch.
//!
//! Input is an invitation batch in the DESIGN §8 format (postal:
//! `reference, template, given_name, family_name, address_line_1 … 5,
//! postcode`; SMS: `… mobile`; email: `… email`); `template` tells the SWAT
//! arms apart. Arms are taken in sorted order of template name; arm `k`
//! responds at `rate × (1 + arm_effect × k)` unless overridden, so the second
//! arm responds 30% more (relatively) by default — a SWAT effect to find.
//!
//! Output is the file a trial holds **before** it pseudonymises:
//! `reference, nhs_number, date_of_birth, status, date`. A row reported by
//! invitation reference has `reference` and blank `nhs_number`,
//! `date_of_birth`; a row reported by NHS number + date of birth has those
//! and a blank `reference`. Before sending, the trial pseudonymises the
//! identifiers (`trialink pseudonymise --keep reference,status,date`) so the
//! Service sees tokens, never the raw numbers. Rows by reference carry no
//! identifier and need no token: where pseudonymise rejects rows without an
//! NHS number, split the file on whether `reference` is blank and
//! pseudonymise only the NHS-number rows. Finding the NHS number of an invitee needs
//! the cohort (matched on the channel's contact fields, compared on letters
//! and digits only, case-insensitively); invitees not found exactly once are
//! reported by reference. Rows: one per status reached (`expressed_interest`,
//! then `consented` → `randomised` or `withdrawn`, or `ineligible` /
//! `withdrawn`), dated from `start`, sorted by date.
//!
//! Ground truth goes to `<out>.truth.json`: rows and people by route, what
//! `trialink uptake` should count (matched by reference, matched by token,
//! unmatched, QA seed, rejected when pseudonymised), and per arm the
//! invitations, responders and statuses.
//!
//! Routes: `reference`; `nhs_dob` (right NHS number and DOB); with
//! `error_rate`, `nhs_dob_invalid_nhs` (one digit wrong — fails the check
//! digit, so pseudonymise rejects it) or `nhs_dob_wrong_dob` (DOB a day out —
//! a valid token that matches no invitation); `no_match_reference` (a random
//! reference) and `no_match_nhs_dob` (a valid test-range number of nobody in
//! the batch); `qa_seed` (a QA seed in the batch answers by reference).

use crate::date::Date;
use crate::nhs;
use crate::output::{field, header, AtomicFile};
use crate::SynthError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Settings of an uptake simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct UptakeConfig {
    /// Seed.
    pub seed: u64,
    /// Response rate of the first arm (share of invitees who express interest).
    pub rate: f64,
    /// Relative increase per further arm.
    pub arm_effect: f64,
    /// Explicit response rates by template, overriding `rate`/`arm_effect`.
    pub arm_rates: Vec<(String, f64)>,
    /// Share of responders the trial reports by invitation reference (the
    /// rest by NHS number + DOB, where the cohort identifies them).
    pub by_reference: f64,
    /// Share of NHS number + DOB responders with an error in one of them.
    pub error_rate: f64,
    /// Rows matching nothing, as a share of responders.
    pub unmatched: f64,
    /// Share of QA seeds in the batch that answer.
    pub qa_response: f64,
    /// First day of feedback.
    pub start: Date,
}

impl Default for UptakeConfig {
    fn default() -> Self {
        UptakeConfig {
            seed: 1,
            rate: 0.10,
            arm_effect: 0.30,
            arm_rates: Vec::new(),
            by_reference: 0.6,
            error_rate: 0.02,
            unmatched: 0.02,
            qa_response: 0.5,
            start: Date::from_ymd(2026, 2, 1).expect("real date"),
        }
    }
}

impl UptakeConfig {
    fn validate(&self) -> Result<(), SynthError> {
        let rates = [
            ("rate", self.rate),
            ("by_reference", self.by_reference),
            ("error_rate", self.error_rate),
            ("unmatched", self.unmatched),
            ("qa_response", self.qa_response),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(SynthError::Config {
                    name,
                    expected: "a rate between 0 and 1".into(),
                });
            }
        }
        if !(0.0..=10.0).contains(&self.arm_effect) {
            return Err(SynthError::Config {
                name: "arm_effect",
                expected: "between 0 and 10".into(),
            });
        }
        if self.arm_rates.iter().any(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(SynthError::Config {
                name: "arm_rates",
                expected: "rates between 0 and 1".into(),
            });
        }
        Ok(())
    }
}

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
    fn contact_columns(self) -> &'static [&'static str] {
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

    fn name(self) -> &'static str {
        match self {
            Channel::Postal => "postal",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

fn csv_error(path: &Path, e: csv::Error) -> SynthError {
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

fn open(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), SynthError> {
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

fn column(path: &Path, header: &[String], name: &str) -> Result<usize, SynthError> {
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
struct Invite {
    reference: String,
    template: String,
    qa: bool,
    /// Cohort identity found by contact fields: `(nhs, dob)`, with how many
    /// cohort rows matched.
    found: Option<(u64, Date)>,
    matches: u32,
}

/// Counts by route; keys are route names.
type Counts = BTreeMap<&'static str, u64>;

/// Ground truth of an uptake simulation (also written as JSON).
#[derive(Clone, Debug)]
pub struct UptakeTruth {
    /// The truth as JSON, as written to `<out>.truth.json`.
    pub json: serde_json::Value,
    /// Rows written.
    pub rows: u64,
    /// Rows by route.
    pub rows_by_route: BTreeMap<&'static str, u64>,
}

/// The truth file path for feedback file `out`: `<out>.truth.json`.
pub fn truth_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".truth.json");
    PathBuf::from(s)
}

fn random_uuid<R: Rng>(rng: &mut R) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

struct Row {
    date: Date,
    tiebreak: u64,
    reference: String,
    nhs: String,
    dob: String,
    status: &'static str,
}

const STATUSES: [&str; 5] = [
    "expressed_interest",
    "consented",
    "randomised",
    "ineligible",
    "withdrawn",
];

/// Simulate feedback for the batch at `batch`, writing `out` and
/// `<out>.truth.json`. `cohort` (the `cohort.csv` the batch came from) lets
/// responders be reported by NHS number + DOB; `qa_seeds` marks the QA seeds
/// in the batch. Refuses to overwrite unless `force`.
pub fn simulate(
    batch: &Path,
    cohort: Option<&Path>,
    qa_seeds: Option<&Path>,
    cfg: &UptakeConfig,
    out: &Path,
    force: bool,
) -> Result<UptakeTruth, SynthError> {
    cfg.validate()?;
    let truth_file = truth_path(out);
    crate::output::check_absent(&[out.to_path_buf(), truth_file.clone()], force)?;

    // The batch.
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
    let contact: Vec<usize> = channel
        .contact_columns()
        .iter()
        .map(|c| column(batch, &h, c))
        .collect::<Result<_, _>>()?;
    let mut invites = Vec::new();
    let mut by_key: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec).map_err(|e| csv_error(batch, e))? {
        let text = |c: usize| {
            String::from_utf8_lossy(rec.get(c).unwrap_or_default())
                .trim()
                .to_string()
        };
        by_key.entry(key(&rec, &contact)).or_default().push(invites.len());
        invites.push(Invite {
            reference: text(ref_col),
            template: text(tpl_col),
            qa: false,
            found: None,
            matches: 0,
        });
    }

    // QA seeds in the batch.
    if let Some(qa) = qa_seeds {
        let (mut r, h) = open(qa)?;
        let cols: Vec<usize> = channel
            .contact_columns()
            .iter()
            .map(|c| column(qa, &h, c))
            .collect::<Result<_, _>>()?;
        while r.read_byte_record(&mut rec).map_err(|e| csv_error(qa, e))? {
            if let Some(rows) = by_key.get(&key(&rec, &cols)) {
                for &i in rows {
                    invites[i].qa = true;
                }
            }
        }
    }

    // Cohort identities, streaming the cohort once.
    if let Some(cohort) = cohort {
        let (mut r, h) = open(cohort)?;
        let cols: Vec<usize> = channel
            .contact_columns()
            .iter()
            .map(|c| column(cohort, &h, c))
            .collect::<Result<_, _>>()?;
        let nhs_col = column(cohort, &h, "nhs_number")?;
        let dob_col = column(cohort, &h, "date_of_birth")?;
        while r.read_byte_record(&mut rec).map_err(|e| csv_error(cohort, e))? {
            if let Some(rows) = by_key.get(&key(&rec, &cols)) {
                let nhs_s = std::str::from_utf8(rec.get(nhs_col).unwrap_or_default())
                    .unwrap_or("")
                    .trim();
                let dob_s = std::str::from_utf8(rec.get(dob_col).unwrap_or_default())
                    .unwrap_or("")
                    .trim();
                let id = match (nhs::is_valid(nhs_s), Date::parse_iso(dob_s)) {
                    (true, Some(d)) => nhs_s.parse::<u64>().ok().map(|n| (n, d)),
                    _ => None,
                };
                for &i in rows {
                    invites[i].matches += 1;
                    invites[i].found = id;
                }
            }
        }
    }

    // Arms, in sorted order of template.
    let templates: BTreeSet<&str> = invites
        .iter()
        .filter(|i| !i.qa)
        .map(|i| i.template.as_str())
        .collect();
    let arm_rate: BTreeMap<String, f64> = templates
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let r = cfg
                .arm_rates
                .iter()
                .find(|(name, _)| name == t)
                .map_or((cfg.rate * (1.0 + cfg.arm_effect * k as f64)).min(1.0), |x| x.1);
            (t.to_string(), r)
        })
        .collect();

    let batch_nhs: BTreeSet<u64> = invites.iter().filter_map(|i| i.found.map(|f| f.0)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut rows: Vec<Row> = Vec::new();
    let mut rows_by_route: Counts = BTreeMap::new();
    let mut people_by_route: Counts = BTreeMap::new();
    for route in [
        "reference",
        "nhs_dob",
        "nhs_dob_invalid_nhs",
        "nhs_dob_wrong_dob",
        "no_match_reference",
        "no_match_nhs_dob",
        "qa_seed",
    ] {
        rows_by_route.insert(route, 0);
        people_by_route.insert(route, 0);
    }
    #[derive(Default)]
    struct Arm {
        invited: u64,
        responders: u64,
        visible_responders: u64,
        rows: u64,
        reached: BTreeMap<&'static str, u64>,
        final_status: BTreeMap<&'static str, u64>,
    }
    let mut arms: BTreeMap<String, Arm> = BTreeMap::new();
    let mut responders = 0u64;
    let (mut qa_in_batch, mut identified, mut ambiguous) = (0u64, 0u64, 0u64);

    for inv in &invites {
        let d0 = cfg.start.add_days(rng.gen_range(0..28));
        if inv.qa {
            qa_in_batch += 1;
            if rng.gen::<f64>() < cfg.qa_response {
                rows.push(Row {
                    date: d0,
                    tiebreak: rng.gen(),
                    reference: inv.reference.clone(),
                    nhs: String::new(),
                    dob: String::new(),
                    status: "expressed_interest",
                });
                *rows_by_route.get_mut("qa_seed").expect("route") += 1;
                *people_by_route.get_mut("qa_seed").expect("route") += 1;
            }
            continue;
        }
        let unique = inv.matches == 1 && inv.found.is_some();
        if unique {
            identified += 1;
        } else if inv.matches > 1 {
            ambiguous += 1;
        }
        let arm = arms.entry(inv.template.clone()).or_default();
        arm.invited += 1;
        if rng.gen::<f64>() >= arm_rate[&inv.template] {
            continue;
        }
        responders += 1;
        arm.responders += 1;
        // Route and what the trial will write.
        let (route, nhs_s, dob_s): (&'static str, String, String) =
            if unique && rng.gen::<f64>() >= cfg.by_reference {
                let (n, d) = inv.found.expect("unique");
                if rng.gen::<f64>() < cfg.error_rate {
                    if rng.gen_bool(0.5) {
                        ("nhs_dob_invalid_nhs", nhs::mistype(n, &mut rng).0, d.iso())
                    } else {
                        let shift = if rng.gen_bool(0.5) { 1 } else { -1 };
                        ("nhs_dob_wrong_dob", nhs::digits(n), d.add_days(shift).iso())
                    }
                } else {
                    ("nhs_dob", nhs::digits(n), d.iso())
                }
            } else {
                ("reference", String::new(), String::new())
            };
        let reference = if route == "reference" {
            inv.reference.clone()
        } else {
            String::new()
        };
        // Status path.
        let mut path: Vec<(&'static str, Date)> = vec![("expressed_interest", d0)];
        if rng.gen::<f64>() < 0.6 {
            let d1 = d0.add_days(rng.gen_range(3..=21));
            path.push(("consented", d1));
            if rng.gen::<f64>() < 0.9 {
                path.push(("randomised", d1.add_days(rng.gen_range(1..=14))));
            } else {
                path.push(("withdrawn", d1.add_days(rng.gen_range(1..=30))));
            }
        } else {
            let x: f64 = rng.gen();
            if x < 0.5 {
                path.push(("ineligible", d0.add_days(rng.gen_range(1..=14))));
            } else if x < 0.7 {
                path.push(("withdrawn", d0.add_days(rng.gen_range(1..=30))));
            }
        }
        *people_by_route.get_mut(route).expect("route") += 1;
        if matches!(route, "reference" | "nhs_dob") {
            arm.visible_responders += 1;
        }
        for &(status, date) in &path {
            *arm.reached.entry(status).or_default() += 1;
            rows.push(Row {
                date,
                tiebreak: rng.gen(),
                reference: reference.clone(),
                nhs: nhs_s.clone(),
                dob: dob_s.clone(),
                status,
            });
        }
        arm.rows += path.len() as u64;
        *rows_by_route.get_mut(route).expect("route") += path.len() as u64;
        *arm.final_status
            .entry(path.last().expect("non-empty").0)
            .or_default() += 1;
    }

    // Rows that match nothing.
    let extra = (responders as f64 * cfg.unmatched).round() as u64;
    for _ in 0..extra {
        let date = cfg.start.add_days(rng.gen_range(0..42));
        let status = if rng.gen_bool(0.7) {
            "expressed_interest"
        } else {
            "consented"
        };
        if rng.gen_bool(0.5) {
            rows.push(Row {
                date,
                tiebreak: rng.gen(),
                reference: random_uuid(&mut rng),
                nhs: String::new(),
                dob: String::new(),
                status,
            });
            *rows_by_route.get_mut("no_match_reference").expect("route") += 1;
            *people_by_route.get_mut("no_match_reference").expect("route") += 1;
        } else {
            let n = loop {
                if let Some(n) = nhs::from_body(rng.gen_range(999_000_000..1_000_000_000)) {
                    if !batch_nhs.contains(&n) {
                        break n;
                    }
                }
            };
            let dob = cfg.start.add_days(-rng.gen_range(18 * 365..90 * 365));
            rows.push(Row {
                date,
                tiebreak: rng.gen(),
                reference: String::new(),
                nhs: nhs::digits(n),
                dob: dob.iso(),
                status,
            });
            *rows_by_route.get_mut("no_match_nhs_dob").expect("route") += 1;
            *people_by_route.get_mut("no_match_nhs_dob").expect("route") += 1;
        }
    }
    rows.sort_by_key(|r| (r.date, r.tiebreak));

    let mut buf = Vec::with_capacity(rows.len() * 64);
    header(
        &mut buf,
        &["reference", "nhs_number", "date_of_birth", "status", "date"],
    );
    for r in &rows {
        field(&mut buf, &r.reference);
        buf.push(b',');
        buf.extend_from_slice(r.nhs.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(r.dob.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(r.status.as_bytes());
        buf.push(b',');
        r.date.write_iso(&mut buf);
        buf.push(b'\n');
    }

    let route = |k: &str| rows_by_route[k];
    let by_arm: serde_json::Map<String, serde_json::Value> = arms
        .iter()
        .map(|(t, a)| {
            let reached: serde_json::Map<String, serde_json::Value> = STATUSES
                .iter()
                .map(|s| (s.to_string(), a.reached.get(s).copied().unwrap_or(0).into()))
                .collect();
            let fin: serde_json::Map<String, serde_json::Value> = STATUSES
                .iter()
                .map(|s| (s.to_string(), a.final_status.get(s).copied().unwrap_or(0).into()))
                .collect();
            (
                t.clone(),
                serde_json::json!({
                    "response_rate": arm_rate[t],
                    "invited": a.invited,
                    "responders": a.responders,
                    "responders_matchable": a.visible_responders,
                    "rows": a.rows,
                    "reached": reached,
                    "final_status": fin,
                }),
            )
        })
        .collect();
    let json = serde_json::json!({
        "generator": "trialink synth uptake",
        "seed": cfg.seed,
        "parameters": {
            "rate": cfg.rate,
            "arm_effect": cfg.arm_effect,
            "by_reference": cfg.by_reference,
            "error_rate": cfg.error_rate,
            "unmatched": cfg.unmatched,
            "qa_response": cfg.qa_response,
            "start": cfg.start.iso(),
        },
        "batch": {
            "channel": channel.name(),
            "rows": invites.len(),
            "invitations": invites.len() as u64 - qa_in_batch,
            "qa_seeds": qa_in_batch,
            "identified_in_cohort": identified,
            "ambiguous_in_cohort": ambiguous,
        },
        "rows": rows.len(),
        "rows_by_route": rows_by_route,
        "people_by_route": people_by_route,
        "expected_uptake": {
            "matched_by_reference": route("reference"),
            "matched_by_token": route("nhs_dob"),
            "unmatched": route("nhs_dob_wrong_dob") + route("no_match_reference") + route("no_match_nhs_dob"),
            "qa_seed": route("qa_seed"),
            "rejected_when_pseudonymised": route("nhs_dob_invalid_nhs"),
        },
        "by_arm": by_arm,
    });

    let mut f = AtomicFile::create(out, force)?;
    f.write_all(&buf)?;
    let mut t = AtomicFile::create(&truth_file, force)?;
    let mut text = serde_json::to_string_pretty(&json).expect("JSON values");
    text.push('\n');
    t.write_all(text.as_bytes())?;
    f.commit()?;
    t.commit()?;
    Ok(UptakeTruth {
        json,
        rows: rows.len() as u64,
        rows_by_route,
    })
}
