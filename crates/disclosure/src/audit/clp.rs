//! COIN-OR Clp as the audit's solver (cargo feature `clp`).
//!
//! Why not microlp here: the audit optimises thousands of expressions over
//! one program. microlp re-solves each from the feasibility problem's basis
//! by adding a row (`z = e`), and on programs of a few dozen releases that
//! incremental re-solve reports `Infeasible` on feasible programs (no
//! entering column in its dual simplex), each time falling back to a solve
//! from scratch. Clp keeps its basis between solves: changing the objective
//! leaves the last optimum's basis primal feasible, so each expression is a
//! short primal simplex run from the previous one's optimum. The library is
//! Debian's `coinor-libclp-dev` (EPL-2.0), linked dynamically, through a
//! C interface of ours over `ClpSimplex` (`csrc/clp_shim.cpp`, built by
//! `build.rs`): Clp's own C interface sets the solver up again on every
//! re-solve (2.1 ms a re-solve against 1.4 ms, measured on the benchmark's
//! programs to week 12), and the `-sys` crates build Clp from source for
//! the same few calls.
//!
//! Every optimum is still only a candidate: the caller checks its point
//! against every constraint before using its value (see `lp::warm_min`).

use std::os::raw::{c_double, c_int, c_uchar, c_void};
use std::ptr::NonNull;

// The C interface of `csrc/clp_shim.cpp` (compiled and linked with Clp
// by build.rs).
extern "C" {
    fn tl_clp_new() -> *mut c_void;
    fn tl_clp_delete(model: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn tl_clp_load(
        model: *mut c_void,
        numcols: c_int,
        numrows: c_int,
        start: *const c_int,
        index: *const c_int,
        value: *const c_double,
        collb: *const c_double,
        colub: *const c_double,
        obj: *const c_double,
        rowlb: *const c_double,
        rowub: *const c_double,
    ) -> c_int;
    fn tl_clp_initial_solve(model: *mut c_void) -> c_int;
    fn tl_clp_resolve(
        model: *mut c_void,
        n: c_int,
        cols: *const c_int,
        values: *const c_double,
        keep: c_int,
    ) -> c_int;
    fn tl_clp_resolve_rows(
        model: *mut c_void,
        rowlb: *const c_double,
        rowub: *const c_double,
        warm: c_int,
    ) -> c_int;
    fn tl_clp_columns(model: *mut c_void) -> *const c_double;
    fn tl_clp_status_array(model: *mut c_void) -> *mut c_uchar;
    fn tl_clp_copyin_status(model: *mut c_void, status: *const c_uchar) -> c_int;
}

/// `sum(coefficient × column) op rhs` over a reduced program's columns.
pub(super) type Row = (Vec<(usize, f64)>, microlp::ComparisonOp, f64);

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Optimal,
    Infeasible,
    Unbounded,
    /// Stopped for any other reason (iteration limit, numerical trouble).
    Trouble,
}

/// One Clp model of a program, keeping its basis (and, once re-solved,
/// its work areas) between solves.
pub(super) struct Model {
    ptr: NonNull<c_void>,
    ncols: usize,
    nrows: usize,
    /// The objective Clp holds (changed coefficient by coefficient).
    obj: Vec<f64>,
    /// Loaded without trouble: a model that failed to load reports
    /// [`Outcome::Trouble`] for every solve.
    loaded: bool,
    /// Solved to an optimum last time (see [`Model::resolve_rows`]).
    solved: bool,
}

// A model is used by one thread at a time (moved or behind a lock, never
// shared unguarded); Clp keeps no state outside its model object.
unsafe impl Send for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `tl_clp_new` and is deleted once.
        unsafe { tl_clp_delete(self.ptr.as_ptr()) }
    }
}

impl Model {
    /// A model of the program: column bounds `bounds`, `rows`, objective
    /// `obj` (minimised); not solved.
    pub(super) fn load(bounds: &[(f64, f64)], rows: &[Row], obj: &[f64]) -> Model {
        let (ncols, nrows) = (bounds.len(), rows.len());
        // the lengths Clp reads (a column index out of range panics below,
        // before any call)
        assert_eq!(obj.len(), ncols, "one objective coefficient per column");
        // column-major matrix
        let mut count = vec![0usize; ncols + 1];
        for (terms, _, _) in rows {
            for &(k, _) in terms {
                count[k + 1] += 1;
            }
        }
        for k in 0..ncols {
            count[k + 1] += count[k];
        }
        let start: Vec<c_int> = count.iter().map(|&s| s as c_int).collect();
        let mut fill = count.clone();
        let nnz = count[ncols];
        let mut index = vec![0 as c_int; nnz];
        let mut value = vec![0.0; nnz];
        for (r, (terms, _, _)) in rows.iter().enumerate() {
            for &(k, c) in terms {
                index[fill[k]] = r as c_int;
                value[fill[k]] = c;
                fill[k] += 1;
            }
        }
        let (mut rowlb, mut rowub) = (Vec::with_capacity(nrows), Vec::with_capacity(nrows));
        for (_, op, rhs) in rows {
            let (lo, hi) = match op {
                microlp::ComparisonOp::Eq => (*rhs, *rhs),
                microlp::ComparisonOp::Le => (f64::NEG_INFINITY, *rhs),
                microlp::ComparisonOp::Ge => (*rhs, f64::INFINITY),
            };
            rowlb.push(lo);
            rowub.push(hi);
        }
        let collb: Vec<f64> = bounds.iter().map(|b| b.0).collect();
        let colub: Vec<f64> = bounds.iter().map(|b| b.1).collect();
        // SAFETY: every array has the length Clp reads (columns, rows,
        // nonzeros), and Clp copies them.
        unsafe {
            let ptr = NonNull::new(tl_clp_new()).expect("out of memory creating a Clp model");
            let loaded = tl_clp_load(
                ptr.as_ptr(),
                ncols as c_int,
                nrows as c_int,
                start.as_ptr(),
                index.as_ptr(),
                value.as_ptr(),
                collb.as_ptr(),
                colub.as_ptr(),
                obj.as_ptr(),
                rowlb.as_ptr(),
                rowub.as_ptr(),
            ) == 0;
            Model {
                ptr,
                ncols,
                nrows,
                obj: obj.to_vec(),
                loaded,
                solved: false,
            }
        }
    }

    fn outcome(status: c_int) -> Outcome {
        match status {
            0 => Outcome::Optimal,
            1 => Outcome::Infeasible,
            2 => Outcome::Unbounded,
            _ => Outcome::Trouble,
        }
    }

    /// Solve from scratch (presolve, then the dual simplex).
    pub(super) fn solve(&mut self) -> Outcome {
        if !self.loaded {
            return Outcome::Trouble;
        }
        // SAFETY: a loaded model.
        Self::outcome(unsafe { tl_clp_initial_solve(self.ptr.as_ptr()) })
    }

    /// Set the objective (dense over the columns; only the coefficients
    /// that change are passed on) and re-solve from the current basis with
    /// the primal simplex (the basis of an optimum stays primal feasible
    /// when only the objective changes), keeping Clp's work areas.
    pub(super) fn resolve(&mut self, obj: &[f64]) -> Outcome {
        assert_eq!(obj.len(), self.ncols);
        if !self.loaded {
            return Outcome::Trouble;
        }
        let mut cols: Vec<c_int> = Vec::new();
        let mut values: Vec<f64> = Vec::new();
        for (k, (&new, old)) in obj.iter().zip(self.obj.iter_mut()).enumerate() {
            if new != *old {
                cols.push(k as c_int);
                values.push(new);
                *old = new;
            }
        }
        // SAFETY: `cols` and `values` have the length passed, each column
        // index below `ncols`; Clp copies the values.
        let status = unsafe {
            tl_clp_resolve(
                self.ptr.as_ptr(),
                cols.len() as c_int,
                cols.as_ptr(),
                values.as_ptr(),
                1,
            )
        };
        Self::outcome(status)
    }

    /// Set every row's bounds (one entry per row) and solve: from scratch
    /// the first time, then from the last basis with the dual simplex.
    pub(super) fn resolve_rows(&mut self, lo: &[f64], hi: &[f64]) -> Outcome {
        assert!(lo.len() == self.nrows && hi.len() == self.nrows);
        if !self.loaded {
            return Outcome::Trouble;
        }
        let warm = c_int::from(self.solved);
        // SAFETY: both arrays have one entry per row; Clp copies them.
        let status = unsafe { tl_clp_resolve_rows(self.ptr.as_ptr(), lo.as_ptr(), hi.as_ptr(), warm) };
        let outcome = Self::outcome(status);
        // a solve that went wrong leaves no basis worth starting from
        self.solved = outcome == Outcome::Optimal;
        outcome
    }

    /// The columns' values at the last solve (`None` before any).
    pub(super) fn columns(&self) -> Option<Vec<f64>> {
        // SAFETY: Clp's column solution, once allocated, has `ncols` entries.
        unsafe {
            let p = tl_clp_columns(self.ptr.as_ptr());
            (!p.is_null()).then(|| std::slice::from_raw_parts(p, self.ncols).to_vec())
        }
    }

    /// The basis: one status byte per column, then per row (empty before
    /// any solve).
    pub(super) fn basis(&self) -> Vec<u8> {
        // SAFETY: the status array, once allocated, has `ncols + nrows` entries.
        unsafe {
            let p = tl_clp_status_array(self.ptr.as_ptr());
            if p.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts(p, self.ncols + self.nrows).to_vec()
        }
    }

    /// Start the next solve from `basis` (see [`Model::basis`]).
    pub(super) fn set_basis(&mut self, basis: &[u8]) {
        if basis.len() != self.ncols + self.nrows {
            // no basis to start from: the next solve starts from Clp's own
            return;
        }
        // SAFETY: the array has one entry per column and row; Clp copies it.
        if unsafe { tl_clp_copyin_status(self.ptr.as_ptr(), basis.as_ptr()) } != 0 {
            self.loaded = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlp::ComparisonOp::{Eq, Ge, Le};

    /// x + y = 10, x - y <= 4, y <= 8 over x, y >= 0.
    fn model(obj: &[f64]) -> Model {
        let rows: Vec<Row> = vec![
            (vec![(0, 1.0), (1, 1.0)], Eq, 10.0),
            (vec![(0, 1.0), (1, -1.0)], Le, 4.0),
            (vec![(1, 1.0)], Le, 8.0),
        ];
        Model::load(&[(0.0, f64::INFINITY), (0.0, f64::INFINITY)], &rows, obj)
    }

    #[test]
    fn optima_from_scratch_and_after_a_change_of_objective() {
        let mut m = model(&[1.0, 0.0]);
        assert_eq!(m.solve(), Outcome::Optimal);
        let x = m.columns().unwrap();
        assert!((x[0] - 2.0).abs() < 1e-9 && (x[1] - 8.0).abs() < 1e-9, "{x:?}");
        // maximise x from the last basis
        assert_eq!(m.resolve(&[-1.0, 0.0]), Outcome::Optimal);
        let x = m.columns().unwrap();
        assert!((x[0] - 7.0).abs() < 1e-9 && (x[1] - 3.0).abs() < 1e-9, "{x:?}");
        // a second model started from the first one's basis
        let mut n = model(&[0.0, 0.0]);
        n.set_basis(&m.basis());
        assert_eq!(n.resolve(&[0.0, 1.0]), Outcome::Optimal);
        assert!((n.columns().unwrap()[1] - 3.0).abs() < 1e-9);
    }

    #[test]
    fn unbounded_and_infeasible_programs_are_told_apart() {
        let rows: Vec<Row> = vec![(vec![(0, 1.0), (1, -1.0)], Le, 4.0)];
        let mut m = Model::load(&[(0.0, f64::INFINITY), (0.0, f64::INFINITY)], &rows, &[0.0, -1.0]);
        assert_eq!(m.solve(), Outcome::Unbounded);
        let rows: Vec<Row> = vec![(vec![(0, 1.0), (1, 1.0)], Ge, 30.0)];
        let mut m = Model::load(&[(0.0, 10.0), (0.0, 10.0)], &rows, &[1.0, 0.0]);
        assert_eq!(m.solve(), Outcome::Infeasible);
    }
}
