//! The invitation pipeline (DESIGN §1 step 3): cohort → criteria →
//! exclusions → suppression lists → quotas → arms → QA seeds → minimised
//! batch, recorded in the store together with its file.
//!
//! Two passes over the cohort. Pass 1 pseudonymises each row as it is read
//! and keeps, for eligible people only, tokens and coarse demographics (no
//! identifier, no contact detail). Pass 2 re-reads the cohort and keeps the
//! contact details of the selected rows only; the file's BLAKE3 must be the
//! same in both passes.

use crate::demographics;
use crate::request::{self, Channel, Dim, Validated};
use crate::select::{self, Candidate};
use pseudonym::{Date, Dob, DobFormats, Key, NhsNumber, Scope, TokenKey};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use store::{Invitation, NewBatch, QaSeed, StagedFile, Store};
use suppression::{Flags, Funnel, Reason, ScopeRule, Suppressor, TokenSet};

/// Why an invitation run stopped. Positions and names only, never values.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The request file.
    #[error(transparent)]
    Request(#[from] request::RequestError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A registry or enrolled token list.
    #[error(transparent)]
    List(#[from] suppression::ListError),
    /// CSV input (cohort, QA seeds): missing columns, malformed CSV.
    #[error(transparent)]
    Tabular(#[from] tabular::TabularError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An output already exists.
    #[error("{path} already exists; invitation batches are never overwritten")]
    OutputExists {
        /// The file.
        path: PathBuf,
    },
    /// The cohort must be a file (it is read twice).
    #[error("the cohort must be a file, not stdin: it is read twice so that contact details are held only for the people selected")]
    CohortFromStdin,
    /// The cohort changed between the passes.
    #[error("{path} changed while it was being read; run again on a stable copy")]
    CohortChanged {
        /// The cohort.
        path: String,
    },
    /// Too few usable QA seeds.
    #[error("{path}: {needed} QA seeds needed, but only {usable} rows have the {channel} contact details")]
    TooFewQaSeeds {
        /// The QA seeds file.
        path: String,
        /// Seeds requested.
        needed: u32,
        /// Rows usable.
        usable: u64,
        /// Channel.
        channel: &'static str,
    },
    /// The study's register entry refuses the route, the channel or the
    /// batch date (study closed, data sharing agreement expired, no
    /// section 251 support for routes 3 and 4).
    #[error("refused by the study register: {0}")]
    Route(#[from] store::RouteRefusal),
    /// A route other than the service mailer for a study with no register
    /// entry.
    #[error("study {study} has no entry in the study register, and output route {route} needs one")]
    NotRegistered {
        /// Study.
        study: String,
        /// The route asked for.
        route: store::OutputRoute,
    },
    /// Registry prioritisation or enrolled-list suppression for a study
    /// with no register entry, hence no recorded legal basis.
    #[error("study {study} has no entry in the study register, so no legal basis is recorded for {purpose}")]
    UnregisteredProcessing {
        /// Study.
        study: String,
        /// What was refused.
        purpose: &'static str,
    },
    /// Registry prioritisation or enrolled-list suppression for a study
    /// whose register entry records no legal basis for it.
    #[error("study {study}: the register records no legal basis ({key} = \"none\") for {purpose}")]
    NoBasis {
        /// Study.
        study: String,
        /// The register key (`approvals.registry_basis`, `approvals.enrolled_basis`).
        key: &'static str,
        /// What was refused.
        purpose: &'static str,
    },
    /// A registry links file that cannot be trusted to name this cohort's
    /// rows (see [`crate::links`]).
    #[error("registry links {path}: {problem}")]
    RegistryLinks {
        /// The links file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// A malformed row in a registry links file.
    #[error("registry links {path}, line {line}, column `{column}`: expected {expected}")]
    RegistryLinksRow {
        /// The links file.
        path: PathBuf,
        /// The line.
        line: u64,
        /// The column.
        column: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// The links were made from another cohort file.
    #[error("registry links {path} were made from a different cohort file than {cohort} (BLAKE3 differs)")]
    LinksNotForCohort {
        /// The links file.
        path: PathBuf,
        /// The cohort.
        cohort: String,
    },
    /// The as-of date is too far from the clock date without a reason.
    #[error("the request's as_of {as_of} is {days} days from today ({today}); more than {MAX_AS_OF_DAYS} needs --backdate REASON")]
    AsOfFarFromToday {
        /// The request's as-of date.
        as_of: String,
        /// The clock date.
        today: String,
        /// Days between them.
        days: i64,
    },
    /// QA seeds requested but no file given.
    #[error("the request asks for {0} QA seeds but no QA seeds file was given")]
    NoQaSeedsFile(u32),
    /// The same study and seed already have a batch.
    #[error("study {study} already has a batch made with seed {seed} (batch {batch_id}, file {file}); a re-run would duplicate it")]
    AlreadyRun {
        /// Study.
        study: String,
        /// Seed.
        seed: u64,
        /// The batch.
        batch_id: i64,
        /// Its file.
        file: String,
    },
}

/// The most days `as_of` may be from the clock date without `--backdate`.
pub const MAX_AS_OF_DAYS: i64 = 31;

/// A progress callback: `(pass, rows read so far)`.
pub type Progress<'a> = &'a dyn Fn(&str, u64);

/// Everything an invitation run needs.
pub struct InviteOptions<'a> {
    /// The service's master key.
    pub master: &'a Key,
    /// The identifiable cohort CSV.
    pub cohort: &'a Path,
    /// The request file (path, for messages and the manifest).
    pub request_path: &'a Path,
    /// The validated request.
    pub request: &'a Validated,
    /// Output directory (created if missing).
    pub out_dir: &'a Path,
    /// Registry volunteers (token CSV + manifest, or TLBF).
    pub registry: Option<&'a Path>,
    /// Registry volunteers found by `trialink link` (exact and fuzzy) in
    /// the cohort pseudonymised under the registry key (see [`crate::links`]).
    pub registry_links: Option<&'a Path>,
    /// The trial's already-enrolled list (token CSV + manifest, or TLBF).
    pub enrolled: Option<&'a Path>,
    /// The service's QA seeds (contact details).
    pub qa_seeds: Option<&'a Path>,
    /// Date-of-birth formats.
    pub dob_formats: DobFormats,
    /// The clock date: recorded as the invitation date, the end of the
    /// frequency-cap window, and the date `as_of` is checked against.
    pub today: Date,
    /// Why `as_of` may be more than [`MAX_AS_OF_DAYS`] from `today`
    /// (recorded in the batch and the manifest).
    pub backdate: Option<&'a str>,
    /// Dice threshold for suppression by CLK (objections kept without a
    /// usable NHS number).
    pub clk_threshold: f64,
    /// Options for the manifest (no secrets).
    pub manifest_options: BTreeMap<String, serde_json::Value>,
    /// Called with rows read so far, every 65,536 rows of each pass.
    pub progress: Option<Progress<'a>>,
}

/// Per-stratum lines of the selection summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StratumSummary {
    /// Stratum label.
    pub stratum: String,
    /// Requested.
    pub requested: u32,
    /// Eligible.
    pub available: u64,
    /// Eligible registry volunteers.
    pub registry_available: u64,
    /// Invited.
    pub selected: u32,
    /// Invited registry volunteers.
    pub registry_selected: u32,
    /// Invited beyond quota to fill other strata's shortfall.
    pub fill: u32,
    /// Requested but not available.
    pub shortfall: u32,
    /// Invited per arm.
    pub arms: BTreeMap<String, u32>,
}

/// The selection summary written beside the batch (plain counts, for the
/// service's own eyes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Study.
    pub study: String,
    /// Channel.
    pub channel: &'static str,
    /// Output route (`nhs-notification`, `service-mailer`, `org-provider`,
    /// `organisation`).
    pub route: &'static str,
    /// Seed.
    pub seed: u64,
    /// As-of date (ages are computed at it).
    pub as_of: String,
    /// The clock date the batch was made on (the invitation date).
    pub invited_on: String,
    /// Why as_of is far from the invitation date, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backdate_reason: Option<String>,
    /// Rows whose region was not in the fixed vocabulary (or blank),
    /// recorded as `Unknown`.
    pub region_unknown: u64,
    /// Non-contact entries from before schema version 5 not yet re-keyed
    /// (matched on NHS number + DOB only): ingest the objections again.
    pub non_contact_legacy_entries: u64,
    /// Objections kept as CLKs (no usable NHS number) checked.
    pub non_contact_clks: u64,
    /// People (not rows) not invited because they matched a CLK objection.
    pub suppressed_by_clk: u64,
    /// Requested invitations.
    pub requested: u32,
    /// Invitations in the batch (QA seeds excluded).
    pub invited: u64,
    /// QA seeds in the batch.
    pub qa_seeds: u32,
    /// Cohort rows read.
    pub cohort_rows: u64,
    /// The exclusion funnel, in precedence order: `(stage, excluded, remaining)`.
    pub funnel: Vec<FunnelRow>,
    /// Requested vs actual per stratum.
    pub strata: Vec<StratumSummary>,
    /// Eligible people in strata the request does not list.
    pub eligible_outside_requested_strata: u64,
    /// Invited per arm.
    pub arms: BTreeMap<String, u64>,
    /// Total shortfall.
    pub shortfall: u64,
    /// The response-adjusted allocation, when the request states targets
    /// as enrolments or responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<crate::allocation::Plan>,
}

/// One funnel stage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FunnelRow {
    /// Reason code.
    pub stage: &'static str,
    /// Rows counted under it.
    pub count: u64,
    /// Rows left after it.
    pub remaining: u64,
}

/// What a run did.
#[derive(Debug)]
pub struct InviteReport {
    /// The batch id in the store.
    pub batch_id: i64,
    /// The batch file.
    pub batch_file: PathBuf,
    /// The summary.
    pub summary: Summary,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// What opening the store repaired.
    pub reconciled: store::Reconciled,
}

/// Output file names inside the output directory.
pub const BATCH_FILE: &str = "invitations.csv";
/// The selection summary (JSON).
pub const SUMMARY_JSON: &str = "selection-summary.json";
/// The selection summary (Markdown).
pub const SUMMARY_MD: &str = "selection-summary.md";
/// Cohort rows rejected (line, column, reason).
pub const REJECTS: &str = "cohort.rejects.csv";
/// The run manifest.
pub const MANIFEST: &str = "invitations.csv.manifest.json";

/// The scope of the key behind invitation references.
pub const REFERENCE_SCOPE: &str = "service:invitation-reference";

/// The invitation reference for a row: a UUID v4 whose random bits are
/// HMAC-SHA256 under the service's reference key over the study, the seed
/// and the 1-based row position.
pub fn reference(key: &TokenKey, study: &str, seed: u64, position: u32) -> String {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(b"trialink-reference-v1\0");
    msg.extend_from_slice(study.as_bytes());
    msg.push(0);
    msg.extend_from_slice(&seed.to_be_bytes());
    msg.extend_from_slice(&position.to_be_bytes());
    let mut b: [u8; 16] = key.mac_of(&msg).0[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Pass-1 record of an eligible person: tokens and coarse labels only.
struct Eligible {
    dropped: bool,
    record: u64,
    service: [u8; 32],
    study: [u8; 32],
    demo: u32,
    registry: bool,
    rank: u64,
}

/// Interned coarse demographics.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Demo {
    age_band: String,
    sex: &'static str,
    ethnic: &'static str,
    region: &'static str,
}

impl Demo {
    fn get(&self, d: Dim) -> String {
        match d {
            Dim::AgeBand => self.age_band.clone(),
            Dim::Sex => self.sex.to_string(),
            Dim::EthnicGroup => self.ethnic.to_string(),
            Dim::Region => self.region.to_string(),
        }
    }
}

struct Columns {
    nhs: usize,
    dob: usize,
    sex: Option<usize>,
    ethnic: Option<usize>,
    given: Option<usize>,
    family: Option<usize>,
    postcode: Option<usize>,
    region: Option<usize>,
    conditions: Option<usize>,
    flags: [usize; 5],
    contact: Vec<Option<usize>>,
    required: Vec<usize>,
}

fn path_str(p: &Path) -> Result<&str, InviteError> {
    p.to_str().ok_or_else(|| InviteError::Io {
        path: p.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })
}

/// The columns of a batch file: route 1 (the NHS notification service)
/// carries the reference, the template and the NHS number only; routes 2–4
/// carry the channel's contact fields.
pub fn batch_columns(route: store::OutputRoute, channel: Channel) -> &'static [&'static str] {
    match route {
        store::OutputRoute::NhsNotification => NOTIFICATION_COLUMNS,
        _ => channel.columns(),
    }
}

/// Route 1's batch columns.
const NOTIFICATION_COLUMNS: &[&str] = &["reference", "template", "nhs_number"];

/// The source columns a batch row takes after `reference` and `template`
/// (`None`: an optional column the file lacks) and those that must be
/// usable for a person to be reachable.
fn contact_columns(
    src: &tabular::Source,
    route: store::OutputRoute,
    channel: Channel,
) -> Result<(Vec<Option<usize>>, Vec<usize>), InviteError> {
    if route == store::OutputRoute::NhsNotification {
        let i = src.column(None, &["nhs_number", "nhs_no", "nhsnumber"], "NHS number")?;
        return Ok((vec![Some(i)], vec![i]));
    }
    let mut contact = Vec::new();
    let mut required = Vec::new();
    for &c in channel.contact_columns() {
        let must = c == "given_name" || c == "family_name" || channel.required_columns().contains(&c);
        let idx = if must {
            Some(src.column(None, &[c], c)?)
        } else {
            src.optional_column(None, &[c], c)?
        };
        if channel.required_columns().contains(&c) {
            required.push(idx.expect("required column found"));
        }
        contact.push(idx);
    }
    Ok((contact, required))
}

/// A batch cell from a source cell: route 1's NHS number in its normal
/// form (`None` when it does not parse: the row is unusable), any other
/// value trimmed.
fn batch_cell(route: store::OutputRoute, cell: &[u8]) -> Option<Vec<u8>> {
    if route == store::OutputRoute::NhsNotification {
        NhsNumber::parse_bytes(cell).ok().map(|n| n.as_bytes().to_vec())
    } else {
        Some(cell.trim_ascii().to_vec())
    }
}

/// Check a request against the study register before anything is written:
/// the route and channel must be permitted, the study open, the data
/// sharing agreement in force on `today` (or the as-of date, whichever is
/// later), routes 3 and 4 need section 251 support or consent, and registry
/// prioritisation / enrolled-list suppression need a recorded basis. A study
/// with no register entry may use only the service mailer (the behaviour
/// before the register), without registry prioritisation or an enrolled
/// list (no basis is recorded for either).
pub fn check_governance(
    store: &Store,
    v: &crate::request::Validated,
    registry: bool,
    enrolled: bool,
    today: Date,
) -> Result<(), InviteError> {
    let r = &v.request;
    let route = v.route;
    store.check_not_purged(&r.study)?;
    match store.study_get(&r.study)? {
        None if route == store::OutputRoute::ServiceMailer => {
            for (used, purpose) in [
                (registry, "registry prioritisation (--registry, --registry-links)"),
                (enrolled, "enrolled-list suppression (--enrolled)"),
            ] {
                if used {
                    return Err(InviteError::UnregisteredProcessing {
                        study: r.study.clone(),
                        purpose,
                    });
                }
            }
        }
        None => {
            return Err(InviteError::NotRegistered {
                study: r.study.clone(),
                route,
            })
        }
        Some(entry) => {
            let channel = match r.channel {
                Channel::Postal => store::RegisterChannel::Postal,
                Channel::Sms => store::RegisterChannel::Sms,
                Channel::Email => store::RegisterChannel::Email,
            };
            entry.check_route(route, channel, today.max(v.as_of))?;
            let a = &entry.entry.approvals;
            let none = store::LegalBasis::None;
            if registry && a.registry_basis == none {
                return Err(InviteError::NoBasis {
                    study: r.study.clone(),
                    key: "approvals.registry_basis",
                    purpose: "registry prioritisation (--registry)",
                });
            }
            if enrolled && a.enrolled_basis == none {
                return Err(InviteError::NoBasis {
                    study: r.study.clone(),
                    key: "approvals.enrolled_basis",
                    purpose: "enrolled-list suppression (--enrolled)",
                });
            }
        }
    }
    Ok(())
}

/// Run the pipeline and record the batch. See the module docs.
pub fn invite(store: &mut Store, o: &InviteOptions<'_>) -> Result<InviteReport, InviteError> {
    let started = tabular::now_rfc3339();
    let v = o.request;
    let r = &v.request;
    let channel = r.channel;
    let as_of = v.as_of;
    let as_of_iso = iso(as_of);
    let cohort_str = path_str(o.cohort)?;
    if cohort_str == "-" {
        return Err(InviteError::CohortFromStdin);
    }
    if r.qa_seeds > 0 && o.qa_seeds.is_none() {
        return Err(InviteError::NoQaSeedsFile(r.qa_seeds));
    }
    let today = o.today;
    let today_iso = iso(today);
    let days = (as_of.days_since_epoch() - today.days_since_epoch()).abs();
    let backdate = o.backdate.map(str::trim).filter(|b| !b.is_empty());
    if days > MAX_AS_OF_DAYS && backdate.is_none() {
        return Err(InviteError::AsOfFarFromToday {
            as_of: as_of_iso,
            today: today_iso,
            days,
        });
    }
    check_governance(
        store,
        v,
        o.registry.is_some() || o.registry_links.is_some(),
        o.enrolled.is_some(),
        today,
    )?;
    if let Some(b) = store.find_batch(&r.study, r.seed)? {
        return Err(InviteError::AlreadyRun {
            study: r.study.clone(),
            seed: r.seed,
            batch_id: b.batch_id,
            file: b.file_path,
        });
    }

    // Outputs: refuse existing ones, clear our own stale temporaries.
    std::fs::create_dir_all(o.out_dir).map_err(|source| InviteError::Io {
        path: o.out_dir.to_path_buf(),
        source,
    })?;
    let out_dir = o.out_dir.canonicalize().map_err(|source| InviteError::Io {
        path: o.out_dir.to_path_buf(),
        source,
    })?;
    let names = [BATCH_FILE, MANIFEST, SUMMARY_JSON, SUMMARY_MD, REJECTS];
    for n in names {
        let f = out_dir.join(n);
        if std::fs::symlink_metadata(&f).is_ok() {
            return Err(InviteError::OutputExists { path: f });
        }
        let t = temp_of(&f);
        if t.exists() {
            std::fs::remove_file(&t).map_err(|source| InviteError::Io { path: t, source })?;
        }
    }

    // Keys.
    let service_key = o.master.derive(&Scope::service_store());
    let store::StudyKey {
        key: trial_key,
        scope: trial_scope,
        ..
    } = store.study_key(o.master, &r.study)?;
    let ref_key = TokenKey::new(
        &o.master
            .derive(&Scope::new(REFERENCE_SCOPE).expect("valid scope")),
    );
    let service_tk = TokenKey::new(&service_key);
    let study_tk = TokenKey::new(&trial_key);
    let trial_fp = trial_key.fingerprint().to_string();
    let mut keys = vec![
        key_record("master", None, o.master),
        key_record("service", Some(&Scope::service_store()), &service_key),
        key_record("study", Some(&trial_scope), &trial_key),
    ];

    // Lists.
    let mut inputs: Vec<tabular::FileRecord> = Vec::new();
    let mut extra: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let (registry_set, registry_tk) = match o.registry {
        Some(p) => {
            // The request's scope binds the file: a file naming another
            // registry is refused, naming both (issue 14).
            let rule = match r.registry.scope.as_deref() {
                Some(s) => ScopeRule::Exactly(Scope::new(s).expect("validated")),
                None => ScopeRule::NamedOr(None),
            };
            let (list, key) = suppression::load_token_list(p, o.master, &rule)?;
            keys.push(key_record("registry", Some(&list.scope), &key));
            inputs.push(list_record("registry", p, &list));
            extra.insert("registry_scope".into(), list.scope.to_string().into());
            extra.insert("registry_is_filter".into(), list.is_filter.into());
            (Some(list.set), Some(TokenKey::new(&key)))
        }
        None => (None, None),
    };
    let links = match o.registry_links {
        Some(p) => {
            let l = crate::links::load(p)?;
            inputs.push(tabular::FileRecord {
                role: "registry_links".into(),
                path: p.display().to_string(),
                blake3: l.blake3.clone(),
                bytes: l.bytes,
                rows: Some(l.exact + l.fuzzy),
            });
            extra.insert(
                "registry_links".into(),
                serde_json::json!({"exact": l.exact, "fuzzy": l.fuzzy, "cohort_rows": l.rows.len()}),
            );
            Some(l)
        }
        None => None,
    };
    let mut enrolled_sets = vec![TokenSet::sorted(store.enrolled_tokens(&r.study)?)];
    let mut enrolled_nhs_sets = Vec::new();
    if let Some(p) = o.enrolled {
        let (list, _) = suppression::load_token_list_with(
            p,
            &|s: &Scope| {
                if *s == trial_scope {
                    Key::from_bytes(*trial_key.expose_secret())
                } else {
                    o.master.derive(s)
                }
            },
            &ScopeRule::Exactly(trial_scope.clone()),
            false,
        )?;
        inputs.push(list_record("enrolled", p, &list));
        extra.insert("enrolled_nhs_tokens".into(), list.nhs_set.len().into());
        enrolled_sets.push(list.set);
        enrolled_nhs_sets.push(list.nhs_set);
    }
    let cap = suppression::FrequencyCap {
        max_invitations: r.frequency_cap.max_invitations,
        within_days: r.frequency_cap.within_days,
    };
    let legacy = store.noncontact_legacy_tokens()?;
    let legacy_count = legacy.len() as u64;
    let suppressor = Suppressor {
        non_contact: TokenSet::sorted(store.noncontact_tokens()?),
        non_contact_legacy: TokenSet::sorted(legacy),
        enrolled: TokenSet::Union(enrolled_sets),
        enrolled_nhs: TokenSet::Union(enrolled_nhs_sets),
        invited: if r.reinvite {
            TokenSet::empty()
        } else {
            TokenSet::sorted(store.invited_study_tokens(&r.study)?)
        },
        // The cap counts real invitation dates, in the window ending today.
        capped: cap.capped(store, today)?,
    };
    let clk_list = suppression::ClkList::new(&store.noncontact_clks()?);
    let mut clk_coder = (!clk_list.is_empty()).then(|| suppression::ClkCoder::new(o.master));
    extra.insert("non_contact_tokens".into(), suppressor.non_contact.len().into());
    extra.insert("non_contact_legacy_entries".into(), legacy_count.into());
    extra.insert("non_contact_clks".into(), (clk_list.len() as u64).into());
    extra.insert("clk_threshold".into(), o.clk_threshold.into());
    extra.insert("invited_on".into(), today_iso.clone().into());
    if let Some(b) = backdate {
        extra.insert("backdate_reason".into(), b.into());
    }
    extra.insert(
        "frequency_cap_window_start".into(),
        cap.window_start(today).into(),
    );

    // Pass 1.
    let mut src = tabular::Source::open(cohort_str)?;
    let cols = Columns {
        nhs: src.column(None, &["nhs_number", "nhs_no", "nhsnumber"], "NHS number")?,
        dob: src.column(None, &["date_of_birth", "dob", "birth_date"], "date of birth")?,
        sex: src.optional_column(None, &["sex", "gender"], "sex")?,
        ethnic: src.optional_column(None, &["ethnic_category", "ethnicity"], "ethnic category")?,
        region: src.optional_column(None, &["region"], "region")?,
        given: src.optional_column(None, &["given_name", "first_name", "forename"], "given name")?,
        family: src.optional_column(None, &["family_name", "surname", "last_name"], "family name")?,
        postcode: src.optional_column(None, &["postcode", "post_code"], "postcode")?,
        conditions: if r.criteria.required_conditions.is_empty() && r.criteria.excluded_conditions.is_empty()
        {
            src.optional_column(None, &["conditions"], "conditions")?
        } else {
            Some(src.column(None, &["conditions"], "conditions")?)
        },
        flags: [
            src.column(None, &["deceased"], "deceased flag")?,
            src.column(
                None,
                &["national_data_opt_out", "ndop"],
                "National Data Opt-out flag",
            )?,
            src.column(None, &["s_flag", "sensitive"], "S-flag")?,
            src.column(None, &["armed_forces"], "armed forces flag")?,
            src.column(None, &["prison"], "prison flag")?,
        ],
        contact: Vec::new(),
        required: Vec::new(),
    };
    let route = v.route;
    let (contact, required) = contact_columns(&src, route, channel)?;
    let cols = Columns {
        contact,
        required,
        ..cols
    };
    let header: Vec<String> = src.header().to_vec();
    let width = header.len();
    let c = &r.criteria;
    let mut funnel = Funnel::default();
    let mut rejects: Vec<(u64, String, &'static str)> = Vec::new();
    let mut eligible: Vec<Eligible> = Vec::new();
    let mut demo_ids: HashMap<Demo, u32> = HashMap::new();
    // Person (service `token_nhs`) → index into `eligible`, or one of:
    const EXCLUDED: u32 = u32::MAX;
    const SEEN: u32 = u32::MAX - 1;
    let mut persons: HashMap<[u8; 32], u32> = HashMap::new();
    let mut region_unknown = 0u64;
    let mut clk_people: std::collections::HashSet<[u8; 32]> = std::collections::HashSet::new();
    let need_study_all = !suppressor.enrolled.is_empty() || !suppressor.invited.is_empty();
    let need_study_nhs = !suppressor.enrolled_nhs.is_empty();
    let mut demos: Vec<Demo> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec)? {
        let pos = src.position();
        if pos.record % 65_536 == 0 {
            if let Some(p) = o.progress {
                p("pass 1", pos.record);
            }
        }
        let mut reject = |col: Option<usize>, code: &'static str| {
            funnel.add(Reason::Rejected);
            rejects.push((pos.line, col.map(|i| header[i].clone()).unwrap_or_default(), code));
        };
        if rec.len() != width {
            reject(None, "ragged_row");
            continue;
        }
        let nhs = match NhsNumber::parse_normalised(&rec[cols.nhs]) {
            Ok(n) => n,
            Err(e) => {
                reject(Some(cols.nhs), e.code());
                continue;
            }
        };
        // The person is their NHS number (issue 14): every list and every
        // exclusion is decided per person, whatever their rows say.
        let person = service_tk.token_nhs(&nhs).0;
        let mut fl = [false; 5];
        let mut bad_flag = None;
        for (k, &i) in cols.flags.iter().enumerate() {
            match suppression::parse_flag(&rec[i]) {
                Some(b) => fl[k] = b,
                None => {
                    bad_flag = Some(i);
                    break;
                }
            }
        }
        let flags = Flags {
            deceased: fl[0],
            national_data_opt_out: fl[1],
            s_flag: fl[2],
            armed_forces: fl[3],
            prison: fl[4],
        };
        // Whether this row excludes the person: an unreadable flag is
        // doubt, and doubt resolves towards not inviting.
        let mut excludes =
            bad_flag.is_some() || flags.exclusion().is_some() || suppressor.non_contact.contains(&person);
        let mut exclude_person = |funnel: &mut Funnel, eligible: &mut Vec<Eligible>| {
            let st = persons.entry(person).or_insert(EXCLUDED);
            if *st < SEEN {
                eligible[*st as usize].dropped = true;
                funnel.moved(Reason::NotSelected, Reason::DuplicatePersonExcluded);
            }
            *st = EXCLUDED;
        };
        if let Some(i) = bad_flag {
            exclude_person(&mut funnel, &mut eligible);
            funnel.add(Reason::Rejected);
            rejects.push((pos.line, header[i].clone(), "bad_flag"));
            continue;
        }
        let dob = match Dob::parse_bytes(&rec[cols.dob], &o.dob_formats, as_of) {
            Ok(d) => d,
            Err(e) => {
                if excludes {
                    exclude_person(&mut funnel, &mut eligible);
                }
                funnel.add(Reason::Rejected);
                rejects.push((pos.line, header[cols.dob].clone(), e.code()));
                continue;
            }
        };
        let service = service_tk.token_nhs_dob(&nhs, &dob).0;
        let sex = match cols.sex.map_or(Some("unknown"), |i| demographics::sex(&rec[i])) {
            Some(s) => s,
            None => {
                if excludes {
                    exclude_person(&mut funnel, &mut eligible);
                }
                funnel.add(Reason::Rejected);
                rejects.push((pos.line, header[cols.sex.expect("sex column")].clone(), "bad_sex"));
                continue;
            }
        };
        let ethnic = match cols
            .ethnic
            .map_or(Some("Not stated"), |i| demographics::ethnic_group(&rec[i]))
        {
            Some(s) => s,
            None => {
                if excludes {
                    exclude_person(&mut funnel, &mut eligible);
                }
                funnel.add(Reason::Rejected);
                rejects.push((
                    pos.line,
                    header[cols.ethnic.expect("ethnic column")].clone(),
                    "bad_ethnic_category",
                ));
                continue;
            }
        };
        // A closed vocabulary: anything else (a postcode in the wrong
        // column, free text) is `Unknown`, counted, never stored as given.
        let region = match cols.region.and_then(|i| demographics::region(&rec[i])) {
            Some(r) => r,
            None => {
                region_unknown += 1;
                demographics::UNKNOWN_REGION
            }
        };
        let age = dob.date().years_until(as_of);

        // Criteria.
        let mut ok = c.min_age.is_none_or(|m| age >= m) && c.max_age.is_none_or(|m| age <= m);
        ok = ok && (c.sex.is_empty() || c.sex.iter().any(|s| s == sex));
        ok = ok
            && (c.regions.is_empty()
                || c.regions
                    .iter()
                    .any(|s| demographics::region_label(s) == Some(region)));
        if ok && (!c.required_conditions.is_empty() || !c.excluded_conditions.is_empty()) {
            let cell = cols.conditions.map_or(&b""[..], |i| &rec[i]);
            let has = |code: &str| {
                cell.split(|&b| b == b';' || b == b'|' || b == b',' || b == b' ')
                    .any(|t| t.trim_ascii() == code.as_bytes())
            };
            ok =
                c.required_conditions.iter().all(|x| has(x)) && !c.excluded_conditions.iter().any(|x| has(x));
        }
        // Person-level lists, checked on every row (not only eligible ones).
        let study = if ok || need_study_all {
            study_tk.token_nhs_dob(&nhs, &dob).0
        } else {
            [0u8; 32]
        };
        let study_nhs = if need_study_nhs {
            study_tk.token_nhs(&nhs).0
        } else {
            [0u8; 32]
        };
        let listed = suppressor.check(suppression::PersonTokens {
            service_nhs: &person,
            service_nhs_dob: &service,
            study_nhs_dob: &study,
            study_nhs: &study_nhs,
        });
        let listed = match listed {
            // without a study token (neither eligible nor any study list) a
            // study-scope answer is meaningless
            Some(Reason::AlreadyEnrolled | Reason::AlreadyInvited) if !(ok || need_study_all) => {
                if need_study_nhs && suppressor.enrolled_nhs.contains(&study_nhs) {
                    Some(Reason::AlreadyEnrolled)
                } else {
                    None
                }
            }
            l => l,
        };
        let clk_hit = match (&mut clk_coder, listed) {
            (Some(coder), None) if !excludes => {
                let cell = |i: Option<usize>| {
                    i.and_then(|i| std::str::from_utf8(&rec[i]).ok())
                        .unwrap_or("")
                        .to_string()
                };
                coder
                    .encode(
                        &cell(cols.given),
                        &cell(cols.family),
                        Some(dob.iso()),
                        &cell(cols.postcode),
                    )
                    .is_some_and(|clk| clk_list.matches(&clk, o.clk_threshold))
            }
            _ => false,
        };
        if clk_hit {
            clk_people.insert(person);
        }
        excludes = excludes || listed.is_some() || clk_hit;
        drop(nhs);
        drop(dob);

        // The row's reason, in precedence order.
        let no_contact = cols.required.iter().any(|&i| rec[i].trim_ascii().is_empty());
        let row_reason = if !ok {
            Some(Reason::NotEligible)
        } else if let Some(r) = flags.exclusion() {
            Some(r)
        } else if no_contact {
            Some(Reason::NoContactDetails)
        } else if let Some(r) = listed {
            Some(r)
        } else if clk_hit {
            Some(Reason::NonContactClk)
        } else {
            None
        };
        if excludes {
            exclude_person(&mut funnel, &mut eligible);
        }
        if let Some(reason) = row_reason {
            funnel.add(reason);
            persons.entry(person).or_insert(SEEN);
            continue;
        }
        // An eligible row.
        match persons.get(&person).copied() {
            Some(EXCLUDED) => {
                funnel.add(Reason::DuplicatePersonExcluded);
                continue;
            }
            Some(st) if st < SEEN => {
                // A second clean row of an eligible person: invited at most once.
                funnel.add(Reason::Rejected);
                rejects.push((pos.line, header[cols.nhs].clone(), "duplicate_person"));
                continue;
            }
            _ => {}
        }
        let registry = links.as_ref().is_some_and(|l| l.contains(pos.record))
            || match (&registry_set, &registry_tk) {
                (Some(set), Some(tk)) => {
                    let nhs = NhsNumber::parse_normalised(&rec[cols.nhs]).expect("parsed above");
                    let dob = Dob::parse_bytes(&rec[cols.dob], &o.dob_formats, as_of).expect("parsed above");
                    set.contains(&tk.token_nhs_dob(&nhs, &dob).0)
                }
                _ => false,
            };
        let demo = Demo {
            age_band: demographics::age_band(age),
            sex,
            ethnic,
            region,
        };
        let id = match demo_ids.get(&demo) {
            Some(&id) => id,
            None => {
                let id = demos.len() as u32;
                demos.push(demo.clone());
                demo_ids.insert(demo, id);
                id
            }
        };
        funnel.add(Reason::NotSelected);
        persons.insert(person, eligible.len() as u32);
        eligible.push(Eligible {
            dropped: false,
            record: pos.record,
            service,
            study,
            demo: id,
            registry,
            rank: select::rank(r.seed, &service),
        });
    }
    drop(persons);
    let suppressed_by_clk = clk_people.len() as u64;
    drop(clk_people);
    // People excluded by a later row of theirs leave the pool (counted as
    // duplicate_person_excluded above).
    eligible.retain(|e| !e.dropped);
    let cohort_summary = src.finish()?;
    if let (Some(l), Some(p)) = (&links, o.registry_links) {
        if l.cohort_blake3 != cohort_summary.blake3 || l.cohort_rows != cohort_summary.rows {
            return Err(InviteError::LinksNotForCohort {
                path: p.to_path_buf(),
                cohort: cohort_str.to_string(),
            });
        }
    }

    // Strata.
    let demo_label: Vec<String> = demos
        .iter()
        .map(|d| request::stratum_label(&v.dims, |dim| d.get(dim)))
        .collect();
    let (labels, mut requested): (Vec<String>, Vec<u32>) = if !v.explicit.is_empty() {
        v.explicit.iter().cloned().unzip()
    } else {
        let mut pool: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &eligible {
            *pool.entry(demo_label[e.demo as usize].as_str()).or_insert(0) += 1;
        }
        if pool.is_empty() {
            pool.insert("all", 0);
        }
        let labels: Vec<String> = pool.keys().map(|s| s.to_string()).collect();
        let weights: Vec<u64> = pool.values().copied().collect();
        let alloc = if weights.iter().sum::<u64>() == 0 {
            let mut a = vec![0; weights.len()];
            a[0] = r.invitations as u64;
            a
        } else {
            select::largest_remainder(r.invitations as u64, &weights)
        };
        (labels, alloc.into_iter().map(|x| x as u32).collect())
    };
    let label_idx: BTreeMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let demo_stratum: Vec<u32> = demo_label
        .iter()
        .map(|l| label_idx.get(l.as_str()).copied().unwrap_or(u32::MAX))
        .collect();
    let cands: Vec<Candidate> = eligible
        .iter()
        .map(|e| Candidate {
            stratum: demo_stratum[e.demo as usize],
            registry: e.registry,
            rank: e.rank,
        })
        .collect();
    let outside = cands.iter().filter(|c| c.stratum == u32::MAX).count() as u64;
    let allocation = crate::allocation::plan(store, v, &labels, &requested, &cands)?;
    if let Some(p) = &allocation {
        requested = p.requested_invitations();
    }
    let sel = select::select(&cands, &requested, r.registry.prioritise, v.allow_fill());

    // Arms within strata.
    let weights: Vec<u32> = r.arms.iter().map(|a| a.weight).collect();
    let mut chosen: Vec<(usize, usize)> = Vec::new(); // (eligible index, arm)
    let mut strata_summary = Vec::new();
    let mut arm_totals: BTreeMap<String, u64> = r.arms.iter().map(|a| (a.name.clone(), 0)).collect();
    for (s, idxs) in sel.chosen.iter().enumerate() {
        let mut rng = select::rng_for(r.seed, &format!("arms:{}", labels[s]));
        let arms = select::assign_arms(idxs.len(), &weights, &mut rng);
        let mut per: BTreeMap<String, u32> = r.arms.iter().map(|a| (a.name.clone(), 0)).collect();
        for (&i, &a) in idxs.iter().zip(&arms) {
            chosen.push((i, a));
            *per.get_mut(&r.arms[a].name).expect("arm") += 1;
            *arm_totals.get_mut(&r.arms[a].name).expect("arm") += 1;
        }
        let oc = &sel.outcomes[s];
        strata_summary.push(StratumSummary {
            stratum: labels[s].clone(),
            requested: oc.requested,
            available: oc.available,
            registry_available: oc.registry_available,
            selected: oc.selected,
            registry_selected: oc.registry_selected,
            fill: oc.fill,
            shortfall: oc.shortfall,
            arms: per,
        });
    }
    for _ in 0..chosen.len() {
        funnel.moved(Reason::NotSelected, Reason::Invited);
    }

    // Batch order: shuffled, QA seeds interleaved.
    let mut order_rng = select::rng_for(r.seed, "order");
    rand::seq::SliceRandom::shuffle(chosen.as_mut_slice(), &mut order_rng);
    let n_qa = r.qa_seeds as usize;
    let slots = select::interleave(chosen.len(), n_qa, &mut order_rng);

    // Pass 2: contact details of the selected rows only.
    let mut wanted: Vec<(u64, usize)> = chosen
        .iter()
        .enumerate()
        .map(|(k, &(i, _))| (eligible[i].record, k))
        .collect();
    wanted.sort_unstable();
    let columns = batch_columns(route, channel);
    let ncontact = columns.len() - 2;
    let mut contact: Vec<Vec<Vec<u8>>> = vec![Vec::new(); chosen.len()];
    let mut src2 = tabular::Source::open(cohort_str)?;
    let mut next = 0;
    while next < wanted.len() && src2.read(&mut rec)? {
        let pos = src2.position();
        if pos.record % 65_536 == 0 {
            if let Some(p) = o.progress {
                p("pass 2", pos.record);
            }
        }
        if wanted[next].0 == pos.record {
            contact[wanted[next].1] = cols
                .contact
                .iter()
                .map(|c| {
                    c.and_then(|i| rec.get(i))
                        .and_then(|v| batch_cell(route, v))
                        .unwrap_or_default()
                })
                .collect();
            next += 1;
        }
    }
    let s2 = src2.finish()?;
    if s2.blake3 != cohort_summary.blake3 {
        return Err(InviteError::CohortChanged {
            path: cohort_str.to_string(),
        });
    }
    inputs.insert(0, tabular::FileRecord::input("cohort", &cohort_summary));

    // QA seeds.
    let mut qa_rows: Vec<Vec<Vec<u8>>> = Vec::new();
    if let Some(qp) = o.qa_seeds.filter(|_| n_qa > 0) {
        let qs = path_str(qp)?;
        let mut q = tabular::Source::open(qs)?;
        let (qcontact, qreq) = contact_columns(&q, route, channel)?;
        let mut usable: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
        while q.read(&mut rec)? {
            let reachable = qreq
                .iter()
                .all(|&i| rec.get(i).is_some_and(|c| !c.trim_ascii().is_empty()));
            let cells: Option<Vec<Vec<u8>>> = qcontact
                .iter()
                .map(|c| match c.and_then(|i| rec.get(i)) {
                    Some(v) => batch_cell(route, v),
                    None => Some(Vec::new()),
                })
                .collect();
            if let (true, Some(cells)) = (reachable, cells) {
                usable.push((q.rows(), cells));
            }
        }
        let qsum = q.finish()?;
        if (usable.len() as u64) < n_qa as u64 {
            return Err(InviteError::TooFewQaSeeds {
                path: qs.to_string(),
                needed: r.qa_seeds,
                usable: usable.len() as u64,
                channel: match route {
                    store::OutputRoute::NhsNotification => "nhs-notification route's (a valid NHS number)",
                    _ => channel.name(),
                },
            });
        }
        let mut qrng = select::rng_for(r.seed, "qa-pick");
        let picks = rand::seq::index::sample(&mut qrng, usable.len(), n_qa);
        for k in picks.iter() {
            qa_rows.push(usable[k].1.clone());
        }
        extra.insert(
            "qa_seed_rows".into(),
            picks.iter().map(|k| usable[k].0).collect::<Vec<_>>().into(),
        );
        inputs.push(tabular::FileRecord::input("qa_seeds", &qsum));
    }

    // Assemble rows, references and store records.
    let mut invitations: Vec<Invitation> = Vec::with_capacity(chosen.len());
    let mut qa_records: Vec<QaSeed> = Vec::new();
    let batch_path = out_dir.join(BATCH_FILE);
    let batch_tmp = temp_of(&batch_path);
    let mut w = csv::WriterBuilder::new().from_writer(std::io::BufWriter::with_capacity(
        1 << 16,
        create_file(&batch_tmp)?,
    ));
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |e: csv::Error| InviteError::Io {
            path: p.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    };
    w.write_record(columns).map_err(werr(&batch_path))?;
    let mut qa_next = 0;
    let mut row: Vec<Vec<u8>> = Vec::with_capacity(2 + ncontact);
    for (p, slot) in slots.iter().enumerate() {
        let position = p as u32 + 1;
        let reference = reference(&ref_key, &r.study, r.seed, position);
        row.clear();
        row.push(reference.clone().into_bytes());
        match slot {
            Some(k) => {
                let (i, a) = chosen[*k];
                let e = &eligible[i];
                let d = &demos[e.demo as usize];
                let arm = &r.arms[a];
                row.push(arm.template.clone().into_bytes());
                for cell in &contact[*k] {
                    row.push(tabular::neutralise(cell).into_owned());
                }
                invitations.push(Invitation {
                    reference,
                    position,
                    service_token: e.service,
                    study_token: e.study,
                    arm: arm.name.clone(),
                    template: arm.template.clone(),
                    registry: e.registry,
                    stratum: labels[cands[i].stratum as usize].clone(),
                    age_band: d.age_band.clone(),
                    sex: d.sex.to_string(),
                    ethnic_group: d.ethnic.to_string(),
                    region: d.region.to_string(),
                });
            }
            None => {
                // QA seeds take the arms' templates in turn, so the QA team
                // receives what invitees of those arms receive.
                let arm = &r.arms[qa_next % r.arms.len()];
                row.push(arm.template.clone().into_bytes());
                for cell in &qa_rows[qa_next] {
                    row.push(tabular::neutralise(cell).into_owned());
                }
                qa_records.push(QaSeed {
                    reference,
                    position,
                    label: format!("qa seed {}", qa_next + 1),
                });
                qa_next += 1;
            }
        }
        w.write_record(&row).map_err(werr(&batch_path))?;
    }
    let bw = w.into_inner().map_err(|e| InviteError::Io {
        path: batch_path.clone(),
        source: e.into_error(),
    })?;
    finish_file(bw, &batch_path)?;
    drop(contact);

    // Summary.
    let total_short: u64 = strata_summary.iter().map(|s| s.shortfall as u64).sum();
    let summary = Summary {
        study: r.study.clone(),
        channel: channel.name(),
        route: route.name(),
        seed: r.seed,
        as_of: as_of_iso.clone(),
        invited_on: today_iso.clone(),
        backdate_reason: backdate.map(str::to_string),
        region_unknown,
        non_contact_legacy_entries: legacy_count,
        non_contact_clks: clk_list.len() as u64,
        suppressed_by_clk,
        requested: r.invitations,
        invited: invitations.len() as u64,
        qa_seeds: qa_records.len() as u32,
        cohort_rows: cohort_summary.rows,
        funnel: funnel
            .stages()
            .into_iter()
            .map(|(stage, count, remaining)| FunnelRow {
                stage,
                count,
                remaining,
            })
            .collect(),
        strata: strata_summary,
        eligible_outside_requested_strata: outside,
        arms: arm_totals,
        shortfall: total_short,
        allocation,
    };
    debug_assert_eq!(funnel.total(), cohort_summary.rows);
    let json_path = out_dir.join(SUMMARY_JSON);
    let mut text = serde_json::to_string_pretty(&summary).expect("summary serialises");
    text.push('\n');
    write_small(&temp_of(&json_path), text.as_bytes())?;
    let md_path = out_dir.join(SUMMARY_MD);
    write_small(&temp_of(&md_path), summary_markdown(&summary).as_bytes())?;
    let rej_path = out_dir.join(REJECTS);
    let mut rtext = String::from("line,column,reason\n");
    for (line, col, code) in &rejects {
        rtext.push_str(&format!("{line},{},{code}\n", csv_cell(col)));
    }
    write_small(&temp_of(&rej_path), rtext.as_bytes())?;

    // Manifest.
    let mut m = tabular::Manifest::new("invite", env!("CARGO_PKG_VERSION"));
    m.options = o.manifest_options.clone();
    m.as_of = Some(as_of_iso.clone());
    m.seed = Some(r.seed);
    m.scope = Some(trial_scope.to_string());
    m.key_fingerprint = Some(trial_fp.clone());
    m.keys = keys;
    let req_bytes = tabular::limited::read(o.request_path, tabular::limited::REQUEST).map_err(|source| {
        InviteError::Io {
            path: o.request_path.to_path_buf(),
            source,
        }
    })?;
    let request_digest = blake3::hash(&req_bytes).to_hex().to_string();
    inputs.push(tabular::FileRecord {
        role: "request".into(),
        path: o.request_path.display().to_string(),
        blake3: request_digest.clone(),
        bytes: req_bytes.len() as u64,
        rows: None,
    });
    m.inputs = inputs;
    for (role, p, rows) in [
        (
            "batch",
            &batch_path,
            Some((invitations.len() + qa_records.len()) as u64),
        ),
        ("summary", &json_path, None),
        ("summary_markdown", &md_path, None),
        ("rejects", &rej_path, Some(rejects.len() as u64)),
    ] {
        let t = temp_of(p);
        let bytes = std::fs::read(&t).map_err(|source| InviteError::Io {
            path: t.clone(),
            source,
        })?;
        m.outputs.push(tabular::FileRecord {
            role: role.into(),
            path: p.display().to_string(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            bytes: bytes.len() as u64,
            rows,
        });
    }
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, code) in &rejects {
        *by_reason.entry(code.to_string()).or_insert(0) += 1;
    }
    m.rows = tabular::RowCounts {
        rows_in: cohort_summary.rows,
        rows_out: cohort_summary.rows - rejects.len() as u64,
        rows_rejected: rejects.len() as u64,
        rejected_by_reason: by_reason,
    };
    extra.insert("invitations".into(), (invitations.len() as u64).into());
    extra.insert("qa_seeds".into(), (qa_records.len() as u64).into());
    extra.insert("channel".into(), channel.name().into());
    extra.insert("route".into(), v.route.name().into());
    extra.insert(
        "funnel".into(),
        serde_json::to_value(&summary.funnel).expect("funnel serialises"),
    );
    extra.insert("store".into(), store.path().display().to_string().into());
    m.extra = extra;
    m.started = started;
    m.finished = tabular::now_rfc3339();
    let man_path = out_dir.join(MANIFEST);
    let mut mtext = serde_json::to_string_pretty(&m).expect("manifest serialises");
    mtext.push('\n');
    write_small(&temp_of(&man_path), mtext.as_bytes())?;
    store::sync_dir(&batch_path)?;

    // Record and publish together.
    store.ensure_study(&r.study, &trial_fp)?;
    let files: Vec<StagedFile> = [&man_path, &json_path, &md_path, &rej_path, &batch_path]
        .iter()
        .map(|p| StagedFile {
            temp: temp_of(p),
            final_path: (*p).clone(),
            primary: *p == &batch_path,
        })
        .collect();
    let batch_id = store.stage_batch(&NewBatch {
        study: &r.study,
        seed: r.seed,
        request_digest: &request_digest,
        channel: channel.name(),
        route: route.name(),
        as_of: &as_of_iso,
        invited_on: &today_iso,
        backdate_reason: backdate,
        files: &files,
        invitations: &invitations,
        qa_seeds: &qa_records,
        summary_json: &text,
    })?;
    store.publish_batch(batch_id)?;
    Ok(InviteReport {
        batch_id,
        batch_file: batch_path.clone(),
        summary,
        files: vec![batch_path, man_path, json_path, md_path, rej_path],
        reconciled: store.reconciled().clone(),
    })
}

/// `YYYY-MM-DD`.
pub fn iso(d: Date) -> String {
    let mut b = [0u8; 10];
    d.write_iso(&mut b);
    String::from_utf8(b.to_vec()).expect("ASCII")
}

/// The temporary name of an output: `.<name>.trialink-tmp` beside it.
pub fn temp_of(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.trialink-tmp"))
}

fn create_file(p: &Path) -> Result<std::fs::File, InviteError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(p).map_err(|source| InviteError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn finish_file(bw: std::io::BufWriter<std::fs::File>, p: &Path) -> Result<(), InviteError> {
    let f = bw.into_inner().map_err(|e| InviteError::Io {
        path: p.to_path_buf(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(|source| InviteError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn write_small(p: &Path, bytes: &[u8]) -> Result<(), InviteError> {
    let mut f = create_file(p)?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|source| InviteError::Io {
            path: p.to_path_buf(),
            source,
        })
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn key_record(role: &str, scope: Option<&Scope>, k: &Key) -> tabular::KeyRecord {
    tabular::KeyRecord {
        role: role.into(),
        scope: scope.map(|s| s.to_string()),
        fingerprint: k.fingerprint().to_string(),
    }
}

fn list_record(role: &str, p: &Path, l: &suppression::TokenList) -> tabular::FileRecord {
    tabular::FileRecord {
        role: role.into(),
        path: p.display().to_string(),
        blake3: l.blake3.clone(),
        bytes: l.bytes,
        rows: Some(l.rows),
    }
}

/// The selection summary as Markdown.
pub fn summary_markdown(s: &Summary) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "# Selection summary: {}\n\nRoute {}, channel {}, as of {}, seed {}. Requested {}, invited {} (plus {} QA seeds, not counted). \
         Plain counts for the service's own review; published figures come from `trialink report`.\n\n",
        s.study, s.route, s.channel, s.as_of, s.seed, s.requested, s.invited, s.qa_seeds
    ));
    o.push_str(&format!(
        "Invitation date {} (the clock date the batch was made).{}\n\n",
        s.invited_on,
        s.backdate_reason
            .as_ref()
            .map(|b| format!(" Backdated: {}.", b.replace(['\n', '\r', '|'], " ")))
            .unwrap_or_default()
    ));
    o.push_str(&format!(
        "People suppressed by a CLK objection (no usable NHS number; {} on the list): {}. \
         Rows with a region outside the fixed vocabulary (recorded as `Unknown`): {}.\n\n",
        s.non_contact_clks, s.suppressed_by_clk, s.region_unknown
    ));
    if s.non_contact_legacy_entries > 0 {
        o.push_str(&format!(
            "**{} non-contact entries from before schema version 5 are matched on NHS number + date of birth only**: \
             ingest those objections again (`trialink noncontact add`) so that they match on the NHS number alone.\n\n",
            s.non_contact_legacy_entries
        ));
    }
    o.push_str("## Exclusion funnel\n\n| stage | rows | remaining |\n|---|---:|---:|\n");
    o.push_str(&format!(
        "| cohort rows | {} | {} |\n",
        s.cohort_rows, s.cohort_rows
    ));
    for f in &s.funnel {
        o.push_str(&format!("| {} | {} | {} |\n", f.stage, f.count, f.remaining));
    }
    o.push_str("\n## Requested vs actual by stratum\n\n| stratum | requested | eligible | registry eligible | invited | registry invited | fill | shortfall |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for t in &s.strata {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.stratum.replace('|', "\\|"),
            t.requested,
            t.available,
            t.registry_available,
            t.selected,
            t.registry_selected,
            t.fill,
            t.shortfall
        ));
    }
    if s.eligible_outside_requested_strata > 0 {
        o.push_str(&format!(
            "\n{} eligible people are in strata the request does not list.\n",
            s.eligible_outside_requested_strata
        ));
    }
    o.push_str("\n## Arms\n\n| arm | invited |\n|---|---:|\n");
    for (a, n) in &s.arms {
        o.push_str(&format!("| {a} | {n} |\n"));
    }
    if let Some(p) = &s.allocation {
        o.push_str(&crate::allocation::markdown(p));
    }
    o
}
