//! One audit: the reader's program built, its candidate findings listed,
//! split into independent parts, each part bounded by propagation and
//! solved once, then every finding settled.

use super::bounds;
use super::findings::{
    by_points, cell_candidates, check_robust, check_safe, difference_candidates, settle, Candidate, Check,
    Ends,
};
use super::lp::{count_at_least, count_at_most, split, Parts, Prepared, CARRY, CARRY_MORE, CARRY_WARM};
use super::model::{build_lp, Built};
use super::window::{self, Window};
use super::{AuditCache, AuditError, AuditReport, Finding, FindingKey, Interval, Scope};
use crate::policy::Policy;
use crate::table::Release;
use std::collections::BTreeMap;

/// Where each part of the program stands in this audit.
struct Plan {
    /// Parts to solve (they hold a candidate and are in scope).
    solve: Vec<bool>,
    /// The latest release holding a variable of each part (for errors).
    owner: Vec<usize>,
    /// Each part the current release touches, named by its first cell
    /// there (protection carries points by this name).
    carry_key: BTreeMap<usize, (usize, (usize, usize))>,
    /// The first variable of each release in each part (ascending).
    starts: Vec<Vec<usize>>,
}

impl Plan {
    fn new(parts: &Parts, layout: &super::model::Layout, cands: &[Candidate], scope: &Scope) -> Plan {
        let ncomp = parts.lps.len();
        let mut needed = vec![scope.touching.is_none(); ncomp];
        let mut carry_key = BTreeMap::new();
        if let Some(k) = scope.touching {
            for (t, rows) in layout[k].iter().enumerate() {
                for (i, row) in rows.iter().enumerate() {
                    for (j, &x) in row.iter().enumerate() {
                        needed[parts.comp[x]] = true;
                        carry_key.entry(parts.comp[x]).or_insert((t, (i, j)));
                    }
                }
            }
        }
        let mut owner = vec![0usize; ncomp];
        for (k, rel_vars) in layout.iter().enumerate() {
            for x in rel_vars.iter().flatten().flatten() {
                owner[parts.comp[*x]] = k;
            }
        }
        // only parts with something to check are solved
        let mut used = vec![false; ncomp];
        for c in cands {
            used[parts.comp[c.objective[0].0]] = true;
        }
        let solve = needed.iter().zip(&used).map(|(a, b)| *a && *b).collect();
        let mut first: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); ncomp];
        for (k, rel_vars) in layout.iter().enumerate() {
            for x in rel_vars.iter().flatten().flatten() {
                let e = first[parts.comp[*x]].entry(k).or_insert(usize::MAX);
                *e = (*e).min(parts.local[*x]);
            }
        }
        let starts = first
            .into_iter()
            .map(|m| {
                let mut v: Vec<usize> = m.into_values().collect();
                v.sort_unstable();
                v
            })
            .collect();
        Plan {
            solve,
            owner,
            carry_key,
            starts,
        }
    }
}

/// Turns solver errors into audit errors naming a release.
struct Errors<'a> {
    releases: &'a [Release],
}

impl Errors<'_> {
    fn map(&self, e: microlp::Error, k: usize) -> AuditError {
        match e {
            microlp::Error::Infeasible => AuditError::Inconsistent {
                study: self.releases[k].study.clone(),
                sequence: self.releases[k].sequence,
            },
            other => AuditError::Solver(other.to_string()),
        }
    }
}

/// What the cache hands in for this audit.
#[derive(Default)]
struct Inherited {
    known: BTreeMap<FindingKey, Interval>,
    old_points: BTreeMap<usize, Vec<Vec<f64>>>,
    carry_in: super::Carried,
}

/// Counters for the profile line and the cache.
#[derive(Default)]
struct Tally {
    carried: usize,
    reused: usize,
    certified: usize,
    bounded: usize,
    /// Findings left to the whole part's solver, by kind (suppressed,
    /// difference, rounded) and window (none, covering, not covering).
    solved: [[usize; 3]; 3],
    /// Seconds in windows, and in the whole parts' solver.
    window_secs: f64,
    whole_secs: f64,
    /// Seconds carrying points from the series' previous release.
    carry_secs: f64,
}

pub(crate) fn audit_scoped(
    releases: &[Release],
    policy: &Policy,
    scope: &Scope,
    mut cache: Option<&mut AuditCache>,
) -> Result<AuditReport, AuditError> {
    let prof = std::env::var_os("TRIALINK_AUDIT_PROFILE").is_some();
    // `TRIALINK_AUDIT_PROFILE=trace`: also one line per finding left to
    // the whole part's solver (see `trace_whole_part`)
    let trace = std::env::var_os("TRIALINK_AUDIT_PROFILE").is_some_and(|v| v == "trace");
    let t0 = std::time::Instant::now();
    for r in releases {
        r.validate()?;
    }
    let Built { lp, layout, faithful } = build_lp(releases)?;
    let mut report = AuditReport::empty(policy, releases.len());
    if releases.is_empty() {
        return Ok(report);
    }
    let cands = candidates(releases, &layout, &faithful, policy, scope);
    let pairs: Vec<(usize, usize)> = cands
        .iter()
        .filter(|c| c.objective.len() == 2)
        .map(|c| (c.objective[0].0, c.objective[1].0))
        .collect();
    let parts = split(&lp, &pairs);
    let plan = Plan::new(&parts, &layout, &cands, scope);
    let errors = Errors { releases };
    let mut inherited = match cache.as_deref_mut() {
        Some(c) => Inherited {
            known: std::mem::take(&mut c.safe),
            old_points: std::mem::take(&mut c.points),
            carry_in: std::mem::take(&mut c.carry_in),
        },
        None => Inherited::default(),
    };
    let local = |obj: &[(usize, f64)]| -> Vec<(usize, f64)> {
        obj.iter().map(|&(v, c)| (parts.local[v], c)).collect()
    };
    let outer = outer_bounds(&parts, &plan);
    let large = large_by_bounds(&cands, &parts, &outer, policy, scope);
    let t_build = t0.elapsed().as_secs_f64();
    let mut tally = Tally::default();
    let prepared = prepare_parts(
        &parts,
        &plan,
        &outer,
        &mut inherited,
        &errors,
        &mut report,
        &mut tally,
    )?;
    let windows = build_windows(&parts, &plan, &prepared, &outer, scope);
    // the window a candidate is offered to: the one whose core holds its
    // latest variable
    let window_of = |cand: &Candidate| -> Option<&Window> {
        let c = parts.comp[cand.objective[0].0];
        let last = cand.objective.iter().map(|&(v, _)| parts.local[v]).max()?;
        windows[c]
            .iter()
            .find(|(_, core)| core.contains(&last))
            .map(|(w, _)| w)
    };
    if scope.certify {
        let open: Vec<&Candidate> = cands
            .iter()
            .zip(&large)
            .filter(|(_, l)| !**l)
            .map(|(c, _)| c)
            .collect();
        window_extremes(&open, &parts, &prepared, &window_of, &mut report);
        let rest: Vec<&Candidate> = open.into_iter().filter(|c| window_of(c).is_none()).collect();
        extremes(&rest, &parts, &prepared, &plan, &errors, &mut report)?;
        let rest: Vec<&Candidate> = rest
            .into_iter()
            .filter(|c| !inherited.known.contains_key(&c.key))
            .collect();
        refine(
            &rest,
            &parts,
            &prepared,
            &plan,
            &errors,
            &mut report,
            policy,
            prof,
        )?;
    }
    let t_prep = t0.elapsed().as_secs_f64();
    let lps_before = report.linear_programs;
    let mut safe_now: BTreeMap<FindingKey, Interval> = BTreeMap::new();
    for (cand, &large) in cands.iter().zip(&large) {
        let c = parts.comp[cand.objective[0].0];
        let Some(lpc) = prepared[c].as_ref() else {
            continue;
        };
        let obj = local(&cand.objective);
        let clock = std::time::Instant::now();
        let found = if inherited.known.contains_key(&cand.key) || large || !scope.certify {
            None
        } else {
            Some(windowed(lpc, &obj, cand, &window_of, policy, &mut report))
        };
        tally.window_secs += clock.elapsed().as_secs_f64();
        let interval = if let Some(&iv) = inherited.known.get(&cand.key) {
            tally.reused += 1;
            iv
        } else if large {
            tally.bounded += 1;
            let b = outer[c].as_ref().expect("bounded");
            large_interval(lpc, &obj, bounds::lower(b, &obj))
        } else if let Some(iv) = match found {
            // an unsafe verdict is confirmed over the whole part unless
            // the scope never confirms (protection)
            Some(Windowed::Settled(iv))
                if scope.confirm == super::Confirm::Never || check_safe(cand.check, iv, policy) =>
            {
                Some(iv)
            }
            _ => None,
        } {
            tally.certified += 1;
            iv
        } else {
            if prof {
                let w = window_of(cand);
                let k = match cand.check {
                    Check::Suppressed => 0,
                    Check::Difference => 1,
                    Check::Rounded(_) => 2,
                };
                let slot = if w.is_none() {
                    0
                } else if w.is_some_and(|w| w.covers(&obj)) {
                    1
                } else {
                    2
                };
                tally.solved[k][slot] += 1;
            }
            let known = match found {
                Some(Windowed::Open(ends)) => ends,
                _ => Ends::default(),
            };
            let before = trace.then(|| (lpc.span(&obj), window_of(cand).and_then(|w| w.outer(&obj))));
            let clock = std::time::Instant::now();
            let iv = settle(
                lpc,
                &obj,
                cand.check,
                policy,
                scope,
                known,
                &mut report.linear_programs,
                &mut tally.certified,
            )
            .map_err(|e| errors.map(e, cand.release))?;
            tally.whole_secs += clock.elapsed().as_secs_f64();
            if let Some((span, relaxed)) = before {
                trace_whole_part(cand, &plan.starts[c], &parts, span, relaxed, iv, policy);
            }
            iv
        };
        if check_robust(cand.check, interval, policy) {
            safe_now.insert(cand.key, interval);
        }
        record(&mut report, releases, cand, interval, policy);
    }
    if prof {
        eprintln!(
            "audit profile: {} releases, {} candidates, vars {}, build+bounds {:.3}s, prepare+extremes {:.3}s ({} lps), findings {:.3}s ({} lps, {} bounded, {} certified, {} reused, whole-part {:?}; windows {:.3}s, whole parts {:.3}s; warm starts missed so far {:?}), {} points carried in {:.3}s",
            releases.len(),
            cands.len(),
            lp.bounds.len(),
            t_build,
            t_prep - t_build,
            lps_before,
            t0.elapsed().as_secs_f64() - t_prep,
            report.linear_programs - lps_before,
            tally.bounded,
            tally.certified,
            tally.reused,
            tally.solved,
            tally.window_secs,
            tally.whole_secs,
            super::lp::WARM_MISSES.each_ref().map(|m| m.load(std::sync::atomic::Ordering::Relaxed)),
            tally.carried,
            tally.carry_secs
        );
    }
    if let Some(cc) = cache {
        hand_on(cc, prepared, inherited.old_points, &plan, safe_now, &tally);
    }
    Ok(report)
}

/// What the next audit of the same releases (a repair round) or of the
/// series' next release starts from: every part's points, the points to
/// carry, and the findings proven safe in a way more suppression keeps.
fn hand_on(
    cc: &mut AuditCache,
    prepared: Vec<Option<Prepared>>,
    old_points: BTreeMap<usize, Vec<Vec<f64>>>,
    plan: &Plan,
    safe_now: BTreeMap<FindingKey, Interval>,
    tally: &Tally,
) {
    cc.points = prepared
        .into_iter()
        .enumerate()
        .filter_map(|(c, p)| Some((c, p?.points.into_inner().take())))
        .collect();
    // parts not solved this time keep their points
    for (c, pts) in old_points {
        cc.points.entry(c).or_insert(pts);
    }
    cc.carry_out = plan
        .carry_key
        .iter()
        .filter_map(|(&c, &key)| {
            Some((
                key,
                cc.points
                    .get(&c)?
                    .iter()
                    .take(CARRY + CARRY_MORE)
                    .cloned()
                    .collect(),
            ))
        })
        .collect();
    cc.safe = safe_now;
    cc.reused = tally.reused;
    cc.certified = tally.certified;
}

/// One line on a finding the whole part's solver settled: its kind, how
/// many releases of its part are newer than each of its cells, whether
/// the feasible points known before solving reached each end of the
/// interval solved, whether its window's relaxation (if a window holds
/// it) had the same ends, the interval's width and the verdict. No count
/// is printed (the releases audited during protection are drafts); used
/// to see where the cheap certificates fall short.
fn trace_whole_part(
    cand: &Candidate,
    starts: &[usize],
    parts: &Parts,
    span: (f64, f64),
    relaxed: Option<(f64, f64)>,
    iv: Interval,
    policy: &Policy,
) {
    let kind = match cand.check {
        Check::Suppressed => "suppressed",
        Check::Difference => "difference",
        Check::Rounded(_) => "rounded",
    };
    let back: Vec<usize> = cand
        .objective
        .iter()
        .map(|&(v, _)| starts.len() - starts.iter().filter(|&&s| s <= parts.local[v]).count())
        .collect();
    // integer ends as the solver's are reported (`None`: unbounded)
    let hi_of = |x: f64| (x.is_finite() && x < super::lp::BIG / 2.0).then(|| count_at_most(x));
    let yes = |b: bool| if b { "yes" } else { "no" };
    let points = if span.0.is_finite() {
        format!(
            "{}/{}",
            yes(count_at_least(span.0) == iv.lo),
            yes(hi_of(span.1) == iv.hi)
        )
    } else {
        "none".to_string()
    };
    let relaxation = relaxed.map_or("-".to_string(), |(lo, hi)| {
        format!("{}/{}", yes(count_at_least(lo) == iv.lo), yes(hi_of(hi) == iv.hi))
    });
    let width = iv.width().map_or("unbounded".to_string(), |w| w.to_string());
    eprintln!(
        "audit trace: {kind} releases-back {back:?} points-reach-ends {points} relaxation-same-ends {relaxation} width {width} {}",
        if check_safe(cand.check, iv, policy) { "safe" } else { "unsafe" }
    );
}

/// Every candidate finding in scope.
fn candidates(
    releases: &[Release],
    layout: &super::model::Layout,
    faithful: &super::model::Faithful,
    policy: &Policy,
    scope: &Scope,
) -> Vec<Candidate> {
    let mut cands = cell_candidates(releases, layout, faithful, policy);
    cands.extend(difference_candidates(releases, layout, faithful, policy));
    if let Some(k) = scope.touching.filter(|_| scope.current_only) {
        cands.retain(|c| c.release == k);
    }
    if let Some(only) = &scope.only {
        cands.retain(|c| {
            let r = &releases[c.release];
            only.contains(&(r.study.clone(), r.sequence, c.table, c.position, c.kind))
        });
    }
    cands
}

/// Outer bounds of every part to solve, by propagation.
fn outer_bounds(parts: &Parts, plan: &Plan) -> Vec<Option<Vec<(f64, f64)>>> {
    (0..parts.lps.len())
        .map(|c| {
            if plan.solve[c] {
                bounds::propagate(&parts.lps[c])
            } else {
                None
            }
        })
        .collect()
}

/// Which candidates the outer bounds settle: large for every reader (a
/// difference always; a suppressed cell when intervals need not be exact).
fn large_by_bounds(
    cands: &[Candidate],
    parts: &Parts,
    outer: &[Option<Vec<(f64, f64)>>],
    policy: &Policy,
    scope: &Scope,
) -> Vec<bool> {
    cands
        .iter()
        .map(|cand| {
            let c = parts.comp[cand.objective[0].0];
            let Some(b) = outer[c].as_ref() else {
                return false;
            };
            let settles = match cand.check {
                Check::Difference => true,
                Check::Suppressed => scope.certify,
                Check::Rounded(_) => false,
            };
            let obj: Vec<(usize, f64)> = cand.objective.iter().map(|&(v, k)| (parts.local[v], k)).collect();
            settles && bounds::lower(b, &obj) - 1e-6 > policy.sensitive_range().1 as f64
        })
        .collect()
}

/// Windows over a few releases of each part solved (certifying scopes
/// only), each with the range of variables whose findings it is offered.
fn build_windows(
    parts: &Parts,
    plan: &Plan,
    prepared: &[Option<Prepared>],
    outer: &[Option<Vec<(f64, f64)>>],
    scope: &Scope,
) -> Vec<Vec<(Window, std::ops::Range<usize>)>> {
    (0..parts.lps.len())
        .map(|c| match prepared[c].as_ref() {
            Some(lpc) if scope.certify && window::WITH_THIS_SOLVER => {
                let Some(fixed) = lpc.points.borrow().get(0) else {
                    return Vec::new();
                };
                window::plan(&plan.starts[c], lpc.len(), scope.touching.is_some())
                    .into_iter()
                    .filter_map(|(from, to, core)| {
                        let w = Window::new(&parts.lps[c], from, to, &fixed, outer[c].as_deref())?;
                        let recent =
                            plan.starts[c].iter().filter(|&&s| s >= to).count() <= window::SUFFIX_RELEASES;
                        let w = if recent {
                            w.with_suffix(&parts.lps[c], lpc.len())
                        } else {
                            w
                        };
                        Some((w, core))
                    })
                    .collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// The interval reported for a quantity whose outer lower bound `lower`
/// lies above the suppression range: the values met at feasible points (a
/// reader cannot rule them out), starting no lower than the bound.
fn large_interval(lpc: &Prepared, obj: &[(usize, f64)], lower: f64) -> Interval {
    let (vmin, vmax) = lpc.span(obj);
    let lo = count_at_least(lower).max(if vmin.is_finite() { count_at_least(vmin) } else { 0 });
    let hi = if vmax.is_finite() && vmax < super::lp::BIG / 2.0 {
        Some(count_at_most(vmax).max(lo))
    } else {
        None
    };
    Interval { lo, hi }
}

/// What a window settles of a finding.
#[derive(Clone, Copy)]
enum Windowed {
    /// Its interval.
    Settled(Interval),
    /// Nothing, but the ends its relaxation proves exact: the whole part
    /// solves only the others.
    Open(Ends),
}

/// An interval settled within the candidate's window: feasible points
/// (those met so far, else those the window finds pushing the candidate
/// down and up) that prove it safe; or, when the window's relaxation
/// bounds it, an interval proven large, or exact because the relaxation's
/// bounds are attained at feasible points. Otherwise the ends of it that
/// are exact that way.
fn windowed<'w>(
    lpc: &Prepared,
    obj: &[(usize, f64)],
    cand: &Candidate,
    window_of: &impl Fn(&Candidate) -> Option<&'w Window>,
    policy: &Policy,
    report: &mut AuditReport,
) -> Windowed {
    let open = Windowed::Open(Ends::default());
    if let Some(iv) = by_points(lpc, obj, cand.check, policy) {
        return Windowed::Settled(iv);
    }
    let Some(w) = window_of(cand).filter(|w| w.covers(obj)) else {
        return open;
    };
    report.linear_programs += w.explore(obj, lpc);
    if let Some(iv) = by_points(lpc, obj, cand.check, policy) {
        return Windowed::Settled(iv);
    }
    let Some((lo, hi)) = w.outer(obj) else {
        return open;
    };
    report.linear_programs += 2;
    let int_lo = count_at_least(lo);
    if int_lo > policy.sensitive_range().1 && !matches!(cand.check, Check::Rounded(_)) {
        return Windowed::Settled(large_interval(lpc, obj, lo));
    }
    // the relaxation's ends, where feasible points reach them, are the
    // ends (every feasible value lies between the relaxation's)
    let reached = || {
        let (vmin, vmax) = lpc.span(obj);
        let lo = (vmin.is_finite() && count_at_least(vmin) == int_lo).then_some(int_lo);
        let hi = if hi.is_infinite() {
            (vmax >= super::lp::BIG / 2.0).then_some(None)
        } else {
            let int_hi = count_at_most(hi);
            (vmin.is_finite() && count_at_most(vmax) == int_hi).then_some(Some(int_hi))
        };
        (lo, hi)
    };
    let (mut lo, mut hi) = reached();
    if lo.is_none() || hi.is_none() {
        // the later releases, fixed at one point, may hold a count back
        report.linear_programs += w.explore_suffix(obj, lpc);
        (lo, hi) = reached();
    }
    match (lo, hi) {
        (Some(lo), Some(hi)) => Windowed::Settled(Interval {
            lo,
            hi: hi.map(|h| h.max(lo)),
        }),
        _ => Windowed::Open(Ends { lo, hi }),
    }
}

/// Open candidates' expressions gathered by part, window and kind.
type WindowGroups<'w> = BTreeMap<(usize, usize, u8), (&'w Window, Vec<(usize, f64)>)>;

/// Extreme points found in windows: per window, every open candidate it
/// holds pushed down at once, then up, by kind.
fn window_extremes<'w>(
    open: &[&Candidate],
    parts: &Parts,
    prepared: &[Option<Prepared>],
    window_of: &impl Fn(&Candidate) -> Option<&'w Window>,
    report: &mut AuditReport,
) {
    // keyed by part, window (its address: windows do not move) and kind
    let mut groups: WindowGroups = BTreeMap::new();
    for cand in open {
        let c = parts.comp[cand.objective[0].0];
        let (Some(lpc), Some(w)) = (prepared[c].as_ref(), window_of(cand)) else {
            continue;
        };
        if lpc.warm {
            continue;
        }
        let g = kind_group(cand);
        groups
            .entry((c, w as *const Window as usize, g))
            .or_insert_with(|| (w, Vec::new()))
            .1
            .extend(cand.objective.iter().map(|&(v, k)| (parts.local[v], k)));
    }
    for ((c, _, _), (w, terms)) in &groups {
        let lpc = prepared[*c].as_ref().expect("prepared");
        report.linear_programs += w.explore(terms, lpc);
    }
}

/// Count a settled finding and keep it in the report when it is a
/// suppressed cell or unsafe.
fn record(
    report: &mut AuditReport,
    releases: &[Release],
    cand: &Candidate,
    interval: Interval,
    policy: &Policy,
) {
    let safe = check_safe(cand.check, interval, policy);
    match cand.check {
        Check::Suppressed => report.suppressed_cells += 1,
        Check::Difference => report.differences += 1,
        Check::Rounded(_) => report.rounded_cells += 1,
    }
    if safe && !matches!(cand.check, Check::Suppressed) {
        return;
    }
    let rel = &releases[cand.release];
    let s = &rel.tables[cand.table].spec;
    report.findings.push(Finding {
        study: rel.study.clone(),
        sequence: rel.sequence,
        table: s.id.clone(),
        row: s.row_label(cand.position.0).to_string(),
        column: s.column_label(cand.position.1).to_string(),
        release_index: cand.release,
        table_index: cand.table,
        position: cand.position,
        kind: cand.kind,
        interval,
        safe,
    });
}

/// Gather feasible points of each part to solve: the last repair round's
/// (still feasible: suppressing cells only widens the program), or the
/// series' previous release's extended over this one, or one built release
/// by release. The part's feasibility problem is solved only when no point
/// is found that way, or later when an objective needs the solver.
fn prepare_parts(
    parts: &Parts,
    plan: &Plan,
    outer: &[Option<Vec<(f64, f64)>>],
    inherited: &mut Inherited,
    errors: &Errors,
    report: &mut AuditReport,
    tally: &mut Tally,
) -> Result<Vec<Option<Prepared>>, AuditError> {
    let ncomp = parts.lps.len();
    let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(ncomp);
    for c in 0..ncomp {
        if !plan.solve[c] {
            prepared.push(None);
            continue;
        }
        let lp = &parts.lps[c];
        let mut lpc = lp.lazy_within(outer[c].as_deref());
        report.components += 1;
        if let Some(pts) = inherited.old_points.remove(&c) {
            lpc.adopt(&pts);
            lpc.warm = lpc.points.borrow().len() > 1;
        } else if let Some(pts) = plan
            .carry_key
            .get(&c)
            .and_then(|key| inherited.carry_in.remove(key))
        {
            let clock = std::time::Instant::now();
            let ext = carry_all(lp, &plan.starts[c], &pts, outer[c].as_deref());
            tally.carry_secs += clock.elapsed().as_secs_f64();
            report.linear_programs += pts.len();
            lpc.adopt(&ext);
            tally.carried += lpc.points.borrow().len();
            lpc.warm = lpc.points.borrow().len() > CARRY_WARM;
        }
        if lpc.points.borrow().is_empty() {
            if let Some(p) = lp.forward_point(&plan.starts[c]) {
                report.linear_programs += plan.starts[c].len();
                lpc.adopt(&[p]);
            }
        }
        if lpc.points.borrow().is_empty() {
            lpc.solve_point().map_err(|e| errors.map(e, plan.owner[c]))?;
            report.linear_programs += 1;
        }
        prepared.push(Some(lpc));
    }
    Ok(prepared)
}

/// The carried points extended over this release, each pushed down (even
/// places) or up (odd): with Clp, by one model of this release's
/// variables per direction, the directions on two cores (see
/// [`super::lp::Extender`]), falling back to [`carry`] for the first
/// [`CARRY`] (carried along the whole series) and dropping the others
/// that have no extension; without Clp, the first [`CARRY`] by [`carry`],
/// one small program each, spread over the cores.
fn carry_all(
    lp: &super::lp::Lp,
    starts: &[usize],
    pts: &[Vec<f64>],
    outer: Option<&[(f64, f64)]>,
) -> Vec<Vec<f64>> {
    #[cfg(feature = "clp")]
    {
        let m = pts.first().map_or(0, Vec::len);
        let run = |parity: usize| -> Vec<(usize, Vec<f64>)> {
            let sign = if parity == 0 { 1.0 } else { -1.0 };
            let mut e = super::lp::Extender::new(lp, m, sign);
            pts.iter()
                .enumerate()
                .filter(|(n, _)| n % 2 == parity)
                .filter_map(|(n, p)| {
                    let fast = e.as_mut().and_then(|e| e.extend(p)).filter(|x| lp.satisfies(x));
                    let x =
                        fast.or_else(|| (n < CARRY).then(|| carry(lp, starts, p, sign, outer)).flatten())?;
                    Some((n, x))
                })
                .collect()
        };
        let (even, odd) = rayon::join(|| run(0), || run(1));
        // in the order carried
        let mut all: Vec<(usize, Vec<f64>)> = even.into_iter().chain(odd).collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, x)| x).collect()
    }
    #[cfg(not(feature = "clp"))]
    {
        use rayon::prelude::*;
        pts.iter()
            .take(CARRY)
            .collect::<Vec<_>>()
            .par_iter()
            .enumerate()
            .filter_map(|(n, p)| {
                let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
                carry(lp, starts, p, sign, outer)
            })
            .collect()
    }
}

/// A point of the series' previous release extended over this one: the
/// new variables chosen given the old ones, or, failing that, the last 1,
/// or the releases of a protection window, chosen again given the ones
/// before them.
///
/// Failing those, when the point lies outside the new program's outer box
/// `outer` (a count pushed high in an early release that a later one now
/// bounds), the releases from the first one where it does are chosen again.
fn carry(
    lp: &super::lp::Lp,
    starts: &[usize],
    p: &[f64],
    sign: f64,
    outer: Option<&[(f64, f64)]>,
) -> Option<Vec<f64>> {
    if let Some(x) = lp.extend(p, sign).filter(|x| lp.satisfies(x)) {
        return Some(x);
    }
    let old: Vec<usize> = starts.iter().copied().filter(|&s| s < p.len()).collect();
    let mut deepest = p.len();
    for back in [1, window::PROTECT_RELEASES - 1] {
        let Some(&cut) = old.len().checked_sub(back).and_then(|k| old.get(k)) else {
            continue;
        };
        deepest = cut;
        if let Some(x) = lp.extend(&p[..cut], sign).filter(|x| lp.satisfies(x)) {
            return Some(x);
        }
    }
    let outer = outer?;
    let first_out = p.iter().zip(outer).position(|(&v, &(lo, hi))| {
        let tol = |b: f64| 1e-6 * (1.0 + b.abs());
        v < lo - tol(lo) || v > hi + tol(hi)
    })?;
    let cut = old.iter().copied().filter(|&s| s <= first_out).max()?;
    if cut == 0 || cut >= deepest {
        return None;
    }
    lp.extend(&p[..cut], sign).filter(|x| lp.satisfies(x))
}

/// Rounds of points at the ends of the findings the points so far leave
/// open: each group (at first, each kind of each part) pushed down and up
/// at once, its points kept; a group whose points settle fewer than half
/// of its findings is split in two for the next round; rounds go on while
/// each group settles at least one finding (solving findings one by one
/// costs the same two programs each). The points only ever settle a
/// finding they prove safe (see [`by_points`]); what they leave open is
/// solved over the whole part as before.
///
/// Measured on `release_bench 40 3000 nhs-hes 5` to week 14 (Clp): the
/// findings left to the whole part's solver fell from 10,336 to 3,405,
/// and the run's total from 50.5 s to 38.5 s, with the same suppression.
#[allow(clippy::too_many_arguments)]
fn refine(
    cands: &[&Candidate],
    parts: &Parts,
    prepared: &[Option<Prepared>],
    plan: &Plan,
    errors: &Errors,
    report: &mut AuditReport,
    policy: &Policy,
    prof: bool,
) -> Result<(), AuditError> {
    let local = |obj: &[(usize, f64)]| -> Vec<(usize, f64)> {
        obj.iter().map(|&(v, c)| (parts.local[v], c)).collect()
    };
    let is_open = |cand: &&Candidate| {
        let c = parts.comp[cand.objective[0].0];
        prepared[c]
            .as_ref()
            .is_some_and(|lpc| by_points(lpc, &local(&cand.objective), cand.check, policy).is_none())
    };
    let mut by_kind: BTreeMap<(usize, u8), Vec<&Candidate>> = BTreeMap::new();
    for cand in cands.iter().copied().filter(is_open) {
        let c = parts.comp[cand.objective[0].0];
        let g = kind_group(cand);
        by_kind.entry((c, g)).or_default().push(cand);
    }
    let mut groups: Vec<(usize, Vec<&Candidate>)> = by_kind.into_iter().map(|((c, _), v)| (c, v)).collect();
    for round in 0..64 {
        groups.retain(|(_, g)| g.len() > 1);
        if groups.is_empty() {
            break;
        }
        let clock = std::time::Instant::now();
        let before: usize = groups.iter().map(|(_, g)| g.len()).sum();
        let solved = groups.len();
        let mut next = Vec::new();
        let mut settled = 0;
        for (c, group) in groups {
            let lpc = prepared[c].as_ref().expect("prepared");
            let terms: Vec<(usize, f64)> = group.iter().flat_map(|cand| local(&cand.objective)).collect();
            let (down, up) = lpc.min_both(&terms);
            down.and(up).map_err(|e| errors.map(e, plan.owner[c]))?;
            report.linear_programs += 2;
            let n = group.len();
            let left: Vec<&Candidate> = group.into_iter().filter(is_open).collect();
            settled += n - left.len();
            if left.len() * 2 > n {
                let half = left.len() / 2;
                let (a, b) = left.split_at(half);
                next.push((c, a.to_vec()));
                next.push((c, b.to_vec()));
            } else {
                next.push((c, left));
            }
        }
        if prof {
            eprintln!(
                "refine round {round}: {before} open, {solved} groups solved in {:.3}s, {settled} settled, {} groups next",
                clock.elapsed().as_secs_f64(),
                next.len()
            );
        }
        groups = next;
        // a round pays while each group settles a finding
        if settled < solved {
            break;
        }
    }
    Ok(())
}

/// The group a candidate is pushed with when points are sought for many
/// at once: suppressed cells; differences by the sign of their later
/// count; rounded counts.
fn kind_group(cand: &Candidate) -> u8 {
    match cand.check {
        Check::Suppressed => 0,
        Check::Difference if cand.objective[0].1 > 0.0 => 1,
        Check::Difference => 2,
        Check::Rounded(_) => 3,
    }
}

/// Points at the ends of everything still open at once, part by part: all
/// suppressed cells low, then high; all changes between releases; all
/// rounded counts (parts with points enough already are skipped).
fn extremes(
    open: &[&Candidate],
    parts: &Parts,
    prepared: &[Option<Prepared>],
    plan: &Plan,
    errors: &Errors,
    report: &mut AuditReport,
) -> Result<(), AuditError> {
    let mut groups: BTreeMap<(usize, u8), Vec<(usize, f64)>> = BTreeMap::new();
    for cand in open {
        let c = parts.comp[cand.objective[0].0];
        if prepared[c].as_ref().is_none_or(|p| p.warm) {
            continue;
        }
        let g = kind_group(cand);
        groups
            .entry((c, g))
            .or_default()
            .extend(cand.objective.iter().map(|&(v, k)| (parts.local[v], k)));
    }
    for ((c, _), terms) in &groups {
        let lpc = prepared[*c].as_ref().expect("prepared");
        if !terms.is_empty() {
            let (down, up) = lpc.min_both(terms);
            down.and(up).map_err(|e| errors.map(e, plan.owner[*c]))?;
        }
        report.linear_programs += 2;
    }
    Ok(())
}
