//! Greedy 1:1 assignment of scored candidate pairs, on its own: for callers
//! that produce candidates elsewhere (a cluster join) and want the
//! assignment [`crate::link`] makes with a fixed threshold.

use std::collections::HashSet;

/// Accept candidate pairs `(left, right, score)` one to one: in order of
/// score descending, then left row, then right row, a pair is accepted when
/// neither of its rows is in an accepted pair already (a pair given twice
/// counts once). Returns the indices into `cands` of the accepted pairs,
/// sorted by left row, then right row — as [`crate::link`] assigns its fuzzy
/// candidates at or above a fixed threshold.
pub fn greedy_one_to_one(cands: &[(u64, u64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (x, y) = (&cands[a], &cands[b]);
        y.2.total_cmp(&x.2).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1))
    });
    let mut used_l = HashSet::new();
    let mut used_r = HashSet::new();
    let mut out = Vec::new();
    for i in order {
        let (l, r, _) = cands[i];
        if !used_l.contains(&l) && !used_r.contains(&r) {
            used_l.insert(l);
            used_r.insert(r);
            out.push(i);
        }
    }
    out.sort_unstable_by_key(|&i| (cands[i].0, cands[i].1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{link, Blocking, Config, Mode, Side};
    use proptest::prelude::*;

    #[test]
    fn best_first_then_rows() {
        let c = [
            (0, 0, 0.9),
            (0, 1, 0.95),
            (1, 1, 0.95),
            (1, 0, 0.9),
            (2, 2, 0.9),
            (2, 2, 0.9),
        ];
        let got: Vec<_> = greedy_one_to_one(&c)
            .into_iter()
            .map(|i| (c[i].0, c[i].1))
            .collect();
        assert_eq!(got, [(0, 1), (1, 0), (2, 2)]);
    }

    proptest! {
        /// Equal to `link`'s fuzzy assignment on all pairs at a fixed threshold.
        #[test]
        fn matches_link(rows in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 2), 1..24),
                        others in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 2), 1..24)) {
            let mut left = Side::new(128);
            for r in &rows { left.push(None, Some(r), &[]); }
            let mut right = Side::new(128);
            for r in &others { right.push(None, Some(r), &[]); }
            let t = 0.3;
            let cfg = Config { mode: Mode::ClkOnly, threshold: t, blocking: Blocking::AllPairs, ..Config::default() };
            let (m, _) = link(&left, &right, &cfg).unwrap();
            let mut cands = Vec::new();
            for (i, a) in rows.iter().enumerate() {
                for (j, b) in others.iter().enumerate() {
                    let s = bloom::dice::dice(a, b);
                    if s >= t && s > 0.0 { cands.push((i as u64, j as u64, s)); }
                }
            }
            let got: Vec<_> = greedy_one_to_one(&cands).into_iter().map(|i| (cands[i].0 as usize, cands[i].1 as usize)).collect();
            let want: Vec<_> = m.iter().map(|m| (m.left, m.right)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
