//! The study register: for each study, the requesting
//! organisation, its approvals (ethics favourable opinion, section 251
//! support, data sharing agreement and its expiry, the legal basis for
//! registry prioritisation and for enrolled-list suppression), the output
//! routes and channels it may use, and its retention date.
//!
//! Every change is made by a named operator and recorded, by SQLite
//! triggers, in an append-only history: the history table refuses `UPDATE`
//! and `DELETE` (the triggers `RAISE`), register entries are closed, never
//! deleted, and each change advances the entry's version by exactly one.
//! This module holds the entry's types and rules; [`db`] reads and writes
//! them.

mod db;
pub mod text;

pub(crate) use db::check_operator;

use crate::{Result, StoreError};
use pseudonym::Date;
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
    /// The register keys (as in the TOML file) whose values differ from
    /// those of the earlier version `p`, in file order.
    pub fn changed_keys(&self, p: &RegisterRecord) -> Vec<&'static str> {
        let r = self;
        let (pa, ra) = (&p.entry.approvals, &r.entry.approvals);
        let mut keys = Vec::new();
        let mut diff = |k: &'static str, changed: bool| {
            if changed {
                keys.push(k);
            }
        };
        diff("organisation", p.entry.organisation != r.entry.organisation);
        diff(
            "approvals.ethics_reference",
            pa.ethics_reference != ra.ethics_reference,
        );
        diff(
            "approvals.section_251_reference",
            pa.section_251_reference != ra.section_251_reference,
        );
        diff("approvals.dsa_reference", pa.dsa_reference != ra.dsa_reference);
        diff("approvals.dsa_expires", pa.dsa_expires != ra.dsa_expires);
        diff("approvals.registry_basis", pa.registry_basis != ra.registry_basis);
        diff("approvals.enrolled_basis", pa.enrolled_basis != ra.enrolled_basis);
        diff("routes", p.entry.routes != r.entry.routes);
        diff("channels", p.entry.channels != r.entry.channels);
        diff("retain_until", p.entry.retain_until != r.entry.retain_until);
        diff("reminders", p.entry.reminders != r.entry.reminders);
        diff("status", p.status != r.status);
        keys
    }

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

#[cfg(test)]
mod tests;
