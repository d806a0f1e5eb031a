//! Report input: plain structs that store-reading code (or a JSON file)
//! fills in. True counts; nothing here is published as is.

use serde::{Deserialize, Serialize};

/// Everything a study's reports rest on. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// Study identifier.
    pub study: String,
    /// Date the figures are as of (`YYYY-MM-DD`), shown in the reports.
    #[serde(default)]
    pub as_of: String,
    /// Selection report.
    #[serde(default)]
    pub selection: Option<SelectionData>,
    /// Uptake report.
    #[serde(default)]
    pub uptake: Option<UptakeData>,
    /// SWAT report.
    #[serde(default)]
    pub swat: Option<SwatData>,
    /// Returns report.
    #[serde(default)]
    pub returns: Option<ReturnsData>,
    /// Service evaluation (cross-study management information); `study`
    /// is then the service-level release key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceData>,
    /// Recruitment over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recruitment: Option<RecruitmentData>,
}

/// One week of recruitment: people counted in the week they were first
/// invited, reminded, responded or enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekRow {
    /// The week's first day (`YYYY-MM-DD`).
    pub week: String,
    /// Invitations made in the week.
    pub invited: u64,
    /// Reminders sent in the week.
    #[serde(default)]
    pub reminded: u64,
    /// People whose first response is dated in the week.
    pub responded: u64,
    /// People whose enrolment is dated in the week.
    pub enrolled: u64,
}

/// Recruitment by week against the study's targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecruitmentData {
    /// Weeks from the first invitation, in order (none left out).
    pub weeks: Vec<WeekRow>,
    /// Invitations requested over the study's batches.
    #[serde(default)]
    pub target_invitations: Option<u64>,
    /// Enrolments (or responses, see `target_outcome`) the study's
    /// response-adjusted quotas aimed at.
    #[serde(default)]
    pub target_outcome_count: Option<u64>,
    /// `enrolled` or `responded`, with `target_outcome_count`.
    #[serde(default)]
    pub target_outcome: Option<String>,
}

/// One study's line of the service evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceStudy {
    /// Study id.
    pub study: String,
    /// Invitations requested (a target, not a count of people).
    pub requested: u64,
    /// Invitations sent.
    pub invited: u64,
    /// Not returned to sender.
    pub delivered: u64,
    /// Responded in any way.
    pub responded: u64,
    /// Enrolled.
    pub enrolled: u64,
    /// Days from the first invitation to reaching the number requested,
    /// when reached.
    #[serde(default)]
    pub days_to_target: Option<u64>,
}

/// People by how many invitations they received, across all studies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyBucket {
    /// Invitations received (the last bucket: at least this many).
    pub invitations: u64,
    /// People (service tokens).
    pub people: u64,
}

/// The service evaluation's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceData {
    /// One line per study.
    pub studies: Vec<ServiceStudy>,
    /// People by invitations received, `1, 2, …`; the last bucket is open
    /// (`4 or more`).
    pub frequency: Vec<FrequencyBucket>,
    /// Exclusions by reason over every batch of every study (a person
    /// excluded from two batches counts twice).
    pub exclusions: Vec<FunnelStep>,
}

/// One step of the exclusion funnel: people removed at this step (each
/// person counted at the first step that removes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelStep {
    /// E.g. `deceased`, `national data opt-out`, `non-contact list`.
    pub reason: String,
    /// People removed.
    pub count: u64,
}

/// Requested vs actual invitations in one quota stratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StratumRow {
    /// The stratum's labels, one per stratification variable.
    pub labels: Vec<String>,
    /// Invitations requested (a quota, not a count of people).
    pub requested: u64,
    /// Invitations sent.
    pub actual: u64,
}

/// The selection report's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionData {
    /// People meeting the study's criteria before exclusions.
    pub cohort: u64,
    /// Exclusions in the order applied.
    pub funnel: Vec<FunnelStep>,
    /// People remaining after every exclusion but not invited (quota met).
    #[serde(default)]
    pub not_selected: u64,
    /// People invited.
    pub invited: u64,
    /// Names of the stratification variables (e.g. `age band`, `sex`).
    #[serde(default)]
    pub strata_variables: Vec<String>,
    /// Requested vs actual by stratum.
    #[serde(default)]
    pub strata: Vec<StratumRow>,
    /// The response-adjusted allocation of the study's latest batch that
    /// used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationSummary>,
}

/// A response-adjusted allocation as the selection report shows it: rates
/// in whole percent and the expected total rounded to 5 (estimates, not
/// counts of people, kept coarse so that they cannot sharpen a published
/// count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationSummary {
    /// `enrolled` or `responded`.
    pub outcome: String,
    /// Requested total.
    pub requested: u64,
    /// Expected total, rounded to 5.
    pub expected: u64,
    /// Per stratum.
    pub strata: Vec<AllocationRow>,
}

/// One stratum of an [`AllocationSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationRow {
    /// The stratum's labels.
    pub labels: Vec<String>,
    /// Target (a request, not a count of people).
    pub target: u64,
    /// Rate used, 95% interval low and high, in whole percent.
    pub rate_percent: [u32; 3],
}

/// Uptake counts of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UptakeRow {
    /// Group label (arm, age band, …).
    pub group: String,
    /// Invitations sent.
    pub invited: u64,
    /// Invitations not returned to sender.
    pub delivered: u64,
    /// People who responded in any way.
    pub responded: u64,
    /// People enrolled.
    pub enrolled: u64,
}

/// Uptake by one variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    /// Variable name: `arm`, `registry`, `age band`, `sex`, `ethnic group`, `region`, …
    pub variable: String,
    /// One row per group.
    pub rows: Vec<UptakeRow>,
    /// Groups that are unions of groups of another breakdown (e.g. age
    /// band `50-54` = strata `female / 50-54` and `male / 50-54`): readers
    /// can add them up, so disclosure control links the tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sums: Vec<GroupSum>,
}

/// A group of one breakdown that is the union of groups of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSum {
    /// The group of this breakdown.
    pub group: String,
    /// The other breakdown's variable.
    pub of: String,
    /// Its groups that together make up `group`.
    pub groups: Vec<String>,
}

/// The uptake report's data: one breakdown per variable (by arm first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UptakeData {
    /// Breakdowns.
    pub breakdowns: Vec<Breakdown>,
}

/// One SWAT arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwatArm {
    /// Arm name.
    pub arm: String,
    /// Delivered invitations (the denominator).
    pub delivered: u64,
    /// Enrolled.
    pub enrolled: u64,
}

/// The SWAT report's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwatData {
    /// The control arm (each other arm is compared with it).
    pub control: String,
    /// Arms.
    pub arms: Vec<SwatArm>,
}

/// Returned-to-sender invitations by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnReason {
    /// Reason (mailer's code or description).
    pub reason: String,
    /// Invitations returned for it.
    pub count: u64,
}

/// The returns report's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsData {
    /// Invitations sent.
    pub invited: u64,
    /// Returns by reason.
    pub by_reason: Vec<ReturnReason>,
}
