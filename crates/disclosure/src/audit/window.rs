//! Windows: a part of the reader's program restricted to the variables of
//! a few consecutive releases, every other variable fixed at a feasible
//! point of the whole part.
//!
//! Every point of a window, completed with the fixed values, is a point of
//! the whole program (the window keeps every constraint, with the fixed
//! variables as constants), so the values a quantity takes there lie in
//! its feasible interval. Windows only ever find such points, which
//! [`super::lp::Prepared::certify`] then uses to prove intervals wide or
//! starting below the suppression range; each lifted point is checked
//! against every constraint of the whole part before it is used. A window
//! never narrows an interval: what it cannot prove is left to the solver
//! over the whole part. Its programs are the size of a few releases,
//! however many releases the part spans, and are solved only when a
//! finding needs them. A window among the newest
//! [`SUFFIX_RELEASES`] releases also has a twin running from it to the
//! part's newest release, tried when the window's points fall short of
//! its relaxation's ends: pushing a count up in an older release may need
//! every later release to follow (counts only grow), which the fixed
//! values of the later releases prevent. The twin is at most
//! [`SUFFIX_RELEASES`] releases longer, however long the series.

use super::lp::{Lp, Prepared};

/// Are windows used? Only with microlp. With Clp (feature `clp`) every
/// finding the feasible points leave open is settled over the whole part
/// faster than a window settles it: Clp re-solves each objective from the
/// last optimum (1.4 ms on average, measured on the benchmark's programs
/// to week 12), while a window's
/// programs are set up and solved from scratch. Measured with
/// `bench/report_releases.sh` to week 14, the slowest release took 3.7 s
/// without windows and 6.8 s with them (the same cells suppressed).
pub(super) const WITH_THIS_SOLVER: bool = !cfg!(feature = "clp");

/// Releases in the window of a protection round (the newest ones).
pub(super) const PROTECT_RELEASES: usize = 4;
/// Releases whose findings one audit window settles.
pub(super) const AUDIT_BLOCK: usize = 2;
/// Releases either side of an audit block kept free with it.
pub(super) const AUDIT_MARGIN: usize = 1;

/// Windows ending at most this many releases before a part's newest get
/// a twin running to the newest (see [`Window::with_suffix`]).
pub(super) const SUFFIX_RELEASES: usize = 12;

/// A part's program over variables `from..to`, the rest fixed.
pub(super) struct Window {
    from: usize,
    to: usize,
    fixed: Vec<f64>,
    program: Prepared,
    /// The same program over `from..` the part's end (solved on first
    /// use): a count pushed up in the window may need every later
    /// release to follow it.
    suffix: Option<Box<Window>>,
    /// The window's variables with every constraint on them alone, each
    /// variable bounded by the part's outer box (a relaxation: it contains
    /// the projection of the whole part), solved on first use.
    relaxed: Option<Prepared>,
}

impl Window {
    /// The window over `from..to` around the feasible point `fixed`
    /// (`None` when the range is empty); its programs are solved on first
    /// use, and solver trouble there only means no points.
    pub(super) fn new(
        lp: &Lp,
        from: usize,
        to: usize,
        fixed: &[f64],
        outer: Option<&[(f64, f64)]>,
    ) -> Option<Window> {
        if from >= to || to > fixed.len() {
            return None;
        }
        // solved on first use: most windows of a protection round are
        // never needed
        let program = lp.restrict(from, to, fixed).lazy();
        let relaxed = outer.map(|b| lp.relax(from, to, b).lazy());
        Some(Window {
            from,
            to,
            fixed: fixed.to_vec(),
            program,
            suffix: None,
            relaxed,
        })
    }

    /// The window with a twin over `from..end` (the part's end).
    pub(super) fn with_suffix(mut self, lp: &Lp, end: usize) -> Window {
        if self.to < end {
            // no relaxation: the window's own bounds the ends to reach
            self.suffix = Window::new(lp, self.from, end, &self.fixed, None).map(Box::new);
        }
        self
    }

    /// [`Window::explore`] in the twin running to the part's end (0
    /// programs without one).
    pub(super) fn explore_suffix(&self, objective: &[(usize, f64)], whole: &Prepared) -> usize {
        self.suffix.as_ref().map_or(0, |w| w.explore(objective, whole))
    }

    /// Bounds on the expression over the relaxed window (outside it:
    /// `None`): `(lo, hi)` with every feasible value of the whole part in
    /// between (`hi` infinite when unbounded). `None` on solver trouble.
    pub(super) fn outer(&self, objective: &[(usize, f64)]) -> Option<(f64, f64)> {
        let relaxed = self.relaxed.as_ref()?;
        if !objective.iter().all(|&(v, _)| (self.from..self.to).contains(&v)) {
            return None;
        }
        let local: Vec<(usize, f64)> = objective.iter().map(|&(v, c)| (v - self.from, c)).collect();
        let (down, up) = relaxed.min_both(&local);
        let lo = down.ok()?;
        let hi = -up.ok()?;
        relaxed.points.borrow_mut().take();
        let hi = if hi >= super::lp::BIG / 2.0 {
            f64::INFINITY
        } else {
            hi
        };
        Some((lo, hi))
    }

    /// Does the expression have a variable in the window?
    pub(super) fn covers(&self, objective: &[(usize, f64)]) -> bool {
        objective.iter().any(|&(v, _)| (self.from..self.to).contains(&v))
    }

    /// Push the window's part of the expression down and up, and give the
    /// points found (completed, checked) to `whole`. Solver trouble only
    /// means no points.
    pub(super) fn explore(&self, objective: &[(usize, f64)], whole: &Prepared) -> usize {
        let local: Vec<(usize, f64)> = objective
            .iter()
            .filter(|&&(v, _)| (self.from..self.to).contains(&v))
            .map(|&(v, c)| (v - self.from, c))
            .collect();
        if local.is_empty() {
            return 0;
        }
        let (down, up) = self.program.min_both(&local);
        let solved = usize::from(down.is_ok()) + usize::from(up.is_ok());
        self.lift(whole);
        solved
    }

    /// Complete the window's new points with the fixed values and hand
    /// them to `whole` (which keeps only those satisfying every
    /// constraint).
    fn lift(&self, whole: &Prepared) {
        let found: Vec<Vec<f64>> = self.program.points.borrow_mut().take();
        let full: Vec<Vec<f64>> = found
            .into_iter()
            .map(|y| {
                let mut p = self.fixed.clone();
                p[self.from..self.to].copy_from_slice(&y);
                p
            })
            .collect();
        whole.adopt(&full);
    }
}

/// The windows of a part whose releases begin at `starts` (local
/// variable indices, ascending) and which has `n` variables: for
/// protection one over the newest releases; for an audit, blocks of
/// releases each with a margin either side. Each window is paired with the
/// range of variables whose findings it is offered first.
pub(super) fn plan(
    starts: &[usize],
    n: usize,
    protecting: bool,
) -> Vec<(usize, usize, std::ops::Range<usize>)> {
    let end = |b: usize| starts.get(b).copied().unwrap_or(n);
    let r = starts.len();
    if r == 0 {
        return vec![];
    }
    // protection: the newest releases in one window, older ones in blocks
    let newest = if protecting {
        r.saturating_sub(PROTECT_RELEASES)
    } else {
        r
    };
    let mut out = Vec::new();
    let mut b = 0;
    while b < newest {
        let lo = b.saturating_sub(AUDIT_MARGIN);
        let hi = (b + AUDIT_BLOCK + AUDIT_MARGIN).min(r);
        let core_end = (b + AUDIT_BLOCK).min(newest);
        out.push((starts[lo], end(hi), starts[b]..end(core_end)));
        b += AUDIT_BLOCK;
    }
    if protecting {
        out.push((starts[newest], n, starts[newest]..n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlp::ComparisonOp;

    /// A count that only grows over four releases, at most 10 in the
    /// newest: fixed at a point where every later release is 0, the first
    /// release's window cannot push it up; its twin running to the newest
    /// release reaches 10, at a point of the whole program.
    #[test]
    fn the_twin_to_the_newest_release_frees_the_later_counts() {
        let mut lp = Lp::default();
        let x: Vec<usize> = (0..4).map(|_| lp.var(0.0, f64::INFINITY)).collect();
        for w in x.windows(2) {
            lp.constrain(vec![(w[0], 1.0), (w[1], -1.0)], ComparisonOp::Le, 0.0);
        }
        lp.constrain(vec![(x[3], 1.0)], ComparisonOp::Le, 10.0);
        let fixed = vec![0.0; 4];
        let whole = lp.lazy();
        let w = Window::new(&lp, 0, 1, &fixed, None).unwrap().with_suffix(&lp, 4);
        let top = |p: &Prepared| p.span(&[(x[0], 1.0)]).1;
        assert_eq!(w.explore(&[(x[0], 1.0)], &whole), 2);
        assert!(top(&whole) < 1e-9, "held at 0 by the fixed later release");
        assert_eq!(w.explore_suffix(&[(x[0], 1.0)], &whole), 2);
        assert!((top(&whole) - 10.0).abs() < 1e-9, "{}", top(&whole));
        assert!(whole.points.borrow_mut().take().iter().all(|p| lp.satisfies(p)));
        // a window already running to the newest release has no twin
        let newest = Window::new(&lp, 2, 4, &fixed, None).unwrap().with_suffix(&lp, 4);
        assert_eq!(newest.explore_suffix(&[(x[2], 1.0)], &whole), 0);
    }

    #[test]
    fn audit_blocks_cover_every_release_once_with_margins() {
        let starts = [0, 10, 20, 30, 40];
        let w = plan(&starts, 50, false);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], (0, 30, 0..20));
        assert_eq!(w[1], (10, 50, 20..40));
        assert_eq!(w[2], (30, 50, 40..50));
        let starts = [0, 10, 20, 30, 40, 50, 60];
        let p = plan(&starts, 70, true);
        assert_eq!(p, vec![(0, 30, 0..20), (10, 50, 20..30), (30, 70, 30..70)]);
    }
}
