//! The study request file (TOML): what to invite, whom, how many per
//! stratum, which SWAT arms. Unknown keys are errors naming the key; every
//! rule that can be checked before reading the cohort is checked here. See
//! `fixtures/requests/example.toml` for a commented example.

mod gp;
pub mod target;

pub use gp::{is_practice_code, GpCriteria, GpVerdict};

use crate::demographics::{self, ETHNIC_GROUPS, SEXES};
use gp::validate_gp;
use pseudonym::Date;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The invitation channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Letter: name + address + postcode.
    Postal,
    /// SMS: name + mobile.
    Sms,
    /// Email: name + email.
    Email,
}

impl Channel {
    /// The batch file's columns, exactly.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Channel::Postal => &[
                "reference",
                "template",
                "given_name",
                "family_name",
                "address_line_1",
                "address_line_2",
                "address_line_3",
                "address_line_4",
                "address_line_5",
                "postcode",
            ],
            Channel::Sms => &["reference", "template", "given_name", "family_name", "mobile"],
            Channel::Email => &["reference", "template", "given_name", "family_name", "email"],
        }
    }

    /// The contact columns taken from the cohort (the columns less
    /// `reference` and `template`).
    pub fn contact_columns(self) -> &'static [&'static str] {
        &self.columns()[2..]
    }

    /// Contact columns that must be non-blank for someone to be reachable.
    pub fn required_columns(self) -> &'static [&'static str] {
        match self {
            Channel::Postal => &["address_line_1", "postcode"],
            Channel::Sms => &["mobile"],
            Channel::Email => &["email"],
        }
    }

    /// `postal`, `sms` or `email`.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Postal => "postal",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// A stratification dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// Five-year age band at the as-of date (`50-54`, …, `90+`).
    AgeBand,
    /// `male|female|other|unknown`.
    Sex,
    /// ONS ethnic group (`White`, `Mixed`, `Asian`, `Black`, `Other`, `Not stated`).
    EthnicGroup,
    /// Region.
    Region,
}

impl Dim {
    /// The key used in the request and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Dim::AgeBand => "age_band",
            Dim::Sex => "sex",
            Dim::EthnicGroup => "ethnic_group",
            Dim::Region => "region",
        }
    }
}

/// Inclusion criteria.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Youngest age (whole years at the as-of date), inclusive.
    pub min_age: Option<u16>,
    /// Oldest age, inclusive.
    pub max_age: Option<u16>,
    /// Sexes included (empty = all).
    #[serde(default)]
    pub sex: Vec<String>,
    /// Regions included (empty = all).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Condition codes a person must all have.
    #[serde(default)]
    pub required_conditions: Vec<String>,
    /// Condition codes a person must have none of.
    #[serde(default)]
    pub excluded_conditions: Vec<String>,
    /// GP practice codes (ODS, e.g. `A81001`) a person must be registered
    /// at one of (with `gp_practice_prefixes`; both empty = any practice).
    #[serde(default)]
    pub gp_practices: Vec<toml::Spanned<String>>,
    /// GP practice code prefixes (e.g. `A81`) included.
    #[serde(default)]
    pub gp_practice_prefixes: Vec<toml::Spanned<String>>,
    /// GP practice codes excluded.
    #[serde(default)]
    pub excluded_gp_practices: Vec<toml::Spanned<String>>,
    /// GP practice code prefixes excluded.
    #[serde(default)]
    pub excluded_gp_practice_prefixes: Vec<toml::Spanned<String>>,
}

/// One stratum's quota: the value of each `by` dimension, and a count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StratumQuota {
    /// Age band, when stratifying by age band.
    pub age_band: Option<String>,
    /// Sex, when stratifying by sex.
    pub sex: Option<String>,
    /// Ethnic group, when stratifying by ethnic group.
    pub ethnic_group: Option<String>,
    /// Region, when stratifying by region.
    pub region: Option<String>,
    /// Invitations for this stratum.
    pub count: u32,
}

impl StratumQuota {
    fn get(&self, d: Dim) -> Option<&String> {
        match d {
            Dim::AgeBand => self.age_band.as_ref(),
            Dim::Sex => self.sex.as_ref(),
            Dim::EthnicGroup => self.ethnic_group.as_ref(),
            Dim::Region => self.region.as_ref(),
        }
    }
}

/// Per-stratum quotas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// The dimensions that define a stratum, in order.
    pub by: Vec<Dim>,
    /// Allocate the invitations in proportion to the eligible pool of each
    /// stratum (largest remainder) instead of listing strata.
    #[serde(default)]
    pub proportional: bool,
    /// When a stratum's pool is short, fill the shortfall from other strata
    /// (registry volunteers first, then seeded random). Off by default: the
    /// shortfall is reported per stratum instead.
    #[serde(default)]
    pub allow_fill: bool,
    /// Explicit strata (when not proportional). Strata not listed get no
    /// invitations.
    #[serde(default)]
    pub stratum: Vec<StratumQuota>,
    /// Response-adjusted quotas: the strata's counts (or, when
    /// proportional, `total` spread as the eligible pool is) are enrolments
    /// or responses, and `invitations` is the most to send (see
    /// [`crate::allocation`]).
    pub target: Option<target::TargetSpec>,
}

/// A SWAT arm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Arm name, e.g. `A`.
    pub name: String,
    /// Letter/SMS/email template id written in the batch's `template` column.
    pub template: String,
    /// Relative share of invitees (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// Merge fields the template uses: each must be a column of the
    /// channel's batch.
    #[serde(default)]
    pub fields: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The invitation-frequency cap.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// At most this many invitations (all studies) ...
    pub max_invitations: u32,
    /// ... within this many days before the as-of date.
    pub within_days: u32,
    /// Count reminders as contacts too (default false: a reminder follows
    /// up an invitation and is counted separately).
    #[serde(default)]
    pub count_reminders: bool,
}

impl Default for CapSpec {
    fn default() -> Self {
        CapSpec {
            max_invitations: 3,
            within_days: 365,
            count_reminders: false,
        }
    }
}

/// Registry prioritisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    /// Scope of the registry's tokens when its manifest names none.
    pub scope: Option<String>,
    /// Invite matched volunteers first within each stratum (default true).
    #[serde(default = "yes")]
    pub prioritise: bool,
}

impl Default for RegistrySpec {
    fn default() -> Self {
        RegistrySpec {
            scope: None,
            prioritise: true,
        }
    }
}

fn yes() -> bool {
    true
}

fn two() -> u32 {
    2
}

/// A study request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Study id (the trial scope is `trial:<study>`).
    pub study: String,
    /// Channel.
    pub channel: Channel,
    /// Invitations requested. In a reminder request, optional: the most
    /// reminders to send (absent or 0 = everyone still to be reminded).
    #[serde(default)]
    pub invitations: u32,
    /// Seed for every random choice in the run.
    pub seed: u64,
    /// As-of date (`YYYY-MM-DD`) for ages and the invitation date; default today (UTC).
    pub as_of: Option<String>,
    /// Inclusion criteria.
    #[serde(default)]
    pub criteria: Criteria,
    /// Quotas; absent = one stratum holding everyone.
    pub quotas: Option<Quotas>,
    /// SWAT arms (at least one).
    pub arms: Vec<Arm>,
    /// Frequency cap (default: 3 invitations within 365 days).
    #[serde(default)]
    pub frequency_cap: CapSpec,
    /// Registry prioritisation.
    #[serde(default)]
    pub registry: RegistrySpec,
    /// Internal QA seeds to add (default 2).
    #[serde(default = "two")]
    pub qa_seeds: u32,
    /// Invite people already invited to this study again (default false).
    #[serde(default)]
    pub reinvite: bool,
    /// Output route (default `service-mailer`): `nhs-notification`,
    /// `service-mailer`, `org-provider` or `organisation`. Checked against
    /// the study's register entry before anything is written.
    pub route: Option<String>,
    /// Present in a reminder request: the batch to follow up and when.
    pub reminder: Option<ReminderSpec>,
}

/// A reminder request's `[reminder]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderSpec {
    /// The invitation batch to follow up (its id; `trialink invite
    /// --reminder-of` may give it instead).
    pub of_batch: Option<i64>,
    /// Remind only invitations at least this many days old (and at least
    /// this many days after an invitation's previous reminder).
    pub after_days: u32,
    /// At most this many reminders per invitation (default 1).
    #[serde(default = "one")]
    pub max_reminders: u32,
}

/// Why a request file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// TOML syntax, a missing key, a wrong type or an unknown key (serde
    /// names the key; toml gives the line and column).
    #[error("{path}: {message}")]
    Toml {
        /// The request file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file could not be read (or is over the size limit).
    #[error("request {path}: {source}")]
    Io {
        /// The request file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A value that breaks a rule.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The request file.
        path: String,
        /// The key (dotted path).
        key: String,
        /// What was expected.
        message: String,
    },
}

/// A validated request with its derived facts.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The request as written.
    pub request: Request,
    /// The as-of date.
    pub as_of: Date,
    /// Stratum dimensions (empty = one stratum).
    pub dims: Vec<Dim>,
    /// Explicit strata `(label, count)`, sorted by label; empty when
    /// proportional or unstratified.
    pub explicit: Vec<(String, u32)>,
    /// The output route (default service mailer).
    pub route: store::OutputRoute,
    /// GP practice criteria, normalised.
    pub gp: GpCriteria,
}

impl Validated {
    /// Proportional allocation?
    pub fn proportional(&self) -> bool {
        self.request.quotas.as_ref().is_some_and(|q| q.proportional)
    }

    /// Fill shortfalls from other strata?
    pub fn allow_fill(&self) -> bool {
        self.request.quotas.as_ref().is_some_and(|q| q.allow_fill)
    }
}

/// The label of a stratum: `dim=value` joined by `|`, or `all`.
pub fn stratum_label(dims: &[Dim], value: impl Fn(Dim) -> String) -> String {
    if dims.is_empty() {
        return "all".to_string();
    }
    dims.iter()
        .map(|&d| format!("{}={}", d.name(), value(d)))
        .collect::<Vec<_>>()
        .join("|")
}

/// Read (size-limited), parse and validate a request file.
pub fn load(path: &std::path::Path, today: Date) -> Result<Validated, RequestError> {
    let p = path.display().to_string();
    let text = tabular::limited::read_to_string(path, tabular::limited::REQUEST).map_err(|source| {
        RequestError::Io {
            path: p.clone(),
            source,
        }
    })?;
    parse(&p, &text, today)
}

/// Parse and validate a request. `today` is the default as-of date.
pub fn parse(path: &str, text: &str, today: Date) -> Result<Validated, RequestError> {
    let request: Request = toml::from_str(text).map_err(|e| RequestError::Toml {
        path: path.to_string(),
        message: toml_message(&e, text),
    })?;
    validate(path, text, request, today)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_message(e: &toml::de::Error, text: &str) -> String {
    // toml's Display quotes the offending line; give line/column and the
    // message only.
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// Builds [`RequestError::Invalid`] for one request file.
struct Bad<'a> {
    path: &'a str,
    text: &'a str,
}

impl Bad<'_> {
    fn at(&self, key: &str, message: String) -> RequestError {
        RequestError::Invalid {
            path: self.path.to_string(),
            key: key.to_string(),
            message,
        }
    }

    /// An error at a value whose position in the file is known.
    fn spanned(&self, key: &str, span: std::ops::Range<usize>, message: &str) -> RequestError {
        let (line, col) = line_col(self.text, span.start);
        self.at(key, format!("line {line}, column {col}: {message}"))
    }
}

fn validate(path: &str, text: &str, request: Request, today: Date) -> Result<Validated, RequestError> {
    let bad = Bad { path, text };
    if pseudonym::Scope::trial(&request.study).is_err() || request.study.is_empty() {
        return Err(bad.at(
            "study",
            "expected a study id of lowercase letters, digits and `:._-` (it becomes the scope `trial:<study>`)".into(),
        ));
    }
    if request.invitations == 0 && request.reminder.is_none() {
        return Err(bad.at("invitations", "expected at least 1".into()));
    }
    let route = match &request.route {
        None => store::OutputRoute::ServiceMailer,
        Some(s) => s.parse().map_err(|()| {
            bad.at(
                "route",
                "expected one of nhs-notification, service-mailer, org-provider, organisation".into(),
            )
        })?,
    };
    let as_of = match &request.as_of {
        Some(s) => Date::parse_iso(s).ok_or_else(|| bad.at("as_of", "expected a date YYYY-MM-DD".into()))?,
        None => today,
    };
    validate_criteria(&bad, &request.criteria)?;
    let gp = validate_gp(&bad, &request.criteria)?;
    validate_arms(&bad, &request)?;
    validate_options(&bad, &request)?;
    validate_reminder(&bad, &request)?;
    let (dims, explicit) = validate_quotas(&bad, &request)?;
    Ok(Validated {
        request,
        as_of,
        dims,
        explicit,
        route,
        gp,
    })
}

fn validate_criteria(bad: &Bad<'_>, c: &Criteria) -> Result<(), RequestError> {
    if let (Some(a), Some(b)) = (c.min_age, c.max_age) {
        if a > b {
            return Err(bad.at("criteria.max_age", "must not be below criteria.min_age".into()));
        }
    }
    for s in &c.sex {
        if !SEXES.contains(&s.as_str()) {
            return Err(bad.at(
                "criteria.sex",
                format!("expected values from {}", SEXES.join(", ")),
            ));
        }
    }
    validate_regions(bad, &c.regions)?;
    for (k, v) in [
        ("criteria.required_conditions", &c.required_conditions),
        ("criteria.excluded_conditions", &c.excluded_conditions),
    ] {
        if v.iter().any(|x| x.trim().is_empty()) {
            return Err(bad.at(k, "condition codes must not be blank".into()));
        }
    }
    if c.required_conditions
        .iter()
        .any(|x| c.excluded_conditions.contains(x))
    {
        return Err(bad.at(
            "criteria.required_conditions",
            "a code is both required and excluded: nobody can be eligible".into(),
        ));
    }
    Ok(())
}

/// `criteria.regions`: each from the fixed vocabulary (or `Unknown`), so a
/// typo is an error rather than an empty batch, and no more entries than
/// there are labels.
fn validate_regions(bad: &Bad<'_>, regions: &[String]) -> Result<(), RequestError> {
    let expected = || {
        format!(
            "expected regions from {}, or Unknown",
            demographics::REGIONS.join(", ")
        )
    };
    for (i, r) in regions.iter().enumerate() {
        if demographics::region_label(r).is_none() {
            return Err(bad.at(&format!("criteria.regions[{i}]"), expected()));
        }
    }
    if regions.len() > demographics::REGIONS.len() + 1 {
        return Err(bad.at(
            "criteria.regions",
            format!(
                "{} entries, but there are only {} labels",
                regions.len(),
                demographics::REGIONS.len() + 1
            ),
        ));
    }
    Ok(())
}

fn validate_arms(bad: &Bad<'_>, request: &Request) -> Result<(), RequestError> {
    if request.arms.is_empty() {
        return Err(bad.at("arms", "expected at least one [[arms]] entry".into()));
    }
    let mut names = BTreeSet::new();
    for (i, a) in request.arms.iter().enumerate() {
        let k = |f: &str| format!("arms[{i}].{f}");
        if a.name.trim().is_empty() || !names.insert(a.name.clone()) {
            return Err(bad.at(&k("name"), "expected a non-blank name unique among arms".into()));
        }
        if a.template.trim().is_empty() {
            return Err(bad.at(&k("template"), "expected a template id".into()));
        }
        if a.weight == 0 {
            return Err(bad.at(&k("weight"), "expected a weight of at least 1".into()));
        }
        for f in &a.fields {
            if !request.channel.columns().contains(&f.as_str()) {
                return Err(bad.at(
                    &k("fields"),
                    format!(
                        "template field `{f}` is not a {} batch column; the {} batch has {}",
                        request.channel.name(),
                        request.channel.name(),
                        request.channel.columns().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_options(bad: &Bad<'_>, request: &Request) -> Result<(), RequestError> {
    if request.frequency_cap.max_invitations == 0 || request.frequency_cap.within_days == 0 {
        return Err(bad.at(
            "frequency_cap",
            "max_invitations and within_days must both be at least 1".into(),
        ));
    }
    if let Some(s) = &request.registry.scope {
        if pseudonym::Scope::new(s).is_err() {
            return Err(bad.at("registry.scope", "expected a scope such as registry:bpor".into()));
        }
    }
    if request.qa_seeds > 10 {
        return Err(bad.at("qa_seeds", "expected at most 10".into()));
    }
    Ok(())
}

/// A reminder request follows up an earlier batch's invitees: no quotas,
/// registry or re-invitation; `after_days` at least 1, `max_reminders`
/// 1 to 5.
fn validate_reminder(bad: &Bad<'_>, request: &Request) -> Result<(), RequestError> {
    let Some(r) = &request.reminder else {
        return Ok(());
    };
    if r.after_days == 0 {
        return Err(bad.at("reminder.after_days", "expected at least 1 day".into()));
    }
    if !(1..=5).contains(&r.max_reminders) {
        return Err(bad.at("reminder.max_reminders", "expected 1 to 5".into()));
    }
    if r.of_batch.is_some_and(|b| b < 1) {
        return Err(bad.at("reminder.of_batch", "expected a batch id (1 or more)".into()));
    }
    if request.quotas.is_some() {
        return Err(bad.at(
            "quotas",
            "a reminder batch follows up the invitees of an earlier batch; quotas do not apply (remove [quotas])".into(),
        ));
    }
    if request.reinvite {
        return Err(bad.at(
            "reinvite",
            "a reminder batch reminds people already invited; remove `reinvite`".into(),
        ));
    }
    Ok(())
}

/// The stratum dimensions and explicit strata `(label, count)`.
type Strata = (Vec<Dim>, Vec<(String, u32)>);

fn validate_quotas(bad: &Bad<'_>, request: &Request) -> Result<Strata, RequestError> {
    let mut dims = Vec::new();
    let mut explicit = Vec::new();
    let Some(q) = &request.quotas else {
        return Ok((dims, explicit));
    };
    let mut seen = BTreeSet::new();
    for d in &q.by {
        if !seen.insert(*d) {
            return Err(bad.at("quotas.by", format!("`{}` is listed twice", d.name())));
        }
    }
    if let Some(t) = &q.target {
        t.check(q).map_err(|(k, m)| bad.at(&k, m))?;
    }
    dims = q.by.clone();
    if q.proportional && !q.stratum.is_empty() {
        return Err(bad.at(
            "quotas.stratum",
            "give either `proportional = true` or [[quotas.stratum]] entries, not both".into(),
        ));
    }
    if q.proportional {
        return Ok((dims, explicit));
    }
    if q.stratum.is_empty() {
        return Err(bad.at(
            "quotas.stratum",
            "expected [[quotas.stratum]] entries (or `proportional = true`)".into(),
        ));
    }
    let mut labels = BTreeSet::new();
    let mut total: u64 = 0;
    for (i, s) in q.stratum.iter().enumerate() {
        validate_stratum(bad, &request.criteria, &dims, i, s)?;
        let label = stratum_label(&dims, |d| s.get(d).cloned().unwrap_or_default());
        if !labels.insert(label.clone()) {
            return Err(bad.at(
                &format!("quotas.stratum[{i}].count"),
                "this stratum is listed twice".into(),
            ));
        }
        total += s.count as u64;
        explicit.push((label, s.count));
    }
    if total != request.invitations as u64 && q.target.is_none() {
        return Err(bad.at(
            "quotas.stratum",
            format!(
                "impossible quotas: the strata add up to {total}, but `invitations` is {}",
                request.invitations
            ),
        ));
    }
    explicit.sort();
    Ok((dims, explicit))
}

fn validate_stratum(
    bad: &Bad<'_>,
    c: &Criteria,
    dims: &[Dim],
    i: usize,
    s: &StratumQuota,
) -> Result<(), RequestError> {
    let k = |f: &str| format!("quotas.stratum[{i}].{f}");
    for d in [Dim::AgeBand, Dim::Sex, Dim::EthnicGroup, Dim::Region] {
        match (dims.contains(&d), s.get(d)) {
            (true, None) => {
                return Err(bad.at(
                    &k(d.name()),
                    "missing: every stratum gives a value for each `by` dimension".into(),
                ))
            }
            (false, Some(_)) => return Err(bad.at(&k(d.name()), "not a `quotas.by` dimension".into())),
            _ => {}
        }
    }
    if let Some(b) = &s.age_band {
        let (lo, hi) = demographics::parse_age_band(b).ok_or_else(|| {
            bad.at(
                &k("age_band"),
                "expected a five-year band such as `50-54`, or `90+`".into(),
            )
        })?;
        let below = c.max_age.is_some_and(|m| lo > m);
        let above = c.min_age.is_some_and(|m| hi < m);
        if below || above {
            return Err(bad.at(
                &k("age_band"),
                "impossible quota: the band lies outside criteria.min_age..max_age".into(),
            ));
        }
    }
    if let Some(x) = &s.sex {
        if !SEXES.contains(&x.as_str()) {
            return Err(bad.at(&k("sex"), format!("expected one of {}", SEXES.join(", "))));
        }
        if !c.sex.is_empty() && !c.sex.contains(x) {
            return Err(bad.at(
                &k("sex"),
                "impossible quota: this sex is excluded by criteria.sex".into(),
            ));
        }
    }
    if let Some(x) = &s.ethnic_group {
        if !ETHNIC_GROUPS.contains(&x.as_str()) {
            return Err(bad.at(
                &k("ethnic_group"),
                format!("expected one of {}", ETHNIC_GROUPS.join(", ")),
            ));
        }
    }
    if let Some(x) = &s.region {
        if !c.regions.is_empty() && !c.regions.contains(x) {
            return Err(bad.at(
                &k("region"),
                "impossible quota: this region is excluded by criteria.regions".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
