//! The invitation pipeline: cohort → criteria → exclusions → suppression
//! lists → quotas → arms → QA seeds → minimised batch, recorded in the
//! store together with its file.
//!
//! Two passes over the cohort ([`cohort`]): pass 1 pseudonymises each row
//! as it is read and keeps, for eligible people only, tokens and coarse
//! demographics (no identifier, no contact detail); pass 2 re-reads the
//! cohort and keeps the contact details of the selected rows only; the
//! file's BLAKE3 must be the same in both passes. The phases: checks before
//! anything is read ([`governance`]), keys and lists ([`setup`]), the
//! cohort's columns ([`columns`]), pass 1, strata, selection and arms
//! ([`strata`]), batch order and QA seeds, pass 2, the batch file and its
//! side files ([`output`]), and the store records, committed together with
//! the files. Reminder batches ([`crate::reminder`]) reuse every phase:
//! the first half (`first_pass`), the second pass (`pass2`) and the
//! side files (`side_files`) are one function each for both runs.

mod cohort;
mod columns;
mod error;
mod governance;
mod output;
mod setup;
mod strata;
mod summary;

pub use columns::batch_columns;
pub use error::InviteError;
pub use governance::{check_as_of, check_clk_columns, check_governance, unregistered_note};
pub use summary::{summary_markdown, FunnelRow, StratumSummary, Summary};

pub(crate) use cohort::{pass1, read_contacts, Pass1, Pass1Context, PersonState};
pub(crate) use columns::Columns;
pub(crate) use output::{
    check_qa_people, pick_qa_seeds, prepare_out_dir, qa_record, write_side_files, BatchWriter, ManifestParts,
};
pub(crate) use setup::{ListSources, Lists, RunKeys};
pub(crate) use summary::funnel_rows;

use crate::request::Validated;
use crate::select;
use pseudonym::{Date, DobFormats, Key, TokenKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::{Invitation, NewBatch, Store};
use suppression::{Reason, TokenSet};

/// The most days `as_of` may be from the clock date without `--backdate`.
pub const MAX_AS_OF_DAYS: i64 = 31;

/// A progress callback: `(pass, rows read so far)`.
pub type Progress<'a> = &'a dyn Fn(&str, u64);

/// What every batch run (invitations or reminders) reads and how.
pub struct BatchOptions<'a> {
    /// The service's master key.
    pub master: &'a Key,
    /// The identifiable cohort CSV (for a reminder, the current extract).
    pub cohort: &'a Path,
    /// The request file (path, for messages and the manifest).
    pub request_path: &'a Path,
    /// The validated request.
    pub request: &'a Validated,
    /// Output directory (created if missing).
    pub out_dir: &'a Path,
    /// The trial's already-enrolled list (token CSV + manifest, or TLBF).
    pub enrolled: Option<&'a Path>,
    /// The service's QA seeds (contact details).
    pub qa_seeds: Option<&'a Path>,
    /// Date-of-birth formats.
    pub dob_formats: DobFormats,
    /// The clock date: recorded as the invitation (or reminder) date, the
    /// end of the frequency-cap window, and the date `as_of` is checked
    /// against.
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

/// Options for an invitation run.
pub struct InviteOptions<'a> {
    /// What every batch run reads.
    pub batch: BatchOptions<'a>,
    /// Registry volunteers (token CSV + manifest, or TLBF).
    pub registry: Option<&'a Path>,
    /// Registry volunteers found by `trialink link` (exact and fuzzy) in
    /// the cohort pseudonymised under the registry key (see [`crate::links`]).
    pub registry_links: Option<&'a Path>,
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
    let b: [u8; 16] = key.mac_of(&msg).0[..16].try_into().expect("16 bytes");
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// Run the pipeline and record the batch. See the module docs.
pub fn invite(store: &mut Store, o: &InviteOptions<'_>) -> Result<InviteReport, InviteError> {
    let started = tabular::now_rfc3339();
    let v = o.batch.request;
    let r = &v.request;
    let (cohort, backdate, out_dir) = begin(store, o)?;
    // Keys, lists and pass 1 (the frequency cap counts real invitation
    // dates, in the window ending today).
    let FirstPass {
        mut keys,
        mut lists,
        cols,
        mut p1,
    } = first_pass(
        store,
        &o.batch,
        cohort,
        backdate,
        None,
        None,
        |capped, capped_nhs| ListSources {
            master: o.batch.master,
            study: &r.study,
            registry: o.registry,
            registry_scope: r.registry.scope.as_deref(),
            registry_links: o.registry_links,
            enrolled: o.batch.enrolled,
            already_invited: !r.reinvite,
            capped,
            capped_nhs,
        },
    )?;
    if let Some(&(line, _, code)) = p1
        .rejects
        .first()
        .filter(|_| p1.rejects.len() as u64 == p1.cohort.rows)
    {
        return Err(InviteError::AllRowsRejected {
            path: p1.cohort.path.clone(),
            rows: p1.cohort.rows,
            line,
            code,
        });
    }
    check_qa_seed_people(o.batch.qa_seeds, r.qa_seeds, &keys, &lists, &p1)?;
    p1.persons = Default::default();
    if let (Some(l), Some(p)) = (&lists.links, o.registry_links) {
        l.check_cohort(p, cohort, &p1.cohort.blake3, p1.cohort.rows)?;
    }

    // Strata, selection, arms; batch order with QA seeds interleaved.
    let mut sel = strata::select_and_assign(store, v, &p1.eligible, &p1.demos)?;
    for _ in 0..sel.chosen.len() {
        p1.funnel.moved(Reason::NotSelected, Reason::Invited);
    }
    // Pass 2: contact details of the selected rows only.
    let p2 = pass2(
        &o.batch,
        cohort,
        &cols,
        &p1,
        &mut lists,
        &mut sel.chosen,
        |&(i, _)| p1.eligible[i].record,
    )?;

    // The batch file and its store records.
    let written = write_invitations(&out_dir, v, &keys, &p1, &sel, &p2)?;
    drop(p2);
    let (invitations, qa_records) = (written.invitations, written.qa_seeds);
    let batch_path = written.path;
    let summary = summary::build(
        v,
        o.batch.today,
        backdate,
        &lists,
        &p1,
        sel,
        invitations.len() as u64,
        qa_records.len() as u32,
    );
    debug_assert_eq!(p1.funnel.total(), p1.cohort.rows);
    let counts = [
        ("invitations", invitations.len() as u64),
        ("qa_seeds", qa_records.len() as u64),
    ];
    let (text, side) = side_files(
        &o.batch,
        store,
        (&summary, &summary_markdown(&summary), &summary.funnel),
        &counts,
        (&batch_path, written.rows),
        (&mut keys, &mut lists, &p1, started),
    )?;

    // Record and publish together.
    let batch_id = record(
        store,
        &o.batch,
        (&keys, &side, &text),
        backdate,
        Records {
            invitations: &invitations,
            qa_seeds: &qa_records,
            reminders: None,
        },
    )?;
    Ok(InviteReport {
        batch_id,
        batch_file: batch_path,
        summary,
        files: side.files,
        reconciled: store.reconciled().clone(),
    })
}

/// What a batch records beside its file: its invitations (none for a
/// reminder batch), its QA seeds, and for a reminder batch the batch it
/// follows up and its reminders.
pub(crate) struct Records<'r> {
    pub invitations: &'r [Invitation],
    pub qa_seeds: &'r [store::QaSeed],
    pub reminders: Option<(i64, &'r [store::Reminder])>,
}

/// Stage the batch's records with its files, then publish both (for
/// invitation and reminder batches).
pub(crate) fn record(
    store: &mut Store,
    b: &BatchOptions<'_>,
    (keys, side, text): (&RunKeys, &output::SideFiles, &str),
    backdate: Option<&str>,
    records: Records<'_>,
) -> Result<i64, InviteError> {
    let v = b.request;
    let r = &v.request;
    store.ensure_study(&r.study, &keys.trial_fp)?;
    let (today_iso, as_of_iso) = (iso(b.today), iso(v.as_of));
    let batch = NewBatch {
        study: &r.study,
        seed: r.seed,
        request_digest: &side.request_digest,
        channel: r.channel.name(),
        route: v.route.name(),
        as_of: &as_of_iso,
        invited_on: &today_iso,
        backdate_reason: backdate,
        files: &side.staged,
        invitations: records.invitations,
        qa_seeds: records.qa_seeds,
        summary_json: text,
    };
    let batch_id = match records.reminders {
        None => store.stage_batch(&batch)?,
        Some((of_batch, reminders)) => store.stage_reminder_batch(&store::NewReminderBatch {
            batch,
            of_batch,
            reminders,
        })?,
    };
    store.publish_batch(batch_id)?;
    Ok(batch_id)
}

/// Everything checked before anything is read or written (see
/// [`precheck`], [`check_governance`], [`check_not_run`]), then the output
/// directory prepared.
fn begin<'a>(
    store: &Store,
    o: &InviteOptions<'a>,
) -> Result<(&'a str, Option<&'a str>, PathBuf), InviteError> {
    let v = o.batch.request;
    if v.request.reminder.is_some() {
        return Err(InviteError::ReminderRequest);
    }
    let (cohort, backdate) = precheck(
        o.batch.cohort,
        v,
        o.batch.qa_seeds,
        o.batch.today,
        o.batch.backdate,
    )?;
    check_governance(
        store,
        v,
        o.registry.is_some() || o.registry_links.is_some(),
        o.batch.enrolled.is_some(),
        o.batch.today,
    )?;
    check_not_run(store, v)?;
    Ok((cohort, backdate, prepare_out_dir(o.batch.out_dir)?))
}

/// Checks made before anything is read: the cohort is a file, a QA seeds
/// file is given when seeds are asked for, `as_of` is near today (or the
/// backdating reason is given). Returns the cohort path and the reason.
pub(crate) fn precheck<'a>(
    cohort: &'a Path,
    v: &Validated,
    qa_seeds: Option<&Path>,
    today: Date,
    backdate: Option<&'a str>,
) -> Result<(&'a str, Option<&'a str>), InviteError> {
    let c = output::path_str(cohort)?;
    if c == "-" {
        return Err(InviteError::CohortFromStdin);
    }
    if v.request.qa_seeds > 0 && qa_seeds.is_none() {
        return Err(InviteError::NoQaSeedsFile(v.request.qa_seeds));
    }
    Ok((c, check_as_of(v.as_of, today, backdate)?))
}

/// Refuse a second batch of the study with the same seed.
/// Refuse QA seeds (when the request wants any) one of which carries the
/// NHS number of someone on the non-contact list or in the cohort (`p1`
/// must still hold its persons).
pub(crate) fn check_qa_seed_people(
    qa_seeds: Option<&Path>,
    n: u32,
    keys: &RunKeys,
    lists: &Lists,
    p1: &Pass1,
) -> Result<(), InviteError> {
    check_qa_people(qa_seeds, n as usize, &|nhs| {
        let person = keys.service_tk.token_nhs(nhs).0;
        if lists.suppressor.non_contact.contains(&person) {
            Some("on the non-contact list")
        } else {
            p1.persons.contains_key(&person).then_some("in the cohort")
        }
    })
}

pub(crate) fn check_not_run(store: &Store, v: &Validated) -> Result<(), InviteError> {
    let r = &v.request;
    match store.find_batch(&r.study, r.seed)? {
        Some(b) => Err(InviteError::AlreadyRun {
            study: r.study.clone(),
            seed: r.seed,
            batch_id: b.batch_id,
            file: b.file_path,
        }),
        None => Ok(()),
    }
}

/// The rows written and the records to store.
struct Written {
    path: PathBuf,
    rows: u64,
    invitations: Vec<Invitation>,
    qa_seeds: Vec<store::QaSeed>,
}

/// Write the batch file in slot order: invitees and QA seeds (which take
/// the arms' templates in turn, so the QA team receives what invitees of
/// those arms receive).
fn write_invitations(
    out_dir: &Path,
    v: &Validated,
    keys: &RunKeys,
    p1: &Pass1,
    sel: &strata::Selection,
    p2: &Pass2,
) -> Result<Written, InviteError> {
    let (slots, contact, qa_rows) = (&p2.slots, &p2.contact, &p2.qa_rows);
    let r = &v.request;
    let mut w = BatchWriter::create(out_dir, batch_columns(v.route, r.channel))?;
    let mut invitations: Vec<Invitation> = Vec::with_capacity(sel.chosen.len());
    let mut qa_seeds = Vec::new();
    for (p, slot) in slots.iter().enumerate() {
        let position = p as u32 + 1;
        let reference = reference(&keys.ref_key, &r.study, r.seed, position);
        match slot {
            Some(k) => {
                let (i, a) = sel.chosen[*k];
                let e = &p1.eligible[i];
                let d = &p1.demos[e.demo as usize];
                let arm = &r.arms[a];
                w.write(&reference, &arm.template, &contact[*k])?;
                invitations.push(Invitation {
                    reference,
                    position,
                    service_token: e.service,
                    study_token: e.study,
                    service_nhs_token: Some(e.person),
                    study_nhs_token: Some(e.study_nhs),
                    arm: arm.name.clone(),
                    template: arm.template.clone(),
                    registry: e.registry,
                    stratum: sel.labels[sel.stratum_of[i] as usize].clone(),
                    age_band: d.age_band.clone(),
                    sex: d.sex.to_string(),
                    ethnic_group: d.ethnic.to_string(),
                    region: d.region.to_string(),
                });
            }
            None => {
                let k = qa_seeds.len();
                let arm = &r.arms[k % r.arms.len()];
                w.write(&reference, &arm.template, &qa_rows[k])?;
                qa_seeds.push(qa_record(reference, position, k));
            }
        }
    }
    let rows = w.rows;
    Ok(Written {
        path: w.finish()?,
        rows,
        invitations,
        qa_seeds,
    })
}

/// What the first half of a batch run works with and gives.
pub(crate) struct FirstPass {
    pub keys: RunKeys,
    pub lists: Lists,
    pub cols: Columns,
    pub p1: Pass1,
}

/// The first half of a batch run (invitations or reminders): the run's
/// keys, the suppression lists (`sources` given the people over the
/// frequency cap on `today`, not counting `except_batch`), the run's
/// settings among the manifest's extra fields, the cohort's columns, and
/// pass 1 over the cohort (`watch`: the service tokens of people whose
/// state a reminder run needs).
pub(crate) fn first_pass<'s>(
    store: &Store,
    b: &BatchOptions<'s>,
    cohort: &str,
    backdate: Option<&str>,
    except_batch: Option<i64>,
    watch: Option<&std::collections::HashSet<[u8; 32]>>,
    sources: impl FnOnce(TokenSet, TokenSet) -> ListSources<'s>,
) -> Result<FirstPass, InviteError> {
    let v = b.request;
    let r = &v.request;
    let mut keys = RunKeys::derive(store, b.master, &r.study)?;
    let cap = frequency_cap(v);
    let (capped, capped_nhs) = capped(store, v, b.today, except_batch)?;
    let mut lists = Lists::load(store, sources(capped, capped_nhs), &mut keys)?;
    run_extra(&mut lists.extra, b.clk_threshold, b.today, backdate, &cap);
    let src = tabular::Source::open(cohort)?;
    let cols = Columns::find(&src, &r.criteria, &v.gp, v.route, r.channel)?;
    let p1 = pass1(
        src,
        &Pass1Context {
            cols: &cols,
            criteria: &r.criteria,
            gp: &v.gp,
            as_of: v.as_of,
            seed: r.seed,
            dob_formats: &b.dob_formats,
            keys: &keys,
            lists: &lists,
            master: b.master,
            clk_threshold: b.clk_threshold,
            progress: b.progress,
            watch,
        },
    )?;
    Ok(FirstPass {
        keys,
        lists,
        cols,
        p1,
    })
}

/// What the second pass over the cohort gives a batch: the order of its
/// rows (`Some(k)`: the k-th chosen person, `None`: a QA seed), the chosen
/// people's contact cells and the QA seeds' cells.
pub(crate) struct Pass2 {
    pub slots: Vec<Option<usize>>,
    pub contact: Vec<Vec<Vec<u8>>>,
    pub qa_rows: Vec<Vec<Vec<u8>>>,
}

/// The second pass of a batch run (invitations or reminders): shuffle the
/// `chosen` people into batch order by the request's seed and place the QA
/// seeds among them, read the chosen rows' contact details (`record` gives
/// a chosen person's cohort record; the cohort must be the file pass 1
/// read), pick the QA seeds, and list the cohort and QA seed files among
/// the run's inputs.
pub(crate) fn pass2<T>(
    b: &BatchOptions<'_>,
    cohort: &str,
    cols: &Columns,
    p1: &Pass1,
    lists: &mut Lists,
    chosen: &mut [T],
    record: impl Fn(&T) -> u64,
) -> Result<Pass2, InviteError> {
    let v = b.request;
    let r = &v.request;
    let mut order_rng = select::rng_for(r.seed, "order");
    rand::seq::SliceRandom::shuffle(chosen, &mut order_rng);
    let slots = select::interleave(chosen.len(), r.qa_seeds as usize, &mut order_rng);
    let mut wanted: Vec<(u64, usize)> = chosen.iter().enumerate().map(|(k, c)| (record(c), k)).collect();
    wanted.sort_unstable();
    let contact = read_contacts(
        cohort,
        cols,
        v.route,
        &wanted,
        chosen.len(),
        &p1.cohort.blake3,
        b.progress,
    )?;
    lists
        .inputs
        .insert(0, tabular::FileRecord::input("cohort", &p1.cohort));
    let qa = pick_qa_seeds(b.qa_seeds, v.route, r.channel, r.qa_seeds as usize, r.seed)?;
    if let Some(q) = &qa.input {
        lists
            .extra
            .insert("qa_seed_rows".into(), qa.file_rows.clone().into());
        lists.inputs.push(tabular::FileRecord::input("qa_seeds", q));
    }
    Ok(Pass2 {
        slots,
        contact,
        qa_rows: qa.rows,
    })
}

/// The files beside a batch file (already written at its temporary name):
/// the summary as JSON (whose text is returned, for the store) and
/// Markdown, the cohort's rejects, and the manifest, whose extra fields
/// hold the funnel and `counts`.
pub(crate) fn side_files<S: serde::Serialize>(
    b: &BatchOptions<'_>,
    store: &Store,
    (summary, markdown, funnel): (&S, &str, &[FunnelRow]),
    counts: &[(&str, u64)],
    (batch_path, batch_rows): (&Path, u64),
    (keys, lists, p1, started): (&mut RunKeys, &mut Lists, &Pass1, String),
) -> Result<(String, output::SideFiles), InviteError> {
    let v = b.request;
    let mut text = serde_json::to_string_pretty(summary).expect("summary serialises");
    text.push('\n');
    let mut extra = batch_extra(lists, v, funnel, store);
    for &(k, n) in counts {
        extra.insert(k.into(), n.into());
    }
    let side = write_side_files(
        batch_path,
        &text,
        markdown,
        &p1.rejects,
        manifest_parts(
            b.manifest_options.clone(),
            v,
            keys,
            lists,
            extra,
            b.request_path,
            p1,
            batch_rows,
            started,
        ),
    )?;
    Ok((text, side))
}

/// Manifest fields every batch records about its output.
fn batch_extra(
    lists: &mut Lists,
    v: &Validated,
    funnel: &[FunnelRow],
    store: &Store,
) -> BTreeMap<String, serde_json::Value> {
    let mut extra = std::mem::take(&mut lists.extra);
    extra.insert("channel".into(), v.request.channel.name().into());
    extra.insert("route".into(), v.route.name().into());
    extra.insert(
        "funnel".into(),
        serde_json::to_value(funnel).expect("funnel serialises"),
    );
    extra.insert("store".into(), store.path().display().to_string().into());
    extra
}

/// The manifest of a batch run.
#[allow(clippy::too_many_arguments)]
fn manifest_parts<'a>(
    options: BTreeMap<String, serde_json::Value>,
    v: &Validated,
    keys: &mut RunKeys,
    lists: &mut Lists,
    extra: BTreeMap<String, serde_json::Value>,
    request_path: &'a Path,
    p1: &Pass1,
    batch_rows: u64,
    started: String,
) -> ManifestParts<'a> {
    ManifestParts {
        command: "invite",
        options,
        as_of: iso(v.as_of),
        seed: v.request.seed,
        scope: keys.trial_scope.to_string(),
        fingerprint: keys.trial_fp.clone(),
        keys: std::mem::take(&mut keys.records),
        inputs: std::mem::take(&mut lists.inputs),
        extra,
        request_path,
        cohort_rows: p1.cohort.rows,
        batch_rows,
        started,
    }
}

/// The request's frequency cap.
fn frequency_cap(v: &Validated) -> suppression::FrequencyCap {
    suppression::FrequencyCap {
        max_invitations: v.request.frequency_cap.max_invitations,
        within_days: v.request.frequency_cap.within_days,
    }
}

/// People over the request's frequency cap on `today`: invitations in the
/// window ending today (except those of `except_batch`), plus reminders
/// when the request counts them. `(token_nhs_dob, token_nhs)` under
/// `service:store`: the first counts every invitation, the second (the
/// person, whatever their date of birth) those made since schema version 8.
fn capped(
    store: &Store,
    v: &Validated,
    today: Date,
    except_batch: Option<i64>,
) -> Result<(TokenSet, TokenSet), InviteError> {
    let cap = frequency_cap(v);
    let count_reminders = v.request.frequency_cap.count_reminders;
    if !count_reminders && except_batch.is_none() {
        return Ok(cap.capped(store, today)?);
    }
    let (since, max) = (cap.window_start(today), cap.max_invitations.max(1));
    Ok((
        TokenSet::sorted(store.capped_tokens_counting(&since, max, count_reminders, except_batch)?),
        TokenSet::sorted(store.capped_nhs_tokens_counting(&since, max, count_reminders, except_batch)?),
    ))
}

/// Manifest fields every run records about its settings.
fn run_extra(
    extra: &mut BTreeMap<String, serde_json::Value>,
    clk_threshold: f64,
    today: Date,
    backdate: Option<&str>,
    cap: &suppression::FrequencyCap,
) {
    extra.insert("clk_threshold".into(), clk_threshold.into());
    extra.insert("invited_on".into(), iso(today).into());
    if let Some(b) = backdate {
        extra.insert("backdate_reason".into(), b.into());
    }
    extra.insert(
        "frequency_cap_window_start".into(),
        cap.window_start(today).into(),
    );
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
