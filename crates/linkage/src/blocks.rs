//! Candidate generation: the blocks of the selected passes (rows of both
//! sides sharing a key), the cap on one block's comparisons, and a stream of
//! the candidate pairs they yield.
//!
//! Candidates are never collected: [`Plan::fold`] scans the blocks in
//! parallel and hands each candidate to the caller once, so a run can count
//! comparison patterns, find each row's best score and keep only the pairs
//! it accepts, in memory proportional to the rows rather than the pairs. A
//! pair sharing keys in several passes is given by the first pass (in the
//! order selected) whose block was compared and whose score floor it meets,
//! so each candidate is seen exactly once.

use crate::config::Blocking;
use crate::evidence::is_match_key;
use crate::fields;
use crate::side::{pass_key, Side, NHS_PASS};
use crate::LinkError;
use bloom::dice::{dice_from_counts, ClkMatrix};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// Resolve the passes a config selects (present on both sides).
pub(crate) fn selected_passes(
    left: &Side,
    right: &Side,
    blocking: &Blocking,
) -> Result<Vec<(String, u16, u16)>, LinkError> {
    let both = |name: &str| {
        Some((
            name.to_string(),
            *left.pass_ids.get(name)?,
            *right.pass_ids.get(name)?,
        ))
    };
    match blocking {
        Blocking::AllPairs => Ok(Vec::new()),
        Blocking::All => Ok(left
            .pass_ids
            .keys()
            .filter(|n| !fields::is_field_item(n))
            .filter_map(|n| both(n))
            .collect()),
        Blocking::Passes(names) => names
            .iter()
            .map(|n| both(n).ok_or_else(|| LinkError::UnknownPass(n.clone())))
            .collect(),
    }
}

/// One candidate pair: rows (0-based) and record Dice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cand {
    pub(crate) score: f64,
    pub(crate) l: u32,
    pub(crate) r: u32,
}

/// Whether a score is kept at a floor (as the Dice scan keeps it).
fn meets(score: f64, floor: f64) -> bool {
    score >= floor && score > 0.0
}

/// One block: its rows' ranges in the pass's row lists.
#[derive(Clone, Copy)]
struct Span {
    l0: u32,
    l1: u32,
    r0: u32,
    r1: u32,
}

/// One pass's blocks.
struct PassBlocks {
    lp: u16,
    rp: u16,
    /// Lowest score kept in this pass's blocks.
    floor: f64,
    /// Rows by key.
    lrows: Vec<u32>,
    rrows: Vec<u32>,
    /// Compared blocks.
    spans: Vec<Span>,
    /// Keys of blocks over the cap (not compared).
    skipped: HashSet<u64>,
    /// Rows of those blocks.
    skipped_rows: Vec<(Vec<u32>, Vec<u32>)>,
}

impl PassBlocks {
    fn rows(&self, s: &Span) -> (&[u32], &[u32]) {
        (
            &self.lrows[s.l0 as usize..s.l1 as usize],
            &self.rrows[s.r0 as usize..s.r1 as usize],
        )
    }
}

/// What the cap cost, for [`crate::LinkStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) blocks: u64,
    pub(crate) pairs: u64,
    pub(crate) left_rows_lost_candidates: usize,
    pub(crate) left_rows_uncompared: usize,
}

/// The blocks to compare: all pairs of the eligible rows as one block, or
/// the blocks of each selected pass.
pub(crate) struct Plan<'a> {
    left: &'a Side,
    right: &'a Side,
    lm: &'a ClkMatrix,
    rm: &'a ClkMatrix,
    /// All pairs: eligible left rows, the eligible right rows gathered, their rows, and the floor.
    all: Option<(Vec<u32>, ClkMatrix, Vec<u32>, f64)>,
    passes: Vec<PassBlocks>,
    /// Dice comparisons the compared blocks need.
    pub(crate) comparisons: u64,
    /// Blocks over the cap.
    pub(crate) skipped: Skipped,
}

impl<'a> Plan<'a> {
    /// Blocks of the eligible rows (`l_ok`, `r_ok`) in `passes` (or all
    /// pairs), with `floor` the lowest score kept; blocks of strong passes
    /// (match keys, NHS tokens) keep any score above 0. Blocks needing more
    /// than `max_block_pairs` comparisons are not compared and are counted.
    /// `None` when a side has no CLKs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        left: &'a Side,
        right: &'a Side,
        l_ok: &[bool],
        r_ok: &[bool],
        floor: f64,
        passes: &[(String, u16, u16)],
        all_pairs: bool,
        max_block_pairs: u64,
    ) -> Option<Plan<'a>> {
        let (Some(lm), Some(rm)) = (&left.clks, &right.clks) else {
            return None;
        };
        let mut plan = Plan {
            left,
            right,
            lm,
            rm,
            all: None,
            passes: Vec::new(),
            comparisons: 0,
            skipped: Skipped::default(),
        };
        if all_pairs {
            let ls: Vec<u32> = (0..left.len()).filter(|&l| l_ok[l]).map(|l| l as u32).collect();
            let rs: Vec<u32> = (0..right.len()).filter(|&r| r_ok[r]).map(|r| r as u32).collect();
            let comps = ls.len() as u64 * rs.len() as u64;
            if comps > max_block_pairs {
                // All pairs are one block: skipped whole.
                plan.skipped.blocks = 1;
                plan.skipped.pairs = comps;
                if !rs.is_empty() {
                    plan.skipped.left_rows_lost_candidates = ls.len();
                    plan.skipped.left_rows_uncompared = ls.len();
                }
                return Some(plan);
            }
            let g = gather(rm, rs.iter().map(|&r| r as usize));
            plan.comparisons = comps;
            plan.all = Some((ls, g, rs, floor));
            return Some(plan);
        }
        for (name, lp, rp) in passes {
            let floor = if *lp == NHS_PASS || is_match_key(name) {
                floor.min(f64::MIN_POSITIVE)
            } else {
                floor
            };
            plan.passes.push(pass_blocks(
                left,
                right,
                l_ok,
                r_ok,
                *lp,
                *rp,
                floor,
                max_block_pairs,
            ));
        }
        plan.comparisons = plan
            .passes
            .iter()
            .flat_map(|p| {
                p.spans
                    .iter()
                    .map(|s| (s.l1 - s.l0) as u64 * (s.r1 - s.r0) as u64)
            })
            .sum();
        plan.count_skipped();
        Some(plan)
    }

    /// Fill [`Plan::skipped`] from the passes' skipped blocks.
    fn count_skipped(&mut self) {
        let skipped: Vec<(&[u32], &[u32])> = self
            .passes
            .iter()
            .flat_map(|p| p.skipped_rows.iter().map(|(a, b)| (&a[..], &b[..])))
            .collect();
        if skipped.is_empty() {
            return;
        }
        self.skipped.blocks = skipped.len() as u64;
        self.skipped.pairs = skipped.iter().map(|(a, b)| a.len() as u64 * b.len() as u64).sum();
        let compared: Vec<(&[u32], &[u32])> = self
            .passes
            .iter()
            .flat_map(|p| p.spans.iter().map(move |s| p.rows(s)))
            .collect();
        (
            self.skipped.left_rows_lost_candidates,
            self.skipped.left_rows_uncompared,
        ) = lost_to_skipped(&compared, &skipped);
    }

    /// Whether the pair (`l`, `r`) with `score` was already given by a pass
    /// before `pass`: they share a compared block there and the score meets
    /// that pass's floor.
    fn seen_before(&self, pass: usize, l: usize, r: usize, score: f64) -> bool {
        self.passes[..pass].iter().any(|p| {
            meets(score, p.floor)
                && match (pass_key(self.left, l, p.lp), pass_key(self.right, r, p.rp)) {
                    (Some(a), Some(b)) => a == b && !p.skipped.contains(&a),
                    _ => false,
                }
        })
    }

    /// Visit every candidate once, in parallel: `visit` adds it to a
    /// per-thread accumulator made by `init`; accumulators are combined by
    /// `merge`. The result does not depend on the number of threads when
    /// `merge` is commutative and associative.
    pub(crate) fn fold<A, I, V, M>(&self, init: I, visit: V, merge: M) -> A
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Cand) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        if let Some((ls, g, rs, floor)) = &self.all {
            return ls
                .par_iter()
                .fold(&init, |mut acc, &l| {
                    let (q, qp) = (self.lm.row(l as usize), self.lm.pop(l as usize));
                    g.scan(q, qp, 0, g.len(), *floor, |i, s| {
                        visit(
                            &mut acc,
                            Cand {
                                score: s,
                                l,
                                r: rs[i],
                            },
                        )
                    });
                    acc
                })
                .reduce(&init, &merge);
        }
        let mut total = init();
        for (pi, p) in self.passes.iter().enumerate() {
            let acc = p
                .spans
                .par_iter()
                .fold(&init, |mut acc, s| {
                    let (ls, rs) = p.rows(s);
                    self.scan_block(ls, rs, p.floor, |c| {
                        if pi == 0 || !self.seen_before(pi, c.l as usize, c.r as usize, c.score) {
                            visit(&mut acc, c)
                        }
                    });
                    acc
                })
                .reduce(&init, &merge);
            total = merge(total, acc);
        }
        total
    }

    /// Dice of every pair of one block, giving those at or above `floor`.
    fn scan_block(&self, ls: &[u32], rs: &[u32], floor: f64, mut found: impl FnMut(Cand)) {
        let (lm, rm) = (self.lm, self.rm);
        if rs.len() >= 8 && ls.len() >= 32 {
            // Gather the block's right rows once so every left row scans
            // them contiguously with the SIMD kernel.
            let g = gather(rm, rs.iter().map(|&r| r as usize));
            for &l in ls {
                g.scan(
                    lm.row(l as usize),
                    lm.pop(l as usize),
                    0,
                    g.len(),
                    floor,
                    |i, s| {
                        found(Cand {
                            score: s,
                            l,
                            r: rs[i],
                        })
                    },
                );
            }
        } else {
            // Small block: no gather; one kernel call per pair (the
            // kernel uses hardware popcount, which plain `count_ones`
            // here would not: this crate is built without target features).
            let mut c = [0u32; 1];
            for &l in ls {
                let q = lm.row(l as usize);
                let qp = lm.pop(l as usize);
                if qp == 0 {
                    continue;
                }
                for &r in rs {
                    bloom::dice::and_popcounts(q, rm.row(r as usize), rm.stride(), &mut c);
                    let s = dice_from_counts(c[0], qp, rm.pop(r as usize));
                    if meets(s, floor) {
                        found(Cand { score: s, l, r });
                    }
                }
            }
        }
    }
}

/// Call `f` with the index ranges of each key present in both sorted key lists.
fn for_each_block(lk: &[u64], rk: &[u64], mut f: impl FnMut(std::ops::Range<usize>, std::ops::Range<usize>)) {
    let (mut i, mut j) = (0, 0);
    while i < lk.len() && j < rk.len() {
        let (kl, kr) = (lk[i], rk[j]);
        if kl < kr {
            i += 1;
        } else if kr < kl {
            j += 1;
        } else {
            let i2 = i + lk[i..].iter().take_while(|&&x| x == kl).count();
            let j2 = j + rk[j..].iter().take_while(|&&x| x == kl).count();
            f(i..i2, j..j2);
            i = i2;
            j = j2;
        }
    }
}

/// One pass's blocks among the eligible rows.
#[allow(clippy::too_many_arguments)]
fn pass_blocks(
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    lp: u16,
    rp: u16,
    floor: f64,
    max_block_pairs: u64,
) -> PassBlocks {
    let li = left.pass_index(lp, l_ok);
    let ri = right.pass_index(rp, r_ok);
    let lk: Vec<u64> = li.iter().map(|x| x.0).collect();
    let rk: Vec<u64> = ri.iter().map(|x| x.0).collect();
    let mut spans = Vec::new();
    let mut skipped = HashSet::new();
    let mut skipped_rows = Vec::new();
    for_each_block(&lk, &rk, |a, b| {
        if a.len() as u64 * b.len() as u64 <= max_block_pairs {
            spans.push(Span {
                l0: a.start as u32,
                l1: a.end as u32,
                r0: b.start as u32,
                r1: b.end as u32,
            });
        } else {
            skipped.insert(lk[a.start]);
            skipped_rows.push((
                li[a.start..a.end].iter().map(|x| x.1).collect(),
                ri[b.start..b.end].iter().map(|x| x.1).collect(),
            ));
        }
    });
    PassBlocks {
        lp,
        rp,
        floor,
        lrows: li.into_iter().map(|x| x.1).collect(),
        rrows: ri.into_iter().map(|x| x.1).collect(),
        spans,
        skipped,
        skipped_rows,
    }
}

/// Gather rows of `m` into a contiguous matrix.
fn gather(m: &ClkMatrix, rows: impl Iterator<Item = usize>) -> ClkMatrix {
    let mut g = ClkMatrix::new(m.stride());
    for r in rows {
        g.push(m.row(r));
    }
    g
}

/// Left rows that lost at least one candidate pair to skipped blocks, and
/// of those the rows with no compared block at all. A left row `l` in a
/// skipped block `B` lost a pair unless every right row of `B` shares a
/// compared block with `l`; checking that costs at most the comparisons `l`
/// had anyway (a right set larger than `l`'s compared right rows is lost at
/// once), so the check is bounded by the work the cap allows. Blocks are
/// (left rows, right rows).
pub(crate) fn lost_to_skipped(compared: &[(&[u32], &[u32])], skipped: &[(&[u32], &[u32])]) -> (usize, usize) {
    // Skipped blocks by left row (only rows in one).
    let mut in_skipped: HashMap<u32, Vec<usize>> = HashMap::new();
    for (b, (ls, _)) in skipped.iter().enumerate() {
        for &l in *ls {
            in_skipped.entry(l).or_default().push(b);
        }
    }
    let mut compared_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (b, (ls, _)) in compared.iter().enumerate() {
        for &l in *ls {
            if in_skipped.contains_key(&l) {
                compared_of.entry(l).or_default().push(b);
            }
        }
    }
    let mut lost = 0;
    let mut uncompared = 0;
    for (l, bs) in &in_skipped {
        let Some(cbs) = compared_of.get(l) else {
            lost += 1;
            uncompared += 1;
            continue;
        };
        let seen: HashSet<u32> = cbs.iter().flat_map(|&b| compared[b].1.iter().copied()).collect();
        if bs.iter().any(|&b| {
            let rs = skipped[b].1;
            rs.len() > seen.len() || rs.iter().any(|r| !seen.contains(r))
        }) {
            lost += 1;
        }
    }
    (lost, uncompared)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks as (left rows, right rows, floor), as they were once stored.
    type Block = (Vec<u32>, Vec<u32>, f64);

    fn lost(compared: &[Block], skipped: &[Block]) -> (usize, usize) {
        let c: Vec<(&[u32], &[u32])> = compared.iter().map(|b| (&b.0[..], &b.1[..])).collect();
        let s: Vec<(&[u32], &[u32])> = skipped.iter().map(|b| (&b.0[..], &b.1[..])).collect();
        lost_to_skipped(&c, &s)
    }

    #[test]
    fn lost_candidates_counts_only_pairs_no_compared_block_covers() {
        // Blocks: skipped B = ({0,1}, {0,1,2}); compared C = ({0}, {0,1,2}).
        // Left 0 is covered by C; left 1 is not.
        let skipped = vec![(vec![0, 1], vec![0, 1, 2], 0.5)];
        let compared = vec![(vec![0], vec![0, 1, 2], 0.5)];
        assert_eq!(lost(&compared, &skipped), (1, 1));
        let compared = vec![(vec![0], vec![0, 1], 0.5)];
        assert_eq!(lost(&compared, &skipped), (2, 1));
        let compared = vec![(vec![0, 1], vec![2, 1, 0], 0.5)];
        assert_eq!(lost(&compared, &skipped), (0, 0));
    }
}
