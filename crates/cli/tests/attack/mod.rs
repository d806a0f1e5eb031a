//! An independent disclosure attacker (issue 16): it reads only the CSV
//! tables `trialink report` publishes (never the store, never tables.json,
//! never `disclosure`'s code) and the relations any reader of those files
//! can know, builds one linear program over every publication it is given
//! (all releases of all studies and of the service evaluation, in date
//! order), and bounds every suppressed cell, every rounded cell and every
//! difference between consecutive publications of a cumulative count.
//!
//! Relations used (all stated in DESIGN §6 / issue 16 as known to readers):
//! * the policy (nhs-hes): `0` is exact, `*` is at least 1 (zeros are never
//!   suppressed; a `*` may be a secondary suppression, so no upper bound),
//!   a published `v > 0` is a true count in `[max(v - 2, 8), v + 2]`;
//! * totals: a `Total` row is the sum of the rows above it, a `Total`
//!   column the sum of the columns before it;
//! * the tables of one study release describe the same people: every
//!   uptake table's `Total` row is the same, the SWAT table's arm rows are
//!   the uptake-by-arm rows (`enrolled`, and `Total` = delivered), the
//!   returns table's `delivered` and `Total` are the uptake totals,
//!   the funnel's `invited` is the number invited, the strata table's
//!   `actual` is the uptake-by-stratum `invited`, and each demographic group
//!   named in the strata (e.g. `female`, `50-54`) is the sum of its strata;
//! * nesting: enrolled <= responded <= delivered <= invited, per row;
//! * growth: invited, responded, enrolled, the funnel's steps, returns by
//!   reason and the number returned (invited - delivered) never fall between
//!   two publications in date order, across series;
//! * the service evaluation's per-study row is that study's own counts at
//!   the service report's date, and its Total row their sum;
//! * the service's exclusions by reason are the sum over the studies of
//!   their funnels' `excluded: <reason>` at that date;
//! * invitations per person: the number of people invited at least once is
//!   at least each study's invited, and `1*n1 + 2*n2 + 3*n3 + 4*n4+` is at
//!   most the sum of the studies' invited (equal when `4 or more` is 0).
//!
//! Intervals come from the LP relaxation (rounded inwards to integers, which
//! is exact for a reader who knows the counts are integers) and, for every
//! finding, are confirmed by an integer program at the endpoints. The
//! attacker is checked against the truth: every true value must lie in its
//! interval, or the attacker (not the publisher) is wrong.
#![allow(dead_code)]

use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The published rule a reader knows (nhs-hes).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub base: u64,
    pub suppress_max: u64,
    pub min_width: u64,
    pub min_rounded_values: u64,
}

pub const NHS_HES: Rule = Rule {
    base: 5,
    suppress_max: 7,
    min_width: 6,
    min_rounded_values: 3,
};

impl Rule {
    /// The true counts a published cell text can stand for.
    fn interval(&self, text: &str) -> Option<(f64, f64)> {
        if text == "*" {
            return Some((1.0, f64::INFINITY));
        }
        let v: u64 = text.parse().ok()?;
        if v == 0 {
            return Some((0.0, 0.0));
        }
        let down = self.base / 2;
        let up = self.base - 1 - down;
        let lo = v.saturating_sub(down).max(self.suppress_max + 1);
        Some((lo as f64, (v + up) as f64))
    }
}

/// One published CSV: header and rows of text cells.
#[derive(Clone, Debug)]
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
}

impl Csv {
    pub fn cell(&self, row: &str, col: &str) -> Option<&str> {
        let j = self.header.iter().skip(1).position(|h| h == col)?;
        let r = self.rows.iter().find(|(l, _)| l == row)?;
        r.1.get(j).map(String::as_str)
    }
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Every count table a report directory publishes (statistics and days to
/// target are not counts of people).
pub fn read_tables(dir: &Path) -> BTreeMap<String, Csv> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".csv") else {
            continue;
        };
        if stem == "statistics" || stem == "service_time_to_target" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let header = split_csv_line(lines.next().unwrap());
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut c = split_csv_line(l);
                let label = c.remove(0);
                (label, c)
            })
            .collect();
        out.insert(stem.to_string(), Csv { header, rows });
    }
    assert!(!out.is_empty(), "no published tables in {}", dir.display());
    out
}

/// Which series a publication belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Series {
    Study(String),
    Service,
}

/// One release directory, with (for checking the attacker) the true tables
/// at that date where the test knows them.
pub struct Publication {
    pub label: String,
    pub series: Series,
    pub tables: BTreeMap<String, Csv>,
    pub truth: Option<BTreeMap<String, Csv>>,
}

impl Publication {
    pub fn new(label: &str, series: Series, dir: &Path, truth: Option<&Path>) -> Publication {
        Publication {
            label: label.to_string(),
            series,
            tables: read_tables(dir),
            truth: truth.map(read_tables),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Suppressed,
    Rounded(u64),
    Difference,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    pub expr: Vec<(usize, f64)>,
    pub truth: Option<i64>,
}

/// A target's feasible interval (`hi = None`: unbounded).
#[derive(Clone, Debug)]
pub struct Found {
    pub target: Target,
    pub lo: i64,
    pub hi: Option<i64>,
    pub confirmed: bool,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hi = self.hi.map(|h| h.to_string()).unwrap_or_else(|| "inf".into());
        let kind = match self.target.kind {
            Kind::Suppressed => "`*`".to_string(),
            Kind::Rounded(v) => format!("published {v}"),
            Kind::Difference => "difference".to_string(),
        };
        let truth = self
            .target
            .truth
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        write!(
            f,
            "{} ({kind}): [{}, {hi}]{} true {truth}",
            self.target.name,
            self.lo,
            if self.confirmed { " (ILP)" } else { "" }
        )
    }
}

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ge,
}

/// `sum(coef * var) op rhs`.
type Constraint = (Vec<(usize, f64)>, Op, f64);

/// (namespace, group) -> (publication, invited var, delivered var) in order.
type ReturnedChains = BTreeMap<(String, String), Vec<(usize, usize, usize)>>;

struct Var {
    lo: f64,
    hi: f64,
    name: String,
    published: Option<String>,
    truth: Option<i64>,
}

/// The reader's program over every publication given.
pub struct Attack {
    rule: Rule,
    vars: Vec<Var>,
    cons: Vec<Constraint>,
    /// (publication, namespace, key) -> var
    index: BTreeMap<(usize, String, String), usize>,
    pub targets: Vec<Target>,
    pub publications: usize,
}

const COUNTS: [&str; 4] = ["invited", "delivered", "responded", "enrolled"];

impl Attack {
    fn var(&mut self, p: usize, ns: &str, key: &str) -> usize {
        if let Some(&v) = self.index.get(&(p, ns.to_string(), key.to_string())) {
            return v;
        }
        self.vars.push(Var {
            lo: 0.0,
            hi: f64::INFINITY,
            name: format!("#{p} {ns}: {key}"),
            published: None,
            truth: None,
        });
        let v = self.vars.len() - 1;
        self.index.insert((p, ns.to_string(), key.to_string()), v);
        v
    }

    fn publish(&mut self, v: usize, text: &str, truth: Option<i64>, what: &str) {
        let (lo, hi) = self
            .rule
            .interval(text)
            .unwrap_or_else(|| panic!("{what}: not a published count"));
        let var = &mut self.vars[v];
        var.lo = var.lo.max(lo);
        var.hi = var.hi.min(hi);
        if var.published.is_none() {
            var.published = Some(text.to_string());
            var.name = what.to_string();
        }
        if let Some(t) = truth {
            if let Some(old) = var.truth {
                assert_eq!(
                    old, t,
                    "{what}: two true values for one quantity (relation wrong)"
                );
            }
            var.truth = Some(t);
        }
    }

    fn eq(&mut self, total: usize, parts: &[usize]) {
        let mut e = vec![(total, 1.0)];
        e.extend(parts.iter().map(|&p| (p, -1.0)));
        self.cons.push((e, Op::Eq, 0.0));
    }

    fn ge(&mut self, big: usize, small: usize) {
        self.cons.push((vec![(big, 1.0), (small, -1.0)], Op::Ge, 0.0));
    }

    /// Map a published cell of a table to (namespace, key); None = not a
    /// count of people.
    fn key(series: &Series, stem: &str, header0: &str, row: &str, col: &str) -> Option<(String, String)> {
        let total = row == "Total";
        match series {
            Series::Study(s) => {
                let k = if let Some(_var) = stem.strip_prefix("uptake_by_") {
                    if total {
                        format!("U|*|{col}")
                    } else {
                        format!("U|{header0}={row}|{col}")
                    }
                } else if stem == "swat_outcome" {
                    let r = if total {
                        "*".to_string()
                    } else {
                        format!("arm={row}")
                    };
                    match col {
                        "enrolled" => format!("U|{r}|enrolled"),
                        "Total" => format!("U|{r}|delivered"),
                        _ => format!("SW|{r}|{col}"),
                    }
                } else if stem == "returns_by_reason" {
                    match row {
                        "delivered" => "U|*|delivered".into(),
                        "Total" => "U|*|invited".into(),
                        _ => format!("R|{row}"),
                    }
                } else if stem == "selection_funnel" {
                    match row {
                        "invited" => "U|*|invited".into(),
                        _ => format!("F|{row}"),
                    }
                } else if stem == "selection_strata" {
                    match col {
                        "actual" if total => "U|*|invited".into(),
                        "actual" => format!("U|stratum={row}|invited"),
                        _ => return None,
                    }
                } else {
                    format!("{stem}|{row}|{col}")
                };
                Some((s.clone(), k))
            }
            Series::Service => match stem {
                "service_studies" if col == "requested" => None,
                "service_studies" if total => Some(("service".into(), format!("SS|*|{col}"))),
                "service_studies" => Some((row.to_string(), format!("U|*|{col}"))),
                "service_exclusions" => Some(("service".into(), format!("X|{row}"))),
                "service_frequency" => Some(("service".into(), format!("Q|{row}"))),
                _ => Some(("service".into(), format!("{stem}|{row}|{col}"))),
            },
        }
    }

    /// Build the program over publications given in date order.
    pub fn build(rule: Rule, pubs: &[Publication]) -> Attack {
        let mut a = Attack {
            rule,
            vars: Vec::new(),
            cons: Vec::new(),
            index: BTreeMap::new(),
            targets: Vec::new(),
            publications: pubs.len(),
        };
        for (p, publ) in pubs.iter().enumerate() {
            for (stem, csv) in &publ.tables {
                let h0 = csv.header[0].as_str();
                let cols: Vec<&str> = csv.header[1..].iter().map(String::as_str).collect();
                // grid of vars (None: not a count)
                let mut grid: Vec<Vec<Option<usize>>> = Vec::new();
                for (row, cells) in &csv.rows {
                    let mut line = Vec::new();
                    for (j, text) in cells.iter().enumerate() {
                        let col = cols[j];
                        let Some((ns, key)) = Self::key(&publ.series, stem, h0, row, col) else {
                            line.push(None);
                            continue;
                        };
                        let v = a.var(p, &ns, &key);
                        let truth = publ
                            .truth
                            .as_ref()
                            .and_then(|t| t.get(stem))
                            .and_then(|t| t.cell(row, col))
                            // A quoted cell (the service report quoting a
                            // study's published release) is the published
                            // text in the truth run too, `*` included: its
                            // truth is then unknown, and only the attack's
                            // findings, not the sanity check, cover it.
                            .and_then(|s| s.parse::<i64>().ok());
                        let what = format!("{} {stem} [{row}, {col}]", publ.label);
                        a.publish(v, text, truth, &what);
                        line.push(Some(v));
                    }
                    grid.push(line);
                }
                // Total row: sum of the rows above it
                if let Some(ti) = csv.rows.iter().position(|(l, _)| l == "Total") {
                    for j in 0..cols.len() {
                        let Some(t) = grid[ti][j] else { continue };
                        let parts: Vec<usize> = (0..grid.len())
                            .filter(|&i| i != ti)
                            .filter_map(|i| grid[i][j])
                            .collect();
                        a.eq(t, &parts);
                    }
                }
                // Total column: sum of the columns before it
                if let Some(tj) = cols.iter().position(|c| *c == "Total") {
                    for line in &grid {
                        let Some(t) = line[tj] else { continue };
                        let parts: Vec<usize> = (0..tj).filter_map(|j| line[j]).collect();
                        a.eq(t, &parts);
                    }
                }
                // nesting
                let nested = [
                    cols.iter().position(|c| *c == "invited"),
                    cols.iter().position(|c| *c == "delivered"),
                    cols.iter().position(|c| *c == "responded"),
                    cols.iter().position(|c| *c == "enrolled"),
                ];
                if nested.iter().all(Option::is_some) {
                    for line in &grid {
                        for w in nested.windows(2) {
                            if let (Some(big), Some(small)) = (line[w[0].unwrap()], line[w[1].unwrap()]) {
                                a.ge(big, small);
                            }
                        }
                    }
                }
            }
            a.group_sums(p, publ);
            if publ.series == Series::Service {
                a.service_relations(p, publ);
            }
        }
        a.growth_and_differences(pubs);
        a.targets_of_cells();
        a
    }

    /// Demographic groups named in the quota strata are sums of strata.
    fn group_sums(&mut self, p: usize, publ: &Publication) {
        let Series::Study(s) = &publ.series else { return };
        let Some(strata) = publ.tables.get("selection_strata") else {
            return;
        };
        let vars: Vec<String> = strata.header[0].split(" / ").map(str::to_string).collect();
        if vars.is_empty() {
            return;
        }
        let labels: Vec<&String> = strata
            .rows
            .iter()
            .map(|r| &r.0)
            .filter(|l| *l != "Total")
            .collect();
        for (k, variable) in vars.iter().enumerate() {
            if !publ
                .tables
                .contains_key(&format!("uptake_by_{}", variable.replace(' ', "_")))
            {
                continue;
            }
            let mut groups: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
            for l in &labels {
                let part = l.split(" / ").nth(k).unwrap();
                groups.entry(part).or_default().push(l);
            }
            for (value, members) in groups {
                for col in COUNTS {
                    let t = self.var(p, s, &format!("U|{variable}={value}|{col}"));
                    let parts: Vec<usize> = members
                        .iter()
                        .map(|m| self.var(p, s, &format!("U|stratum={m}|{col}")))
                        .collect();
                    self.eq(t, &parts);
                }
            }
        }
    }

    fn service_relations(&mut self, p: usize, publ: &Publication) {
        let studies: Vec<String> = publ
            .tables
            .get("service_studies")
            .map(|t| {
                t.rows
                    .iter()
                    .map(|r| r.0.clone())
                    .filter(|r| r != "Total")
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ex) = publ.tables.get("service_exclusions") {
            for (reason, _) in &ex.rows {
                if reason == "Total" {
                    continue;
                }
                let x = self.var(p, "service", &format!("X|{reason}"));
                let parts: Vec<usize> = studies
                    .iter()
                    .map(|s| self.var(p, s, &format!("F|excluded: {reason}")))
                    .collect();
                self.eq(x, &parts);
            }
        }
        if let Some(fr) = publ.tables.get("service_frequency") {
            let invited: Vec<usize> = studies.iter().map(|s| self.var(p, s, "U|*|invited")).collect();
            let total = self.var(p, "service", "Q|Total");
            for &i in &invited {
                self.ge(total, i);
            }
            let mut expr: Vec<(usize, f64)> = invited.iter().map(|&i| (i, 1.0)).collect();
            let mut open_zero = false;
            for (label, cells) in &fr.rows {
                if label == "Total" {
                    continue;
                }
                let k: f64 = label
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("invitations bucket");
                if label.contains("or more") && cells[0] == "0" {
                    open_zero = true;
                }
                let q = self.var(p, "service", &format!("Q|{label}"));
                expr.push((q, -k));
            }
            let has_open = fr.rows.iter().any(|r| r.0.contains("or more"));
            self.cons
                .push((expr, if open_zero || !has_open { Op::Eq } else { Op::Ge }, 0.0));
        }
    }

    fn growth_and_differences(&mut self, pubs: &[Publication]) {
        // chains: (ns, key) -> vars in date order
        let mut chains: BTreeMap<(String, String), Vec<(usize, usize)>> = BTreeMap::new();
        for ((p, ns, key), &v) in &self.index {
            chains.entry((ns.clone(), key.clone())).or_default().push((*p, v));
        }
        let grows = |key: &str| {
            key.starts_with("F|")
                || key.starts_with("R|")
                || (key.starts_with("U|") && !key.ends_with("|delivered"))
        };
        let mut targets = Vec::new();
        for ((ns, key), chain) in &chains {
            if ns == "service" && !key.starts_with("Q|Total") {
                // service-only quantities grow only through their studies
                continue;
            }
            if !grows(key) && !key.starts_with("Q|Total") {
                continue;
            }
            let mut chain = chain.clone();
            chain.sort();
            for w in chain.windows(2) {
                let (a, b) = (w[0].1, w[1].1);
                self.ge(b, a);
            }
            // differences between consecutive publications of the quantity
            let published: Vec<(usize, usize)> = chain
                .iter()
                .copied()
                .filter(|&(_, v)| self.vars[v].published.is_some())
                .collect();
            for w in published.windows(2) {
                let (pa, a) = w[0];
                let (pb, b) = w[1];
                if a == b {
                    continue;
                }
                // Sound screen: the LP interval of b - a lies inside
                // [lo_b - hi_a, hi_b - lo_a]; if that cannot start in the
                // suppressed range, the difference cannot disclose.
                let (va, vb) = (&self.vars[a], &self.vars[b]);
                if vb.lo - va.hi > self.rule.suppress_max as f64 || vb.hi - va.lo < 1.0 {
                    continue;
                }
                let truth = match (self.vars[a].truth, self.vars[b].truth) {
                    (Some(x), Some(y)) => Some(y - x),
                    _ => None,
                };
                targets.push(Target {
                    name: format!("{ns}: {key}, {} -> {}", pubs[pa].label, pubs[pb].label),
                    kind: Kind::Difference,
                    expr: vec![(b, 1.0), (a, -1.0)],
                    truth,
                });
            }
        }
        // returned (invited - delivered) never falls
        let mut returned: ReturnedChains = BTreeMap::new();
        for ((p, ns, key), &v) in &self.index {
            if let Some(g) = key.strip_prefix("U|").and_then(|k| k.strip_suffix("|invited")) {
                if let Some(&d) = self.index.get(&(*p, ns.clone(), format!("U|{g}|delivered"))) {
                    returned
                        .entry((ns.clone(), g.to_string()))
                        .or_default()
                        .push((*p, v, d));
                }
            }
        }
        for chain in returned.values_mut() {
            chain.sort();
            for w in chain.windows(2) {
                let (_, i1, d1) = w[0];
                let (_, i2, d2) = w[1];
                self.cons
                    .push((vec![(i2, 1.0), (d2, -1.0), (i1, -1.0), (d1, 1.0)], Op::Ge, 0.0));
            }
        }
        self.targets.extend(targets);
    }

    fn targets_of_cells(&mut self) {
        let mut cells = Vec::new();
        for (v, var) in self.vars.iter().enumerate() {
            let Some(text) = &var.published else { continue };
            let kind = if text == "*" {
                Kind::Suppressed
            } else {
                match text.parse::<u64>().unwrap() {
                    0 => continue,
                    x => Kind::Rounded(x),
                }
            };
            cells.push(Target {
                name: var.name.clone(),
                kind,
                expr: vec![(v, 1.0)],
                truth: var.truth,
            });
        }
        // cells first, then differences
        cells.append(&mut self.targets);
        self.targets = cells;
    }

    pub fn variables(&self) -> usize {
        self.vars.len()
    }

    pub fn constraints(&self) -> usize {
        self.cons.len()
    }

    fn problem(&self, dir: OptimizationDirection, expr: &[(usize, f64)], integer: bool) -> Problem {
        let mut pb = Problem::new(dir);
        let xs: Vec<_> = self
            .vars
            .iter()
            .map(|v| {
                if integer {
                    let hi = if v.hi.is_finite() {
                        v.hi as i32
                    } else {
                        i32::MAX / 4
                    };
                    pb.add_integer_var(0.0, (v.lo as i32, hi))
                } else {
                    pb.add_var(0.0, (v.lo, v.hi))
                }
            })
            .collect();
        for (e, op, rhs) in &self.cons {
            let mut le = LinearExpr::empty();
            for &(v, c) in e {
                le.add(xs[v], c);
            }
            let op = match op {
                Op::Eq => ComparisonOp::Eq,
                Op::Ge => ComparisonOp::Ge,
            };
            pb.add_constraint(le, op, *rhs);
        }
        // the objective through a free variable tied to the expression
        let t = pb.add_var(1.0, (f64::NEG_INFINITY, f64::INFINITY));
        let mut le = LinearExpr::empty();
        le.add(t, 1.0);
        for &(v, c) in expr {
            le.add(xs[v], -c);
        }
        pb.add_constraint(le, ComparisonOp::Eq, 0.0);
        pb
    }

    fn optimise(&self, dir: OptimizationDirection, expr: &[(usize, f64)], integer: bool) -> Option<f64> {
        self.optimise_point(dir, expr, integer, &mut Vec::new())
    }

    /// Optimise; an optimal point that is integral is added to `points`.
    fn optimise_point(
        &self,
        dir: OptimizationDirection,
        expr: &[(usize, f64)],
        integer: bool,
        points: &mut Vec<Vec<f64>>,
    ) -> Option<f64> {
        match self.problem(dir, expr, integer).solve() {
            Ok(s) => {
                let x: Vec<f64> = s.iter().take(self.vars.len()).map(|(_, &v)| v).collect();
                if x.iter().all(|v| (v - v.round()).abs() < 1e-6) {
                    points.push(x.iter().map(|v| v.round()).collect());
                }
                Some(s.objective())
            }
            Err(microlp::Error::Unbounded) => None,
            Err(e) => panic!("the attacker's program is {e}: a relation it assumes is wrong"),
        }
    }

    /// Bound one target: LP interval rounded inwards; integral optimal
    /// points found on the way are added to `points`.
    pub fn bound(&self, t: &Target, points: &mut Vec<Vec<f64>>) -> Found {
        let lo = self
            .optimise_point(OptimizationDirection::Minimize, &t.expr, false, points)
            .expect("counts are bounded below");
        let hi = self.optimise_point(OptimizationDirection::Maximize, &t.expr, false, points);
        Found {
            target: t.clone(),
            lo: (lo - 1e-6).ceil() as i64,
            hi: hi.map(|h| (h + 1e-6).floor() as i64),
            confirmed: false,
        }
    }

    /// Confirm a finding's endpoints by integer programs.
    pub fn confirm(&self, f: &mut Found) {
        let lo = self
            .optimise(OptimizationDirection::Minimize, &f.target.expr, true)
            .expect("bounded below");
        f.lo = (lo - 1e-6).ceil() as i64;
        if f.hi.is_some() {
            let hi = self.optimise(OptimizationDirection::Maximize, &f.target.expr, true);
            f.hi = hi.map(|h| (h + 1e-6).floor() as i64);
        }
        f.confirmed = true;
    }

    /// Is this interval a disclosure under the rule?
    pub fn discloses(&self, f: &Found) -> bool {
        let r = &self.rule;
        match f.target.kind {
            Kind::Suppressed | Kind::Difference => {
                (1..=r.suppress_max as i64).contains(&f.lo)
                    && f.hi.is_some_and(|h| ((h - f.lo) as u64) < r.min_width)
            }
            Kind::Rounded(_) => {
                f.hi.is_some_and(|h| ((h - f.lo + 1) as u64) < r.min_rounded_values)
            }
        }
    }
}

/// What one run of the attacker found.
pub struct Outcome {
    pub found: Vec<Found>,
    pub disclosures: Vec<Found>,
    pub unknown_truth: usize,
    /// Targets shown safe by integer feasible points alone.
    pub skipped: usize,
}

/// Bound every target `select` keeps, check each interval against the
/// truth, confirm the disclosures by integer programs.
pub fn run(attack: &Attack, select: impl Fn(&Target) -> bool) -> Outcome {
    let mut found = Vec::new();
    let mut disclosures = Vec::new();
    let mut unknown_truth = 0;
    let mut points: Vec<Vec<f64>> = Vec::new();
    let mut seen = 0usize;
    let targets: Vec<&Target> = attack.targets.iter().filter(|t| select(t)).collect();
    // inner bounds: the range of each target over integer feasible points
    let mut inner: Vec<(f64, f64)> = vec![(f64::INFINITY, f64::NEG_INFINITY); targets.len()];
    let mut skipped = 0;
    for (k, t) in targets.iter().enumerate() {
        for x in &points[seen..] {
            for (m, u) in targets.iter().enumerate().skip(k) {
                let v: f64 = u.expr.iter().map(|&(i, c)| c * x[i]).sum();
                inner[m].0 = inner[m].0.min(v);
                inner[m].1 = inner[m].1.max(v);
            }
        }
        seen = points.len();
        // Integer feasible points already show the interval is wide enough
        // (or, for a difference that never falls, that it starts at 0):
        // no program needed to know this target does not disclose.
        let (ilo, ihi) = inner[k];
        let safe = match t.kind {
            Kind::Suppressed => ihi - ilo >= attack.rule.min_width as f64,
            Kind::Difference => ilo <= 0.0 || ihi - ilo >= attack.rule.min_width as f64,
            Kind::Rounded(_) => ihi - ilo + 1.0 >= attack.rule.min_rounded_values as f64,
        };
        if safe {
            skipped += 1;
            continue;
        }
        let mut f = attack.bound(t, &mut points);
        if attack.discloses(&f) {
            attack.confirm(&mut f);
        }
        match t.truth {
            Some(v) => assert!(
                f.lo <= v && f.hi.is_none_or(|h| v <= h),
                "the attacker is wrong: the true value lies outside {f}"
            ),
            None => unknown_truth += 1,
        }
        if attack.discloses(&f) {
            disclosures.push(f.clone());
        }
        found.push(f);
    }
    Outcome {
        found,
        disclosures,
        unknown_truth,
        skipped,
    }
}

impl Outcome {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} interval(s) computed ({} more shown wide by feasible points), {} disclosive:\n",
            self.found.len(),
            self.skipped,
            self.disclosures.len()
        );
        for f in &self.disclosures {
            s.push_str(&format!("  {f}\n"));
        }
        s
    }
}
