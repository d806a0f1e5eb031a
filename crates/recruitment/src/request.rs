//! The study request file (TOML): what to invite, whom, how many per
//! stratum, which SWAT arms. Unknown keys are errors naming the key; every
//! rule that can be checked before reading the cohort is checked here. See
//! `fixtures/requests/example.toml` for a commented example.

use crate::demographics::{self, ETHNIC_GROUPS, SEXES};
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
    /// The batch file's columns, exactly (DESIGN §8).
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
    pub target: Option<crate::allocation::TargetSpec>,
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
}

impl Default for CapSpec {
    fn default() -> Self {
        CapSpec {
            max_invitations: 3,
            within_days: 365,
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
    /// Invitations requested.
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

/// Parse and validate a request. `today` is the default as-of date.
pub fn parse(path: &str, text: &str, today: Date) -> Result<Validated, RequestError> {
    let request: Request = toml::from_str(text).map_err(|e| RequestError::Toml {
        path: path.to_string(),
        message: toml_message(&e, text),
    })?;
    validate(path, request, today)
}

fn toml_message(e: &toml::de::Error, text: &str) -> String {
    // toml's Display quotes the offending line; give line/column and the
    // message only.
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

fn validate(path: &str, request: Request, today: Date) -> Result<Validated, RequestError> {
    let bad = |key: &str, message: String| RequestError::Invalid {
        path: path.to_string(),
        key: key.to_string(),
        message,
    };
    if pseudonym::Scope::trial(&request.study).is_err() || request.study.is_empty() {
        return Err(bad(
            "study",
            "expected a study id of lowercase letters, digits and `:._-` (it becomes the scope `trial:<study>`)".into(),
        ));
    }
    if request.invitations == 0 {
        return Err(bad("invitations", "expected at least 1".into()));
    }
    let route = match &request.route {
        None => store::OutputRoute::ServiceMailer,
        Some(s) => s.parse().map_err(|()| {
            bad(
                "route",
                "expected one of nhs-notification, service-mailer, org-provider, organisation".into(),
            )
        })?,
    };
    let as_of = match &request.as_of {
        Some(s) => Date::parse_iso(s).ok_or_else(|| bad("as_of", "expected a date YYYY-MM-DD".into()))?,
        None => today,
    };
    let c = &request.criteria;
    if let (Some(a), Some(b)) = (c.min_age, c.max_age) {
        if a > b {
            return Err(bad(
                "criteria.max_age",
                "must not be below criteria.min_age".into(),
            ));
        }
    }
    for s in &c.sex {
        if !SEXES.contains(&s.as_str()) {
            return Err(bad(
                "criteria.sex",
                format!("expected values from {}", SEXES.join(", ")),
            ));
        }
    }
    for (k, v) in [
        ("criteria.required_conditions", &c.required_conditions),
        ("criteria.excluded_conditions", &c.excluded_conditions),
    ] {
        if v.iter().any(|x| x.trim().is_empty()) {
            return Err(bad(k, "condition codes must not be blank".into()));
        }
    }
    if let Some(x) = c
        .required_conditions
        .iter()
        .find(|x| c.excluded_conditions.contains(x))
    {
        let _ = x;
        return Err(bad(
            "criteria.required_conditions",
            "a code is both required and excluded: nobody can be eligible".into(),
        ));
    }

    // Arms.
    if request.arms.is_empty() {
        return Err(bad("arms", "expected at least one [[arms]] entry".into()));
    }
    let mut names = BTreeSet::new();
    for (i, a) in request.arms.iter().enumerate() {
        let k = |f: &str| format!("arms[{i}].{f}");
        if a.name.trim().is_empty() || !names.insert(a.name.clone()) {
            return Err(bad(
                &k("name"),
                "expected a non-blank name unique among arms".into(),
            ));
        }
        if a.template.trim().is_empty() {
            return Err(bad(&k("template"), "expected a template id".into()));
        }
        if a.weight == 0 {
            return Err(bad(&k("weight"), "expected a weight of at least 1".into()));
        }
        for f in &a.fields {
            if !request.channel.columns().contains(&f.as_str()) {
                return Err(bad(
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

    if request.frequency_cap.max_invitations == 0 || request.frequency_cap.within_days == 0 {
        return Err(bad(
            "frequency_cap",
            "max_invitations and within_days must both be at least 1".into(),
        ));
    }
    if let Some(s) = &request.registry.scope {
        if pseudonym::Scope::new(s).is_err() {
            return Err(bad(
                "registry.scope",
                "expected a scope such as registry:bpor".into(),
            ));
        }
    }
    if request.qa_seeds > 10 {
        return Err(bad("qa_seeds", "expected at most 10".into()));
    }

    // Quotas.
    let mut dims = Vec::new();
    let mut explicit = Vec::new();
    if let Some(q) = &request.quotas {
        let mut seen = BTreeSet::new();
        for d in &q.by {
            if !seen.insert(*d) {
                return Err(bad("quotas.by", format!("`{}` is listed twice", d.name())));
            }
        }
        dims = q.by.clone();
        if q.proportional && !q.stratum.is_empty() {
            return Err(bad(
                "quotas.stratum",
                "give either `proportional = true` or [[quotas.stratum]] entries, not both".into(),
            ));
        }
        if !q.proportional {
            if q.stratum.is_empty() {
                return Err(bad(
                    "quotas.stratum",
                    "expected [[quotas.stratum]] entries (or `proportional = true`)".into(),
                ));
            }
            let mut labels = BTreeSet::new();
            let mut total: u64 = 0;
            for (i, s) in q.stratum.iter().enumerate() {
                let k = |f: &str| format!("quotas.stratum[{i}].{f}");
                for d in [Dim::AgeBand, Dim::Sex, Dim::EthnicGroup, Dim::Region] {
                    match (dims.contains(&d), s.get(d)) {
                        (true, None) => {
                            return Err(bad(
                                &k(d.name()),
                                "missing: every stratum gives a value for each `by` dimension".into(),
                            ))
                        }
                        (false, Some(_)) => {
                            return Err(bad(&k(d.name()), "not a `quotas.by` dimension".into()))
                        }
                        _ => {}
                    }
                }
                if let Some(b) = &s.age_band {
                    let (lo, hi) = demographics::parse_age_band(b).ok_or_else(|| {
                        bad(
                            &k("age_band"),
                            "expected a five-year band such as `50-54`, or `90+`".into(),
                        )
                    })?;
                    let below = c.max_age.is_some_and(|m| lo > m);
                    let above = c.min_age.is_some_and(|m| hi < m);
                    if below || above {
                        return Err(bad(
                            &k("age_band"),
                            "impossible quota: the band lies outside criteria.min_age..max_age".into(),
                        ));
                    }
                }
                if let Some(x) = &s.sex {
                    if !SEXES.contains(&x.as_str()) {
                        return Err(bad(&k("sex"), format!("expected one of {}", SEXES.join(", "))));
                    }
                    if !c.sex.is_empty() && !c.sex.contains(x) {
                        return Err(bad(
                            &k("sex"),
                            "impossible quota: this sex is excluded by criteria.sex".into(),
                        ));
                    }
                }
                if let Some(x) = &s.ethnic_group {
                    if !ETHNIC_GROUPS.contains(&x.as_str()) {
                        return Err(bad(
                            &k("ethnic_group"),
                            format!("expected one of {}", ETHNIC_GROUPS.join(", ")),
                        ));
                    }
                }
                if let Some(x) = &s.region {
                    if !c.regions.is_empty() && !c.regions.contains(x) {
                        return Err(bad(
                            &k("region"),
                            "impossible quota: this region is excluded by criteria.regions".into(),
                        ));
                    }
                }
                let label = stratum_label(&dims, |d| s.get(d).cloned().unwrap_or_default());
                if !labels.insert(label.clone()) {
                    return Err(bad(&k("count"), "this stratum is listed twice".into()));
                }
                total += s.count as u64;
                explicit.push((label, s.count));
            }
            if total != request.invitations as u64 && q.target.is_none() {
                return Err(bad(
                    "quotas.stratum",
                    format!(
                        "impossible quotas: the strata add up to {total}, but `invitations` is {}",
                        request.invitations
                    ),
                ));
            }
            explicit.sort();
        }
        if let Some(t) = &q.target {
            t.check(q).map_err(|(k, m)| bad(&k, m))?;
        }
    }
    Ok(Validated {
        request,
        as_of,
        dims,
        explicit,
        route,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
study = "galleri-2"
channel = "postal"
invitations = 10
seed = 42
as_of = "2026-11-21"
[criteria]
min_age = 50
max_age = 77
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
fields = ["given_name", "postcode"]
"#;

    fn today() -> Date {
        Date::new(2026, 11, 21).unwrap()
    }

    #[test]
    fn minimal_request_parses() {
        let v = parse("r.toml", BASE, today()).unwrap();
        assert_eq!(v.request.study, "galleri-2");
        assert_eq!(v.request.qa_seeds, 2);
        assert_eq!(v.request.frequency_cap.max_invitations, 3);
        assert!(v.dims.is_empty());
        assert_eq!(v.route, store::OutputRoute::ServiceMailer);
    }

    #[test]
    fn route_is_parsed_and_unknown_route_named() {
        let v = parse("r.toml", &format!("route = \"organisation\"\n{BASE}"), today()).unwrap();
        assert_eq!(v.route, store::OutputRoute::Organisation);
        let e = parse("r.toml", &format!("route = \"pigeon\"\n{BASE}"), today()).unwrap_err();
        assert!(e.to_string().contains("`route`"), "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("r.toml", &format!("{BASE}\n[criteria2]\nx = 1\n"), today()).unwrap_err();
        assert!(e.to_string().contains("criteria2"), "{e}");
        let e = parse("r.toml", &BASE.replace("min_age", "minimum_age"), today()).unwrap_err();
        assert!(e.to_string().contains("minimum_age"), "{e}");
        assert!(e.to_string().contains("line "), "{e}");
    }

    #[test]
    fn unknown_template_field_is_refused() {
        let e = parse("r.toml", &BASE.replace("\"postcode\"]", "\"mobile\"]"), today()).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("arms[1].fields") && s.contains("mobile"), "{s}");
    }

    #[test]
    fn quotas_must_add_up_and_be_possible() {
        let q = |strata: &str| format!("{BASE}\n[quotas]\nby = [\"sex\", \"age_band\"]\n{strata}");
        let ok = q("[[quotas.stratum]]\nsex = \"female\"\nage_band = \"50-54\"\ncount = 6\n[[quotas.stratum]]\nsex = \"male\"\nage_band = \"50-54\"\ncount = 4\n");
        let v = parse("r.toml", &ok, today()).unwrap();
        assert_eq!(
            v.explicit,
            vec![
                ("sex=female|age_band=50-54".to_string(), 6),
                ("sex=male|age_band=50-54".to_string(), 4)
            ]
        );
        let short = ok.replace("count = 4", "count = 3");
        assert!(parse("r.toml", &short, today())
            .unwrap_err()
            .to_string()
            .contains("add up to 9"));
        let outside = ok.replace(
            "age_band = \"50-54\"\ncount = 4",
            "age_band = \"30-34\"\ncount = 4",
        );
        assert!(parse("r.toml", &outside, today())
            .unwrap_err()
            .to_string()
            .contains("impossible"));
        let missing = ok.replace("sex = \"male\"\n", "");
        assert!(parse("r.toml", &missing, today())
            .unwrap_err()
            .to_string()
            .contains("missing"));
        let extra = ok.replace("count = 6", "count = 6\nregion = \"London\"");
        assert!(parse("r.toml", &extra, today())
            .unwrap_err()
            .to_string()
            .contains("not a `quotas.by`"));
        let dup = ok.replace("sex = \"male\"", "sex = \"female\"");
        assert!(parse("r.toml", &dup, today())
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn other_rules() {
        for (from, to, needle) in [
            ("invitations = 10", "invitations = 0", "invitations"),
            ("study = \"galleri-2\"", "study = \"Galleri 2\"", "study"),
            ("as_of = \"2026-11-21\"", "as_of = \"2026-02-30\"", "as_of"),
            ("max_age = 77", "max_age = 40", "max_age"),
            ("name = \"B\"", "name = \"A\"", "arms[1].name"),
            ("channel = \"postal\"", "channel = \"fax\"", "fax"),
        ] {
            let e = parse("r.toml", &BASE.replace(from, to), today()).unwrap_err();
            assert!(e.to_string().contains(needle), "{to}: {e}");
        }
    }
}
