// A small C interface over COIN-OR Clp's ClpSimplex for trialink's
// disclosure audit (cargo feature `clp`; see src/audit/clp.rs).
//
// Clp's own C interface re-solves with `primal(0)`, which sets the whole
// solver up again on every call (scaling, work arrays, factorization): on
// the audit's programs that was 2.1 ms a solve for 8 simplex iterations
// on average. Here the objective is changed coefficient by coefficient
// through ClpSimplex (which keeps its work arrays in step) and re-solved
// with startFinishOptions 1|2|4 (keep the work areas, reuse them), as
// COIN-OR's own Osi interface does for a resolve: 1.4 ms a solve (the
// basis is still factorized afresh each time). No exception
// crosses into Rust: each entry point catches and reports failure.
#include "ClpSimplex.hpp"

extern "C" {

void *tl_clp_new() {
  try {
    ClpSimplex *m = new ClpSimplex();
    m->setLogLevel(0);
    return m;
  } catch (...) {
    return nullptr;
  }
}

void tl_clp_delete(void *m) { delete static_cast<ClpSimplex *>(m); }

int tl_clp_load(void *m, int ncols, int nrows, const int *start, const int *index,
                const double *value, const double *collb, const double *colub,
                const double *obj, const double *rowlb, const double *rowub) {
  try {
    static_cast<ClpSimplex *>(m)->loadProblem(ncols, nrows, start, index, value, collb,
                                              colub, obj, rowlb, rowub);
    return 0;
  } catch (...) {
    return -1;
  }
}

// From scratch: presolve, then the dual simplex. Returns Clp's status
// (0 optimal, 1 infeasible, 2 unbounded, 3+ stopped), -1 on an exception.
int tl_clp_initial_solve(void *m) {
  try {
    ClpSimplex *s = static_cast<ClpSimplex *>(m);
    s->initialSolve();
    return s->status();
  } catch (...) {
    return -1;
  }
}

// Set the objective coefficients of `n` columns, then re-solve from the
// current basis with the primal simplex. `keep` non-zero: keep and reuse
// the solver's work areas between calls (startFinishOptions 1|2|4).
int tl_clp_resolve(void *m, int n, const int *cols, const double *values, int keep) {
  try {
    ClpSimplex *s = static_cast<ClpSimplex *>(m);
    for (int i = 0; i < n; i++) s->setObjectiveCoefficient(cols[i], values[i]);
    s->primal(0, keep ? (1 | 2 | 4) : 0);
    return s->status();
  } catch (...) {
    return -1;
  }
}

// Set every row's bounds (`rowlb`, `rowub`: one entry per row), then
// solve: from scratch the first time (`warm` zero), else from the current
// basis with the dual simplex, keeping the work areas (the basis of an
// optimum stays dual feasible when only row bounds change).
int tl_clp_resolve_rows(void *m, const double *rowlb, const double *rowub, int warm) {
  try {
    ClpSimplex *s = static_cast<ClpSimplex *>(m);
    int n = s->numberRows();
    for (int i = 0; i < n; i++) s->setRowBounds(i, rowlb[i], rowub[i]);
    if (warm)
      s->dual(0, 1 | 2 | 4);
    else
      s->initialSolve();
    return s->status();
  } catch (...) {
    return -1;
  }
}

const double *tl_clp_columns(void *m) {
  return static_cast<ClpSimplex *>(m)->primalColumnSolution();
}

unsigned char *tl_clp_status_array(void *m) {
  return static_cast<ClpSimplex *>(m)->statusArray();
}

int tl_clp_copyin_status(void *m, const unsigned char *status) {
  try {
    static_cast<ClpSimplex *>(m)->copyinStatus(status);
    return 0;
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
