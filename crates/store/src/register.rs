//! The study register (issue 10): for each study, the requesting
//! organisation, its approvals (ethics favourable opinion, section 251
//! support, data sharing agreement and its expiry, the legal basis for
//! registry prioritisation and for enrolled-list suppression), the output
//! routes and channels it may use, and its retention date.
//!
//! Every change is made by a named operator and recorded, by SQLite
//! triggers, in an append-only history: the history table refuses `UPDATE`
//! and `DELETE` (the triggers `RAISE`), register entries are closed, never
//! deleted, and each change advances the entry's version by exactly one.

use crate::{now_utc, Result, Store, StoreError};
use pseudonym::Date;
use rusqlite::{params, OptionalExtension};
use std::fmt;
use std::str::FromStr;

/// An output route for an invitation batch, as the service's requirements
/// number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputRoute {
    /// (1) The NHS notification service: NHS number, template and reference
    /// only, no contact details.
    NhsNotification,
    /// (2) The service's contracted mailing supplier (today's batch).
    ServiceMailer,
    /// (3) The requesting organisation's own third-party provider.
    OrgProvider,
    /// (4) The requesting organisation itself.
    Organisation,
}

impl OutputRoute {
    /// Every route, in the requirements' order.
    pub const ALL: [OutputRoute; 4] = [
        OutputRoute::NhsNotification,
        OutputRoute::ServiceMailer,
        OutputRoute::OrgProvider,
        OutputRoute::Organisation,
    ];

    /// The route's name in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutputRoute::NhsNotification => "nhs-notification",
            OutputRoute::ServiceMailer => "service-mailer",
            OutputRoute::OrgProvider => "org-provider",
            OutputRoute::Organisation => "organisation",
        }
    }

    /// The route's number in the requirements (1–4).
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// Whether the route hands contact details to the requesting
    /// organisation's side (routes 3 and 4), which needs section 251
    /// support (or consent) and a data sharing agreement in date.
    pub fn leaves_service(self) -> bool {
        matches!(self, OutputRoute::OrgProvider | OutputRoute::Organisation)
    }
}

impl fmt::Display for OutputRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputRoute {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        OutputRoute::ALL.into_iter().find(|r| r.name() == s).ok_or(())
    }
}

/// A contact channel a study may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterChannel {
    /// Letter: name + address + postcode.
    Postal,
    /// Text message: name + mobile.
    Sms,
    /// Email: name + email.
    Email,
}

impl RegisterChannel {
    /// Every channel.
    pub const ALL: [RegisterChannel; 3] = [
        RegisterChannel::Postal,
        RegisterChannel::Sms,
        RegisterChannel::Email,
    ];

    /// The channel's name, as in invitation requests.
    pub fn name(self) -> &'static str {
        match self {
            RegisterChannel::Postal => "postal",
            RegisterChannel::Sms => "sms",
            RegisterChannel::Email => "email",
        }
    }
}

impl fmt::Display for RegisterChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RegisterChannel {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        RegisterChannel::ALL.into_iter().find(|c| c.name() == s).ok_or(())
    }
}

/// The legal basis recorded for a processing purpose (registry
/// prioritisation, enrolled-list suppression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegalBasis {
    /// No basis recorded: the processing is refused.
    None,
    /// The people's consent.
    Consent,
    /// Section 251 support (needs a section 251 reference).
    Section251,
}

impl LegalBasis {
    /// Every basis.
    pub const ALL: [LegalBasis; 3] = [LegalBasis::None, LegalBasis::Consent, LegalBasis::Section251];

    /// The basis's name in files.
    pub fn name(self) -> &'static str {
        match self {
            LegalBasis::None => "none",
            LegalBasis::Consent => "consent",
            LegalBasis::Section251 => "section-251",
        }
    }
}

impl fmt::Display for LegalBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LegalBasis {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        LegalBasis::ALL.into_iter().find(|b| b.name() == s).ok_or(())
    }
}

/// A study's approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvals {
    /// Ethics (REC) favourable opinion reference.
    pub ethics_reference: String,
    /// Section 251 (CAG) support reference, where the study has it.
    pub section_251_reference: Option<String>,
    /// Data sharing agreement reference.
    pub dsa_reference: String,
    /// Last day the data sharing agreement is in force.
    pub dsa_expires: Date,
    /// Basis for registry prioritisation.
    pub registry_basis: LegalBasis,
    /// Basis for processing the trial's enrolled list.
    pub enrolled_basis: LegalBasis,
}

/// What an operator states about a study (the content of a register
/// entry, without its status and version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyEntry {
    /// The study id (1–64 lowercase letters, digits and `:._-`, as in
    /// invitation requests).
    pub study: String,
    /// The requesting organisation.
    pub organisation: String,
    /// Approvals.
    pub approvals: Approvals,
    /// Permitted output routes (sorted, no repeats once stored).
    pub routes: Vec<OutputRoute>,
    /// Permitted channels (sorted, no repeats once stored).
    pub channels: Vec<RegisterChannel>,
    /// End of the retention period: the study's data may be purged after it.
    pub retain_until: Date,
    /// Whether the study may send reminders (follow-ups of its invitations
    /// to invitees who have not responded); recorded per study, default no.
    pub reminders: bool,
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyStatus {
    /// Invitations may be made.
    Open,
    /// Closed: no further change or invitation.
    Closed,
}

impl StudyStatus {
    /// The status's name in the store.
    pub fn name(self) -> &'static str {
        match self {
            StudyStatus::Open => "open",
            StudyStatus::Closed => "closed",
        }
    }
}

/// A register entry as stored: the entry, its status, its version and who
/// made the latest change when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRecord {
    /// The entry.
    pub entry: StudyEntry,
    /// Open or closed.
    pub status: StudyStatus,
    /// 1 when added, +1 per change.
    pub version: i64,
    /// When this version was made (`YYYY-MM-DDTHH:MM:SSZ`, UTC).
    pub changed: String,
    /// Who made it.
    pub operator: String,
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAction {
    /// The entry was added.
    Add,
    /// The entry was changed.
    Update,
    /// The study was closed.
    Close,
}

impl HistoryAction {
    /// The action's name.
    pub fn name(self) -> &'static str {
        match self {
            HistoryAction::Add => "add",
            HistoryAction::Update => "update",
            HistoryAction::Close => "close",
        }
    }
}

/// One row of a study's register history: the full entry after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Position in the store-wide history (increasing, never reused).
    pub seq: i64,
    /// What happened.
    pub action: HistoryAction,
    /// The entry as it was after the change.
    pub record: RegisterRecord,
}

/// Why a route or processing is refused for a study (see
/// [`RegisterRecord::check_route`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteRefusal {
    /// The study is closed.
    #[error("study {study} is closed in the register")]
    Closed {
        /// The study.
        study: String,
    },
    /// The route is not among the study's permitted routes.
    #[error("study {study} does not permit output route {route} (permitted: {permitted})")]
    RouteNotPermitted {
        /// The study.
        study: String,
        /// The route asked for.
        route: OutputRoute,
        /// The permitted routes, comma-separated.
        permitted: String,
    },
    /// The channel is not among the study's permitted channels.
    #[error("study {study} does not permit channel {channel} (permitted: {permitted})")]
    ChannelNotPermitted {
        /// The study.
        study: String,
        /// The channel asked for.
        channel: RegisterChannel,
        /// The permitted channels, comma-separated.
        permitted: String,
    },
    /// The data sharing agreement has expired.
    #[error("study {study}: data sharing agreement {dsa} expired on {expired}")]
    DsaExpired {
        /// The study.
        study: String,
        /// The agreement reference.
        dsa: String,
        /// Its last day in force.
        expired: Date,
    },
    /// Route 3 or 4 without section 251 support or consent.
    #[error(
        "study {study}: output route {route} needs section 251 support (a section_251_reference) or consent, and the register records neither"
    )]
    NoSection251 {
        /// The study.
        study: String,
        /// The route asked for.
        route: OutputRoute,
    },
}

fn join<T: fmt::Display>(xs: &[T]) -> String {
    xs.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn invalid(field: &'static str, expected: &'static str) -> StoreError {
    StoreError::InvalidEntry { field, expected }
}

fn is_study_id(s: &str) -> bool {
    // The same ids invitation requests accept: the study id becomes the
    // scope `trial:<study>`.
    (1..=64).contains(&s.len()) && pseudonym::Scope::trial(s).is_ok()
}

fn is_reference(s: &str) -> bool {
    (1..=200).contains(&s.len()) && s.trim() == s && !s.chars().any(char::is_control)
}

impl StudyEntry {
    /// Check the entry and put its route and channel lists in canonical
    /// order (sorted, no repeats).
    pub fn normalise(&mut self) -> Result<()> {
        if !is_study_id(&self.study) {
            return Err(invalid(
                "study",
                "1 to 64 lowercase letters, digits and `:._-` (it becomes the scope `trial:<study>`)",
            ));
        }
        if !is_reference(&self.organisation) {
            return Err(invalid(
                "organisation",
                "a non-empty name without leading/trailing spaces or control characters (at most 200 characters)",
            ));
        }
        let a = &self.approvals;
        let reference = "a non-empty reference without leading/trailing spaces or control characters (at most 200 characters)";
        if !is_reference(&a.ethics_reference) {
            return Err(invalid("approvals.ethics_reference", reference));
        }
        if let Some(s) = &a.section_251_reference {
            if !is_reference(s) {
                return Err(invalid("approvals.section_251_reference", reference));
            }
        }
        if !is_reference(&a.dsa_reference) {
            return Err(invalid("approvals.dsa_reference", reference));
        }
        if a.section_251_reference.is_none() {
            if a.registry_basis == LegalBasis::Section251 {
                return Err(invalid(
                    "approvals.registry_basis",
                    "\"section-251\" only with an approvals.section_251_reference",
                ));
            }
            if a.enrolled_basis == LegalBasis::Section251 {
                return Err(invalid(
                    "approvals.enrolled_basis",
                    "\"section-251\" only with an approvals.section_251_reference",
                ));
            }
        }
        self.routes.sort();
        self.routes.dedup();
        if self.routes.is_empty() {
            return Err(invalid("routes", "at least one output route"));
        }
        self.channels.sort();
        self.channels.dedup();
        if self.channels.is_empty() {
            return Err(invalid("channels", "at least one channel"));
        }
        Ok(())
    }
}

impl RegisterRecord {
    /// Whether an invitation batch may go out by `route` and `channel` on
    /// `today`: the study is open, the route and channel are permitted, the
    /// data sharing agreement is in force (through its expiry day), and
    /// routes 3 and 4 have section 251 support or consent on record.
    pub fn check_route(
        &self,
        route: OutputRoute,
        channel: RegisterChannel,
        today: Date,
    ) -> std::result::Result<(), RouteRefusal> {
        let e = &self.entry;
        let study = || e.study.clone();
        if self.status == StudyStatus::Closed {
            return Err(RouteRefusal::Closed { study: study() });
        }
        if !e.routes.contains(&route) {
            return Err(RouteRefusal::RouteNotPermitted {
                study: study(),
                route,
                permitted: join(&e.routes),
            });
        }
        if !e.channels.contains(&channel) {
            return Err(RouteRefusal::ChannelNotPermitted {
                study: study(),
                channel,
                permitted: join(&e.channels),
            });
        }
        if today > e.approvals.dsa_expires {
            return Err(RouteRefusal::DsaExpired {
                study: study(),
                dsa: e.approvals.dsa_reference.clone(),
                expired: e.approvals.dsa_expires,
            });
        }
        let consent = e.approvals.registry_basis == LegalBasis::Consent
            || e.approvals.enrolled_basis == LegalBasis::Consent;
        if route.leaves_service() && e.approvals.section_251_reference.is_none() && !consent {
            return Err(RouteRefusal::NoSection251 {
                study: study(),
                route,
            });
        }
        Ok(())
    }
}

const COLUMNS: &str = "study, organisation, ethics_reference, section_251_reference, dsa_reference, \
     dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until, status, version, \
     changed, operator, reminders";

fn parse_list<T: FromStr>(s: &str) -> rusqlite::Result<Vec<T>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<T>().map_err(|_| corrupt("a known name in a list")))
        .collect()
}

fn corrupt(expected: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("study register: expected {expected}").into(),
    )
}

fn date_col(s: String) -> rusqlite::Result<Date> {
    Date::parse_iso(&s).ok_or_else(|| corrupt("a YYYY-MM-DD date"))
}

/// Read a register row laid out as [`COLUMNS`], starting at column `o`.
fn record(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<RegisterRecord> {
    let basis = |s: String| s.parse::<LegalBasis>().map_err(|_| corrupt("a legal basis"));
    let status = match r.get::<_, String>(o + 11)?.as_str() {
        "open" => StudyStatus::Open,
        "closed" => StudyStatus::Closed,
        _ => return Err(corrupt("a status")),
    };
    Ok(RegisterRecord {
        entry: StudyEntry {
            study: r.get(o)?,
            organisation: r.get(o + 1)?,
            approvals: Approvals {
                ethics_reference: r.get(o + 2)?,
                section_251_reference: r.get(o + 3)?,
                dsa_reference: r.get(o + 4)?,
                dsa_expires: date_col(r.get(o + 5)?)?,
                registry_basis: basis(r.get(o + 6)?)?,
                enrolled_basis: basis(r.get(o + 7)?)?,
            },
            routes: parse_list(&r.get::<_, String>(o + 8)?)?,
            channels: parse_list(&r.get::<_, String>(o + 9)?)?,
            retain_until: date_col(r.get(o + 10)?)?,
            reminders: r.get::<_, i64>(o + 15)? != 0,
        },
        status,
        version: r.get(o + 12)?,
        changed: r.get(o + 13)?,
        operator: r.get(o + 14)?,
    })
}

pub(crate) fn check_operator(operator: &str) -> Result<()> {
    if is_reference(operator) && operator.len() <= 100 {
        Ok(())
    } else {
        Err(invalid(
            "operator",
            "a non-empty name without leading/trailing spaces or control characters (at most 100 characters)",
        ))
    }
}

impl Store {
    fn write_record(&mut self, rec: &RegisterRecord, insert: bool) -> Result<()> {
        let e = &rec.entry;
        let a = &e.approvals;
        let sql = if insert {
            format!(
                "INSERT INTO study_register ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            )
        } else {
            "UPDATE study_register SET organisation = ?2, ethics_reference = ?3,
                section_251_reference = ?4, dsa_reference = ?5, dsa_expires = ?6,
                registry_basis = ?7, enrolled_basis = ?8, routes = ?9, channels = ?10,
                retain_until = ?11, status = ?12, version = ?13, changed = ?14, operator = ?15,
                reminders = ?16
             WHERE study = ?1"
                .to_string()
        };
        self.connection()
            .execute(
                &sql,
                params![
                    e.study,
                    e.organisation,
                    a.ethics_reference,
                    a.section_251_reference,
                    a.dsa_reference,
                    a.dsa_expires.to_string(),
                    a.registry_basis.name(),
                    a.enrolled_basis.name(),
                    join(&e.routes),
                    join(&e.channels),
                    e.retain_until.to_string(),
                    rec.status.name(),
                    rec.version,
                    rec.changed,
                    rec.operator,
                    e.reminders as i64,
                ],
            )
            .map_err(|err| crate::sql(self.path(), err))?;
        Ok(())
    }

    /// Add a study to the register (version 1, open), recorded in its
    /// history as made by `operator` now.
    pub fn study_add(&mut self, mut entry: StudyEntry, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        entry.normalise()?;
        self.check_not_purged(&entry.study)?;
        if self.study_get(&entry.study)?.is_some() {
            return Err(StoreError::StudyRegistered { study: entry.study });
        }
        let rec = RegisterRecord {
            entry,
            status: StudyStatus::Open,
            version: 1,
            changed: now_utc(),
            operator: operator.to_string(),
        };
        // A study registered before any of its data reaches the store gets
        // a key secret (crate::purge), so that its key can be destroyed.
        let with_secret = !self.study_has_data(&rec.entry.study)?;
        self.begin()?;
        let r = self.write_record(&rec, true).and_then(|()| {
            if with_secret {
                self.create_study_secret(&rec.entry.study)
            } else {
                Ok(())
            }
        });
        match r {
            Ok(()) => self.commit()?,
            Err(e) => {
                let _ = self.rollback();
                return Err(e);
            }
        }
        Ok(rec)
    }

    /// Replace an open study's register entry (the next version), recorded
    /// in its history. A closed study cannot change.
    pub fn study_update(&mut self, mut entry: StudyEntry, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        entry.normalise()?;
        let old = self.open_record(&entry.study)?;
        let rec = RegisterRecord {
            entry,
            status: StudyStatus::Open,
            version: old.version + 1,
            changed: now_utc(),
            operator: operator.to_string(),
        };
        self.write_record(&rec, false)?;
        Ok(rec)
    }

    /// Close an open study (the next version), recorded in its history.
    pub fn study_close(&mut self, study: &str, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        let old = self.open_record(study)?;
        let rec = RegisterRecord {
            status: StudyStatus::Closed,
            version: old.version + 1,
            changed: now_utc(),
            operator: operator.to_string(),
            entry: old.entry,
        };
        self.write_record(&rec, false)?;
        Ok(rec)
    }

    fn open_record(&self, study: &str) -> Result<RegisterRecord> {
        match self.study_get(study)? {
            None => Err(StoreError::StudyNotRegistered {
                study: study.to_string(),
            }),
            Some(r) if r.status == StudyStatus::Closed => Err(StoreError::StudyClosed {
                study: study.to_string(),
            }),
            Some(r) => Ok(r),
        }
    }

    /// A study's current register entry, if it has one.
    pub fn study_get(&self, study: &str) -> Result<Option<RegisterRecord>> {
        self.connection()
            .query_row(
                &format!("SELECT {COLUMNS} FROM study_register WHERE study = ?1"),
                params![study],
                |r| record(r, 0),
            )
            .optional()
            .map_err(|err| crate::sql(self.path(), err))
    }

    /// Every register entry, by study id.
    pub fn study_list(&self) -> Result<Vec<RegisterRecord>> {
        let c = self.connection();
        let mut st = c
            .prepare(&format!("SELECT {COLUMNS} FROM study_register ORDER BY study"))
            .map_err(|err| crate::sql(self.path(), err))?;
        let rows = st
            .query_map([], |r| record(r, 0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|err| crate::sql(self.path(), err));
        rows
    }

    /// A study's register history, oldest first (empty for an unknown
    /// study).
    pub fn study_history(&self, study: &str) -> Result<Vec<HistoryRecord>> {
        let c = self.connection();
        let mut st = c
            .prepare(&format!(
                "SELECT seq, action, {COLUMNS} FROM study_register_history WHERE study = ?1 ORDER BY seq"
            ))
            .map_err(|err| crate::sql(self.path(), err))?;
        let rows = st
            .query_map(params![study], |r| {
                let action = match r.get::<_, String>(1)?.as_str() {
                    "add" => HistoryAction::Add,
                    "update" => HistoryAction::Update,
                    "close" => HistoryAction::Close,
                    _ => return Err(corrupt("a history action")),
                };
                Ok(HistoryRecord {
                    seq: r.get(0)?,
                    action,
                    record: record(r, 2)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|err| crate::sql(self.path(), err));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    fn entry(study: &str) -> StudyEntry {
        StudyEntry {
            study: study.to_string(),
            organisation: "Example Trials Unit".into(),
            approvals: Approvals {
                ethics_reference: "24/NE/0001".into(),
                section_251_reference: None,
                dsa_reference: "DSA-0001".into(),
                dsa_expires: d("2027-03-31"),
                registry_basis: LegalBasis::Consent,
                enrolled_basis: LegalBasis::None,
            },
            routes: vec![
                OutputRoute::ServiceMailer,
                OutputRoute::NhsNotification,
                OutputRoute::ServiceMailer,
            ],
            channels: vec![RegisterChannel::Email, RegisterChannel::Postal],
            retain_until: d("2032-12-31"),
            reminders: false,
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        (dir, s)
    }

    #[test]
    fn add_get_list_update_close_and_history() {
        let (_d, mut s) = open();
        let r1 = s.study_add(entry("b-2"), "alice").unwrap();
        assert_eq!(r1.version, 1);
        assert_eq!(r1.status, StudyStatus::Open);
        // Canonical order, no repeats.
        assert_eq!(
            r1.entry.routes,
            vec![OutputRoute::NhsNotification, OutputRoute::ServiceMailer]
        );
        assert_eq!(
            r1.entry.channels,
            vec![RegisterChannel::Postal, RegisterChannel::Email]
        );
        assert_eq!(s.study_get("b-2").unwrap(), Some(r1.clone()));
        s.study_add(entry("a-1"), "alice").unwrap();
        let ids: Vec<_> = s
            .study_list()
            .unwrap()
            .into_iter()
            .map(|r| r.entry.study)
            .collect();
        assert_eq!(ids, ["a-1", "b-2"]);

        let mut e = entry("b-2");
        e.approvals.section_251_reference = Some("24/CAG/0002".into());
        e.routes.push(OutputRoute::Organisation);
        let r2 = s.study_update(e.clone(), "bob").unwrap();
        assert_eq!(r2.version, 2);
        let r3 = s.study_close("b-2", "carol").unwrap();
        assert_eq!((r3.version, r3.status), (3, StudyStatus::Closed));
        assert_eq!(s.study_get("b-2").unwrap(), Some(r3.clone()));

        let h = s.study_history("b-2").unwrap();
        let summary: Vec<_> = h
            .iter()
            .map(|x| (x.action, x.record.version, x.record.operator.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (HistoryAction::Add, 1, "alice"),
                (HistoryAction::Update, 2, "bob"),
                (HistoryAction::Close, 3, "carol")
            ]
        );
        assert_eq!(h[0].record, r1);
        assert_eq!(h[1].record, r2);
        assert_eq!(h[2].record, r3);
        assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(s.study_history("a-1").unwrap().len(), 1);
        assert!(s.study_history("nope").unwrap().is_empty());
    }

    #[test]
    fn refusals() {
        let (_d, mut s) = open();
        s.study_add(entry("s1"), "alice").unwrap();
        assert!(matches!(
            s.study_add(entry("s1"), "alice"),
            Err(StoreError::StudyRegistered { .. })
        ));
        assert!(matches!(
            s.study_update(entry("s9"), "alice"),
            Err(StoreError::StudyNotRegistered { .. })
        ));
        assert!(matches!(
            s.study_close("s9", "alice"),
            Err(StoreError::StudyNotRegistered { .. })
        ));
        assert!(matches!(
            s.study_update(entry("s1"), ""),
            Err(StoreError::InvalidEntry {
                field: "operator",
                ..
            })
        ));
        s.study_close("s1", "alice").unwrap();
        assert!(matches!(
            s.study_close("s1", "alice"),
            Err(StoreError::StudyClosed { .. })
        ));
        assert!(matches!(
            s.study_update(entry("s1"), "alice"),
            Err(StoreError::StudyClosed { .. })
        ));
        // Refused changes leave no history.
        assert_eq!(s.study_history("s1").unwrap().len(), 2);
    }

    #[test]
    fn invalid_entries_name_the_field() {
        let (_d, mut s) = open();
        type Mutate = Box<dyn Fn(&mut StudyEntry)>;
        let cases: Vec<(&str, Mutate)> = vec![
            ("study", Box::new(|e| e.study = "has space".into())),
            ("study", Box::new(|e| e.study = String::new())),
            ("study", Box::new(|e| e.study = "Trial-1".into())),
            ("organisation", Box::new(|e| e.organisation = " x".into())),
            (
                "approvals.ethics_reference",
                Box::new(|e| e.approvals.ethics_reference.clear()),
            ),
            (
                "approvals.dsa_reference",
                Box::new(|e| e.approvals.dsa_reference = "a\nb".into()),
            ),
            (
                "approvals.section_251_reference",
                Box::new(|e| e.approvals.section_251_reference = Some(String::new())),
            ),
            (
                "approvals.registry_basis",
                Box::new(|e| e.approvals.registry_basis = LegalBasis::Section251),
            ),
            (
                "approvals.enrolled_basis",
                Box::new(|e| e.approvals.enrolled_basis = LegalBasis::Section251),
            ),
            ("routes", Box::new(|e| e.routes.clear())),
            ("channels", Box::new(|e| e.channels.clear())),
        ];
        for (field, f) in cases {
            let mut e = entry("s1");
            f(&mut e);
            match s.study_add(e, "alice") {
                Err(StoreError::InvalidEntry { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(s.study_list().unwrap().is_empty());
        // Section 251 basis is fine with a reference.
        let mut e = entry("s1");
        e.approvals.section_251_reference = Some("24/CAG/0002".into());
        e.approvals.enrolled_basis = LegalBasis::Section251;
        s.study_add(e, "alice").unwrap();
    }

    #[test]
    fn history_is_append_only_and_complete_even_through_sql() {
        let (_d, mut s) = open();
        s.study_add(entry("s1"), "alice").unwrap();
        let c = s.connection();
        for q in [
            "UPDATE study_register_history SET operator = 'mallory'",
            "DELETE FROM study_register_history",
            "DELETE FROM study_register",
            "UPDATE study_register SET organisation = 'X'",
            "UPDATE study_register SET study = 's2', version = version + 1",
            "INSERT INTO study_register SELECT 's3', organisation, ethics_reference, section_251_reference,
             dsa_reference, dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
             status, 7, changed, operator FROM study_register",
        ] {
            let err = c.execute_batch(q).unwrap_err().to_string();
            assert!(err.contains("study_register"), "{q}: {err}");
        }
        // A change made with plain SQL is still recorded.
        c.execute_batch("UPDATE study_register SET organisation = 'Other', version = 2, operator = 'sql'")
            .unwrap();
        let h = s.study_history("s1").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].action, HistoryAction::Update);
        assert_eq!(h[1].record.entry.organisation, "Other");
        assert_eq!(h[0].record.operator, "alice");
    }

    #[test]
    fn version_2_store_is_migrated_to_the_register() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sqlite");
        {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute_batch(schema::MIGRATIONS[0]).unwrap();
            c.execute_batch(schema::MIGRATIONS[1]).unwrap();
            c.execute_batch("PRAGMA user_version = 2").unwrap();
            c.execute(
                "INSERT INTO studies (study, created, scope_fingerprint) VALUES ('x', 'now', 'fp')",
                [],
            )
            .unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
        assert!(s.study_exists("x").unwrap());
        assert!(s.study_list().unwrap().is_empty());
        s.study_add(entry("x"), "alice").unwrap();
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(s.study_history("x").unwrap().len(), 1);
    }

    #[test]
    fn route_checks() {
        let (_d, mut s) = open();
        let today = d("2026-11-21");
        let mut e = entry("s1");
        e.approvals.registry_basis = LegalBasis::None;
        e.routes = OutputRoute::ALL.to_vec();
        let r = s.study_add(e, "alice").unwrap();
        let ok = |route| r.check_route(route, RegisterChannel::Postal, today);
        assert_eq!(ok(OutputRoute::NhsNotification), Ok(()));
        assert_eq!(ok(OutputRoute::ServiceMailer), Ok(()));
        for route in [OutputRoute::OrgProvider, OutputRoute::Organisation] {
            assert!(matches!(ok(route), Err(RouteRefusal::NoSection251 { .. })));
        }
        assert!(matches!(
            r.check_route(OutputRoute::ServiceMailer, RegisterChannel::Sms, today),
            Err(RouteRefusal::ChannelNotPermitted { .. })
        ));
        // In force through its expiry day, not after.
        assert_eq!(
            r.check_route(
                OutputRoute::ServiceMailer,
                RegisterChannel::Postal,
                d("2027-03-31")
            ),
            Ok(())
        );
        let msg = r
            .check_route(
                OutputRoute::ServiceMailer,
                RegisterChannel::Postal,
                d("2027-04-01"),
            )
            .unwrap_err()
            .to_string();
        assert!(msg.contains("DSA-0001") && msg.contains("2027-03-31"), "{msg}");

        let mut e = entry("s1");
        e.approvals.registry_basis = LegalBasis::None;
        e.approvals.section_251_reference = Some("24/CAG/0002".into());
        e.routes = vec![OutputRoute::Organisation];
        let r = s.study_update(e, "bob").unwrap();
        assert_eq!(
            r.check_route(OutputRoute::Organisation, RegisterChannel::Email, today),
            Ok(())
        );
        let msg = r
            .check_route(OutputRoute::ServiceMailer, RegisterChannel::Email, today)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("service-mailer") && msg.contains("permitted: organisation"),
            "{msg}"
        );
        let r = s.study_close("s1", "carol").unwrap();
        assert!(matches!(
            r.check_route(OutputRoute::Organisation, RegisterChannel::Email, today),
            Err(RouteRefusal::Closed { .. })
        ));
    }

    #[test]
    fn names_round_trip() {
        for r in OutputRoute::ALL {
            assert_eq!(r.name().parse::<OutputRoute>(), Ok(r));
        }
        assert_eq!(OutputRoute::ALL.map(OutputRoute::number), [1, 2, 3, 4]);
        for c in RegisterChannel::ALL {
            assert_eq!(c.name().parse::<RegisterChannel>(), Ok(c));
        }
        for b in LegalBasis::ALL {
            assert_eq!(b.name().parse::<LegalBasis>(), Ok(b));
        }
        assert!("Service-Mailer".parse::<OutputRoute>().is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Whatever sequence of changes is tried, the history holds exactly
        /// the successful ones, in order, and its last row is the entry.
        #[test]
        fn history_matches_successful_changes(ops in prop::collection::vec(0u8..4, 1..12)) {
            let (_d, mut s) = open();
            let mut ok = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let who = format!("op{i}");
                let res = match op {
                    0 => s.study_add(entry("s1"), &who),
                    1 => {
                        let mut e = entry("s1");
                        e.organisation = format!("Org {i}");
                        s.study_update(e, &who)
                    }
                    2 => s.study_close("s1", &who),
                    _ => s.study_add(entry("s1"), ""),
                };
                if let Ok(r) = res {
                    ok.push(r);
                }
            }
            let h: Vec<_> = s.study_history("s1").unwrap().into_iter().map(|x| x.record).collect();
            prop_assert_eq!(&h, &ok);
            prop_assert_eq!(s.study_get("s1").unwrap(), ok.last().cloned());
            for (i, r) in h.iter().enumerate() {
                prop_assert_eq!(r.version, i as i64 + 1);
            }
        }
    }
}
