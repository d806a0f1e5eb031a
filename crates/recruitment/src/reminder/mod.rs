//! Reminder batches: follow-ups of an earlier invitation batch of the same
//! study, to invitees who have not answered.
//!
//! A reminder request is a request with a `[reminder]` table (`of_batch`,
//! `after_days`, `max_reminders`); its `channel`, `route`, `arms` and
//! `qa_seeds` are the reminder's own. [`remind`] re-applies **every**
//! exclusion at reminder time, against the current cohort and store,
//! exactly as an invitation run does (the same pass over the cohort): an
//! invitee is reminded only if
//!
//! * no uptake status has been reported for the invitation (`responded`),
//!   its letter was not returned (`returned`), it has had fewer than
//!   `max_reminders` reminders (`max_reminders`) and none in the last
//!   `after_days` days (`reminded_recently`);
//! * they are still in the cohort (`not_in_cohort` otherwise: nobody is
//!   reminded on the strength of an old record) with a readable row and the
//!   reminder channel's contact details, meet the request's criteria, carry
//!   no standard exclusion on any row, and are not on the non-contact list
//!   (by NHS number or CLK), enrolled (recorded uptake or the trial's
//!   list) or over the frequency cap (which counts other invitations, and
//!   reminders when `frequency_cap.count_reminders`).
//!
//! The batch is refused as a whole (nothing written) when the study's
//! register entry does not permit reminders, the batch is unknown, of
//! another study, a reminder batch, not committed, or its file no longer
//! matches the digest recorded when it was made, or when the batch is
//! younger than `after_days`. A cohort or list problem stops the run as it
//! stops an invitation run.
//!
//! A reminder keeps its invitation's reference (so feedback by reference
//! matches the invitation) and is written with exactly the reminder
//! channel's columns; QA seeds are added with fresh references. The funnel
//! accounts for every invitation of the batch (`in = reminded + Σ reasons`)
//! and, separately, for every cohort row.

use crate::invite::{
    self, batch_columns, check_governance, iso, prepare_out_dir, qa_record, reference, BatchWriter, Columns,
    FirstPass, ListSources, Lists, Pass1, PersonState, RunKeys,
};
use crate::request::Validated;
use crate::select;
use pseudonym::Date;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use store::{BatchInfo, BatchKind, Reminder, ReminderCandidate, Store};
use suppression::Reason;

mod error;
mod summary;

pub use error::ReminderError;
use summary::Tally;
pub use summary::{summary_markdown, ReminderSummary, STAGES};

/// The batch a reminder run follows up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRef {
    /// By batch id.
    Id(i64),
    /// By its batch file (`invitations.csv`, or the directory holding it).
    File(PathBuf),
}

impl BatchRef {
    /// A batch id (digits) or a path.
    pub fn parse(s: &str) -> BatchRef {
        match s.trim().parse::<i64>() {
            Ok(n) => BatchRef::Id(n),
            Err(_) => BatchRef::File(PathBuf::from(s)),
        }
    }
}

/// Everything a reminder run needs.
pub struct ReminderOptions<'a> {
    /// What every batch run reads (the request with a `[reminder]` table;
    /// the cohort as it is now).
    pub batch: invite::BatchOptions<'a>,
    /// The batch to follow up, when not (or also) named in the request.
    pub of_batch: Option<BatchRef>,
}

/// What a reminder run did.
#[derive(Debug)]
pub struct ReminderReport {
    /// The reminder batch's id in the store.
    pub batch_id: i64,
    /// The batch file.
    pub batch_file: PathBuf,
    /// The summary.
    pub summary: ReminderSummary,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// The batch followed up, checked.
fn resolve_batch(store: &Store, v: &Validated, given: Option<&BatchRef>) -> Result<BatchInfo, ReminderError> {
    let spec = v
        .request
        .reminder
        .as_ref()
        .ok_or(ReminderError::NotReminderRequest)?;
    let study = &v.request.study;
    let info = match (given, spec.of_batch) {
        (None, None) => return Err(ReminderError::NoBatch),
        (Some(BatchRef::File(p)), _) => {
            let file = if p.is_dir() {
                p.join(invite::BATCH_FILE)
            } else {
                p.clone()
            };
            let b = store
                .batch_by_file(&file)?
                .ok_or_else(|| ReminderError::UnknownBatchFile { path: p.clone() })?;
            if let Some(id) = spec.of_batch.filter(|&id| id != b.batch_id) {
                return Err(ReminderError::BatchConflict {
                    request: id,
                    given: b.batch_id,
                });
            }
            b
        }
        (Some(BatchRef::Id(id)), Some(r)) if *id != r => {
            return Err(ReminderError::BatchConflict {
                request: r,
                given: *id,
            })
        }
        (Some(&BatchRef::Id(id)), _) | (None, Some(id)) => store
            .batch(id)?
            .ok_or(ReminderError::UnknownBatch { batch_id: id })?,
    };
    if info.study != *study {
        return Err(ReminderError::OtherStudy {
            batch_id: info.batch_id,
            study: study.clone(),
        });
    }
    if let (BatchKind::Reminder, Some(of)) = (info.kind, info.reminder_of) {
        return Err(ReminderError::ReminderBatch {
            batch_id: info.batch_id,
            of,
        });
    }
    if info.state != "committed" {
        return Err(ReminderError::NotCommitted {
            batch_id: info.batch_id,
        });
    }
    // A batch file still in place must be the one recorded (a missing file
    // is no obstacle: the store holds the invitations).
    let path = PathBuf::from(&info.file_path);
    match store::file_sha256(&path) {
        Ok(d) if d != info.file_digest => {
            return Err(ReminderError::Tampered {
                batch_id: info.batch_id,
                path,
            })
        }
        _ => {}
    }
    Ok(info)
}

/// Refuse a study whose register entry does not permit reminders, then
/// check the reminder's route and channel like an invitation's.
fn check_register(store: &Store, v: &Validated, enrolled: bool, today: Date) -> Result<(), ReminderError> {
    let study = &v.request.study;
    store.check_not_purged(study)?;
    match store.study_get(study)? {
        None => return Err(ReminderError::NotRegistered { study: study.clone() }),
        Some(e) if !e.entry.reminders => return Err(ReminderError::NotPermitted { study: study.clone() }),
        Some(_) => {}
    }
    check_governance(store, v, false, enrolled, today)?;
    Ok(())
}

/// The invitations' reasons decided from the store alone (before the
/// cohort is read): responded, returned, reminders used up or recent.
fn store_reason(c: &ReminderCandidate, max: u32, after_days: u32, today: Date) -> Option<&'static str> {
    if c.responded {
        return Some("responded");
    }
    if c.returned {
        return Some("returned");
    }
    if c.reminders >= max {
        return Some("max_reminders");
    }
    let recent = c
        .last_reminded
        .as_deref()
        .and_then(Date::parse_iso)
        .is_some_and(|d| today.days_since_epoch() - d.days_since_epoch() < after_days as i64);
    recent.then_some("reminded_recently")
}

/// A person's reason at reminder time from pass 1, or their eligible
/// index.
fn cohort_reason(p1: &Pass1, c: &ReminderCandidate) -> Result<usize, &'static str> {
    let Some(person) = p1.watched.get(&c.service_token) else {
        return Err("not_in_cohort");
    };
    match p1.persons.get(person) {
        Some(PersonState::Eligible(i)) if !p1.eligible[*i as usize].dropped => Ok(*i as usize),
        Some(PersonState::Eligible(_)) => Err(Reason::DuplicatePersonExcluded.code()),
        Some(PersonState::Excluded(r) | PersonState::Seen(r)) => Err(r.code()),
        None => Err("not_in_cohort"),
    }
}

/// One reminder to send: the candidate, the eligible row, the arm.
struct Chosen<'c> {
    cand: &'c ReminderCandidate,
    eligible: usize,
    arm: usize,
}

/// Decide who is reminded: every candidate gets one stage.
fn decide<'c>(
    v: &Validated,
    cands: &'c [ReminderCandidate],
    early: &[Option<&'static str>],
    p1: &Pass1,
    tally: &mut Tally,
) -> Vec<Chosen<'c>> {
    let r = &v.request;
    let mut ok: Vec<(&ReminderCandidate, usize)> = Vec::new();
    let mut used: HashSet<usize> = HashSet::new();
    for (c, e) in cands.iter().zip(early) {
        if let Some(s) = e {
            tally.add(s);
            continue;
        }
        match cohort_reason(p1, c) {
            Ok(i) if used.insert(i) => ok.push((c, i)),
            Ok(_) => tally.add(Reason::DuplicatePersonExcluded.code()),
            Err(s) => tally.add(s),
        }
    }
    // At most `invitations` reminders (when given), by a seeded rank.
    if r.invitations > 0 && ok.len() > r.invitations as usize {
        ok.sort_by_key(|(c, _)| select::rank(r.seed, &c.service_token));
        for _ in ok.drain(r.invitations as usize..) {
            tally.add("not_selected");
        }
    }
    // Reminder arms balanced within the invitations' strata.
    let mut by_stratum: BTreeMap<&str, Vec<(&ReminderCandidate, usize)>> = BTreeMap::new();
    for (c, i) in ok {
        by_stratum.entry(c.stratum.as_str()).or_default().push((c, i));
    }
    let weights: Vec<u32> = r.arms.iter().map(|a| a.weight).collect();
    let mut chosen = Vec::new();
    for (stratum, mut list) in by_stratum {
        list.sort_by_key(|(c, _)| c.invitation_id);
        let mut rng = select::rng_for(r.seed, &format!("reminder-arms:{stratum}"));
        let arms = select::assign_arms(list.len(), &weights, &mut rng);
        for ((cand, eligible), arm) in list.into_iter().zip(arms) {
            tally.add("reminded");
            chosen.push(Chosen { cand, eligible, arm });
        }
    }
    chosen
}

/// Make a reminder batch and record it. See the module docs.
pub fn remind(store: &mut Store, o: &ReminderOptions<'_>) -> Result<ReminderReport, ReminderError> {
    let started = tabular::now_rfc3339();
    let v = o.batch.request;
    let r = &v.request;
    let spec = r.reminder.as_ref().ok_or(ReminderError::NotReminderRequest)?;
    let (cohort, backdate) = invite::precheck(
        o.batch.cohort,
        v,
        o.batch.qa_seeds,
        o.batch.today,
        o.batch.backdate,
    )?;
    check_register(store, v, o.batch.enrolled.is_some(), o.batch.today)?;
    let batch = resolve_batch(store, v, o.of_batch.as_ref())?;
    invite::check_not_run(store, v)?;
    let invited_on = batch.invited_on.clone().unwrap_or_else(|| batch.as_of.clone());
    let days = Date::parse_iso(&invited_on).map_or(i64::MAX, |d| {
        o.batch.today.days_since_epoch() - d.days_since_epoch()
    });
    if days < spec.after_days as i64 {
        return Err(ReminderError::TooSoon {
            batch_id: batch.batch_id,
            invited_on,
            today: iso(o.batch.today),
            days,
            after_days: spec.after_days,
        });
    }
    let cands = store.reminder_candidates(batch.batch_id)?;
    let early: Vec<Option<&'static str>> = cands
        .iter()
        .map(|c| store_reason(c, spec.max_reminders, spec.after_days, o.batch.today))
        .collect();
    let watch: HashSet<[u8; 32]> = cands
        .iter()
        .zip(&early)
        .filter(|(_, e)| e.is_none())
        .map(|(c, _)| c.service_token)
        .collect();

    let out_dir = prepare_out_dir(o.batch.out_dir)?;
    let FirstPass {
        keys,
        lists,
        cols,
        p1,
    } = invite::first_pass(
        store,
        &o.batch,
        cohort,
        backdate,
        Some(batch.batch_id),
        Some(&watch),
        |capped, capped_nhs| ListSources {
            master: o.batch.master,
            study: &r.study,
            registry: None,
            registry_scope: None,
            registry_links: None,
            enrolled: o.batch.enrolled,
            already_invited: false,
            capped,
            capped_nhs,
        },
    )?;
    invite::check_qa_seed_people(o.batch.qa_seeds, r.qa_seeds, &keys, &lists, &p1)?;
    let mut tally = Tally::default();
    let chosen = decide(v, &cands, &early, &p1, &mut tally);
    if chosen.is_empty() {
        return Err(ReminderError::NoneToRemind {
            batch_id: batch.batch_id,
            reasons: tally.describe(),
        });
    }
    let run = Run {
        o,
        v,
        batch: &batch,
        invited_on: &invited_on,
        cols: &cols,
        cohort,
        out_dir,
        started,
        backdate,
    };
    run.write(store, keys, lists, p1, chosen, tally, cands.len() as u64)
}

/// The second half of a reminder run: contacts, QA seeds, files, records.
struct Run<'a, 'o> {
    o: &'a ReminderOptions<'o>,
    v: &'a Validated,
    batch: &'a BatchInfo,
    invited_on: &'a str,
    cols: &'a Columns,
    cohort: &'a str,
    out_dir: PathBuf,
    started: String,
    backdate: Option<&'a str>,
}

impl Run<'_, '_> {
    /// Write the batch file in slot order: reminders (with their
    /// invitations' references) and QA seeds (fresh references).
    #[allow(clippy::type_complexity)]
    fn write_rows(
        &self,
        keys: &RunKeys,
        chosen: &[Chosen<'_>],
        p2: &invite::Pass2,
    ) -> Result<
        (
            PathBuf,
            u64,
            Vec<Reminder>,
            Vec<store::QaSeed>,
            BTreeMap<String, u64>,
        ),
        ReminderError,
    > {
        let v = self.v;
        let r = &v.request;
        let (slots, contact, qa_rows) = (&p2.slots, &p2.contact, &p2.qa_rows);
        let mut w = BatchWriter::create(&self.out_dir, batch_columns(v.route, r.channel))?;
        let mut reminders = Vec::with_capacity(chosen.len());
        let mut qa_records = Vec::new();
        let mut arms: BTreeMap<String, u64> = r.arms.iter().map(|a| (a.name.clone(), 0)).collect();
        for (p, slot) in slots.iter().enumerate() {
            let position = p as u32 + 1;
            match slot {
                Some(k) => {
                    let c = &chosen[*k];
                    let arm = &r.arms[c.arm];
                    w.write(&c.cand.reference, &arm.template, &contact[*k])?;
                    *arms.get_mut(&arm.name).expect("arm") += 1;
                    reminders.push(Reminder {
                        invitation_id: c.cand.invitation_id,
                        position,
                        arm: arm.name.clone(),
                        template: arm.template.clone(),
                    });
                }
                None => {
                    let k = qa_records.len();
                    let reference = reference(&keys.ref_key, &r.study, r.seed, position);
                    w.write(&reference, &r.arms[k % r.arms.len()].template, &qa_rows[k])?;
                    qa_records.push(qa_record(reference, position, k));
                }
            }
        }
        let batch_rows = w.rows;
        Ok((w.finish()?, batch_rows, reminders, qa_records, arms))
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        self,
        store: &mut Store,
        mut keys: RunKeys,
        mut lists: Lists,
        mut p1: Pass1,
        mut chosen: Vec<Chosen<'_>>,
        tally: Tally,
        invitations: u64,
    ) -> Result<ReminderReport, ReminderError> {
        let (o, v) = (self.o, self.v);
        let r = &v.request;
        let eligible = &p1.eligible;
        let p2 = invite::pass2(
            &o.batch,
            self.cohort,
            self.cols,
            &p1,
            &mut lists,
            &mut chosen,
            |c| eligible[c.eligible].record,
        )?;
        let (batch_path, batch_rows, reminders, qa_records, arms) = self.write_rows(&keys, &chosen, &p2)?;
        drop(p2);
        // Cohort rows of people not reminded stay `not_selected`.
        for _ in 0..reminders.len() {
            p1.funnel.moved(Reason::NotSelected, Reason::Invited);
        }
        let spec = r.reminder.as_ref().expect("checked");
        let summary = ReminderSummary {
            kind: "reminder",
            study: r.study.clone(),
            channel: r.channel.name(),
            route: v.route.name(),
            seed: r.seed,
            reminder_of: self.batch.batch_id,
            invited_on: self.invited_on.to_string(),
            reminded_on: iso(o.batch.today),
            after_days: spec.after_days,
            max_reminders: spec.max_reminders,
            invitations,
            reminded: reminders.len() as u64,
            qa_seeds: qa_records.len() as u32,
            funnel: tally.rows(),
            cohort_rows: p1.cohort.rows,
            cohort_funnel: invite::funnel_rows(&p1.funnel),
            arms,
        };
        let counts = [
            ("reminder_of", self.batch.batch_id as u64),
            ("reminders", reminders.len() as u64),
            ("qa_seeds", qa_records.len() as u64),
        ];
        let (text, side) = invite::side_files(
            &o.batch,
            store,
            (&summary, &summary_markdown(&summary), &summary.funnel),
            &counts,
            (&batch_path, batch_rows),
            (&mut keys, &mut lists, &p1, self.started.clone()),
        )?;
        let batch_id = invite::record(
            store,
            &o.batch,
            (&keys, &side, &text),
            self.backdate,
            invite::Records {
                invitations: &[],
                qa_seeds: &qa_records,
                reminders: Some((self.batch.batch_id, &reminders)),
            },
        )?;
        Ok(ReminderReport {
            batch_id,
            batch_file: batch_path,
            summary,
            files: side.files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(responded: bool, returned: bool, reminders: u32, last: Option<&str>) -> ReminderCandidate {
        ReminderCandidate {
            invitation_id: 1,
            reference: "r".into(),
            service_token: [1; 32],
            study_token: [2; 32],
            arm: "A".into(),
            stratum: "all".into(),
            invited_on: "2026-11-01".into(),
            responded,
            returned,
            reminders,
            last_reminded: last.map(str::to_string),
        }
    }

    #[test]
    fn store_reasons_in_precedence_order() {
        let today = Date::new(2026, 11, 30).unwrap();
        assert_eq!(
            store_reason(&cand(true, true, 5, None), 1, 14, today),
            Some("responded")
        );
        assert_eq!(
            store_reason(&cand(false, true, 5, None), 1, 14, today),
            Some("returned")
        );
        assert_eq!(
            store_reason(&cand(false, false, 1, None), 1, 14, today),
            Some("max_reminders")
        );
        assert_eq!(
            store_reason(&cand(false, false, 1, Some("2026-11-20")), 2, 14, today),
            Some("reminded_recently")
        );
        assert_eq!(
            store_reason(&cand(false, false, 1, Some("2026-11-16")), 2, 14, today),
            None
        );
        assert_eq!(store_reason(&cand(false, false, 0, None), 1, 14, today), None);
    }

    #[test]
    fn batch_ref_parses_ids_and_paths() {
        assert_eq!(BatchRef::parse("12"), BatchRef::Id(12));
        assert_eq!(
            BatchRef::parse("out/batch-1"),
            BatchRef::File(PathBuf::from("out/batch-1"))
        );
    }
}
