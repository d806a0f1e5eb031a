//! An independent disclosure attacker: it reads only the CSV tables
//! `trialink report` publishes (never the store, never tables.json, never
//! `disclosure`'s code) and the relations any reader of those files can
//! know, builds one linear program over every publication it is given (all
//! releases of all studies and of the service evaluation, in date order),
//! and bounds every suppressed cell, every rounded cell and every
//! difference between consecutive publications of a cumulative count.
//!
//! Relations used (what the published files and their documentation tell
//! any reader):
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
//!   `actual` is the uptake-by-stratum `invited`, each demographic group
//!   named in the strata (e.g. `female`, `50-54`) is the sum of its strata,
//!   and recruitment by week's `Total` (the count to date) is the uptake
//!   totals' invited, responded and enrolled;
//! * nesting: enrolled <= responded <= delivered <= invited, per row;
//! * recruitment by week publishes each week's new counts: to every week,
//!   enrolled to date <= responded to date, and reminded and responded to
//!   date <= invited to date;
//! * growth: invited, responded, enrolled, the funnel's steps, returns by
//!   reason, the number returned (invited - delivered), each week's
//!   invitations and reminders, and every count to date of recruitment by
//!   week never fall between two publications in date order, across
//!   series;
//! * the service evaluation quotes each study's latest release published
//!   before it: its per-study row is that release's uptake totals, and its
//!   exclusions by reason and study are that release's funnel steps — the
//!   same quantities, not new ones;
//! * invitations per person (the service's own count, at its date): the
//!   number of people invited at least once is at least each study's
//!   invited at that date, and `1*n1 + 2*n2 + 3*n3 + 4*n4+` is at most the
//!   sum of the studies' invited then (equal when `4 or more` is 0), each
//!   study's invited at that date lying between its releases before and
//!   after by growth.
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
    /// Published somewhere (the first text).
    published: Option<String>,
    /// Published as a rounded count of its own (not a sum of published
    /// parts, not a quote).
    leaf: Option<u64>,
    /// Published `*` somewhere.
    starred: bool,
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

/// The recruitment-by-week table.
const RECRUITMENT: &str = "recruitment_by_week";

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
            leaf: None,
            starred: false,
            truth: None,
        });
        let v = self.vars.len() - 1;
        self.index.insert((p, ns.to_string(), key.to_string()), v);
        v
    }

    /// A published cell of quantity `v`. A `derived` cell (a total, a row
    /// that adds up rows of another table, a quote) is published as the
    /// sum of the published values of its parts: it says nothing of its
    /// own beyond being `*`, or exactly 0.
    fn publish(&mut self, v: usize, text: &str, truth: Option<i64>, what: &str, derived: bool) {
        let (lo, hi) = self
            .rule
            .interval(text)
            .unwrap_or_else(|| panic!("{what}: not a published count"));
        let var = &mut self.vars[v];
        let count = text.parse::<u64>().ok();
        if !derived || count.is_none_or(|c| c == 0) {
            var.lo = var.lo.max(lo);
            var.hi = var.hi.min(hi);
        }
        var.starred |= count.is_none();
        if !derived && count.is_some() && var.leaf.is_none() {
            var.leaf = count;
            var.name = what.to_string();
        }
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

    /// Map a published cell of a study's table to its key in the study's
    /// namespace; None = not a count of people.
    fn study_key(stem: &str, header0: &str, row: &str, col: &str) -> Option<String> {
        let total = row == "Total";
        let k = if stem.starts_with("uptake_by_") {
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
        } else if stem == RECRUITMENT {
            match (total, col) {
                // the count to date: the uptake tables' people
                (true, "invited" | "responded" | "enrolled") => format!("U|*|{col}"),
                (true, _) => format!("W|*|{col}"),
                (false, _) => format!("W|{row}|{col}"),
            }
        } else {
            format!("{stem}|{row}|{col}")
        };
        Some(k)
    }

    /// Map a published cell to where it lives: (publication, namespace,
    /// key, quoted). The service evaluation's per-study cells quote the
    /// study's latest publication before it (`latest`: study -> index):
    /// they are that publication's cells, not new quantities. None = not a
    /// count of people.
    fn locate(
        pubs: &[Publication],
        p: usize,
        latest: &BTreeMap<String, usize>,
        stem: &str,
        header0: &str,
        row: &str,
        col: &str,
    ) -> Option<(usize, String, String, bool)> {
        let quoted = |study: &str| {
            *latest
                .get(study)
                .unwrap_or_else(|| panic!("the service quotes {study}, of which no release was given"))
        };
        match &pubs[p].series {
            Series::Study(s) => Self::study_key(stem, header0, row, col).map(|k| (p, s.clone(), k, false)),
            Series::Service => match stem {
                "service_studies" if col == "requested" => None,
                "service_studies" if row == "Total" => {
                    Some((p, "service".into(), format!("SS|*|{col}"), false))
                }
                // the study's uptake totals as of its latest release
                "service_studies" => Some((quoted(row), row.to_string(), format!("U|*|{col}"), true)),
                // reason by study: the study's latest funnel row (a study
                // whose funnel lacks the reason is quoted as 0: nothing
                // known about the study)
                "service_exclusions" => {
                    let q = quoted(col);
                    let funnel = pubs[q].tables.get("selection_funnel")?;
                    let step = format!("excluded: {row}");
                    funnel.rows.iter().any(|r| r.0 == step).then(|| {
                        let k = Self::study_key("selection_funnel", &funnel.header[0], &step, "people");
                        (q, col.to_string(), k.expect("a count"), true)
                    })
                }
                "service_frequency" => Some((p, "service".into(), format!("Q|{row}"), false)),
                _ => Some((p, "service".into(), format!("{stem}|{row}|{col}"), false)),
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
        let mut latest: BTreeMap<String, usize> = BTreeMap::new();
        for (p, publ) in pubs.iter().enumerate() {
            let sums = Self::group_rows(publ);
            for (stem, csv) in &publ.tables {
                let h0 = csv.header[0].as_str();
                let cols: Vec<&str> = csv.header[1..].iter().map(String::as_str).collect();
                // grid of vars (None: not a count)
                let mut grid: Vec<Vec<Option<usize>>> = Vec::new();
                for (row, cells) in &csv.rows {
                    let mut line = Vec::new();
                    for (j, text) in cells.iter().enumerate() {
                        let col = cols[j];
                        let Some((at, ns, key, quoted)) = Self::locate(pubs, p, &latest, stem, h0, row, col)
                        else {
                            line.push(None);
                            continue;
                        };
                        let v = a.var(at, &ns, &key);
                        // A quoted cell is the published text in the truth
                        // run too (the truth report quotes the same
                        // release): its truth is the quoted publication's.
                        let truth = publ
                            .truth
                            .as_ref()
                            .filter(|_| !quoted)
                            .and_then(|t| t.get(stem))
                            .and_then(|t| t.cell(row, col))
                            .and_then(|s| s.parse::<i64>().ok());
                        let what = format!("{} {stem} [{row}, {col}]", publ.label);
                        let derived = quoted
                            || row == "Total"
                            || col == "Total"
                            || sums.contains(&(stem.as_str(), row.as_str()));
                        a.publish(v, text, truth, &what, derived);
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
            a.recruitment_relations(p, publ);
            match &publ.series {
                Series::Service => a.service_relations(p, publ),
                Series::Study(s) => {
                    latest.insert(s.clone(), p);
                }
            }
        }
        a.growth_and_differences(pubs);
        a.targets_of_cells();
        a
    }

    /// The rows of uptake tables that add up quota strata (`(table,
    /// row)`), published as the sum of the strata's published rows.
    fn group_rows(publ: &Publication) -> std::collections::BTreeSet<(&str, &str)> {
        let mut out = std::collections::BTreeSet::new();
        let Some(strata) = publ.tables.get("selection_strata") else {
            return out;
        };
        for (k, variable) in strata.header[0].split(" / ").enumerate() {
            let stem = format!("uptake_by_{}", variable.replace(' ', "_"));
            let Some((name, table)) = publ.tables.get_key_value(&stem) else {
                continue;
            };
            for (label, _) in strata.rows.iter().filter(|r| r.0 != "Total") {
                let part = label.split(" / ").nth(k).unwrap_or_default();
                if let Some((row, _)) = table.rows.iter().find(|r| r.0 == part) {
                    out.insert((name.as_str(), row.as_str()));
                }
            }
        }
        out
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

    /// The service's own counts against its studies'. The per-study cells
    /// quote the studies' latest releases (the same variables, see
    /// [`Attack::locate`]); what remains is people by invitations received,
    /// counted at the service report's date: each study's invited at that
    /// date (a variable of the study dated at the service report, between
    /// the study's releases before and after it by growth) is at most the
    /// people invited at least once, and the people weighted by their
    /// invitations add up to at most the studies' invited (exactly, when
    /// the open bucket is 0). The reader takes the service's studies to be
    /// those its studies table lists.
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

    /// Recruitment by week: each row is the week's new counts, so the
    /// running sums are the cumulative series a reader draws. Every
    /// person's first enrolment is on or after their first response, so
    /// enrolled to date never exceeds responded to date; reminders and
    /// responses come after invitations (reminded and responded to date
    /// at most invited to date). Across releases, invited and reminded
    /// per week never fall, and the running sums of every column never
    /// fall (responses only appear, or move to an earlier week).
    fn recruitment_relations(&mut self, p: usize, publ: &Publication) {
        let Series::Study(s) = &publ.series else { return };
        let Some(t) = publ.tables.get(RECRUITMENT) else {
            return;
        };
        let weeks: Vec<&String> = t.rows.iter().map(|r| &r.0).filter(|l| *l != "Total").collect();
        let cols = ["invited", "reminded", "responded", "enrolled"];
        let mut running: BTreeMap<&str, usize> = BTreeMap::new();
        for w in weeks {
            for col in cols {
                let x = self.var(p, s, &format!("W|{w}|{col}"));
                let run = self.var(p, s, &format!("S|{w}|{col}"));
                match running.get(col) {
                    Some(&prev) => self.eq(run, &[prev, x]),
                    None => self.eq(run, &[x]),
                }
                running.insert(col, run);
            }
            for (small, big) in [
                ("enrolled", "responded"),
                ("reminded", "invited"),
                ("responded", "invited"),
            ] {
                self.ge(running[big], running[small]);
            }
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
                || key.starts_with("S|")
                || (key.starts_with("W|") && (key.ends_with("|invited") || key.ends_with("|reminded")))
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
            // a rounded count of its own; else hidden (`*`) everywhere it
            // is published on its own; a quantity published only as sums
            // of published parts is not a target of its own
            let kind = match var.leaf {
                Some(0) => continue,
                Some(x) => Kind::Rounded(x),
                None if var.starred => Kind::Suppressed,
                None => continue,
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

    /// The relations (and published bounds) the truth breaks, where every
    /// quantity in them has a known truth: each is a relation the attacker
    /// assumes wrongly.
    pub fn broken_by_truth(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.vars {
            if let Some(t) = v.truth {
                if (t as f64) < v.lo || (t as f64) > v.hi {
                    out.push(format!("{}: true {t} outside [{}, {}]", v.name, v.lo, v.hi));
                }
            }
        }
        for (e, op, rhs) in &self.cons {
            let Some(lhs) = e
                .iter()
                .map(|&(v, c)| self.vars[v].truth.map(|t| c * t as f64))
                .sum::<Option<f64>>()
            else {
                continue;
            };
            let ok = match op {
                Op::Eq => (lhs - rhs).abs() < 1e-6,
                Op::Ge => lhs >= rhs - 1e-6,
            };
            if !ok {
                let terms: Vec<String> = e
                    .iter()
                    .map(|&(v, c)| format!("{c:+} x [{}] (true {:?})", self.vars[v].name, self.vars[v].truth))
                    .collect();
                out.push(format!(
                    "{} {} {rhs}",
                    terms.join(" "),
                    if matches!(op, Op::Eq) { "=" } else { ">=" }
                ));
            }
        }
        out
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
