//! Simulated uptake feedback: what a trial sends back about an invitation
//! batch.
//!
//! Input is an invitation batch in the service's batch format (postal:
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
//!
//! **Who responds.** Without a response model every invitee of an arm
//! responds at the arm's rate and a responder consents with probability
//! [`CONSENT`] (then is randomised with probability [`RANDOMISED`]). With a
//! [`ResponseModel`] (and the cohort, which gives each invitee's age, sex,
//! ethnic group and region; and optionally the registry file, whose NHS
//! numbers mark volunteers) both chances vary by demographic as the model
//! says; the truth file then records the model and invitations, responders
//! and enrolments by each demographic, so allocation can be checked against
//! the ground truth.

use crate::batch::{self, Batch, Invite};
use crate::date::Date;
use crate::nhs;
use crate::output::{field, header, AtomicFile};
pub use crate::response::{Profile, ResponseModel};
use crate::SynthError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The chance that a responder consents (before a response model's odds).
pub const CONSENT: f64 = 0.6;
/// The chance that a consenting person is randomised (else withdraws).
pub const RANDOMISED: f64 = 0.9;

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
    /// Demographic response model (needs the cohort); `None` = every
    /// invitee of an arm alike.
    pub model: Option<ResponseModel>,
    /// Registry file whose `nhs_number`s mark volunteers for the model.
    pub registry: Option<PathBuf>,
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
            model: None,
            registry: None,
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

pub use crate::batch::Channel;

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

impl UptakeTruth {
    /// One line for the terminal: rows by route and where they went.
    pub fn console(&self, out: &Path) -> String {
        let routes: Vec<String> = self
            .rows_by_route
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "synth uptake: {} feedback rows ({}) -> {} and {}",
            self.rows,
            routes.join(", "),
            out.display(),
            truth_path(out).display()
        )
    }
}

/// `--arm-rate` values: `TEMPLATE=RATE`, the rate between 0 and 1.
pub fn parse_arm_rates(specs: &[String]) -> Result<Vec<(String, f64)>, String> {
    specs
        .iter()
        .map(|spec| {
            let (t, r) = spec
                .split_once('=')
                .ok_or_else(|| "expected TEMPLATE=RATE, e.g. letter_b=0.15".to_string())?;
            match r.trim().parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok((t.to_string(), v)),
                _ => Err(format!("{t}: expected a rate between 0 and 1")),
            }
        })
        .collect()
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
/// Route names, in the order the truth lists them.
const ROUTES: [&str; 7] = [
    "reference",
    "nhs_dob",
    "nhs_dob_invalid_nhs",
    "nhs_dob_wrong_dob",
    "no_match_reference",
    "no_match_nhs_dob",
    "qa_seed",
];

/// Per-arm ground truth.
#[derive(Default)]
struct Arm {
    invited: u64,
    responders: u64,
    visible_responders: u64,
    rows: u64,
    reached: BTreeMap<&'static str, u64>,
    final_status: BTreeMap<&'static str, u64>,
}

/// Invitations, responders and enrolments by demographic `(variable, label)`.
type ProfileCounts = BTreeMap<(&'static str, String), [u64; 3]>;

/// The simulation's state while it walks the batch.
struct Sim<'a> {
    cfg: &'a UptakeConfig,
    rng: ChaCha8Rng,
    rows: Vec<Row>,
    rows_by_route: Counts,
    people_by_route: Counts,
    arms: BTreeMap<String, Arm>,
    responders: u64,
    qa_in_batch: u64,
    identified: u64,
    ambiguous: u64,
    by_profile: ProfileCounts,
}

fn profile_keys(p: &Profile) -> [(&'static str, String); 5] {
    let lo = p.age / 5 * 5;
    [
        (
            "age_band",
            if lo >= 90 {
                "90+".into()
            } else {
                format!("{lo}-{}", lo + 4)
            },
        ),
        ("sex", p.sex.clone()),
        ("ethnic_group", p.ethnic_group.clone()),
        ("region", p.region.clone()),
        (
            "registry",
            if p.registry {
                "volunteer"
            } else {
                "not a volunteer"
            }
            .into(),
        ),
    ]
}

impl Sim<'_> {
    fn count(&mut self, route: &'static str, rows: u64) {
        *self.rows_by_route.get_mut(route).expect("route") += rows;
        *self.people_by_route.get_mut(route).expect("route") += 1;
    }

    fn push(&mut self, date: Date, reference: String, nhs: String, dob: String, status: &'static str) {
        let tiebreak = self.rng.gen();
        self.rows.push(Row {
            date,
            tiebreak,
            reference,
            nhs,
            dob,
            status,
        });
    }

    /// One invitee: whether they answer, by which route, and their path.
    fn invitee(&mut self, inv: &Invite, rate: f64) {
        let d0 = self.cfg.start.add_days(self.rng.gen_range(0..28));
        if inv.qa {
            self.qa_in_batch += 1;
            if self.rng.gen::<f64>() < self.cfg.qa_response {
                self.push(
                    d0,
                    inv.reference.clone(),
                    String::new(),
                    String::new(),
                    "expressed_interest",
                );
                self.count("qa_seed", 1);
            }
            return;
        }
        let unique = inv.matches == 1 && inv.found.is_some();
        if unique {
            self.identified += 1;
        } else if inv.matches > 1 {
            self.ambiguous += 1;
        }
        let profile = self.cfg.model.as_ref().zip(inv.profile.as_ref());
        let (p_respond, p_consent) = match profile {
            Some((m, p)) => (m.response(rate, p), m.consent(CONSENT, p)),
            None => (rate, CONSENT),
        };
        let arm = self.arms.entry(inv.template.clone()).or_default();
        arm.invited += 1;
        let responds = self.rng.gen::<f64>() < p_respond;
        let mut enrolled = false;
        if responds {
            enrolled = self.respond(inv, unique, d0, p_consent);
        }
        if let Some((_, p)) = profile {
            for k in profile_keys(p) {
                let c = self.by_profile.entry(k).or_default();
                c[0] += 1;
                c[1] += u64::from(responds);
                c[2] += u64::from(enrolled);
            }
        }
    }

    /// A responder's route and status path; whether they were randomised.
    fn respond(&mut self, inv: &Invite, unique: bool, d0: Date, p_consent: f64) -> bool {
        self.responders += 1;
        let (route, nhs_s, dob_s) = self.route(inv, unique);
        let reference = if route == "reference" {
            inv.reference.clone()
        } else {
            String::new()
        };
        let path = self.path(d0, p_consent);
        self.count(route, path.len() as u64);
        let arm = self.arms.get_mut(&inv.template).expect("arm");
        arm.responders += 1;
        if matches!(route, "reference" | "nhs_dob") {
            arm.visible_responders += 1;
        }
        for &(status, _) in &path {
            *arm.reached.entry(status).or_default() += 1;
        }
        arm.rows += path.len() as u64;
        *arm.final_status
            .entry(path.last().expect("non-empty").0)
            .or_default() += 1;
        for &(status, date) in &path {
            self.push(date, reference.clone(), nhs_s.clone(), dob_s.clone(), status);
        }
        path.iter().any(|s| s.0 == "randomised")
    }

    /// How the trial reports a responder, and the identifiers it writes.
    fn route(&mut self, inv: &Invite, unique: bool) -> (&'static str, String, String) {
        let rng = &mut self.rng;
        if !(unique && rng.gen::<f64>() >= self.cfg.by_reference) {
            return ("reference", String::new(), String::new());
        }
        let (n, d) = inv.found.expect("unique");
        if rng.gen::<f64>() < self.cfg.error_rate {
            if rng.gen_bool(0.5) {
                ("nhs_dob_invalid_nhs", nhs::mistype(n, rng).0, d.iso())
            } else {
                let shift = if rng.gen_bool(0.5) { 1 } else { -1 };
                ("nhs_dob_wrong_dob", nhs::digits(n), d.add_days(shift).iso())
            }
        } else {
            ("nhs_dob", nhs::digits(n), d.iso())
        }
    }

    /// The statuses a responder reaches, dated from `d0`.
    fn path(&mut self, d0: Date, p_consent: f64) -> Vec<(&'static str, Date)> {
        let rng = &mut self.rng;
        let mut path: Vec<(&'static str, Date)> = vec![("expressed_interest", d0)];
        if rng.gen::<f64>() < p_consent {
            let d1 = d0.add_days(rng.gen_range(3..=21));
            path.push(("consented", d1));
            if rng.gen::<f64>() < RANDOMISED {
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
        path
    }

    /// Rows that match nothing: random references, or valid test-range NHS
    /// numbers of nobody in the batch.
    fn unmatched(&mut self, batch_nhs: &BTreeSet<u64>) {
        let extra = (self.responders as f64 * self.cfg.unmatched).round() as u64;
        let start = self.cfg.start;
        for _ in 0..extra {
            let date = start.add_days(self.rng.gen_range(0..42));
            let status = if self.rng.gen_bool(0.7) {
                "expressed_interest"
            } else {
                "consented"
            };
            if self.rng.gen_bool(0.5) {
                let tiebreak = self.rng.gen();
                let reference = random_uuid(&mut self.rng);
                self.rows.push(Row {
                    date,
                    tiebreak,
                    reference,
                    nhs: String::new(),
                    dob: String::new(),
                    status,
                });
                self.count("no_match_reference", 1);
            } else {
                let n = loop {
                    if let Some(n) = nhs::from_body(self.rng.gen_range(999_000_000..1_000_000_000)) {
                        if !batch_nhs.contains(&n) {
                            break n;
                        }
                    }
                };
                let dob = start.add_days(-self.rng.gen_range(18 * 365..90 * 365));
                self.push(date, String::new(), nhs::digits(n), dob.iso(), status);
                self.count("no_match_nhs_dob", 1);
            }
        }
    }

    /// The feedback file's bytes, rows sorted by date.
    fn csv(&mut self) -> Vec<u8> {
        self.rows.sort_by_key(|r| (r.date, r.tiebreak));
        let mut buf = Vec::with_capacity(self.rows.len() * 64);
        header(
            &mut buf,
            &["reference", "nhs_number", "date_of_birth", "status", "date"],
        );
        for r in &self.rows {
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
        buf
    }

    /// The ground truth as JSON.
    fn truth(&self, b: &Batch, arm_rate: &BTreeMap<String, f64>) -> serde_json::Value {
        let cfg = self.cfg;
        let route = |k: &str| self.rows_by_route[k];
        let by_arm: serde_json::Map<String, serde_json::Value> = self
            .arms
            .iter()
            .map(|(t, a)| (t.clone(), arm_json(a, arm_rate[t])))
            .collect();
        let mut json = serde_json::json!({
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
                "channel": b.channel.name(),
                "rows": b.invites.len(),
                "invitations": b.invites.len() as u64 - self.qa_in_batch,
                "qa_seeds": self.qa_in_batch,
                "identified_in_cohort": self.identified,
                "ambiguous_in_cohort": self.ambiguous,
            },
            "rows": self.rows.len(),
            "rows_by_route": self.rows_by_route,
            "people_by_route": self.people_by_route,
            "expected_uptake": {
                "matched_by_reference": route("reference"),
                "matched_by_token": route("nhs_dob"),
                "unmatched": route("nhs_dob_wrong_dob") + route("no_match_reference") + route("no_match_nhs_dob"),
                "qa_seed": route("qa_seed"),
                "rejected_when_pseudonymised": route("nhs_dob_invalid_nhs"),
            },
            "by_arm": by_arm,
        });
        if let Some(m) = &cfg.model {
            let mut by: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
            for ((var, label), c) in &self.by_profile {
                let e = by
                    .entry(var.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                e[label.as_str()] =
                    serde_json::json!({"invited": c[0], "responders": c[1], "randomised": c[2]});
            }
            json["response_model"] = m.to_json();
            json["by_demographic"] = by.into();
        }
        json
    }
}

fn arm_json(a: &Arm, rate: f64) -> serde_json::Value {
    let statuses = |m: &BTreeMap<&'static str, u64>| -> serde_json::Map<String, serde_json::Value> {
        STATUSES
            .iter()
            .map(|s| (s.to_string(), m.get(s).copied().unwrap_or(0).into()))
            .collect()
    };
    serde_json::json!({
        "response_rate": rate,
        "invited": a.invited,
        "responders": a.responders,
        "responders_matchable": a.visible_responders,
        "rows": a.rows,
        "reached": statuses(&a.reached),
        "final_status": statuses(&a.final_status),
    })
}

/// Response rates by template: arms in sorted order of template, arm `k`
/// at `rate × (1 + arm_effect × k)` unless given.
fn arm_rates(invites: &[Invite], cfg: &UptakeConfig) -> BTreeMap<String, f64> {
    let templates: BTreeSet<&str> = invites
        .iter()
        .filter(|i| !i.qa)
        .map(|i| i.template.as_str())
        .collect();
    templates
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
        .collect()
}

/// Simulate feedback for the batch at `batch`, writing `out` and
/// `<out>.truth.json`. `cohort` (the `cohort.csv` the batch came from) lets
/// responders be reported by NHS number + DOB (and gives the response
/// model its profiles); `qa_seeds` marks the QA seeds in the batch.
/// Refuses to overwrite unless `force`.
pub fn simulate(
    batch: &Path,
    cohort: Option<&Path>,
    qa_seeds: Option<&Path>,
    cfg: &UptakeConfig,
    out: &Path,
    force: bool,
) -> Result<UptakeTruth, SynthError> {
    cfg.validate()?;
    if cfg.model.is_some() && cohort.is_none() {
        return Err(SynthError::Config {
            name: "response model",
            expected: "the cohort the batch came from (--cohort): it gives each invitee's demographics"
                .into(),
        });
    }
    let truth_file = truth_path(out);
    crate::output::check_absent(&[out.to_path_buf(), truth_file.clone()], force)?;
    let mut b = batch::read(batch)?;
    if let Some(qa) = qa_seeds {
        b.mark_qa(qa)?;
    }
    if let Some(cohort) = cohort {
        b.read_cohort(cohort, cfg.model.as_ref().map(|_| cfg.start))?;
    }
    if let (Some(_), Some(reg)) = (&cfg.model, &cfg.registry) {
        b.mark_registry(reg)?;
    }
    let arm_rate = arm_rates(&b.invites, cfg);
    let batch_nhs: BTreeSet<u64> = b.invites.iter().filter_map(|i| i.found.map(|f| f.0)).collect();
    let mut sim = Sim {
        cfg,
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        rows: Vec::new(),
        rows_by_route: ROUTES.iter().map(|&r| (r, 0)).collect(),
        people_by_route: ROUTES.iter().map(|&r| (r, 0)).collect(),
        arms: BTreeMap::new(),
        responders: 0,
        qa_in_batch: 0,
        identified: 0,
        ambiguous: 0,
        by_profile: BTreeMap::new(),
    };
    for inv in &b.invites {
        let rate = arm_rate.get(&inv.template).copied().unwrap_or(0.0);
        sim.invitee(inv, rate);
    }
    sim.unmatched(&batch_nhs);
    let buf = sim.csv();
    let json = sim.truth(&b, &arm_rate);

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
        rows: sim.rows.len() as u64,
        rows_by_route: sim.rows_by_route,
    })
}

#[cfg(test)]
mod arm_rate_tests {
    use super::parse_arm_rates;

    #[test]
    fn arm_rates_are_template_equals_a_probability() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_arm_rates(&v(&["a=0.1", "b= 1"])).unwrap(),
            vec![("a".to_string(), 0.1), ("b".to_string(), 1.0)]
        );
        for bad in ["a", "a=1.5", "a=-0.1", "a=x", "a=NaN"] {
            assert!(parse_arm_rates(&v(&[bad])).is_err(), "{bad}");
        }
    }
}
