//! Disclosure-controlled reports for a recruitment study: selection
//! (exclusion funnel, requested vs actual by stratum), uptake (invited,
//! delivered, responded, enrolled by group, with rates and 95% intervals),
//! SWAT (arms compared: risk difference, odds ratio, chi-square, Fisher,
//! Holm), returns (undelivered by reason) and recruitment over time
//! (invited, reminded, responded and enrolled by week against target).
//!
//! * [`data`] — the input structs ([`ReportInput`]) that store-reading code
//!   fills in (or that a JSON file holds).
//! * [`build()`] — turns them into linked tables and protects them as the
//!   next release of the study with [`disclosure::protect_release`].
//! * [`stats`] — Wilson and Clopper–Pearson intervals, Newcombe risk
//!   difference, logit odds ratio (Haldane correction on zero cells),
//!   chi-square, Fisher's exact test, Holm adjustment.
//! * [`render`] — CSV, Markdown, one self-contained HTML page per report
//!   with inline SVG charts, and `tables.json` (the release).
//! * [`store_input`] and [`weekly`] — the report input read from the
//!   service store (recruitment over time by week from the first
//!   invitation); [`publish()`] protects, records and writes a release.
//! * [`audit`] — an audit run over published files and the store's release
//!   log ([`audit::AuditRun`]), and the text of its verdict.
//!
//! Rates and statistics are computed from the **published** counts and
//! withheld where a count they rest on is suppressed. Under a rounding
//! policy this differs slightly from computing them on true counts, on
//! purpose: an interval computed on true counts can be inverted to recover
//! those counts exactly, which would undo the rounding the policy relies on.

#![forbid(unsafe_code)]

pub mod audit;
pub mod build;
pub mod data;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod parse;
pub mod publish;
pub mod render;
pub mod stats;
pub mod store_input;
pub mod weekly;

pub use build::{build, IntervalMethod, Options, Report, ReportError, ReportKind};
pub use data::{
    AllocationRow, AllocationSummary, Breakdown, FrequencyBucket, FunnelStep, GroupSum, RecruitmentData,
    ReportInput, ReturnReason, ReturnsData, SelectionData, ServiceData, ServiceStudy, StratumRow, SwatArm,
    SwatData, UptakeData, UptakeRow, WeekRow,
};
pub use publish::{publish, read_input, Published, ReportRun, RELEASE_TABLE, SERVICE_KEY, SERVICE_TABLE};
pub use render::{write_report, Formats};
pub use store_input::{service_input, study_input};
