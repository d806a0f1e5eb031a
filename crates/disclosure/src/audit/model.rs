//! The reader's relations written once as a linear program over the
//! true counts of every release (see the parent module).

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

use super::lp::{Lp, Terms};
use super::AuditError;
use crate::policy::TotalsRule;
use crate::table::{Published, Release};
use microlp::ComparisonOp;
use std::collections::BTreeMap;

/// Variable indices of every cell: `[release][table][row][column]`.
pub(crate) type Layout = Vec<Vec<Vec<Vec<usize>>>>;

/// Cells of a release that, under a sum-of-rounded totals rule, are
/// published as sums of other published cells: the totals of
/// [`crate::table::RowSum`]s (`(table, (row, column))`).
pub(crate) fn sum_rounded_cross_totals(rel: &Release) -> std::collections::BTreeSet<(usize, (usize, usize))> {
    let p = &rel.policy;
    if p.round.totals != TotalsRule::SumOfRounded || p.round.base <= 1 {
        return Default::default();
    }
    rel.cross_equations()
        .unwrap_or_default()
        .iter()
        .map(|e| e.total)
        .collect()
}

/// Cells `(release, table, (row, column))` that quote other releases'
/// cells faithfully.
pub(crate) type Faithful = std::collections::BTreeSet<(usize, usize, (usize, usize))>;

pub(crate) struct Built {
    pub lp: Lp,
    pub layout: Layout,
    /// Cells `(release, table, (row, column))` that quote other releases'
    /// cells faithfully: functions of what is already published.
    pub faithful: Faithful,
}

/// The reader's relations, written once: every published cell with its
/// rounding bounds, totals, nested columns, linked and shared cells, row
/// and weighted sums, quotes of other releases, and counts that never fall
/// between releases of a series (adjacent releases only: the chain implies
/// every other pair).
pub(crate) fn build_lp(releases: &[Release]) -> Result<Built, AuditError> {
    let mut lp = Lp::default();
    let mut running = Running::new();
    let layout: Layout = releases
        .iter()
        .enumerate()
        .map(|(k, rel)| release_relations(&mut lp, rel, k, &mut running))
        .collect();
    let faithful = quote_relations(&mut lp, releases, &layout)?;
    chain_relations(&mut lp, releases, &layout);
    running_chain_relations(&mut lp, releases, &running);
    Ok(Built { lp, layout, faithful })
}

/// Running sums of tables of periods, `(release, table)` ->
/// `[leaf row][leaf column]` -> variable: the count to date at the end of
/// that row's period.
type Running = BTreeMap<(usize, usize), Vec<Vec<usize>>>;

/// The running sums of a table of periods (each a variable in the
/// release's own block, tied to the cells by `S_i = S_{i-1} + x_i`), and
/// the running order between its columns (`S_i[a] ≤ S_i[b]`).
fn running_relations(lp: &mut Lp, s: &crate::table::TableSpec, xs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let (rows, cols) = (s.rows.len(), s.columns.len());
    let mut sums: Vec<Vec<usize>> = Vec::with_capacity(rows);
    for i in 0..rows {
        let line: Vec<usize> = (0..cols)
            .map(|j| {
                let v = lp.var(0.0, f64::INFINITY);
                let mut terms = vec![(v, 1.0), (xs[i][j], -1.0)];
                if i > 0 {
                    terms.push((sums[i - 1][j], -1.0));
                }
                lp.constrain(terms, ComparisonOp::Eq, 0.0);
                v
            })
            .collect();
        for (a, b) in s.running_pairs() {
            if a < cols && b < cols {
                lp.constrain(vec![(line[a], 1.0), (line[b], -1.0)], ComparisonOp::Le, 0.0);
            }
        }
        sums.push(line);
    }
    sums
}

/// One release's cells and relations: published bounds, totals, nested
/// columns, shared cells, weighted and row sums, running sums of tables of
/// periods (and under a sum-of-rounded totals rule, each rounded value and
/// the sums among them).
fn release_relations(lp: &mut Lp, rel: &Release, k: usize, running: &mut Running) -> Vec<Vec<Vec<usize>>> {
    let inf = f64::INFINITY;
    let p = &rel.policy;
    let b = p.round.base.max(1);
    let (down, up) = ((b / 2) as f64, (b - 1 - b / 2) as f64);
    let sum_rounded = p.round.totals == TotalsRule::SumOfRounded && b > 1;
    let mut rel_vars = Vec::new();
    let mut rel_rs: Vec<Vec<Vec<Option<usize>>>> = Vec::new();
    let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
    // under sum-of-rounded totals, rows that add up rows of another
    // table are published as the sum of those rows' published values
    let cross_totals = sum_rounded_cross_totals(rel);
    for (ti, t) in rel.tables.iter().enumerate() {
        let s = &t.spec;
        let mut xs = vec![vec![0usize; s.grid_columns()]; s.grid_rows()];
        let mut rs = vec![vec![None; s.grid_columns()]; s.grid_rows()];
        for i in 0..s.grid_rows() {
            for j in 0..s.grid_columns() {
                let cell = t.cells[i][j];
                let leaf = s.is_leaf(i, j) && !cross_totals.contains(&(ti, (i, j)));
                let (lo, hi) = if s.is_exempt(j) {
                    match cell {
                        Published::Count(v) => (v as f64, v as f64),
                        Published::Suppressed => (0.0, inf),
                    }
                } else {
                    match cell {
                        Published::Suppressed => (p.suppressed_lower_bound() as f64, inf),
                        Published::Count(_) if sum_rounded && !leaf => (0.0, inf),
                        Published::Count(v) => {
                            let (a, z) = p.published_interval(v);
                            (a as f64, z as f64)
                        }
                    }
                };
                let x = lp.var(lo, hi);
                xs[i][j] = x;
                if sum_rounded && !s.is_exempt(j) {
                    let r = match cell {
                        Published::Count(v) => lp.var(v as f64, v as f64),
                        Published::Suppressed => lp.var(0.0, inf),
                    };
                    rs[i][j] = Some(r);
                    if leaf {
                        // x in [r - down, r + up]
                        lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Ge, -down);
                        lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Le, up);
                    }
                }
            }
        }
        for eq in s.equations() {
            let mut terms = vec![(xs[eq.total.0][eq.total.1], 1.0)];
            terms.extend(eq.parts.iter().map(|&(i, j)| (xs[i][j], -1.0)));
            lp.constrain(terms, ComparisonOp::Eq, 0.0);
            if sum_rounded {
                let members: Option<Vec<usize>> = eq.members().map(|(i, j)| rs[i][j]).collect();
                if let Some(m) = members {
                    let terms = m
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| (v, if k == 0 { 1.0 } else { -1.0 }))
                        .collect();
                    lp.constrain(terms, ComparisonOp::Eq, 0.0);
                }
            }
        }
        for (a, bcol) in s.order_pairs() {
            for row in &xs {
                lp.constrain(vec![(row[a], 1.0), (row[bcol], -1.0)], ComparisonOp::Le, 0.0);
            }
        }
        if !s.running_order.is_empty() || s.running_cumulative {
            running.insert((k, ti), running_relations(lp, s, &xs));
        }
        for ((i, j), key) in s.shared_positions() {
            match shared.get(key) {
                Some(&other) => lp.constrain(vec![(xs[i][j], 1.0), (other, -1.0)], ComparisonOp::Eq, 0.0),
                None => {
                    shared.insert(key, xs[i][j]);
                }
            }
        }
        rel_vars.push(xs);
        rel_rs.push(rs);
    }
    // weighted sums bounded by a cell of another table (validated)
    let specs: Vec<&crate::table::TableSpec> = rel.tables.iter().map(|t| &t.spec).collect();
    for w in crate::table::weighted_relations(&specs).unwrap_or_default() {
        let var = |(t, (i, j)): (usize, (usize, usize))| rel_vars[t][i][j];
        let mut terms: Vec<(usize, f64)> = w.terms.iter().map(|&(m, c)| (var(m), c)).collect();
        terms.push((var(w.bound), -1.0));
        let op = if w.at_most {
            ComparisonOp::Le
        } else {
            ComparisonOp::Eq
        };
        lp.constrain(terms, op, 0.0);
    }
    // rows of one table that add up to a row of another (validated)
    for eq in rel.cross_equations().unwrap_or_default() {
        let var = |(t, (i, j)): (usize, (usize, usize))| rel_vars[t][i][j];
        let mut terms = vec![(var(eq.total), 1.0)];
        terms.extend(eq.parts.iter().map(|&m| (var(m), -1.0)));
        lp.constrain(terms, ComparisonOp::Eq, 0.0);
        if sum_rounded {
            let r = |(t, (i, j)): (usize, (usize, usize))| rel_rs[t][i][j];
            let members: Option<Vec<usize>> = eq.members().map(r).collect();
            if let Some(m) = members {
                let terms = m
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (v, if k == 0 { 1.0 } else { -1.0 }))
                    .collect();
                lp.constrain(terms, ComparisonOp::Eq, 0.0);
            }
        }
    }
    rel_vars
}

/// Quotes of other releases' cells: the cell is their sum; a faithful
/// quote carries no bound of its own (it is a function of them).
fn quote_relations(lp: &mut Lp, releases: &[Release], layout: &Layout) -> Result<Faithful, AuditError> {
    let inf = f64::INFINITY;
    let mut faithful = std::collections::BTreeSet::new();
    // (release, table) of the quoting cell, its equation
    let mut quote_eqs: Vec<((usize, usize), Terms)> = Vec::new();
    for (k, rel) in releases.iter().enumerate() {
        for (t, tab) in rel.tables.iter().enumerate() {
            for q in &tab.spec.quotes {
                let err = || AuditError::Quote {
                    study: rel.study.clone(),
                    sequence: rel.sequence,
                    quoted_study: q.study.clone(),
                    quoted_sequence: q.sequence,
                };
                let s = &tab.spec;
                let (Some(i), Some(j)) = (s.row_index(&q.row), s.column_index(&q.column)) else {
                    return Err(err());
                };
                let k2 = releases
                    .iter()
                    .position(|r| r.study == q.study && r.sequence == q.sequence)
                    .ok_or_else(err)?;
                let t2 = releases[k2]
                    .tables
                    .iter()
                    .position(|x| x.spec.id == q.table)
                    .ok_or_else(err)?;
                let tab2 = &releases[k2].tables[t2];
                let mut cells = Vec::new();
                let mut terms = vec![(layout[k][t][i][j], 1.0)];
                for [r, c] in &q.cells {
                    let (Some(i2), Some(j2)) = (tab2.spec.row_index(r), tab2.spec.column_index(c)) else {
                        return Err(err());
                    };
                    cells.push(tab2.cells[i2][j2]);
                    terms.push((layout[k2][t2][i2][j2], -1.0));
                }
                let ok = crate::table::quoted_value(&cells) == tab.cells[i][j] && !s.is_exempt(j);
                if ok {
                    // a function of published cells: no bound of its own
                    let x = layout[k][t][i][j];
                    lp.bounds[x] = (0.0, inf);
                    faithful.insert((k, t, (i, j)));
                }
                quote_eqs.push(((k, t), terms));
            }
        }
    }
    // A table made only of faithful quotes, related to no other table,
    // adds nothing: the relations among its cells (nested columns, never
    // falling between its releases) hold among the quoted cells already.
    // Its equations are left out so that series stay independent parts of
    // the program. Any other quote keeps its equation (a total over quotes
    // published afresh is exactly what lets a reader difference series).
    let pure = |k: usize, t: usize| {
        let rel = &releases[k];
        let tab = &rel.tables[t];
        let s = &tab.spec;
        let referenced = rel.tables.iter().any(|o| {
            o.spec.row_sums.iter().any(|r| r.table == s.id)
                || o.spec.weighted_sums.iter().any(|w| w.table == s.id)
        });
        !referenced
            && s.row_sums.is_empty()
            && s.weighted_sums.is_empty()
            && s.shared.is_empty()
            && (0..s.grid_rows())
                .all(|i| (0..s.grid_columns()).all(|j| s.is_exempt(j) || faithful.contains(&(k, t, (i, j)))))
    };
    for ((k, t), terms) in quote_eqs {
        if !pure(k, t) {
            lp.constrain(terms, ComparisonOp::Eq, 0.0);
        }
    }
    Ok(faithful)
}

/// Cumulative tables: a cell never falls from one release of a series to
/// the next (unless it may: delivered falls as returns arrive).
fn chain_relations(lp: &mut Lp, releases: &[Release], layout: &Layout) {
    for (k2, rel2) in releases.iter().enumerate() {
        for (t2, tab2) in rel2.tables.iter().enumerate() {
            if !tab2.spec.cumulative {
                continue;
            }
            // the latest earlier release of the same study holding this table
            let prev = releases
                .iter()
                .enumerate()
                .filter(|(_, r)| r.study == rel2.study && r.sequence < rel2.sequence)
                .filter_map(|(k, r)| {
                    let t = r
                        .tables
                        .iter()
                        .position(|t| t.spec.id == tab2.spec.id && t.spec.cumulative)?;
                    Some((r.sequence, k, t))
                })
                .max();
            if let Some((_, k1, t1)) = prev {
                let s1 = &releases[k1].tables[t1].spec;
                let s2 = &tab2.spec;
                for i in 0..s2.grid_rows() {
                    for j in 0..s2.grid_columns() {
                        if let (Some(i1), Some(j1)) =
                            (s1.row_index(s2.row_label(i)), s1.column_index(s2.column_label(j)))
                        {
                            let (a, b) = (layout[k1][t1][i1][j1], layout[k2][t2][i][j]);
                            if s2.may_fall_at(i, j) || s1.may_fall_at(i1, j1) {
                                continue;
                            }
                            lp.constrain(vec![(a, 1.0), (b, -1.0)], ComparisonOp::Le, 0.0);
                        }
                    }
                }
            }
        }
    }
}

/// Tables of periods declared running-cumulative: the count to date at the
/// end of each period never falls from one release of a series to the
/// next (matched by row and column label).
fn running_chain_relations(lp: &mut Lp, releases: &[Release], running: &Running) {
    for (&(k2, t2), sums2) in running {
        let (rel2, s2) = (&releases[k2], &releases[k2].tables[t2].spec);
        if !s2.running_cumulative {
            continue;
        }
        let prev = running
            .keys()
            .filter(|&&(k, t)| {
                let r = &releases[k];
                r.study == rel2.study
                    && r.sequence < rel2.sequence
                    && r.tables[t].spec.id == s2.id
                    && r.tables[t].spec.running_cumulative
            })
            .max_by_key(|&&(k, _)| releases[k].sequence);
        let Some(&(k1, t1)) = prev else { continue };
        let s1 = &releases[k1].tables[t1].spec;
        let sums1 = &running[&(k1, t1)];
        for (i1, row) in s1.rows.iter().enumerate() {
            let Some(i2) = s2.rows.iter().position(|r| r == row) else {
                continue;
            };
            for (j1, col) in s1.columns.iter().enumerate() {
                if let Some(j2) = s2.columns.iter().position(|c| c == col) {
                    lp.constrain(
                        vec![(sums1[i1][j1], 1.0), (sums2[i2][j2], -1.0)],
                        ComparisonOp::Le,
                        0.0,
                    );
                }
            }
        }
    }
}
