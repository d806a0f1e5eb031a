//! Protection: primary suppression, rounding, secondary suppression and
//! audit-driven repair, across the earlier releases of the same study.
//!
//! 1. **Primary.** Every count the policy calls small (`1..=7` under
//!    `nhs-hes`; zero too when the policy suppresses zeros) becomes `*`.
//! 2. **Rounding.** Every other count is rounded (half up) to the policy's
//!    base; totals are rounded true totals, or sums of rounded cells under
//!    `totals = "sum-of-rounded"`.
//! 3. **Secondary.** Until nothing changes: a cell shared with a linked
//!    table is suppressed wherever it appears if it is suppressed anywhere;
//!    in every equation (a row or column with its total) with exactly one
//!    `*`, the smallest other published count (leaves before totals, never a
//!    zero that the policy publishes) is suppressed too.
//! 4. **Repair.** The release is audited together with every earlier
//!    release of the study ([`crate::audit`]). For each interval that is too
//!    narrow — a suppressed cell, or the difference between this release and
//!    an earlier one — one more cell of *this* release is suppressed (the
//!    cell itself if published, else the smallest published partner in one
//!    of its equations), step 3 is rerun, and the audit repeats. Earlier
//!    releases are never changed. If nothing is left to suppress the
//!    release is refused. The first round audits only this release's own
//!    findings (its cells and its differences from earlier releases) and
//!    repairs them; every round after it audits every finding of the
//!    series, and repairs the same way, until all pass. A cell of
//!    the new release pinned down usually pins the same cell in earlier
//!    releases and every difference between them: one repair settles them
//!    all, which is cheaper than solving each of them. Together with the
//!    audit's grouped points (`audit::run::refine`), measured on
//!    `bench/report_releases.sh` over 40 weeks: the slowest release took
//!    8.2 s against 18.1 s before, and 17,877 cells were suppressed
//!    against 19,483, since fewer failures are repaired one by one. The
//!    release returned always passed a round over every finding.
//!
//!    A failure is repaired by suppressing, in this order of preference:
//!    for a rounded count of this release, a total it adds up to; for a
//!    difference, a rounded count or a cell of an earlier release, this
//!    release's cell itself when published; then a partner in one of its
//!    equations, any cell of its column, the same column in the other
//!    tables (the same quantity broken down another way, whose parts add
//!    up to a total that may pin it), any cell of its table. Failures of
//!    earlier releases that map to the same cell of this release are
//!    repaired once a round.
//!
//! Speed without changing a verdict: the feasible points of a series'
//! part of the reader's program found while protecting one release are
//! kept (per thread) and offered to the next release's first audit round,
//! extended over the new cells and kept only if they satisfy every
//! constraint of the new program; a feasible point can only prove an
//! interval wide (its values are attained), never narrow. Failures that
//! lie wholly in earlier releases are checked against the earlier
//! releases one finding at a time, not by auditing the whole series.

use crate::audit::{audit_scoped, AuditCache, AuditError, AuditReport, Finding, FindingKind, Scope};
use crate::policy::{Policy, TotalsRule};
use crate::table::{
    cross_equations, fill_totals, CrossEquation, Published, PublishedTable, Release, Table, TableError,
    TableSpec, RELEASE_FORMAT,
};
use std::collections::{BTreeMap, BTreeSet};

/// Why a cell is (or is not) published. Internal: never publish this (a
/// reader who knew which `*` were primary would learn they are small).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CellStatus {
    /// Published (rounded).
    Published,
    /// A column that is not a count of people: published exactly.
    Exempt,
    /// Suppressed because the count is small.
    Primary,
    /// Suppressed so that a margin or linked table cannot reveal another `*`.
    Secondary,
    /// Suppressed because the audit (possibly against earlier releases)
    /// found an interval too narrow.
    Repair,
    /// A total (or other margin) withheld because, with its parts, it
    /// would narrow a rounded count below the policy's minimum number of
    /// values. It is not small and needs no partner suppressed: a reader
    /// who adds its published parts gets a range, which is the point.
    Margin,
}

impl CellStatus {
    /// True for the three kinds of suppression.
    pub fn is_suppressed(self) -> bool {
        matches!(
            self,
            CellStatus::Primary | CellStatus::Secondary | CellStatus::Repair | CellStatus::Margin
        )
    }
}

/// A protected table: true counts (internal), what is published, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedTable {
    /// Structure.
    pub spec: TableSpec,
    /// True counts, totals included (internal; never publish).
    pub true_grid: Vec<Vec<u64>>,
    /// Published value of each grid cell when not suppressed.
    rounded: Vec<Vec<u64>>,
    /// Status of each grid cell.
    pub status: Vec<Vec<CellStatus>>,
}

impl ProtectedTable {
    /// The published value of a grid cell.
    pub fn published(&self, i: usize, j: usize) -> Published {
        if self.status[i][j].is_suppressed() {
            Published::Suppressed
        } else {
            Published::Count(self.rounded[i][j])
        }
    }

    /// The published grid.
    pub fn to_published(&self) -> PublishedTable {
        let cells = (0..self.spec.grid_rows())
            .map(|i| {
                (0..self.spec.grid_columns())
                    .map(|j| self.published(i, j))
                    .collect()
            })
            .collect();
        PublishedTable {
            spec: self.spec.clone(),
            cells,
        }
    }

    /// Count cells with a status.
    pub fn count(&self, status: CellStatus) -> usize {
        self.status.iter().flatten().filter(|s| **s == status).count()
    }
}

/// A protected release.
#[derive(Debug, Clone)]
pub struct Protected {
    /// Study.
    pub study: String,
    /// Sequence number of this release.
    pub sequence: u32,
    /// Policy applied.
    pub policy: Policy,
    /// The tables.
    pub tables: Vec<ProtectedTable>,
    /// The final audit of this release with every earlier one.
    pub audit: AuditReport,
    /// Findings that already failed among the earlier releases alone
    /// (nothing in this release can change them), among those the audits
    /// of this release found failing.
    pub preexisting: Vec<Finding>,
    /// Repair rounds run.
    pub repair_rounds: usize,
}

impl Protected {
    /// The release as published (serialisable; no true counts).
    pub fn release(&self) -> Release {
        Release {
            format: RELEASE_FORMAT.to_string(),
            study: self.study.clone(),
            sequence: self.sequence,
            policy: self.policy.clone(),
            tables: self.tables.iter().map(ProtectedTable::to_published).collect(),
        }
    }

    /// A table by id.
    pub fn table(&self, id: &str) -> Option<&ProtectedTable> {
        self.tables.iter().find(|t| t.spec.id == id)
    }

    /// Number of cells with a status, over all tables.
    pub fn count(&self, status: CellStatus) -> usize {
        self.tables.iter().map(|t| t.count(status)).sum()
    }

    /// Number of suppressed cells, over all tables.
    pub fn suppressed(&self) -> usize {
        self.count(CellStatus::Primary)
            + self.count(CellStatus::Secondary)
            + self.count(CellStatus::Repair)
            + self.count(CellStatus::Margin)
    }
}

/// Why a release could not be protected.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// A table is malformed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The audit could not run.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Nothing more can be suppressed and an interval is still too narrow.
    #[error("release refused: {count} interval(s) stay too narrow even with every candidate cell suppressed (first: {first})")]
    Refused {
        /// How many findings fail.
        count: usize,
        /// The first failing finding (labels and interval only).
        first: String,
    },
}

/// Protect tables of one release with no earlier releases.
pub fn protect(tables: &[Table], policy: &Policy) -> Result<Protected, ProtectError> {
    protect_release("", tables, policy, &[])
}

/// Protect the next release of `study`, given every earlier release (of any
/// study; only those of `study` matter). The sequence number is one more
/// than the latest earlier release of the study.
pub fn protect_release(
    study: &str,
    tables: &[Table],
    policy: &Policy,
    earlier: &[Release],
) -> Result<Protected, ProtectError> {
    let started = std::time::Instant::now();
    let mut ids = BTreeSet::new();
    for t in tables {
        t.validate()?;
        if !ids.insert(t.spec.id.as_str()) {
            return Err(TableError::DuplicateId {
                table: t.spec.id.clone(),
            }
            .into());
        }
    }
    let specs: Vec<&TableSpec> = tables.iter().map(|t| &t.spec).collect();
    cross_equations(&specs)?;
    crate::table::weighted_relations(&specs)?;
    // every release of every series is audited with this one (a reader
    // holds them all); the sequence number follows this study's latest
    let earlier: Vec<Release> = earlier.to_vec();
    let sequence = earlier
        .iter()
        .filter(|r| r.study == study)
        .map(|r| r.sequence + 1)
        .max()
        .unwrap_or(1);

    let mut out = Protected {
        study: study.to_string(),
        sequence,
        policy: policy.clone(),
        tables: tables.iter().map(|t| primary(t, policy)).collect(),
        audit: AuditReport {
            policy: policy.name.clone(),
            sensitive_range: policy.sensitive_range(),
            min_width: policy.min_width(),
            releases: 0,
            suppressed_cells: 0,
            differences: 0,
            rounded_cells: 0,
            min_rounded_values: policy.min_rounded_values(),
            components: 0,
            linear_programs: 0,
            findings: vec![],
        },
        preexisting: vec![],
        repair_rounds: 0,
    };
    control_row_sums(&mut out.tables, policy);
    quote(&mut out.tables, &earlier)?;
    secondary(&mut out.tables, policy, CellStatus::Secondary);

    let key = |f: &Finding| {
        (
            f.study.clone(),
            f.sequence,
            f.table.clone(),
            f.row.clone(),
            f.column.clone(),
            f.kind,
        )
    };
    // Findings that already fail among the earlier releases alone: nothing
    // in this release can change them. Checked only for failures met in
    // earlier releases (they are rare), each once: a finding's verdict is
    // settled on its own, so checking only these gives each the verdict
    // the audit of all the earlier releases would.
    let mut baseline_keys: BTreeSet<_> = BTreeSet::new();
    let mut checked: BTreeSet<crate::audit::OnlyKey> = BTreeSet::new();
    let cur = earlier.len();
    let mut cache = AuditCache::default();
    cache.carry_in = CARRY.with(|c| c.borrow_mut().remove(study)).unwrap_or_default();
    // The release's own findings first, repaired, then every finding
    // until all pass: a cell of the new release pinned down usually pins
    // the same cell in earlier releases and every difference between
    // them, and its repair settles them all.
    let mut current_only = true;
    loop {
        let mut releases = earlier.clone();
        releases.push(out.release());
        let scope = Scope {
            current_only,
            ..Scope::protect(cur)
        };
        let report = audit_scoped(&releases, policy, &scope, Some(&mut cache))?;
        let in_earlier = |f: &Finding| f.release_index < cur;
        let only: BTreeSet<crate::audit::OnlyKey> = report
            .failures()
            .filter(|f| in_earlier(f))
            .map(|f| (f.study.clone(), f.sequence, f.table_index, f.position, f.kind))
            .filter(|k| !checked.contains(k))
            .collect();
        if !only.is_empty() {
            // the series' own releases are its part of the program unless it
            // quotes other series (the service evaluation): then all of them
            let quotes = earlier
                .iter()
                .filter(|r| r.study == study)
                .any(|r| r.tables.iter().any(|t| !t.spec.quotes.is_empty()));
            let own: Vec<Release> = if quotes {
                earlier.clone()
            } else {
                earlier.iter().filter(|r| r.study == study).cloned().collect()
            };
            checked.extend(only.iter().cloned());
            let scope = Scope {
                only: Some(only),
                ..Scope::FAST
            };
            let base: Vec<Finding> = audit_scoped(&own, policy, &scope, None)?
                .failures()
                .cloned()
                .collect();
            baseline_keys.extend(base.iter().map(key));
            out.preexisting.extend(base);
        }
        let mut report = report;
        let mut failures: Vec<Finding> = report
            .failures()
            .filter(|f| !baseline_keys.contains(&key(f)))
            .cloned()
            .collect();
        if !failures.is_empty() && !can_repair(&out.tables, &releases, cur, &failures, policy) {
            // Protection's rounds take warm-started optima as they are (an
            // interval can only come out narrower, so more is suppressed,
            // never less). With nothing left to suppress for them, the
            // failures are confirmed from scratch before the release is
            // refused.
            let rest = failures.iter().map(only_key).collect();
            confirm_exactly(&mut report, &releases, policy, rest)?;
            failures.retain(|f| report.failures().any(|g| key(g) == key(f)));
        }
        out.audit = report;
        if failures.is_empty() && current_only {
            current_only = false;
            continue;
        }
        if failures.is_empty() {
            if std::env::var_os("TRIALINK_AUDIT_PROFILE").is_some() {
                eprintln!(
                    "protect profile: {study} release {sequence}: {:.3}s, {} rounds",
                    started.elapsed().as_secs_f64(),
                    out.repair_rounds
                );
            }
            let points = std::mem::take(&mut cache.carry_out);
            CARRY.with(|c| c.borrow_mut().insert(study.to_string(), points));
            return Ok(out);
        }
        out.repair_rounds += 1;
        let mut added = false;
        // Failures of earlier releases are repaired in this release's cell
        // of the same table, row and column (or a partner of it): one
        // repair a round for each such cell, however many earlier releases
        // it pins, so that one cause does not suppress a whole table.
        let mut targets: BTreeSet<(String, String, String, String)> = BTreeSet::new();
        for f in &failures {
            if f.release_index != cur
                && !targets.insert((f.study.clone(), f.table.clone(), f.row.clone(), f.column.clone()))
            {
                continue;
            }
            added |= repair_one(&mut out.tables, &releases, cur, f, policy);
        }
        // after a repair the next round audits every finding (the
        // release's own included): a round of its own findings alone
        // would only say again what this one found
        current_only = false;
        if !added {
            return Err(ProtectError::Refused {
                count: failures.len(),
                first: failures[0].to_string(),
            });
        }
        secondary(&mut out.tables, policy, CellStatus::Secondary);
    }
}

/// A finding's name across audits of different lists of releases.
fn only_key(f: &Finding) -> crate::audit::OnlyKey {
    (f.study.clone(), f.sequence, f.table_index, f.position, f.kind)
}

/// Re-settle the named findings of `report` over `releases`, unsafe
/// intervals solved from scratch, and put the exact verdicts in `report`.
fn confirm_exactly(
    report: &mut AuditReport,
    releases: &[Release],
    policy: &Policy,
    only: BTreeSet<crate::audit::OnlyKey>,
) -> Result<(), ProtectError> {
    if only.is_empty() {
        return Ok(());
    }
    let scope = Scope {
        only: Some(only.clone()),
        ..Scope::FAST
    };
    let exact = audit_scoped(releases, policy, &scope, None)?;
    let verdicts: BTreeMap<crate::audit::OnlyKey, (crate::audit::Interval, bool)> = exact
        .findings
        .iter()
        .map(|f| (only_key(f), (f.interval, f.safe)))
        .collect();
    report.findings.retain_mut(|f| {
        let k = only_key(f);
        if !only.contains(&k) {
            return true;
        }
        match verdicts.get(&k) {
            Some(&(interval, safe)) => {
                f.interval = interval;
                f.safe = safe;
                // safe differences and rounded counts are not listed
                !safe || f.kind == FindingKind::Suppressed
            }
            // settled safe without being listed (a safe difference or
            // rounded count)
            None => false,
        }
    });
    Ok(())
}

/// Would the repair loop find a cell to suppress for any of `failures`?
fn can_repair(
    tables: &[ProtectedTable],
    releases: &[Release],
    cur: usize,
    failures: &[Finding],
    policy: &Policy,
) -> bool {
    let mut trial = tables.to_vec();
    failures
        .iter()
        .any(|f| repair_one(&mut trial, releases, cur, f, policy))
}

thread_local! {
    /// Feasible points of each series' part of the reader's program at its
    /// latest release protected on this thread, offered to the audit of
    /// its next release as a head start. A hint only: the audit extends
    /// each point over the new release and keeps it only if it satisfies
    /// every constraint of the new program, so a stale or foreign entry
    /// costs time, never soundness.
    static CARRY: std::cell::RefCell<BTreeMap<String, crate::audit::Carried>> =
        Default::default();
}

/// Primary suppression and rounding of one table.
fn primary(t: &Table, policy: &Policy) -> ProtectedTable {
    let s = &t.spec;
    let true_grid = t.grid();
    let sum_rounded = policy.round.totals == TotalsRule::SumOfRounded;
    let mut rounded: Vec<Vec<u64>> = true_grid
        .iter()
        .map(|r| r.iter().map(|&v| policy.round(v)).collect())
        .collect();
    if sum_rounded {
        fill_totals(s, &mut rounded);
    }
    let mut status = vec![vec![CellStatus::Published; s.grid_columns()]; s.grid_rows()];
    for i in 0..s.grid_rows() {
        for j in 0..s.grid_columns() {
            if s.is_exempt(j) {
                status[i][j] = CellStatus::Exempt;
                rounded[i][j] = true_grid[i][j];
            } else if policy.is_small(true_grid[i][j]) || (sum_rounded && policy.is_small(rounded[i][j])) {
                status[i][j] = CellStatus::Primary;
            }
        }
    }
    ProtectedTable {
        spec: s.clone(),
        true_grid,
        rounded,
        status,
    }
}

/// Under a sum-of-rounded totals rule, publish each row that adds up rows
/// of another table as the sum of their published values (and its table's
/// totals again from its leaves), so that it carries nothing the parts do
/// not. A sum that lands in the suppression range is suppressed.
fn control_row_sums(tables: &mut [ProtectedTable], policy: &Policy) {
    if policy.round.totals != TotalsRule::SumOfRounded || policy.round.base <= 1 {
        return;
    }
    for eq in cross(tables) {
        let v: u64 = eq.parts.iter().map(|&(t, (i, j))| tables[t].rounded[i][j]).sum();
        let (t, (i, j)) = eq.total;
        tables[t].rounded[i][j] = v;
        if policy.is_small(v) && tables[t].status[i][j] == CellStatus::Published {
            tables[t].status[i][j] = CellStatus::Primary;
        }
    }
    for t in tables.iter_mut() {
        fill_totals(&t.spec, &mut t.rounded);
        for i in 0..t.spec.grid_rows() {
            for j in 0..t.spec.grid_columns() {
                if !t.spec.is_leaf(i, j)
                    && !t.spec.is_exempt(j)
                    && policy.is_small(t.rounded[i][j])
                    && t.status[i][j] == CellStatus::Published
                {
                    t.status[i][j] = CellStatus::Primary;
                }
            }
        }
    }
}

/// Publish every quoting cell as the faithful value of what it quotes
/// (the quoted release must be among `earlier`): never rounded again.
fn quote(tables: &mut [ProtectedTable], earlier: &[Release]) -> Result<(), TableError> {
    for t in tables.iter_mut() {
        for q in t.spec.quotes.clone() {
            let bad = || TableError::Reference {
                table: t.spec.id.clone(),
                field: "quotes",
            };
            let (Some(i), Some(j)) = (t.spec.row_index(&q.row), t.spec.column_index(&q.column)) else {
                return Err(bad());
            };
            let tab = earlier
                .iter()
                .find(|r| r.study == q.study && r.sequence == q.sequence)
                .and_then(|r| r.table(&q.table))
                .ok_or_else(bad)?;
            let mut cells = Vec::new();
            for [r, c] in &q.cells {
                let (Some(a), Some(b)) = (tab.spec.row_index(r), tab.spec.column_index(c)) else {
                    return Err(bad());
                };
                cells.push(tab.cells[a][b]);
            }
            match crate::table::quoted_value(&cells) {
                Published::Count(v) => {
                    t.rounded[i][j] = v;
                    t.status[i][j] = CellStatus::Published;
                }
                Published::Suppressed => t.status[i][j] = CellStatus::Secondary,
            }
        }
    }
    Ok(())
}

/// May this cell be suppressed to protect another?
fn eligible(t: &ProtectedTable, i: usize, j: usize, policy: &Policy) -> bool {
    t.status[i][j] == CellStatus::Published && (t.true_grid[i][j] > 0 || policy.is_small(0))
}

/// `(table index, (row, column))`.
type TableCell = (usize, (usize, usize));

/// The cross-table equations of protected tables (validated up front).
fn cross(tables: &[ProtectedTable]) -> Vec<CrossEquation> {
    cross_equations(&tables.iter().map(|t| &t.spec).collect::<Vec<_>>()).unwrap_or_default()
}

/// Every equation of a release as cells `(table, (row, column))`: each
/// table's margins and the cross-table row sums.
fn all_equations(tables: &[ProtectedTable]) -> Vec<Vec<TableCell>> {
    let mut out: Vec<Vec<TableCell>> = Vec::new();
    for (k, t) in tables.iter().enumerate() {
        for eq in t.spec.equations() {
            out.push(eq.members().map(|pos| (k, pos)).collect());
        }
    }
    out.extend(cross(tables).iter().map(|e| e.members().collect()));
    out
}

/// The best partner to suppress among `cells`: smallest true count,
/// leaves before totals, then table and grid order.
fn best_global(
    tables: &[ProtectedTable],
    cells: impl Iterator<Item = TableCell>,
    policy: &Policy,
) -> Option<TableCell> {
    cells
        .filter(|&(k, (i, j))| !tables[k].spec.is_exempt(j) && eligible(&tables[k], i, j, policy))
        .min_by_key(|&(k, (i, j))| {
            let t = &tables[k];
            (!t.spec.is_leaf(i, j), t.true_grid[i][j], k, i, j)
        })
}

/// Secondary suppression to a fixpoint.
fn secondary(tables: &mut [ProtectedTable], policy: &Policy, mark: CellStatus) {
    let equations = all_equations(tables);
    loop {
        let mut changed = false;
        // linked tables: a shared quantity is suppressed everywhere or nowhere
        let mut by_key: BTreeMap<String, Vec<TableCell>> = BTreeMap::new();
        for (k, t) in tables.iter().enumerate() {
            for (pos, key) in t.spec.shared_positions() {
                by_key.entry(key.to_string()).or_default().push((k, pos));
            }
        }
        for members in by_key.values() {
            if members
                .iter()
                .any(|&(k, (i, j))| tables[k].status[i][j].is_suppressed())
            {
                // a withheld margin stays a withheld margin wherever it is shared
                let how = if members.iter().all(|&(k, (i, j))| {
                    !tables[k].status[i][j].is_suppressed() || tables[k].status[i][j] == CellStatus::Margin
                }) {
                    CellStatus::Margin
                } else {
                    mark
                };
                for &(k, (i, j)) in members {
                    if tables[k].status[i][j] == CellStatus::Published {
                        tables[k].status[i][j] = how;
                        changed = true;
                    }
                }
            }
        }
        // margins within a table and row sums across tables
        for eq in &equations {
            let governed: Vec<TableCell> = eq
                .iter()
                .copied()
                .filter(|&(k, (_, j))| !tables[k].spec.is_exempt(j))
                .collect();
            // a withheld margin needs no partner (see CellStatus::Margin)
            let hidden = governed
                .iter()
                .filter(|&&(k, (i, j))| {
                    tables[k].status[i][j].is_suppressed() && tables[k].status[i][j] != CellStatus::Margin
                })
                .count();
            if hidden == 1 {
                if let Some((k, (i, j))) = best_global(tables, governed.iter().copied(), policy) {
                    tables[k].status[i][j] = mark;
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

/// Suppress one more cell of the current release for a failing finding.
fn repair_one(
    tables: &mut [ProtectedTable],
    releases: &[Release],
    cur: usize,
    f: &Finding,
    policy: &Policy,
) -> bool {
    // locate the cell in the current release
    let (t, pos) = if f.release_index == cur {
        (f.table_index, f.position)
    } else {
        let Some(t) = tables.iter().position(|t| t.spec.id == f.table) else {
            return false;
        };
        let s = &tables[t].spec;
        let (Some(i), Some(j)) = (s.row_index(&f.row), s.column_index(&f.column)) else {
            return false;
        };
        (t, (i, j))
    };
    let (i, j) = pos;
    if f.release_index != cur && releases[f.release_index].study != releases[cur].study {
        // a cell of another series narrowed through this release: hide
        // this release's cell of the same table and labels if there is one
        // (handled above only for the same study), else give up here
        return false;
    }
    if f.kind == FindingKind::Rounded && f.release_index == cur {
        // a rounded count narrowed by its margins: hide a total it adds
        // up to (the margin carries the information), else the cell itself
        let cell = (t, pos);
        let totals: Vec<TableCell> = all_equations(tables)
            .into_iter()
            .filter(|e| e.contains(&cell))
            .flatten()
            .filter(|&(k, (a, b))| !tables[k].spec.is_leaf(a, b) && (k, (a, b)) != cell)
            .collect();
        let pick = totals
            .into_iter()
            .filter(|&(k, (a, b))| !tables[k].spec.is_exempt(b) && eligible(&tables[k], a, b, policy))
            .max_by_key(|&(k, (a, b))| (tables[k].true_grid[a][b], std::cmp::Reverse((k, a, b))));
        if let Some((k, (a, b))) = pick {
            tables[k].status[a][b] = CellStatus::Margin;
            return true;
        }
        if eligible(&tables[t], i, j, policy) {
            tables[t].status[i][j] = CellStatus::Repair;
            return true;
        }
    }
    let direct =
        matches!(f.kind, FindingKind::Difference { .. } | FindingKind::Rounded) || f.release_index != cur;
    if direct && eligible(&tables[t], i, j, policy) {
        tables[t].status[i][j] = CellStatus::Repair;
        return true;
    }
    let cell = (t, pos);
    let partners: Vec<TableCell> = all_equations(tables)
        .into_iter()
        .filter(|e| e.contains(&cell))
        .flatten()
        .collect();
    // else, in this order: a partner in one of its equations (smallest
    // first), within the table or across a row sum; any cell of its
    // column in its table; the same quantity broken down another way (its
    // column in the other tables, whose parts add up to the total that
    // may pin it); any cell of its table
    let column = tables[t].spec.column_label(j);
    let in_column = |k: usize| -> Vec<TableCell> {
        let s = &tables[k].spec;
        (0..s.grid_columns())
            .filter(|&b| s.column_label(b) == column)
            .flat_map(|b| (0..s.grid_rows()).map(move |a| (k, (a, b))))
            .collect()
    };
    let pick = best_global(tables, partners.into_iter(), policy)
        .or_else(|| best_global(tables, in_column(t).into_iter(), policy))
        .or_else(|| {
            let others = (0..tables.len()).filter(|&k| k != t).flat_map(in_column);
            best_global(tables, others, policy)
        })
        .or_else(|| {
            let tab = &tables[t];
            let all = (0..tab.spec.grid_rows())
                .flat_map(|a| (0..tab.spec.grid_columns()).map(move |b| (t, (a, b))));
            best_global(tables, all, policy)
        });
    match pick {
        Some((k, (a, b))) => {
            tables[k].status[a][b] = CellStatus::Repair;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A warm-started optimum can only make an interval come out too
    /// narrow; a failure like that, confirmed from scratch, gets its exact
    /// interval and verdict back (and an unsafe one stays unsafe).
    #[test]
    fn confirmation_restores_an_artefact_and_keeps_a_real_failure() {
        let t = Table::one_way(
            "uptake",
            "Enrolled by arm",
            "arm",
            "enrolled",
            &[("A", 3), ("B", 40), ("C", 52)],
        );
        let policy = Policy::default_policy();
        let p = protect_release("S", std::slice::from_ref(&t), &policy, &[]).unwrap();
        let releases = vec![p.release()];
        let exact = crate::audit(&releases, &policy).unwrap();
        assert!(exact.passed());
        let truth = exact
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Suppressed)
            .expect("a suppressed cell")
            .clone();
        let mut report = exact.clone();
        for f in report
            .findings
            .iter_mut()
            .filter(|f| only_key(f) == only_key(&truth))
        {
            f.interval = crate::audit::Interval { lo: 3, hi: Some(4) };
            f.safe = false;
        }
        assert!(!report.passed());
        let only: BTreeSet<_> = [only_key(&truth)].into_iter().collect();
        confirm_exactly(&mut report, &releases, &policy, only).unwrap();
        assert!(report.passed());
        let back = report
            .findings
            .iter()
            .find(|f| only_key(f) == only_key(&truth))
            .unwrap();
        assert_eq!(back.interval, truth.interval);

        // only the small cell hidden, its total and the rest published
        // unrounded: a real failure, which confirmation keeps
        let policy = Policy::builtin("threshold-10").unwrap();
        let p = protect_release("S", std::slice::from_ref(&t), &policy, &[]).unwrap();
        let grid = &p.tables[0].true_grid;
        let bare = Release {
            tables: vec![crate::table::PublishedTable {
                spec: t.spec.clone(),
                cells: grid
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|&v| {
                                if v == 3 {
                                    Published::Suppressed
                                } else {
                                    Published::Count(v)
                                }
                            })
                            .collect()
                    })
                    .collect(),
            }],
            ..p.release()
        };
        let releases = vec![bare];
        let mut report = crate::audit(&releases, &policy).unwrap();
        let before = report.failures().count();
        assert!(
            before > 0,
            "a lone suppressed cell beside its total is disclosive"
        );
        let only: BTreeSet<_> = report.failures().map(only_key).collect();
        confirm_exactly(&mut report, &releases, &policy, only).unwrap();
        assert_eq!(report.failures().count(), before);
    }

    /// A failure whose own table has nothing left to suppress is repaired
    /// in the same quantity broken down another way (the total that pins
    /// it is the sum of the other table's column), not refused.
    #[test]
    fn repair_reaches_the_same_quantity_in_another_table() {
        let by_group = Table::one_way(
            "group",
            "Enrolled by group",
            "group",
            "enrolled",
            &[("g1", 30), ("g2", 4), ("g3", 25)],
        );
        let by_sex = Table::one_way(
            "sex",
            "Enrolled by sex",
            "sex",
            "enrolled",
            &[("female", 31), ("male", 28)],
        );
        let other = Table::one_way("arm", "Invited by arm", "arm", "invited", &[("A", 40), ("B", 45)]);
        let policy = Policy::default_policy();
        let p = protect_release("S", &[by_group, by_sex, other], &policy, &[]).unwrap();
        let mut tables = p.tables.clone();
        // everything of the group table already hidden
        for row in tables[0].status.iter_mut() {
            for st in row.iter_mut() {
                *st = CellStatus::Repair;
            }
        }
        let releases = vec![p.release()];
        let f = Finding {
            study: "S".into(),
            sequence: 1,
            table: "group".into(),
            row: "g2".into(),
            column: "enrolled".into(),
            release_index: 0,
            table_index: 0,
            position: (1, 0),
            kind: FindingKind::Suppressed,
            interval: crate::audit::Interval { lo: 3, hi: Some(5) },
            safe: false,
        };
        let before: Vec<_> = tables.iter().map(|t| t.status.clone()).collect();
        assert!(repair_one(&mut tables, &releases, 0, &f, &policy));
        let changed: Vec<(usize, usize, usize)> = (0..tables.len())
            .flat_map(|k| {
                let (t, b) = (&tables[k], &before[k]);
                (0..t.status.len())
                    .flat_map(move |i| (0..t.status[i].len()).map(move |j| (k, i, j)))
                    .filter(move |&(_, i, j)| t.status[i][j] != b[i][j])
            })
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        let (k, _, j) = changed[0];
        assert_eq!(
            tables[k].spec.id, "sex",
            "the same quantity in the other breakdown"
        );
        assert_eq!(tables[k].spec.column_label(j), "enrolled");
        assert_eq!(tables[changed[0].0].status[changed[0].1][j], CellStatus::Repair);
    }
}
