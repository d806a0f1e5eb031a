//! The two passes over the cohort.
//!
//! Pass 1 pseudonymises each row as it is read and keeps, for eligible
//! people only, tokens and coarse demographics (no identifier, no contact
//! detail); every row gets one funnel reason, and every person (their NHS
//! number) a state, so that an exclusion on any row of a person applies to
//! the person. Pass 2 re-reads the cohort and keeps the contact details of
//! the selected rows only; the file's BLAKE3 must be the same in both
//! passes.

use super::columns::{batch_cell, Columns};
use super::setup::{Lists, RunKeys};
use super::{InviteError, Progress};
use crate::demographics;
use crate::request::{Criteria, Dim, GpCriteria, GpVerdict};
use crate::select;
use pseudonym::{Date, Dob, DobFormats, Key, NhsNumber};
use std::collections::{BTreeMap, HashMap, HashSet};
use suppression::{Flags, Funnel, Reason};

/// A token as raw bytes.
type Tok = [u8; 32];

/// Pass-1 record of an eligible person: tokens and coarse labels only.
pub(crate) struct Eligible {
    pub dropped: bool,
    pub record: u64,
    pub service: Tok,
    pub study: Tok,
    /// `token_nhs` under `service:store`: the person.
    pub person: Tok,
    /// `token_nhs` under the study key.
    pub study_nhs: Tok,
    pub demo: u32,
    pub registry: bool,
    pub rank: u64,
}

/// Interned coarse demographics.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Demo {
    pub age_band: String,
    pub sex: &'static str,
    pub ethnic: &'static str,
    pub region: &'static str,
}

impl Demo {
    pub(crate) fn get(&self, d: Dim) -> String {
        match d {
            Dim::AgeBand => self.age_band.clone(),
            Dim::Sex => self.sex.to_string(),
            Dim::EthnicGroup => self.ethnic.to_string(),
            Dim::Region => self.region.to_string(),
        }
    }
}

/// What pass 1 knows of a person (their service `token_nhs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonState {
    /// Eligible: an index into [`Pass1::eligible`].
    Eligible(u32),
    /// Excluded by a row of theirs (the first exclusion found).
    Excluded(Reason),
    /// Seen only in rows not eligible, unreachable or unreadable (the
    /// first such reason).
    Seen(Reason),
}

/// What pass 1 reads the cohort with.
pub(crate) struct Pass1Context<'a> {
    pub cols: &'a Columns,
    pub criteria: &'a Criteria,
    pub gp: &'a GpCriteria,
    pub as_of: Date,
    pub seed: u64,
    pub dob_formats: &'a DobFormats,
    pub keys: &'a RunKeys,
    pub lists: &'a Lists,
    pub master: &'a Key,
    pub clk_threshold: f64,
    pub progress: Option<Progress<'a>>,
    /// Service `token_nhs_dob` tokens whose person is wanted (a reminder
    /// run's invitees); with it, every person's state is kept.
    pub watch: Option<&'a HashSet<Tok>>,
}

/// What pass 1 found.
pub(crate) struct Pass1 {
    pub eligible: Vec<Eligible>,
    pub demos: Vec<Demo>,
    pub funnel: Funnel,
    /// `(line, column name, reason code)`.
    pub rejects: Vec<(u64, String, &'static str)>,
    pub region_unknown: u64,
    pub suppressed_by_clk: u64,
    pub not_eligible_by: BTreeMap<&'static str, u64>,
    pub cohort: tabular::InputSummary,
    /// Every person's state (an invite run checks its QA seeds against it,
    /// then drops it).
    pub persons: HashMap<Tok, PersonState>,
    /// Watched service `token_nhs_dob` → person.
    pub watched: HashMap<Tok, Tok>,
}

/// Labels parsed from a row.
struct Labels {
    dob: Dob,
    sex: &'static str,
    ethnic: &'static str,
    gp: GpVerdict,
}

struct Run<'a, 'c> {
    ctx: &'c Pass1Context<'a>,
    out: Pass1,
    header: Vec<String>,
    demo_ids: HashMap<Demo, u32>,
    clk_coder: Option<suppression::ClkCoder>,
    clk_people: HashSet<Tok>,
    need_study_all: bool,
    need_study_nhs: bool,
    /// The first row (line, reason code) that carries an exclusion but
    /// whose NHS number cannot be read, and how many such rows there are.
    unidentified_exclusion: Option<(u64, &'static str)>,
    unidentified_exclusions: u64,
}

/// Read the cohort once, classifying every row (see the module docs).
pub(crate) fn pass1(mut src: tabular::Source, ctx: &Pass1Context<'_>) -> Result<Pass1, InviteError> {
    let sup = &ctx.lists.suppressor;
    let mut run = Run {
        ctx,
        out: Pass1 {
            eligible: Vec::new(),
            demos: Vec::new(),
            funnel: Funnel::default(),
            rejects: Vec::new(),
            region_unknown: 0,
            suppressed_by_clk: 0,
            not_eligible_by: BTreeMap::new(),
            cohort: tabular::InputSummary {
                path: String::new(),
                blake3: String::new(),
                bytes: 0,
                rows: 0,
                format: None,
            },
            persons: HashMap::new(),
            watched: HashMap::new(),
        },
        header: src.header().to_vec(),
        demo_ids: HashMap::new(),
        clk_coder: (!ctx.lists.clk_list.is_empty()).then(|| suppression::ClkCoder::new(ctx.master)),
        clk_people: HashSet::new(),
        need_study_all: !sup.enrolled.is_empty() || !sup.invited.is_empty() || !sup.invited_nhs.is_empty(),
        need_study_nhs: !sup.enrolled_nhs.is_empty(),
        unidentified_exclusion: None,
        unidentified_exclusions: 0,
    };
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec)? {
        let pos = src.position();
        if pos.record.is_multiple_of(65_536) {
            if let Some(p) = ctx.progress {
                p("pass 1", pos.record);
            }
        }
        run.row(&rec, pos.line, pos.record);
    }
    // A rejected row that may exclude someone: nobody is invited (and no
    // reminder sent) until it is corrected.
    if let Some((line, code)) = run.unidentified_exclusion {
        return Err(InviteError::UnidentifiedExclusion {
            path: src.path().to_string(),
            line,
            column: run.header[ctx.cols.nhs].clone(),
            code,
            rows: run.unidentified_exclusions,
        });
    }
    let mut out = run.out;
    out.suppressed_by_clk = run.clk_people.len() as u64;
    // People excluded by a later row of theirs leave the pool (counted as
    // duplicate_person_excluded).
    if ctx.watch.is_none() {
        out.eligible.retain(|e| !e.dropped);
    }
    out.cohort = src.finish()?;
    Ok(out)
}

impl Run<'_, '_> {
    fn reject(&mut self, line: u64, col: Option<usize>, code: &'static str) {
        self.out.funnel.add(Reason::Rejected);
        let name = col.map(|i| self.header[i].clone()).unwrap_or_default();
        self.out.rejects.push((line, name, code));
    }

    /// Exclude the person (every row of them): an eligible earlier row of
    /// theirs leaves the pool. The first exclusion found is kept.
    fn exclude_person(&mut self, person: Tok, reason: Reason) {
        let st = self
            .out
            .persons
            .entry(person)
            .or_insert(PersonState::Excluded(reason));
        match *st {
            PersonState::Eligible(i) => {
                self.out.eligible[i as usize].dropped = true;
                self.out
                    .funnel
                    .moved(Reason::NotSelected, Reason::DuplicatePersonExcluded);
                *st = PersonState::Excluded(reason);
            }
            PersonState::Seen(_) => *st = PersonState::Excluded(reason),
            PersonState::Excluded(_) => {}
        }
    }

    /// A row whose NHS number cannot be read is rejected. When it carries an
    /// exclusion (or an unreadable flag, which is doubt), the person it
    /// excludes cannot be known: they may be another row's person, who would
    /// then be invited. The run fails (see [`pass1`]); the row is never read
    /// "leniently", since a guessed number could exclude the wrong person and
    /// leave the right one invitable.
    fn unreadable_nhs(&mut self, rec: &csv::ByteRecord, line: u64, code: &'static str) {
        let cols = self.ctx.cols;
        let (flags, bad_flag) = read_flags(rec, &cols.flags);
        if bad_flag.is_some() || flags.exclusion().is_some() {
            self.unidentified_exclusions += 1;
            self.unidentified_exclusion.get_or_insert((line, code));
        }
        self.reject(line, Some(cols.nhs), code)
    }

    /// A ragged row's cells cannot be trusted, so its flags cannot be read:
    /// when its NHS number cell still reads as an NHS number, that person is
    /// excluded (doubt resolves towards not inviting).
    fn exclude_ragged(&mut self, rec: &csv::ByteRecord) {
        let cell = rec.get(self.ctx.cols.nhs).unwrap_or_default();
        if let Ok(nhs) = NhsNumber::parse_normalised(cell) {
            let person = self.ctx.keys.service_tk.token_nhs(&nhs).0;
            self.exclude_person(person, Reason::Rejected);
        }
    }

    fn seen(&mut self, person: Tok, reason: Reason) {
        self.out
            .persons
            .entry(person)
            .or_insert(PersonState::Seen(reason));
    }

    fn row(&mut self, rec: &csv::ByteRecord, line: u64, record: u64) {
        let cols = self.ctx.cols;
        if rec.len() != self.header.len() {
            self.exclude_ragged(rec);
            return self.reject(line, None, "ragged_row");
        }
        let nhs = match NhsNumber::parse_normalised(&rec[cols.nhs]) {
            Ok(n) => n,
            Err(e) => return self.unreadable_nhs(rec, line, e.code()),
        };
        // The person is their NHS number: every list and every exclusion is
        // decided per person, whatever their rows say.
        let person = self.ctx.keys.service_tk.token_nhs(&nhs).0;
        let (flags, bad_flag) = read_flags(rec, &cols.flags);
        if let Some(i) = bad_flag {
            // An unreadable flag is doubt, and doubt resolves towards not
            // inviting.
            self.exclude_person(person, Reason::Rejected);
            return self.reject(line, Some(i), "bad_flag");
        }
        let sup = &self.ctx.lists.suppressor;
        let early = flags.exclusion().or_else(|| {
            sup.non_contact
                .contains(&person)
                .then_some(Reason::NonContactList)
        });
        let Some(l) = self.labels(rec, line, person, early) else {
            return;
        };
        let service = self.ctx.keys.service_tk.token_nhs_dob(&nhs, &l.dob).0;
        if self.ctx.watch.is_some_and(|w| w.contains(&service)) {
            self.out.watched.insert(service, person);
        }
        // A closed vocabulary: anything else (a postcode in the wrong
        // column, free text) is `Unknown`, counted, never stored as given.
        let region = match cols.region.and_then(|i| demographics::region(&rec[i])) {
            Some(r) => r,
            None => {
                self.out.region_unknown += 1;
                demographics::UNKNOWN_REGION
            }
        };
        let age = l.dob.date().years_until(self.ctx.as_of);
        let fail = self.criteria_failed(rec, age, l.sex, region, l.gp);
        let ok = fail.is_none();
        // Person-level lists, checked on every row (not only eligible ones).
        let study = if ok || self.need_study_all {
            self.ctx.keys.study_tk.token_nhs_dob(&nhs, &l.dob).0
        } else {
            [0u8; 32]
        };
        let study_nhs = if ok || self.need_study_all || self.need_study_nhs {
            self.ctx.keys.study_tk.token_nhs(&nhs).0
        } else {
            [0u8; 32]
        };
        let listed = self.listed(ok, &person, &service, &study, &study_nhs);
        let clk_hit = early.is_none() && listed.is_none() && self.clk_hit(rec, &l.dob);
        if clk_hit {
            self.clk_people.insert(person);
        }
        drop(nhs);
        let excluding = early.or(listed).or(clk_hit.then_some(Reason::NonContactClk));

        // The row's reason, in precedence order.
        let no_contact = cols.required.iter().any(|&i| rec[i].trim_ascii().is_empty());
        let row_reason = if let Some(f) = fail {
            *self.out.not_eligible_by.entry(f).or_insert(0) += 1;
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
        if let Some(r) = excluding {
            self.exclude_person(person, r);
        }
        if let Some(reason) = row_reason {
            self.out.funnel.add(reason);
            return self.seen(person, reason);
        }
        self.eligible_row(
            rec, line, record, person, service, study, study_nhs, &l, age, region,
        );
    }

    /// Date of birth, sex, ethnic group and GP practice of a row, or `None`
    /// when one is unreadable (the row is rejected; a person `excluded` by
    /// it is excluded all the same).
    fn labels(
        &mut self,
        rec: &csv::ByteRecord,
        line: u64,
        person: Tok,
        excluded: Option<Reason>,
    ) -> Option<Labels> {
        let cols = self.ctx.cols;
        let fail = |run: &mut Self, col: usize, code: &'static str| {
            if let Some(r) = excluded {
                run.exclude_person(person, r);
            }
            run.seen(person, Reason::Rejected);
            run.reject(line, Some(col), code);
            None
        };
        let dob = match Dob::parse_bytes(&rec[cols.dob], self.ctx.dob_formats, self.ctx.as_of) {
            Ok(d) => d,
            Err(e) => return fail(self, cols.dob, e.code()),
        };
        let Some(sex) = cols.sex.map_or(Some("unknown"), |i| demographics::sex(&rec[i])) else {
            return fail(self, cols.sex.expect("sex column"), "bad_sex");
        };
        let ethnic = cols
            .ethnic
            .map_or(Some("Not stated"), |i| demographics::ethnic_group(&rec[i]));
        let Some(ethnic) = ethnic else {
            return fail(self, cols.ethnic.expect("ethnic column"), "bad_ethnic_category");
        };
        let gp = match cols.gp_practice {
            Some(i) => self.ctx.gp.check(&rec[i]),
            None => GpVerdict::Ok,
        };
        if gp == GpVerdict::Malformed {
            return fail(
                self,
                cols.gp_practice.expect("gp column"),
                GpVerdict::Malformed.code(),
            );
        }
        Some(Labels { dob, sex, ethnic, gp })
    }

    /// The first inclusion criterion the row fails, if any.
    fn criteria_failed(
        &self,
        rec: &csv::ByteRecord,
        age: u16,
        sex: &str,
        region: &str,
        gp: GpVerdict,
    ) -> Option<&'static str> {
        let c = self.ctx.criteria;
        if !(c.min_age.is_none_or(|m| age >= m) && c.max_age.is_none_or(|m| age <= m)) {
            return Some("age");
        }
        if !(c.sex.is_empty() || c.sex.iter().any(|s| s == sex)) {
            return Some("sex");
        }
        if !(c.regions.is_empty()
            || c.regions
                .iter()
                .any(|s| demographics::region_label(s) == Some(region)))
        {
            return Some("region");
        }
        if !c.required_conditions.is_empty() || !c.excluded_conditions.is_empty() {
            let cell = self.ctx.cols.conditions.map_or(&b""[..], |i| &rec[i]);
            let has = |code: &str| {
                cell.split(|&b| b == b';' || b == b'|' || b == b',' || b == b' ')
                    .any(|t| t.trim_ascii() == code.as_bytes())
            };
            if !c.required_conditions.iter().all(|x| has(x)) || c.excluded_conditions.iter().any(|x| has(x)) {
                return Some("conditions");
            }
        }
        (gp != GpVerdict::Ok).then(|| gp.code())
    }

    /// The first list-based exclusion (non-contact, enrolled, invited, cap).
    fn listed(&self, ok: bool, person: &Tok, service: &Tok, study: &Tok, study_nhs: &Tok) -> Option<Reason> {
        let sup = &self.ctx.lists.suppressor;
        let listed = sup.check(suppression::PersonTokens {
            service_nhs: person,
            service_nhs_dob: service,
            study_nhs_dob: study,
            study_nhs,
        });
        match listed {
            // without a study token (neither eligible nor any study list) a
            // study-scope answer is meaningless
            Some(Reason::AlreadyEnrolled | Reason::AlreadyInvited) if !(ok || self.need_study_all) => {
                if self.need_study_nhs && sup.enrolled_nhs.contains(study_nhs) {
                    Some(Reason::AlreadyEnrolled)
                } else {
                    None
                }
            }
            l => l,
        }
    }

    /// Whether the row matches an objection kept as a CLK.
    fn clk_hit(&mut self, rec: &csv::ByteRecord, dob: &Dob) -> bool {
        let cols = self.ctx.cols;
        let Some(coder) = &mut self.clk_coder else {
            return false;
        };
        let cell = |i: Option<usize>| {
            i.and_then(|i| std::str::from_utf8(&rec[i]).ok())
                .unwrap_or("")
                .to_string()
        };
        let (given, family, postcode) = (cell(cols.given), cell(cols.family), cell(cols.postcode));
        // Given and family names swapped (the commonest name error) on either
        // side: the row is compared both ways round; a false match only costs
        // an invitation.
        let hit = [(&given, &family), (&family, &given)].iter().any(|&(g, f)| {
            coder
                .encode(g, f, Some(dob.iso()), &postcode)
                .is_some_and(|clk| self.ctx.lists.clk_list.matches(&clk, self.ctx.clk_threshold))
        });
        hit
    }

    #[allow(clippy::too_many_arguments)]
    fn eligible_row(
        &mut self,
        rec: &csv::ByteRecord,
        line: u64,
        record: u64,
        person: Tok,
        service: Tok,
        study: Tok,
        study_nhs: Tok,
        l: &Labels,
        age: u16,
        region: &'static str,
    ) {
        match self.out.persons.get(&person).copied() {
            Some(PersonState::Excluded(_)) => {
                self.out.funnel.add(Reason::DuplicatePersonExcluded);
                return;
            }
            Some(PersonState::Eligible(_)) => {
                // A second clean row of an eligible person: invited at most once.
                return self.reject(line, Some(self.ctx.cols.nhs), "duplicate_person");
            }
            _ => {}
        }
        let registry = self.ctx.lists.links.as_ref().is_some_and(|l| l.contains(record))
            || match &self.ctx.lists.registry {
                Some((set, tk)) => {
                    let nhs = NhsNumber::parse_normalised(&rec[self.ctx.cols.nhs]).expect("parsed above");
                    set.contains(&tk.token_nhs_dob(&nhs, &l.dob).0)
                }
                _ => false,
            };
        let demo = Demo {
            age_band: demographics::age_band(age),
            sex: l.sex,
            ethnic: l.ethnic,
            region,
        };
        let id = match self.demo_ids.get(&demo) {
            Some(&id) => id,
            None => {
                let id = self.out.demos.len() as u32;
                self.out.demos.push(demo.clone());
                self.demo_ids.insert(demo, id);
                id
            }
        };
        self.out.funnel.add(Reason::NotSelected);
        self.out
            .persons
            .insert(person, PersonState::Eligible(self.out.eligible.len() as u32));
        self.out.eligible.push(Eligible {
            dropped: false,
            record,
            service,
            study,
            person,
            study_nhs,
            demo: id,
            registry,
            rank: select::rank(self.ctx.seed, &service),
        });
    }
}

/// The five standard exclusion flags, and the first unreadable one.
fn read_flags(rec: &csv::ByteRecord, idx: &[usize; 5]) -> (Flags, Option<usize>) {
    let mut fl = [false; 5];
    for (k, &i) in idx.iter().enumerate() {
        match suppression::parse_flag(&rec[i]) {
            Some(b) => fl[k] = b,
            None => return (Flags::default(), Some(i)),
        }
    }
    let flags = Flags {
        deceased: fl[0],
        national_data_opt_out: fl[1],
        s_flag: fl[2],
        armed_forces: fl[3],
        prison: fl[4],
    };
    (flags, None)
}

/// Pass 2: the batch cells of the wanted records (`(record, slot)`,
/// sorted by record) into `slots` slots; the cohort must be unchanged
/// since pass 1 (`blake3`).
pub(crate) fn read_contacts(
    cohort: &str,
    cols: &Columns,
    route: store::OutputRoute,
    wanted: &[(u64, usize)],
    slots: usize,
    blake3: &str,
    progress: Option<Progress<'_>>,
) -> Result<Vec<Vec<Vec<u8>>>, InviteError> {
    let mut contact: Vec<Vec<Vec<u8>>> = vec![Vec::new(); slots];
    let mut src = tabular::Source::open(cohort)?;
    let mut rec = csv::ByteRecord::new();
    let mut next = 0;
    while next < wanted.len() && src.read(&mut rec)? {
        let pos = src.position();
        if pos.record.is_multiple_of(65_536) {
            if let Some(p) = progress {
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
    let s2 = src.finish()?;
    if s2.blake3 != blake3 {
        return Err(InviteError::CohortChanged {
            path: cohort.to_string(),
        });
    }
    Ok(contact)
}
