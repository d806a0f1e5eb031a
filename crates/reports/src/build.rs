//! From report input to protected tables (one release), and the statistics
//! shown beside them.

use crate::data::ReportInput;
use crate::stats::{self, Estimate};
use disclosure::{
    protect_release, Policy, Protected, ProtectedTable, Published, Release, SharedCell, Table, TableSpec,
    TOTAL,
};
use std::collections::BTreeMap;

/// Which report a table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportKind {
    /// Exclusion funnel and requested vs actual by stratum.
    Selection,
    /// Invited, delivered, responded, enrolled by group.
    Uptake,
    /// Study within a trial: arms compared.
    Swat,
    /// Returned to sender by reason.
    Returns,
    /// Cross-study management information for the service.
    Service,
}

impl ReportKind {
    /// File stem, e.g. `uptake`.
    pub fn stem(self) -> &'static str {
        match self {
            ReportKind::Selection => "selection",
            ReportKind::Uptake => "uptake",
            ReportKind::Swat => "swat",
            ReportKind::Returns => "returns",
            ReportKind::Service => "service",
        }
    }

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Selection => "Selection report",
            ReportKind::Uptake => "Uptake report",
            ReportKind::Swat => "SWAT report",
            ReportKind::Returns => "Returns report",
            ReportKind::Service => "Service evaluation",
        }
    }

    /// The kind of a table id.
    pub fn of_table(id: &str) -> ReportKind {
        if id.starts_with("selection") {
            ReportKind::Selection
        } else if id.starts_with("uptake") {
            ReportKind::Uptake
        } else if id.starts_with("swat") {
            ReportKind::Swat
        } else if id.starts_with("service") {
            ReportKind::Service
        } else {
            ReportKind::Returns
        }
    }
}

/// Interval method for rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalMethod {
    /// Wilson score interval (default).
    #[default]
    Wilson,
    /// Clopper–Pearson exact interval.
    ClopperPearson,
}

/// Options for building a report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Confidence level of intervals.
    pub confidence: f64,
    /// Interval method for rates.
    pub interval: IntervalMethod,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            confidence: 0.95,
            interval: IntervalMethod::Wilson,
        }
    }
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The input is inconsistent (e.g. a funnel that does not add up).
    #[error("report input: {field}: {expected}")]
    Input {
        /// JSON path of the field, e.g. `selection.funnel`.
        field: String,
        /// What was expected.
        expected: String,
    },
    /// Protection failed or was refused.
    #[error(transparent)]
    Protect(#[from] disclosure::ProtectError),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A built report set: the protected release and its context.
#[derive(Debug, Clone)]
pub struct Report {
    /// Study.
    pub study: String,
    /// As-of date.
    pub as_of: String,
    /// Protected tables (one release).
    pub protected: Protected,
    /// Options used.
    pub options: Options,
    /// The SWAT control arm, if any.
    pub control: Option<String>,
}

impl Report {
    /// The release to publish and record.
    pub fn release(&self) -> Release {
        self.protected.release()
    }

    /// The report kinds present, in order.
    pub fn kinds(&self) -> Vec<ReportKind> {
        let mut k: Vec<ReportKind> = self
            .protected
            .tables
            .iter()
            .map(|t| ReportKind::of_table(&t.spec.id))
            .collect();
        k.sort();
        k.dedup();
        k
    }

    /// Tables of one report.
    pub fn tables(&self, kind: ReportKind) -> impl Iterator<Item = &ProtectedTable> {
        self.protected
            .tables
            .iter()
            .filter(move |t| ReportKind::of_table(&t.spec.id) == kind)
    }

    /// Suppressed cells in one report.
    pub fn suppressed_in(&self, kind: ReportKind) -> usize {
        self.tables(kind).map(|t| t.to_published().suppressed()).sum()
    }

    /// A rate from published counts with its interval; `None` when either
    /// count is suppressed (or the denominator is zero).
    pub fn rate(&self, numerator: Published, denominator: Published) -> Option<Estimate> {
        let (Published::Count(x), Published::Count(n)) = (numerator, denominator) else {
            return None;
        };
        if x > n {
            return None;
        }
        match self.options.interval {
            IntervalMethod::Wilson => stats::wilson(x, n, self.options.confidence),
            IntervalMethod::ClopperPearson => stats::clopper_pearson(x, n, self.options.confidence),
        }
    }

    /// SWAT comparisons of each arm with the control, from published cells.
    pub fn swat_comparisons(&self) -> Option<SwatSummary> {
        let t = self.protected.table("swat_outcome")?;
        let control = self.control.as_deref()?;
        let ci = t.spec.rows.iter().position(|r| r == control)?;
        let cells = |i: usize| -> Option<(u64, u64)> {
            let e = t.published(i, 0).count()?;
            let ne = t.published(i, 1).count()?;
            Some((e, ne))
        };
        let mut comparisons = Vec::new();
        for (i, arm) in t.spec.rows.iter().enumerate() {
            if i == ci {
                continue;
            }
            let c = match (cells(i), cells(ci)) {
                (Some((a, b)), Some((c, d))) => {
                    let conf = self.options.confidence;
                    Some(ComparisonStats {
                        risk_difference: stats::risk_difference(a, a + b, c, c + d, conf),
                        odds_ratio: stats::odds_ratio(a, b, c, d, conf),
                        fisher_p: stats::fisher_exact(a, b, c, d),
                        chi_square: stats::chi_square(&[vec![a, b], vec![c, d]]),
                    })
                }
                _ => None,
            };
            comparisons.push(Comparison {
                arm: arm.clone(),
                stats: c,
                holm_p: None,
            });
        }
        let ps: Vec<(usize, f64)> = comparisons
            .iter()
            .enumerate()
            .filter_map(|(k, c)| Some((k, c.stats.as_ref()?.fisher_p?)))
            .collect();
        let adj = stats::holm(&ps.iter().map(|p| p.1).collect::<Vec<_>>());
        for ((k, _), a) in ps.iter().zip(adj) {
            comparisons[*k].holm_p = Some(a);
        }
        let all: Option<Vec<Vec<u64>>> = (0..t.spec.rows.len())
            .map(|i| cells(i).map(|(a, b)| vec![a, b]))
            .collect();
        let overall = all.and_then(|m| stats::chi_square(&m));
        Some(SwatSummary {
            control: control.to_string(),
            comparisons,
            overall,
        })
    }
}

/// Statistics of one arm against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonStats {
    /// Enrolment rate difference (arm − control), Newcombe interval.
    pub risk_difference: Option<Estimate>,
    /// Odds ratio of enrolment (arm vs control), logit interval.
    pub odds_ratio: Option<Estimate>,
    /// Fisher's exact test, two-sided.
    pub fisher_p: Option<f64>,
    /// Chi-square test of the 2×2 table.
    pub chi_square: Option<stats::ChiSquare>,
}

/// One arm against the control; `stats` is `None` when a cell it rests on
/// is suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Arm.
    pub arm: String,
    /// Statistics, when publishable.
    pub stats: Option<ComparisonStats>,
    /// Holm-adjusted Fisher p-value across the arms compared.
    pub holm_p: Option<f64>,
}

/// All SWAT statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SwatSummary {
    /// Control arm.
    pub control: String,
    /// One per other arm.
    pub comparisons: Vec<Comparison>,
    /// Chi-square test of independence over all arms (when every cell is published).
    pub overall: Option<stats::ChiSquare>,
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn spec(id: &str, title: &str, row_header: &str, rows: Vec<String>, columns: &[&str]) -> TableSpec {
    TableSpec {
        id: id.into(),
        title: title.into(),
        row_header: row_header.into(),
        rows,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        total_row: true,
        total_column: false,
        column_order: vec![],
        exempt_columns: vec![],
        cumulative: false,
        may_fall: vec![],
        shared: vec![],
        row_sums: vec![],
        weighted_sums: vec![],
        quotes: vec![],
    }
}

fn share(spec: &mut TableSpec, row: &str, column: &str, key: &str) {
    spec.shared.push(SharedCell {
        row: row.into(),
        column: column.into(),
        key: key.into(),
    });
}

fn bad(field: impl Into<String>, expected: impl Into<String>) -> ReportError {
    ReportError::Input {
        field: field.into(),
        expected: expected.into(),
    }
}

/// Build the tables of a report input (true counts, not yet protected).
pub fn tables(input: &ReportInput) -> Result<(Vec<Table>, Option<String>), ReportError> {
    let mut out = Vec::new();
    // The uptake tables' grand totals (shared by every breakdown whose
    // totals agree with the first's) and the stratum breakdown's rows: the
    // selection tables count the same invitations.
    let uptake_invited: Option<u64> = input
        .uptake
        .as_ref()
        .and_then(|u| u.breakdowns.first())
        .map(|b| b.rows.iter().map(|r| r.invited).sum());
    let uptake_strata: BTreeMap<&str, u64> = input
        .uptake
        .iter()
        .flat_map(|u| u.breakdowns.iter())
        .filter(|b| b.variable == "stratum")
        .flat_map(|b| b.rows.iter().map(|r| (r.group.as_str(), r.invited)))
        .collect();
    if let Some(sel) = &input.selection {
        let mut rows: Vec<String> = sel
            .funnel
            .iter()
            .map(|s| format!("excluded: {}", s.reason))
            .collect();
        rows.push("not selected (quota met)".into());
        rows.push("invited".into());
        let mut counts: Vec<Vec<u64>> = sel.funnel.iter().map(|s| vec![s.count]).collect();
        counts.push(vec![sel.not_selected]);
        counts.push(vec![sel.invited]);
        let sum: u64 = counts.iter().map(|c| c[0]).sum();
        if sum != sel.cohort {
            return Err(bad(
                "selection.cohort",
                "the sum of the funnel's exclusions, not_selected and invited",
            ));
        }
        let mut s = spec("selection_funnel", "Exclusion funnel", "step", rows, &["people"]);
        // the same invitations as the uptake tables count, when they agree
        let invited_key = if uptake_invited == Some(sel.invited) {
            "uptake:invited"
        } else {
            "selection:invited"
        };
        share(&mut s, "invited", "people", invited_key);
        out.push(Table { spec: s, counts });
        if !sel.strata.is_empty() {
            let nvars = sel.strata_variables.len().max(1);
            let mut rows = Vec::new();
            for (k, st) in sel.strata.iter().enumerate() {
                if st.labels.len() != nvars && !sel.strata_variables.is_empty() {
                    return Err(bad(
                        format!("selection.strata[{k}].labels"),
                        format!("{nvars} label(s)"),
                    ));
                }
                rows.push(st.labels.join(" / "));
            }
            let header = if sel.strata_variables.is_empty() {
                "stratum".to_string()
            } else {
                sel.strata_variables.join(" / ")
            };
            let mut s = spec(
                "selection_strata",
                "Requested vs actual invitations by stratum",
                &header,
                rows,
                &["requested", "actual"],
            );
            s.exempt_columns.push("requested".into());
            if sel.strata.iter().map(|r| r.actual).sum::<u64>() == sel.invited {
                share(&mut s, TOTAL, "actual", invited_key);
            }
            // a stratum's invitations are also the uptake-by-stratum table's
            for (label, st) in s.rows.clone().iter().zip(&sel.strata) {
                if uptake_strata.get(label.as_str()) == Some(&st.actual) {
                    share(&mut s, label, "actual", &format!("stratum:{label}:invited"));
                }
            }
            out.push(Table {
                spec: s,
                counts: sel.strata.iter().map(|r| vec![r.requested, r.actual]).collect(),
            });
        }
    }
    const UPTAKE: [&str; 4] = ["invited", "delivered", "responded", "enrolled"];
    let mut uptake_totals: Option<[u64; 4]> = None;
    let mut arm_counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    if let Some(up) = &input.uptake {
        for (b, bd) in up.breakdowns.iter().enumerate() {
            for (k, r) in bd.rows.iter().enumerate() {
                if r.delivered > r.invited || r.responded > r.invited || r.enrolled > r.invited {
                    return Err(bad(
                        format!("uptake.breakdowns[{b}].rows[{k}]"),
                        "delivered, responded and enrolled each at most invited",
                    ));
                }
            }
            let rows = bd.rows.iter().map(|r| r.group.clone()).collect();
            let id = format!("uptake_by_{}", slug(&bd.variable));
            let mut s = spec(
                &id,
                &format!("Uptake by {}", bd.variable),
                &bd.variable,
                rows,
                &UPTAKE,
            );
            s.cumulative = true;
            // delivered falls as returns to sender come in
            s.may_fall.push("delivered".into());
            for c in ["delivered", "responded", "enrolled"] {
                s.column_order.push([c.into(), "invited".into()]);
            }
            let totals = [
                bd.rows.iter().map(|r| r.invited).sum(),
                bd.rows.iter().map(|r| r.delivered).sum(),
                bd.rows.iter().map(|r| r.responded).sum(),
                bd.rows.iter().map(|r| r.enrolled).sum(),
            ];
            if uptake_totals.is_none() {
                uptake_totals = Some(totals);
            }
            if uptake_totals == Some(totals) {
                for c in UPTAKE {
                    share(&mut s, TOTAL, c, &format!("uptake:{c}"));
                }
            }
            if bd.variable == "stratum" {
                for r in &bd.rows {
                    share(
                        &mut s,
                        &r.group,
                        "invited",
                        &format!("stratum:{}:invited", r.group),
                    );
                }
            }
            for (k, sum) in bd.sums.iter().enumerate() {
                let field = || format!("uptake.breakdowns[{b}].sums[{k}]");
                let row = bd
                    .rows
                    .iter()
                    .find(|r| r.group == sum.group)
                    .ok_or_else(|| bad(field(), "`group` naming a group of this breakdown"))?;
                let other = up
                    .breakdowns
                    .iter()
                    .find(|o| o.variable == sum.of && o.variable != bd.variable)
                    .ok_or_else(|| bad(field(), "`of` naming another breakdown"))?;
                let mut total = [0u64; 4];
                for g in &sum.groups {
                    let r = other
                        .rows
                        .iter()
                        .find(|r| &r.group == g)
                        .ok_or_else(|| bad(field(), "`groups` naming groups of the `of` breakdown"))?;
                    for (t, v) in total
                        .iter_mut()
                        .zip([r.invited, r.delivered, r.responded, r.enrolled])
                    {
                        *t += v;
                    }
                }
                if total != [row.invited, row.delivered, row.responded, row.enrolled] {
                    return Err(bad(field(), "groups whose counts add up to the group's"));
                }
                s.row_sums.push(disclosure::RowSum {
                    row: sum.group.clone(),
                    table: format!("uptake_by_{}", slug(&sum.of)),
                    rows: sum.groups.clone(),
                });
            }
            if bd.variable == "arm" {
                for r in &bd.rows {
                    share(
                        &mut s,
                        &r.group,
                        "delivered",
                        &format!("arm:{}:delivered", r.group),
                    );
                    share(&mut s, &r.group, "enrolled", &format!("arm:{}:enrolled", r.group));
                    arm_counts.insert(r.group.clone(), (r.delivered, r.enrolled));
                }
            }
            out.push(Table {
                spec: s,
                counts: bd
                    .rows
                    .iter()
                    .map(|r| vec![r.invited, r.delivered, r.responded, r.enrolled])
                    .collect(),
            });
        }
    }
    let mut control = None;
    if let Some(sw) = &input.swat {
        if !sw.arms.iter().any(|a| a.arm == sw.control) {
            return Err(bad("swat.control", "the name of one of swat.arms"));
        }
        for (k, a) in sw.arms.iter().enumerate() {
            if a.enrolled > a.delivered {
                return Err(bad(format!("swat.arms[{k}].enrolled"), "at most delivered"));
            }
        }
        let rows = sw.arms.iter().map(|a| a.arm.clone()).collect();
        let mut s = spec(
            "swat_outcome",
            "Enrolment by SWAT arm (delivered invitations)",
            "arm",
            rows,
            &["enrolled", "not enrolled"],
        );
        s.total_column = true;
        // not cumulative: "not enrolled" falls as people enrol. Its cells
        // are tied to the cumulative uptake-by-arm table through shared keys.
        let linked = sw.arms.len() == arm_counts.len()
            && sw
                .arms
                .iter()
                .all(|a| arm_counts.get(&a.arm) == Some(&(a.delivered, a.enrolled)));
        if linked {
            for a in &sw.arms {
                share(&mut s, &a.arm, "enrolled", &format!("arm:{}:enrolled", a.arm));
                share(&mut s, &a.arm, TOTAL, &format!("arm:{}:delivered", a.arm));
            }
            if uptake_totals.is_some() {
                share(&mut s, TOTAL, "enrolled", "uptake:enrolled");
                share(&mut s, TOTAL, TOTAL, "uptake:delivered");
            }
        }
        out.push(Table {
            spec: s,
            counts: sw
                .arms
                .iter()
                .map(|a| vec![a.enrolled, a.delivered - a.enrolled])
                .collect(),
        });
        control = Some(sw.control.clone());
    }
    if let Some(rt) = &input.returns {
        let returned: u64 = rt.by_reason.iter().map(|r| r.count).sum();
        if returned > rt.invited {
            return Err(bad("returns.invited", "at least the sum of returns by reason"));
        }
        let mut rows = vec!["delivered".to_string()];
        rows.extend(rt.by_reason.iter().map(|r| format!("returned: {}", r.reason)));
        let mut counts = vec![vec![rt.invited - returned]];
        counts.extend(rt.by_reason.iter().map(|r| vec![r.count]));
        let mut s = spec(
            "returns_by_reason",
            "Delivery and returns to sender",
            "outcome",
            rows,
            &["invitations"],
        );
        s.cumulative = true;
        s.may_fall.push("delivered".into());
        if let Some(t) = uptake_totals {
            if t[0] == rt.invited && t[1] == rt.invited - returned {
                share(&mut s, TOTAL, "invitations", "uptake:invited");
                share(&mut s, "delivered", "invitations", "uptake:delivered");
            }
        }
        out.push(Table { spec: s, counts });
    }
    if let Some(sv) = &input.service {
        service_tables(sv, &mut out)?;
    }
    Ok((out, control))
}

/// The service evaluation's tables: uptake by study (with the number
/// requested, a target published exactly), people by invitations received
/// (weighted by that number they add up to at most the invitations sent:
/// readers know it, so the audit does), exclusions by reason, and days to
/// target (durations, not counts of people).
fn service_tables(sv: &crate::data::ServiceData, out: &mut Vec<Table>) -> Result<(), ReportError> {
    const COLS: [&str; 5] = ["requested", "invited", "delivered", "responded", "enrolled"];
    for (k, st) in sv.studies.iter().enumerate() {
        if st.delivered > st.invited || st.responded > st.invited || st.enrolled > st.invited {
            return Err(bad(
                format!("service.studies[{k}]"),
                "delivered, responded and enrolled each at most invited",
            ));
        }
    }
    if !sv.studies.is_empty() {
        let mut s = spec(
            "service_studies",
            "Requested vs invited, delivered, responded and enrolled by study",
            "study",
            sv.studies.iter().map(|r| r.study.clone()).collect(),
            &COLS,
        );
        s.exempt_columns.push("requested".into());
        s.cumulative = true;
        s.may_fall.push("delivered".into());
        for c in ["delivered", "responded", "enrolled"] {
            s.column_order.push([c.into(), "invited".into()]);
        }
        out.push(Table {
            spec: s,
            counts: sv
                .studies
                .iter()
                .map(|r| vec![r.requested, r.invited, r.delivered, r.responded, r.enrolled])
                .collect(),
        });
        let reached: Vec<&crate::data::ServiceStudy> =
            sv.studies.iter().filter(|r| r.days_to_target.is_some()).collect();
        if !reached.is_empty() {
            let mut s = spec(
                "service_time_to_target",
                "Days from the first invitation to reaching the number requested",
                "study",
                reached.iter().map(|r| r.study.clone()).collect(),
                &["days"],
            );
            s.total_row = false;
            s.exempt_columns.push("days".into());
            out.push(Table {
                spec: s,
                counts: reached
                    .iter()
                    .map(|r| vec![r.days_to_target.unwrap_or(0)])
                    .collect(),
            });
        }
    }
    if !sv.frequency.is_empty() {
        let n = sv.frequency.len();
        for (k, w) in sv.frequency.iter().enumerate() {
            if w.invitations != k as u64 + 1 {
                return Err(bad(
                    format!("service.frequency[{k}].invitations"),
                    format!("{} (buckets 1, 2, … in order)", k + 1),
                ));
            }
        }
        let rows = sv
            .frequency
            .iter()
            .enumerate()
            .map(|(k, w)| match (k + 1 == n && n > 1, w.invitations) {
                (true, i) => format!("{i} or more"),
                (false, 1) => "1 invitation".to_string(),
                (false, i) => format!("{i} invitations"),
            })
            .collect();
        let mut s = spec(
            "service_frequency",
            "People by number of invitations received, all studies",
            "invitations received",
            rows,
            &["people"],
        );
        if !sv.studies.is_empty() {
            let invited: u64 = sv.studies.iter().map(|r| r.invited).sum();
            let weighted: u64 = sv.frequency.iter().map(|w| w.invitations * w.people).sum();
            if weighted > invited || (n == 1 && weighted != invited) {
                return Err(bad(
                    "service.frequency",
                    "people weighted by invitations received adding up to at most the invitations sent",
                ));
            }
            s.weighted_sums.push(disclosure::WeightedSum {
                column: "people".into(),
                weights: sv.frequency.iter().map(|w| w.invitations).collect(),
                open_last: n > 1,
                table: "service_studies".into(),
                row: TOTAL.into(),
                to_column: "invited".into(),
            });
        }
        out.push(Table {
            spec: s,
            counts: sv.frequency.iter().map(|w| vec![w.people]).collect(),
        });
    }
    if !sv.exclusions.is_empty() {
        let mut s = spec(
            "service_exclusions",
            "Exclusions by reason, all batches of all studies",
            "reason",
            sv.exclusions.iter().map(|e| e.reason.clone()).collect(),
            &["exclusions"],
        );
        s.cumulative = true;
        out.push(Table {
            spec: s,
            counts: sv.exclusions.iter().map(|e| vec![e.count]).collect(),
        });
    }
    Ok(())
}

/// The uptake table of a study release whose `Total` row the service
/// evaluation quotes.
fn uptake_table(r: &Release) -> Option<&disclosure::PublishedTable> {
    let ok = |t: &&disclosure::PublishedTable| {
        t.spec.total_row
            && ["invited", "delivered", "responded", "enrolled"]
                .iter()
                .all(|c| t.spec.column_index(c).is_some())
    };
    r.table("uptake_by_arm").filter(ok).or_else(|| {
        r.tables
            .iter()
            .filter(|t| t.spec.id.starts_with("uptake_by_"))
            .find(ok)
    })
}

/// Publish each quantity once: the service evaluation quotes every
/// study's latest published release instead of rounding the study's
/// counts again (a second rounding of the same count, or a total over
/// studies, is what let a reader difference the two series). Studies
/// with no published release yet are left out of the per-study tables;
/// `service_studies` has no total row (a rounded true total over quoted
/// rows would narrow them); exclusions are by reason and study, each cell
/// quoting the study's funnel. People by invitations received is the
/// service's own count (protected in its own series; its relation to the
/// studies' invitations is an inequality with a later date and is not
/// declared).
fn quote_studies(tables: &mut Vec<Table>, earlier: &[Release]) {
    let mut latest: BTreeMap<&str, &Release> = BTreeMap::new();
    for r in earlier {
        let e = latest.entry(r.study.as_str()).or_insert(r);
        if r.sequence > e.sequence {
            *e = r;
        }
    }
    let mut studies: Vec<String> = Vec::new();
    for t in tables.iter_mut() {
        match t.spec.id.as_str() {
            "service_studies" => {
                let keep: Vec<usize> = (0..t.spec.rows.len())
                    .filter(|&i| {
                        latest
                            .get(t.spec.rows[i].as_str())
                            .and_then(|r| uptake_table(r))
                            .is_some()
                    })
                    .collect();
                t.spec.rows = keep.iter().map(|&i| t.spec.rows[i].clone()).collect();
                t.counts = keep.iter().map(|&i| t.counts[i].clone()).collect();
                t.spec.total_row = false;
                for row in &t.spec.rows {
                    let r = latest[row.as_str()];
                    let u = uptake_table(r).expect("kept");
                    for c in ["invited", "delivered", "responded", "enrolled"] {
                        t.spec.quotes.push(disclosure::Quote {
                            row: row.clone(),
                            column: c.into(),
                            study: r.study.clone(),
                            sequence: r.sequence,
                            table: u.spec.id.clone(),
                            cells: vec![[TOTAL.into(), c.into()]],
                        });
                    }
                }
                studies = t.spec.rows.clone();
            }
            "service_frequency" => t.spec.weighted_sums.clear(),
            _ => {}
        }
    }
    tables.retain(|t| !(t.spec.id == "service_studies" && t.spec.rows.is_empty()));
    if let Some(t) = tables.iter_mut().find(|t| t.spec.id == "service_exclusions") {
        let with_funnel: Vec<&Release> = studies
            .iter()
            .filter_map(|s| latest.get(s.as_str()).copied())
            .filter(|r| r.table("selection_funnel").is_some())
            .collect();
        t.spec.title = "Exclusions by reason and study (each study's latest release)".into();
        t.spec.columns = with_funnel.iter().map(|r| r.study.clone()).collect();
        t.spec.total_row = false;
        t.spec.cumulative = false;
        t.counts = vec![vec![0; with_funnel.len()]; t.spec.rows.len()];
        for reason in t.spec.rows.clone() {
            for r in &with_funnel {
                let f = r.table("selection_funnel").expect("filtered");
                let row = format!("excluded: {reason}");
                t.spec.quotes.push(disclosure::Quote {
                    row: reason.clone(),
                    column: r.study.clone(),
                    study: r.study.clone(),
                    sequence: r.sequence,
                    table: "selection_funnel".into(),
                    cells: if f.spec.row_index(&row).is_some() {
                        vec![[row, "people".into()]]
                    } else {
                        vec![]
                    },
                });
            }
        }
        if with_funnel.is_empty() {
            t.spec.rows.clear();
        }
    }
    tables.retain(|t| !(t.spec.id == "service_exclusions" && t.spec.columns.is_empty()));
}

/// Build and protect a report input as the next release of its study.
pub fn build(
    input: &ReportInput,
    policy: &Policy,
    earlier: &[Release],
    options: Options,
) -> Result<Report, ReportError> {
    if input.study.trim().is_empty() {
        return Err(bad("study", "a non-empty study id"));
    }
    let (mut tables, control) = tables(input)?;
    if input.service.is_some() {
        quote_studies(&mut tables, earlier);
    }
    let protected = protect_release(&input.study, &tables, policy, earlier)?;
    Ok(Report {
        study: input.study.clone(),
        as_of: input.as_of.clone(),
        protected,
        options,
        control,
    })
}
