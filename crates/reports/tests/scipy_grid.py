#!/usr/bin/env python3
"""Generate the SciPy/statsmodels reference grid for `tests/stats_grid.rs`.

How the committed fixtures were made (CI does not need SciPy):

    python3 -m venv /tmp/venv
    /tmp/venv/bin/pip install scipy statsmodels      # SciPy 1.17.1, statsmodels 0.15.0
    /tmp/venv/bin/python crates/reports/tests/scipy_grid.py crates/reports/tests/fixtures

Writes four CSV files (every float as Python's shortest round-trip repr, an
empty field where the statistic is undefined):

* stats_proportions.csv — x, n, confidence, Wilson and Clopper–Pearson limits
  (statsmodels proportion_confint, method="wilson" / "beta").
* stats_two_by_two.csv — x1, n1, x2, n2 (events / arm size; the table is
  [[x1, n1-x1], [x2, n2-x2]]): Newcombe risk difference
  (confint_proportions_2indep, method="newcomb"), odds ratio with logit
  interval (Table2x2(...).oddsratio / oddsratio_confint(method="normal"),
  with 0.5 added to EVERY cell when any cell is zero — trialink's documented
  Haldane–Anscombe rule; statsmodels' own shift_zeros adds 0.5 to the zero
  cells only), Pearson chi-square without continuity correction
  (chi2_contingency(correction=False)) plus the exact rational statistic,
  and Fisher's exact two-sided p (scipy.stats.fisher_exact), plus, for the
  tables with both arms >= 1000 and p > 1e-300, the same p computed with
  mpmath at 30 significant digits (fisher_p_mpmath; R's tie rule, relative
  1e-7) — SciPy's own value is off by up to ~6e-10 at arms of 10⁶.
* stats_rxc.csv — r×2 tables (SWAT arms × enrolled/not), chi-square as above.
* stats_holm.csv — p-value vectors and statsmodels multipletests(method="holm").
"""
import csv
import os
import random
import sys
from fractions import Fraction

import mpmath as mp
import numpy as np
from scipy.stats import chi2, chi2_contingency, fisher_exact
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (confint_proportions_2indep,
                                          proportion_confint)


def f(v):
    return "" if v is None else repr(float(v))


def proportions():
    ns = [1, 2, 3, 5, 10, 31, 100, 999, 1700, 10_000, 123_457, 1_000_000, 10_000_000]
    rows = []
    for n in ns:
        xs = {0, 1, 2, 3, n // 1000, n // 100, n // 10, n // 3, n // 2, n - 1, n}
        for x in sorted(v for v in xs if 0 <= v <= n):
            for conf in (0.95, 0.99, 0.9):
                a = 1 - conf
                wl, wu = proportion_confint(x, n, alpha=a, method="wilson")
                bl, bu = proportion_confint(x, n, alpha=a, method="beta")
                rows.append([x, n, conf, f(wl), f(wu), f(bl), f(bu)])
    return ["x", "n", "confidence", "wilson_lower", "wilson_upper", "cp_lower", "cp_upper"], rows


def exact_chi2(table):
    table = [r for r in table if sum(r) > 0]
    cols = [j for j in range(len(table[0])) if sum(r[j] for r in table) > 0] if table else []
    if len(table) < 2 or len(cols) < 2:
        return None
    n = sum(sum(r[j] for j in cols) for r in table)
    rt = [sum(r[j] for j in cols) for r in table]
    ct = [sum(r[j] for r in table) for j in cols]
    s = Fraction(0)
    for i, r in enumerate(table):
        for k, j in enumerate(cols):
            s += Fraction((r[j] * n - rt[i] * ct[k]) ** 2, n * rt[i] * ct[k])
    return s


def chi_cols(table):
    """SciPy's chi-square (statistic, p) and the exact statistic, or Nones."""
    ex = exact_chi2(table)
    if ex is None:
        return [None, None, None, None]
    t = np.array(table, dtype=np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    res = chi2_contingency(t, correction=False)
    return [res.statistic, res.pvalue, float(ex), chi2.sf(float(ex), res.dof)]


def fisher_mpmath(a, b, c, d):
    """Two-sided Fisher p at 30 digits: terms relative to the mode by exact
    ratio recurrence (mpf has no underflow), tie tolerance 1 + 1e-7."""
    mp.mp.dps = 30
    r1, c1, n = a + b, a + c, a + b + c + d
    lo, hi = max(0, r1 + c1 - n), min(r1, c1)
    if lo == hi:
        return mp.mpf(1)
    e = n - r1 - c1
    mode = (r1 + 1) * (c1 + 1) // (n + 2)
    rel = {mode: mp.mpf(1)}
    # Walk towards the observed table first, so the other side knows how far
    # out it must go.
    for step in ((1, -1) if a >= mode else (-1, 1)):
        t, k = mp.mpf(1), mode
        while (k < hi) if step == 1 else (k > lo):
            if step == 1:
                t *= mp.mpf((r1 - k) * (c1 - k)) / ((k + 1) * (e + k + 1))
            else:
                t *= mp.mpf(k * (e + k)) / ((r1 - k + 1) * (c1 - k + 1))
            k += step
            rel[k] = t
            if (k > a if step == 1 else k < a) and t < mp.mpf(10) ** -40 * min(rel.get(a, 1), 1):
                break
    obs = rel[a]
    total = mp.fsum(rel.values())
    return mp.fsum(t for t in rel.values() if t <= obs * (1 + mp.mpf("1e-7"))) / total


def two_by_two_cases():
    sizes = [0, 1, 7, 100, 1700, 10_000, 100_000, 1_000_000]
    fracs = [0.0, "1", 0.01, 0.1, 0.5, 1.0]
    cases = set()
    for n1 in sizes:
        for n2 in sizes:
            for f1 in fracs:
                for f2 in fracs:
                    x1 = min(1, n1) if f1 == "1" else int(round(f1 * n1))
                    x2 = min(1, n2) if f2 == "1" else int(round(f2 * n2))
                    cases.add((x1, n1, x2, n2))
    # The cases: 145/1700 vs 130/1695 (p = 0.379); two arms with 0 events.
    cases |= {(145, 1700, 130, 1695), (0, 1700, 0, 1695), (24, 131, 32, 121)}
    # Near-null tables at large arms (moderate p-values), and a few far apart.
    rng = random.Random(20260516)
    for _ in range(400):
        n1 = int(10 ** rng.uniform(3, 6.2))
        n2 = int(n1 * rng.uniform(0.5, 2.0))
        p = 10 ** rng.uniform(-4, -0.1)
        x1 = int(rng.gauss(p * n1, (p * (1 - p) * n1) ** 0.5 + 1))
        x2 = int(rng.gauss(p * n2, 2.5 * (p * (1 - p) * n2) ** 0.5 + 1))
        cases.add((min(max(x1, 0), n1), n1, min(max(x2, 0), n2), n2))
    # Equal arms (exactly tied tables on both sides of the mode).
    for n in (10, 1000, 100_000, 1_000_000):
        for x1, x2 in ((n // 10, n // 10 + 3), (n // 2 - 5, n // 2 + 5), (0, n // 100)):
            cases.add((x1, n, x2, n))
    return sorted(cases)


def two_by_two():
    rows = []
    for x1, n1, x2, n2 in two_by_two_cases():
        a, b, c, d = x1, n1 - x1, x2, n2 - x2
        out = [x1, n1, x2, n2]
        if n1 > 0 and n2 > 0:
            (lo, hi) = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
            out += [f(x1 / n1 - x2 / n2), f(lo), f(hi)]
        else:
            out += [""] * 3
        if min(a + b, c + d, a + c, b + d) > 0:
            tab = np.array([[a, b], [c, d]], dtype=float)
            if tab.min() == 0:
                tab = tab + 0.5
            t = Table2x2(tab, shift_zeros=False)
            lo, hi = t.oddsratio_confint(alpha=0.05, method="normal")
            out += [f(t.oddsratio), f(lo), f(hi)]
        else:
            out += [""] * 3
        out += [f(v) for v in chi_cols([[a, b], [c, d]])]
        p = fisher_exact([[a, b], [c, d]]).pvalue if a + b + c + d > 0 else None
        out.append(f(p))
        mode = (a + b + 1) * (a + c + 1) // (a + b + c + d + 2)
        if min(n1, n2) >= 1000 and p > 1e-300 and abs(a - mode) < 50_000:
            out.append(f(fisher_mpmath(a, b, c, d)))
        else:
            out.append("")
        rows.append(out)
    head = ["x1", "n1", "x2", "n2", "rd", "rd_lower", "rd_upper", "or", "or_lower", "or_upper",
            "chi2_scipy", "chi2_p_scipy", "chi2_exact", "chi2_p_of_exact", "fisher_p",
            "fisher_p_mpmath"]
    return head, rows


def rxc():
    rng = random.Random(7)
    rows = []
    for r in (2, 3, 4, 5, 8):
        for scale in (10, 1000, 100_000, 1_000_000):
            for _ in range(6):
                p = rng.uniform(0.01, 0.6)
                t = []
                for _i in range(r):
                    n = int(scale * rng.uniform(0.5, 1.5))
                    x = int(min(max(rng.gauss(p * n, 2 * (p * (1 - p) * n) ** 0.5), 0), n))
                    t.append([x, n - x])
                cells = ";".join(f"{x}/{y}" for x, y in t)
                s, pv, ex, pex = chi_cols(t)
                rows.append([cells, f(s), f(pv), f(ex), f(pex)])
    rows.append(["0/0;5/7;9/3", *[f(v) for v in chi_cols([[0, 0], [5, 7], [9, 3]])]])
    return ["table", "chi2_scipy", "chi2_p_scipy", "chi2_exact", "chi2_p_of_exact"], rows


def holm():
    rng = random.Random(11)
    rows = []
    vectors = [[0.01, 0.04, 0.03, 0.005], [0.9, 0.8], [0.5], [1e-300, 1e-200, 0.2, 0.2, 0.2],
               [0.0, 1.0, 0.3], [0.05, 0.05, 0.05]]
    for m in (2, 3, 5, 10, 40):
        for _ in range(8):
            vectors.append([10 ** rng.uniform(-12, 0) for _ in range(m)])
    for v in vectors:
        adj = multipletests(v, method="holm")[1]
        rows.append([";".join(f(x) for x in v), ";".join(f(x) for x in adj)])
    return ["p", "holm"], rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    for name, (head, rows) in {
        "stats_proportions.csv": proportions(),
        "stats_two_by_two.csv": two_by_two(),
        "stats_rxc.csv": rxc(),
        "stats_holm.csv": holm(),
    }.items():
        with open(os.path.join(out, name), "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(head)
            w.writerows(rows)
        print(name, len(rows))


if __name__ == "__main__":
    main()
