//! Selection to quotas, SWAT arm allocation and seeded randomness — pure
//! functions over pseudonymised candidates, independent of input row order.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// A random generator for one purpose, derived from the request seed and a
/// domain label (so adding a use never shifts another's stream).
pub fn rng_for(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"trialink-rng-v1\0");
    h.update(seed.to_le_bytes());
    h.update(purpose.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// A candidate's random rank: a hash of the seed and its `service:store`
/// token, so the order does not depend on where the row sits in the cohort.
pub fn rank(seed: u64, service_token: &[u8; 32]) -> u64 {
    let mut h = Sha256::new();
    h.update(b"trialink-rank-v1\0");
    h.update(seed.to_le_bytes());
    h.update(service_token);
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// An eligible person, as selection sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Index of their stratum.
    pub stratum: u32,
    /// Matched a registry volunteer.
    pub registry: bool,
    /// Random rank (lower goes first).
    pub rank: u64,
}

/// What happened in one stratum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StratumOutcome {
    /// Invitations requested.
    pub requested: u32,
    /// Eligible people in the stratum.
    pub available: u64,
    /// ... of whom registry volunteers.
    pub registry_available: u64,
    /// Invited.
    pub selected: u32,
    /// ... of whom registry volunteers.
    pub registry_selected: u32,
    /// Invited beyond the stratum's quota to fill another's shortfall.
    pub fill: u32,
    /// `requested − min(requested, available)`.
    pub shortfall: u32,
}

/// The chosen candidates (indices into the input), grouped by stratum, each
/// group in rank order, and per-stratum outcomes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// For each stratum, the chosen candidate indices.
    pub chosen: Vec<Vec<usize>>,
    /// For each stratum, its outcome.
    pub outcomes: Vec<StratumOutcome>,
}

fn order_key(c: &Candidate, i: usize, prioritise: bool) -> (bool, u64, usize) {
    (prioritise && !c.registry, c.rank, i)
}

/// Choose, for each stratum, up to its requested number: registry
/// volunteers first (when `prioritise`), then by rank. With `allow_fill`,
/// the total shortfall is made up from the people left over anywhere, in
/// the same order.
pub fn select(cands: &[Candidate], requested: &[u32], prioritise: bool, allow_fill: bool) -> Selection {
    let n = requested.len();
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, c) in cands.iter().enumerate() {
        if (c.stratum as usize) < n {
            groups[c.stratum as usize].push(i);
        }
    }
    let mut out = Selection {
        chosen: vec![Vec::new(); n],
        outcomes: vec![StratumOutcome::default(); n],
    };
    let mut leftovers = Vec::new();
    let mut total_short: u64 = 0;
    for (s, g) in groups.iter_mut().enumerate() {
        g.sort_unstable_by_key(|&i| order_key(&cands[i], i, prioritise));
        let q = requested[s] as usize;
        let take = q.min(g.len());
        let o = &mut out.outcomes[s];
        o.requested = requested[s];
        o.available = g.len() as u64;
        o.registry_available = g.iter().filter(|&&i| cands[i].registry).count() as u64;
        o.selected = take as u32;
        o.shortfall = (q - take) as u32;
        total_short += o.shortfall as u64;
        out.chosen[s].extend_from_slice(&g[..take]);
        leftovers.extend_from_slice(&g[take..]);
    }
    if allow_fill && total_short > 0 {
        leftovers.sort_unstable_by_key(|&i| order_key(&cands[i], i, prioritise));
        for &i in leftovers.iter().take(total_short as usize) {
            let s = cands[i].stratum as usize;
            out.chosen[s].push(i);
            out.outcomes[s].selected += 1;
            out.outcomes[s].fill += 1;
        }
    }
    for (s, ch) in out.chosen.iter().enumerate() {
        out.outcomes[s].registry_selected = ch.iter().filter(|&&i| cands[i].registry).count() as u32;
    }
    out
}

/// Split `total` in proportion to `weights` by largest remainder; ties in
/// the remainder go to the earlier entry. Sums to `total` (when any weight
/// is positive).
pub fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut out: Vec<u64> = weights
        .iter()
        .map(|&w| (total as u128 * w as u128 / sum) as u64)
        .collect();
    let given: u64 = out.iter().sum();
    let mut rema: Vec<(u128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| (total as u128 * w as u128 % sum, i))
        .collect();
    rema.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rema.iter().take((total - given) as usize) {
        out[i] += 1;
    }
    out
}

/// Allocate arms to `n` invitees of one stratum: counts by largest
/// remainder of the weights (ties broken at random), then shuffled. Every
/// arm's count is within one of its exact share.
pub fn assign_arms(n: usize, weights: &[u32], rng: &mut ChaCha8Rng) -> Vec<usize> {
    // Random tie-breaking: permute the arms before the largest remainder.
    let mut perm: Vec<usize> = (0..weights.len()).collect();
    perm.shuffle(rng);
    let w: Vec<u64> = perm.iter().map(|&a| weights[a] as u64).collect();
    let counts = largest_remainder(n as u64, &w);
    let mut arms = Vec::with_capacity(n);
    for (k, &c) in counts.iter().enumerate() {
        arms.extend(std::iter::repeat_n(perm[k], c as usize));
    }
    arms.shuffle(rng);
    arms
}

/// Insert `k` items at random positions among `n`: returns, for the final
/// sequence of `n + k`, `Some(i)` for the i-th original item and `None` for
/// an inserted one.
pub fn interleave(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<Option<usize>> {
    let total = n + k;
    let mut slots: Vec<usize> = Vec::with_capacity(k);
    while slots.len() < k {
        let p = rng.gen_range(0..total);
        if !slots.contains(&p) {
            slots.push(p);
        }
    }
    let mut next = 0;
    (0..total)
        .map(|p| {
            if slots.contains(&p) {
                None
            } else {
                next += 1;
                Some(next - 1)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn registry_first_then_rank() {
        let c = |stratum, registry, rank| Candidate {
            stratum,
            registry,
            rank,
        };
        let cands = vec![
            c(0, false, 1),
            c(0, true, 9),
            c(0, false, 5),
            c(0, true, 3),
            c(1, false, 2),
        ];
        let s = select(&cands, &[3, 2], true, false);
        assert_eq!(s.chosen[0], vec![3, 1, 0]);
        assert_eq!(s.outcomes[0].registry_selected, 2);
        assert_eq!(s.outcomes[1].shortfall, 1);
        let s = select(&cands, &[3, 2], false, false);
        assert_eq!(s.chosen[0], vec![0, 3, 2]);
        let s = select(&cands, &[3, 2], true, true);
        assert_eq!(s.outcomes[0].fill, 1);
        assert_eq!(s.chosen[0].len(), 4);
    }

    #[test]
    fn remainder() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(largest_remainder(7, &[2, 1]), vec![5, 2]);
        assert_eq!(largest_remainder(0, &[2, 1]), vec![0, 0]);
        assert_eq!(largest_remainder(5, &[0, 0]), vec![0, 0]);
    }

    proptest! {
        #[test]
        fn quotas_met_where_pool_allows(
            cands in proptest::collection::vec((0u32..4, any::<bool>(), any::<u64>()), 0..300),
            req in proptest::collection::vec(0u32..80, 4),
            prioritise in any::<bool>(),
            fill in any::<bool>(),
        ) {
            let cs: Vec<Candidate> = cands.iter().map(|&(stratum, registry, rank)| Candidate { stratum, registry, rank }).collect();
            let s = select(&cs, &req, prioritise, fill);
            let mut seen = std::collections::HashSet::new();
            let mut total_short = 0u64;
            for (k, o) in s.outcomes.iter().enumerate() {
                let avail = cs.iter().filter(|c| c.stratum as usize == k).count() as u64;
                prop_assert_eq!(o.available, avail);
                prop_assert_eq!(o.selected as u64 - o.fill as u64, (req[k] as u64).min(avail));
                prop_assert_eq!(o.shortfall as u64, req[k] as u64 - (req[k] as u64).min(avail));
                total_short += o.shortfall as u64;
                if !fill { prop_assert_eq!(o.fill, 0); }
                for &i in &s.chosen[k] {
                    prop_assert!(seen.insert(i));
                    prop_assert_eq!(cs[i].stratum as usize, k);
                }
                // Registry first: no non-volunteer chosen (within quota) while a volunteer was left.
                if prioritise && o.fill == 0 {
                    let chosen_non = s.chosen[k].iter().any(|&i| !cs[i].registry);
                    let left_reg = o.registry_available > o.registry_selected as u64;
                    prop_assert!(!(chosen_non && left_reg));
                }
            }
            let filled: u64 = s.outcomes.iter().map(|o| o.fill as u64).sum();
            prop_assert!(filled <= total_short);
        }

        #[test]
        fn arms_balanced(n in 0usize..500, weights in proptest::collection::vec(1u32..5, 1..5), seed in any::<u64>()) {
            let mut rng = rng_for(seed, "arms");
            let a = assign_arms(n, &weights, &mut rng);
            prop_assert_eq!(a.len(), n);
            let wsum: u32 = weights.iter().sum();
            for (k, &w) in weights.iter().enumerate() {
                let got = a.iter().filter(|&&x| x == k).count() as f64;
                let exact = n as f64 * w as f64 / wsum as f64;
                prop_assert!((got - exact).abs() < 1.0 + 1e-9, "arm {} got {} exact {}", k, got, exact);
            }
        }

        #[test]
        fn interleave_keeps_order(n in 0usize..50, k in 0usize..4, seed in any::<u64>()) {
            let mut rng = rng_for(seed, "qa");
            let v = interleave(n, k, &mut rng);
            prop_assert_eq!(v.len(), n + k);
            prop_assert_eq!(v.iter().filter(|x| x.is_none()).count(), k);
            let orig: Vec<usize> = v.iter().flatten().copied().collect();
            prop_assert_eq!(orig, (0..n).collect::<Vec<_>>());
        }
    }
}
