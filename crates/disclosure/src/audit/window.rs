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
//! finding needs them.

use super::lp::{Lp, Prepared};

/// Releases in the window of a protection round (the newest ones).
pub(super) const PROTECT_RELEASES: usize = 4;
/// Releases whose findings one audit window settles.
pub(super) const AUDIT_BLOCK: usize = 2;
/// Releases either side of an audit block kept free with it.
pub(super) const AUDIT_MARGIN: usize = 1;

/// A part's program over variables `from..to`, the rest fixed.
pub(super) struct Window {
    from: usize,
    to: usize,
    fixed: Vec<f64>,
    program: Prepared,
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
            relaxed,
        })
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
        relaxed.points.borrow_mut().clear();
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
        let found: Vec<Vec<f64>> = self.program.points.borrow_mut().drain(..).collect();
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
