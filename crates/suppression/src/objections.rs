//! Reading a file of objections to contact for the non-contact list.
//!
//! Each row's NHS number becomes a `service:store` token of the NHS number
//! alone (read leniently: see [`pseudonym::Pseudonymiser::objection`]); the
//! date of birth is never needed for a match, so a wrong or unreadable DOB
//! never drops an objection. A row without a usable NHS number is kept as a
//! CLK of given name, family name, DOB and postcode when it has a family
//! name and a DOB or postcode ([`ClkCoder`]); otherwise it is rejected by
//! line, column and reason. Every row is accounted for: an entry, a CLK, or
//! a reject.

use crate::clk::ClkCoder;
use pseudonym::{Date, Key, Pseudonymiser, Scope};
use std::path::{Path, PathBuf};
use store::{AddCounts, Store, StoreError};
use tabular::{
    columns, FileRecord, FinishedRejects, InputSummary, KeyRecord, Manifest, Rejects, RowCounts, Say, Source,
    TabularError,
};

/// The columns of an objections file.
#[derive(Debug, Clone)]
pub struct ObjectionColumns {
    nhs: usize,
    dob: Option<usize>,
    given: Option<usize>,
    family: Option<usize>,
    postcode: Option<usize>,
}

impl ObjectionColumns {
    /// Find the columns: the NHS number (required), the DOB (required when
    /// named), names and postcode when present.
    pub fn find(src: &Source, nhs: Option<&str>, dob: Option<&str>) -> Result<Self, TabularError> {
        let opt = |names: &[&str], what: &str| src.optional_column(None, names, what);
        Ok(ObjectionColumns {
            nhs: src.column(nhs, columns::NHS_NUMBER, "NHS number")?,
            dob: match dob {
                Some(n) => Some(src.column(Some(n), columns::DATE_OF_BIRTH, "date of birth")?),
                None => opt(columns::DATE_OF_BIRTH, "date of birth")?,
            },
            given: opt(columns::GIVEN_NAME, "given name")?,
            family: opt(columns::FAMILY_NAME, "family name")?,
            postcode: opt(columns::POSTCODE, "postcode")?,
        })
    }
}

/// What an objections file held.
#[derive(Debug, Default)]
pub struct Objections {
    /// Objections keyed on the NHS number.
    pub entries: Vec<store::NonContactEntry>,
    /// Objections without a usable NHS number, as CLK bytes.
    pub clks: Vec<Vec<u8>>,
    /// Entries whose DOB was missing or unusable.
    pub dob_unusable: u64,
    /// Lines where an NHS number was written but could not be read (a
    /// spreadsheet's `9.99E+09`, a formula, a typo) and the objection was
    /// kept as a CLK, which matches only where the names agree.
    pub unreadable_nhs_kept: Vec<u64>,
}

/// Read every row of `src`; rejected rows go to `rejects`. `with_dob_tokens`:
/// also make NHS+DOB tokens (needed only to re-key legacy entries).
/// `progress` is called once per row.
pub fn read_objections(
    src: &mut Source,
    cols: &ObjectionColumns,
    p: &Pseudonymiser,
    coder: &mut ClkCoder,
    with_dob_tokens: bool,
    rejects: &mut Rejects,
    mut progress: impl FnMut(),
) -> Result<Objections, TabularError> {
    let width = src.header().len();
    let nhs_name = src.header()[cols.nhs].clone();
    let mut got = Objections::default();
    let mut rec = tabular::ByteRecord::new();
    while src.read(&mut rec)? {
        progress();
        let line = src.position().line;
        if rec.len() != width {
            rejects.add(line, "", "ragged_row")?;
            continue;
        }
        let o = p.objection(&rec[cols.nhs], cols.dob.map(|i| &rec[i]), with_dob_tokens);
        let e = match o.nhs_token {
            Ok(t) => {
                got.dob_unusable += u64::from(o.dob.is_none());
                got.entries.push(store::NonContactEntry {
                    nhs: t.0,
                    dob: o.nhs_dob_token.map(|t| t.0),
                    dob_given: o.dob.is_some(),
                });
                continue;
            }
            Err(e) => e,
        };
        // No usable NHS number: keep the objection as a CLK when there is
        // enough to match on; else reject the row.
        let cell = |i: Option<usize>| i.and_then(|i| std::str::from_utf8(&rec[i]).ok()).unwrap_or("");
        match coder.encode(
            cell(cols.given),
            cell(cols.family),
            o.dob.as_ref().map(|d| d.iso()),
            cell(cols.postcode),
        ) {
            Some(c) => {
                got.clks.push(c);
                if !rec[cols.nhs].trim_ascii().is_empty() {
                    got.unreadable_nhs_kept.push(line);
                }
            }
            None => rejects.add(line, &nhs_name, e.code())?,
        }
    }
    Ok(got)
}

/// A store error while adding objections, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum NoncontactAddError {
    /// Adding entries or CLKs failed (the transaction is rolled back).
    #[error("adding to the non-contact list: {0}")]
    Add(StoreError),
    /// Counting the list afterwards failed.
    #[error("counting the non-contact list: {0}")]
    Count(StoreError),
}

/// What adding a file's objections did to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// Entries and CLKs newly added, and those already on the list.
    pub counts: AddCounts,
    /// People on the list afterwards.
    pub list_size: u64,
    /// Entries from before schema version 5 still keyed on NHS number + DOB.
    pub legacy: u64,
}

/// Add what a file held to the store's non-contact list under `source`
/// (adding someone twice changes nothing), and count the list.
pub fn add_objections(
    store: &mut Store,
    got: &Objections,
    source: &str,
) -> Result<Added, NoncontactAddError> {
    let mut counts = store
        .noncontact_add(&got.entries, source)
        .map_err(NoncontactAddError::Add)?;
    let clk = store
        .noncontact_add_clks(&got.clks, source)
        .map_err(NoncontactAddError::Add)?;
    counts.added += clk.added;
    counts.already_present += clk.already_present;
    Ok(Added {
        counts,
        list_size: store.noncontact_count().map_err(NoncontactAddError::Count)?,
        legacy: store
            .noncontact_legacy_count()
            .map_err(NoncontactAddError::Count)?,
    })
}

impl Added {
    /// Complete a `noncontact add` manifest: as-of date, the master and
    /// `service:store` key fingerprints (`master` → `service`), the input,
    /// the row accounting (every row an entry, a CLK or a reject) and the
    /// list's counts.
    pub fn record(
        &self,
        got: &Objections,
        input: &InputSummary,
        rejects: &FinishedRejects,
        keys: (&Key, &Key),
        as_of: Date,
        manifest: &mut Manifest,
    ) {
        let (master, service) = keys;
        let scope = Scope::service_store().to_string();
        manifest.as_of = Some(as_of.to_string());
        manifest.scope = Some(scope.clone());
        manifest.key_fingerprint = Some(service.fingerprint().to_string());
        manifest.keys = vec![
            KeyRecord {
                role: "master".into(),
                scope: None,
                fingerprint: master.fingerprint().to_string(),
            },
            KeyRecord {
                role: "service".into(),
                scope: Some(scope),
                fingerprint: service.fingerprint().to_string(),
            },
        ];
        manifest.inputs.push(FileRecord::input("objections", input));
        manifest.rows = RowCounts {
            rows_in: input.rows,
            rows_out: (got.entries.len() + got.clks.len()) as u64,
            rows_rejected: rejects.total,
            rejected_by_reason: rejects.by_reason.clone(),
        };
        let extra = [
            ("added", self.counts.added),
            ("already_present", self.counts.already_present),
            ("kept_as_clk", got.clks.len() as u64),
            ("dob_unusable", got.dob_unusable),
            ("unreadable_nhs_kept_as_clk", got.unreadable_nhs_kept.len() as u64),
            ("legacy_entries_not_rekeyed", self.legacy),
            ("list_size", self.list_size),
        ];
        for (k, v) in extra {
            manifest.extra.insert(k.into(), v.into());
        }
    }
}

/// Why adding objections stopped after the file was read.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The store refused (the transaction is rolled back).
    #[error(transparent)]
    Add(#[from] NoncontactAddError),
    /// The rejects file or the manifest could not be written.
    #[error(transparent)]
    Tabular(#[from] TabularError),
}

/// A `noncontact add` run: what it reads and where its rejects file and
/// manifest go (the caller claims them before the store is touched).
///
/// Each row's NHS number is turned into a `service:store` token of the NHS
/// number alone as the row is read (the date of birth, when usable, is
/// recorded as a token beside it but is never needed for a match: a wrong
/// or unreadable DOB never drops an objection). Messy but unambiguous forms
/// are normalised first (Unicode spaces and digits, a leading `'`; DOBs as
/// DD.MM.YYYY, DD-MM-YYYY, YYYY/MM/DD or ISO date-times). A row without a
/// usable NHS number is kept as a CLK of given name, family name, DOB and
/// postcode when it has a family name and a DOB or postcode; otherwise it
/// is rejected. Adding someone twice changes nothing.
///
/// Exit status 1 when any row was rejected (the good rows are recorded
/// first; rejected rows are in the rejects file by line and reason, never
/// value), unless --allow-rejects.
pub struct AddRun<'a> {
    /// The service's master key (`service:store` tokens derive from it).
    pub master: &'a Key,
    /// The date dates of birth are checked against.
    pub as_of: Date,
    /// The objections file (`-` for stdin).
    pub input: &'a str,
    /// The source label stored with each entry (default: the file's name).
    pub source: Option<&'a str>,
    /// Where rejected rows go.
    pub rejects: Option<PathBuf>,
    /// Where the manifest goes.
    pub manifest: Option<PathBuf>,
    /// The version recorded in the manifest.
    pub version: &'a str,
    /// When the run started (the manifest's `started`).
    pub started: String,
}

impl AddRun<'_> {
    /// The rejects file and manifest paths.
    pub fn sidecars(&self) -> Vec<&Path> {
        self.rejects
            .iter()
            .chain(self.manifest.iter())
            .map(PathBuf::as_path)
            .collect()
    }

    /// Read every row of `src` (see [`read_objections`]) under the
    /// `service:store` key, with `formats` for dates of birth.
    pub fn read(
        &self,
        src: &mut Source,
        cols: &ObjectionColumns,
        formats: pseudonym::DobFormats,
        with_dob_tokens: bool,
        rejects: &mut Rejects,
        progress: impl FnMut(),
    ) -> Result<Objections, TabularError> {
        let service_key = self.master.derive(&Scope::service_store());
        let p = Pseudonymiser::new(pseudonym::TokenKey::new(&service_key), formats, self.as_of, false);
        let mut coder = ClkCoder::new(self.master);
        read_objections(src, cols, &p, &mut coder, with_dob_tokens, rejects, progress)
    }

    /// Add what was read to the store's list, put the rejects file in
    /// place, write the manifest, and return what to tell the operator
    /// with whether the run must not report success (see [`Added::tell`]).
    pub fn add(
        &self,
        store: &mut Store,
        got: &Objections,
        input: &InputSummary,
        rejects: Rejects,
    ) -> Result<(Vec<Say>, bool), AddError> {
        let mut manifest = Manifest::new("noncontact add", self.version);
        manifest.started = self.started.clone();
        let source = self
            .source
            .map_or_else(|| source_label(self.input), str::to_string);
        let added = add_objections(store, got, &source)?;
        let mut fin = rejects.finish()?;
        if let Some(pending) = fin.pending.take() {
            let s = pending.persist()?;
            manifest
                .outputs
                .push(FileRecord::output("rejects", &s, Some(fin.total)));
        }
        manifest.option("store", store.path().display().to_string());
        manifest.option("input", self.input.to_string());
        manifest.option("source", source);
        let service_key = self.master.derive(&Scope::service_store());
        added.record(
            got,
            input,
            &fin,
            (self.master, &service_key),
            self.as_of,
            &mut manifest,
        );
        if let Some(p) = &self.manifest {
            manifest.write(p)?;
        }
        Ok(added.tell(got, &fin, input.rows, self.rejects.as_deref()))
    }
}

/// The source label stored with a file's entries when none is given: the
/// file's name (`stdin` for `-`).
pub fn source_label(input: &str) -> String {
    Path::new(input)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".into())
}

impl Added {
    /// What a `noncontact add` run tells the operator, in order: the
    /// counts, then what could not be recorded exactly. The flag is true
    /// when the run must not report success (rows rejected, or objections
    /// whose NHS number could not be read kept only as CLKs).
    pub fn tell(
        &self,
        got: &Objections,
        fin: &FinishedRejects,
        rows: u64,
        rejects_path: Option<&Path>,
    ) -> (Vec<Say>, bool) {
        let mut say = vec![Say::Figure(format!(
            "added {}, already present {}, rejected {} (of {} rows); the non-contact list now holds {}",
            self.counts.added, self.counts.already_present, fin.total, rows, self.list_size
        ))];
        if !got.clks.is_empty() {
            say.push(Say::Figure(format!(
                "{} objections without a usable NHS number were kept as CLKs (name, date of birth, postcode)",
                got.clks.len()
            )));
        }
        if got.dob_unusable > 0 {
            say.push(Say::Figure(format!(
                "{} objections had no usable date of birth: recorded on the NHS number alone (the DOB is never needed for a match)",
                got.dob_unusable
            )));
        }
        if self.legacy > 0 {
            say.push(Say::Note(format!(
                "warning: {} entries from before schema version 5 are still keyed on NHS number + date of birth \
                 (they still suppress exact matches); add those objections again so they match on the NHS number alone",
                self.legacy
            )));
        }
        let mut failed = false;
        let bad = &got.unreadable_nhs_kept;
        if !bad.is_empty() {
            // Kept as CLKs, which may match nobody if the names differ: the
            // run fails loudly.
            let shown: Vec<String> = bad.iter().take(10).map(u64::to_string).collect();
            say.push(Say::Note(format!(
                "trialink: {} objections had an NHS number that could not be read (lines {}{}); they were kept as CLKs \
                 of name, date of birth and postcode, which match only where those agree",
                bad.len(),
                shown.join(", "),
                if bad.len() > 10 { ", …" } else { "" }
            )));
            failed = true;
        }
        if fin.total > 0 {
            let reasons: Vec<String> = fin.by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
            say.push(Say::Note(format!(
                "trialink: {} of {} rows were rejected ({}); the other rows are recorded",
                fin.total,
                rows,
                reasons.join(", ")
            )));
            if let Some(p) = rejects_path {
                say.push(Say::Note(format!(
                    "rejected rows (line, column, reason) are in {}",
                    p.display()
                )));
            }
            failed = true;
        }
        (say, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pseudonym::{Date, DobFormats, Key, TokenKey};

    #[test]
    fn every_row_is_an_entry_a_clk_or_a_reject() {
        let csv = "NHS,dob,surname,postcode\n\
                   9991335056,1980-01-05,Smith,LS1\n\
                   9991335056,not a date,Smith,LS1\n\
                   9.99E+09,1980-01-05,Smith,\n\
                   ,1980-01-05,,LS1\n\
                   short\n";
        let mut src =
            Source::from_reader("o", Box::new(std::io::Cursor::new(csv.as_bytes().to_vec()))).unwrap();
        let cols = ObjectionColumns::find(&src, None, None).unwrap();
        let key = Key::from_bytes([5; 32]);
        let p = Pseudonymiser::new(
            TokenKey::new(&key),
            DobFormats::lenient(),
            Date::new(2026, 11, 21).unwrap(),
            false,
        );
        let mut coder = ClkCoder::new(&key);
        let mut rejects = Rejects::create(None, tabular::OutputMode::New).unwrap();
        let mut rows = 0;
        let got = read_objections(&mut src, &cols, &p, &mut coder, true, &mut rejects, || rows += 1).unwrap();
        assert_eq!(rows, 5);
        assert_eq!(got.entries.len(), 2);
        assert_eq!(
            got.entries[0].nhs, got.entries[1].nhs,
            "keyed on the NHS number alone"
        );
        assert!(got.entries[0].dob.is_some() && got.entries[0].dob_given);
        assert!(got.entries[1].dob.is_none() && !got.entries[1].dob_given);
        assert_eq!(got.dob_unusable, 1);
        assert_eq!(got.clks.len(), 1);
        assert_eq!(got.unreadable_nhs_kept, vec![4]);
        assert_eq!(rejects.total(), 2);
        assert_eq!(rejects.by_reason().get("nhs_missing"), Some(&1));
        assert_eq!(rejects.by_reason().get("ragged_row"), Some(&1));
    }

    #[test]
    fn adding_twice_changes_nothing_and_the_manifest_accounts_for_every_row() {
        let csv = "NHS,dob,surname,postcode\n9991335056,1980-01-05,Smith,LS1\n,1980-01-05,Jones,LS2\n,,,\n";
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let master = Key::from_bytes([5; 32]);
        let service = master.derive(&Scope::service_store());
        let as_of = Date::new(2026, 11, 21).unwrap();
        let p = Pseudonymiser::new(
            pseudonym::TokenKey::new(&service),
            pseudonym::DobFormats::lenient(),
            as_of,
            false,
        );
        for round in 0..2 {
            let mut src =
                Source::from_reader("o", Box::new(std::io::Cursor::new(csv.as_bytes().to_vec()))).unwrap();
            let cols = ObjectionColumns::find(&src, None, None).unwrap();
            let mut rejects = Rejects::create(None, tabular::OutputMode::New).unwrap();
            let got = read_objections(
                &mut src,
                &cols,
                &p,
                &mut ClkCoder::new(&master),
                false,
                &mut rejects,
                || {},
            )
            .unwrap();
            let input = src.finish().unwrap();
            let added = add_objections(&mut store, &got, "o.csv").unwrap();
            assert_eq!(added.list_size, 2);
            assert_eq!(added.legacy, 0);
            let fresh = if round == 0 { 2 } else { 0 };
            assert_eq!(
                (added.counts.added, added.counts.already_present),
                (fresh, 2 - fresh)
            );
            let fin = rejects.finish().unwrap();
            let mut m = Manifest::new("noncontact add", "0");
            added.record(&got, &input, &fin, (&master, &service), as_of, &mut m);
            assert!(m.rows.balanced(), "{:?}", m.rows);
            assert_eq!((m.rows.rows_in, m.rows.rows_out, m.rows.rows_rejected), (3, 2, 1));
            assert_eq!(m.extra["kept_as_clk"], 1);
            assert_eq!(m.extra["list_size"], 2);
            assert_eq!(m.scope.as_deref(), Some("service:store"));
            assert_eq!(m.key_fingerprint, Some(service.fingerprint().to_string()));
            assert_eq!(m.keys[0].fingerprint, master.fingerprint().to_string());
            assert_eq!(m.as_of.as_deref(), Some("2026-11-21"));
        }
    }
}

/// Why a whole `noncontact add` run ([`AddRun::run`]) stopped.
#[derive(Debug, thiserror::Error)]
pub enum AddRunError {
    /// No store at the path and making one was not asked for.
    #[error("no store at {}", path.display())]
    NoStore {
        /// The path tried.
        path: PathBuf,
    },
    /// Reading the input or writing a sidecar failed.
    #[error(transparent)]
    Tabular(#[from] TabularError),
    /// The store could not be opened or belongs to another master key.
    #[error(transparent)]
    Open(#[from] store::service::OpenError),
    /// The non-contact list could not be read.
    #[error("reading the non-contact list: {0}")]
    List(StoreError),
    /// The store refused the additions (rolled back).
    #[error(transparent)]
    Add(NoncontactAddError),
}

impl AddRunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AddRunError::NoStore { .. } => Some(
                "check the --store path (and $TRIALINK_STORE); create a new store with `trialink study add`, or pass --create",
            ),
            AddRunError::Tabular(e) => e.hint(),
            AddRunError::Open(e) => e.hint(),
            AddRunError::List(_) | AddRunError::Add(_) => None,
        }
    }
}

/// Where a whole `noncontact add` run finds its store and columns.
pub struct AddTo<'a> {
    /// The store (default: [`store::default_path`]).
    pub store: Option<&'a Path>,
    /// Make the store when it does not exist (else a missing store is an
    /// error: a mistyped path must not hold the objections).
    pub create: bool,
    /// Replace the sidecars of an earlier run.
    pub force: bool,
    /// The NHS number column, when not found by name.
    pub nhs_column: Option<&'a str>,
    /// The date-of-birth column, when not found by name.
    pub dob_column: Option<&'a str>,
    /// Date-of-birth formats.
    pub formats: pseudonym::DobFormats,
}

impl AddRun<'_> {
    /// The whole run: the store checked, the sidecars claimed, every row
    /// read ([`AddRun::read`]; `progress` told each row), then the store
    /// opened (made only now, after the input was read whole without
    /// error) and bound to the master key, the entries added
    /// ([`AddRun::add`]) and the run told to `say`. Returns whether the
    /// run must not report success.
    pub fn run(
        &self,
        to: AddTo<'_>,
        progress: &mut dyn FnMut(),
        say: &mut dyn FnMut(Say),
    ) -> Result<bool, AddRunError> {
        let store_path = to
            .store
            .map(Path::to_path_buf)
            .unwrap_or_else(store::default_path);
        if !to.create && !store_path.exists() {
            return Err(AddRunError::NoStore { path: store_path });
        }
        let sidecar_mode = tabular::claim_sidecars(&self.sidecars(), to.force)?;
        let mut src = Source::open(self.input)?;
        let cols = ObjectionColumns::find(&src, to.nhs_column, to.dob_column)?;
        let mut rejects = Rejects::create(self.rejects.clone(), sidecar_mode)?;
        // DOB tokens are computed only when an existing store still holds
        // legacy entries they could re-key.
        let mut early = if store_path.exists() {
            Some(store::service::open(Some(&store_path), false, say)?)
        } else {
            None
        };
        let want_dob_tokens = match &early {
            Some(s) => s.noncontact_needs_dob_tokens().map_err(AddRunError::List)?,
            None => false,
        };
        let got = self.read(
            &mut src,
            &cols,
            to.formats,
            want_dob_tokens,
            &mut rejects,
            progress,
        )?;
        let input = src.finish()?;
        let mut store = match early.take() {
            Some(s) => s,
            None => store::service::open(Some(&store_path), false, say)?,
        };
        store.bind_master_key(self.master)?;
        let (lines, failed) = self.add(&mut store, &got, &input, rejects).map_err(|e| match e {
            AddError::Add(e) => AddRunError::Add(e),
            AddError::Tabular(e) => AddRunError::Tabular(e),
        })?;
        lines.into_iter().for_each(&mut *say);
        Ok(failed)
    }
}
