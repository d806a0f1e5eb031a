//! Exact joins, keyed blocking, fuzzy CLK matching, 1:1 assignment and
//! evaluation.
//!
//! The linker sees only pseudonymised data: per row an optional 32-byte token
//! (`token_nhs_dob`, HMAC of NHS number and date of birth), an optional CLK
//! and optional keyed blocking keys. Blocking needs plaintext (a date, a
//! name's phonetic code), so whoever encodes computes the keys —
//! `bloom::clk::ClkEncoder::blocking_keys` writes a `blocking` column of
//! `pass=hex16` items, each an HMAC under a key derived from the CLK secret —
//! and the linker only compares them for equality. Without the secret a
//! blocking column cannot be dictionary-attacked (blocklib's unkeyed keys
//! can).
//!
//! [`link`] runs, by [`Mode`]:
//! 1. **exact**: rows whose tokens are equal, paired 1:1 in row order within a
//!    token (score 1);
//! 2. **fuzzy** on the rest: candidate pairs that share a key in any selected
//!    blocking pass (or all pairs, without blocking), scored by Dice, kept at
//!    or above the threshold, ordered by score descending, then left row, then
//!    right row, and assigned greedily 1:1 in that order.
//!    In hybrid mode a candidate whose two rows both carry an `nhs_token`
//!    (NHS number alone) and disagree on it is vetoed: a DOB error changes
//!    `token_nhs_dob` but not `nhs_token`, while two different valid NHS
//!    numbers almost always mean two people.
//!
//! Without a fixed threshold ([`Config::model`]) the fuzzy decision comes from
//! [`model`]: keyed field encodings in the blocking column ([`fields`]) are
//! weighed field by field, with u from random pairs and the prior over all
//! pairs; pairs sharing a match key (`mk_…`) or, in hybrid mode, an NHS
//! token are candidates at any record Dice.
//! A candidate is accepted at match probability 0.5, or when it outweighs
//! all its two rows' other candidates together by enough that, with each
//! row having at most one partner, it is more likely than not the partner
//! of both (the one-to-one posterior, see [`model`]); that keeps recall
//! from falling as the files grow and the prior of a single pair shrinks.
//!
//! Candidates are streamed, never collected: each decision step is one scan
//! of the blocks, so memory grows with the rows, not the candidate pairs.
//! Work is spread over rayon's pool; results do not depend on thread count.
//! [`evaluate`] gives precision, recall and F1 against ground truth, and
//! [`blocking_quality`] pair completeness and reduction ratio.
//!
//! Modules: [`Side`] (`side`) holds one party's rows; `config` and `outcome`
//! what a run is asked and what it gives; `blocks` generates candidates;
//! `evidence` and [`model`] compare and weigh them; `decide` fits and
//! accepts; `linker` runs it all; `quality` measures the result; `input`
//! reads link files, pair files and manifests; `output` writes the match
//! file and the run's facts; `run` is one whole `trialink link` run
//! ([`LinkRun`]): inputs checked and read, the link, the match file and its
//! manifest, and the lines that tell the operator what was decided.

#![forbid(unsafe_code)]

mod assign;
mod blocks;
mod config;
mod decide;
mod evidence;
pub mod fields;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
mod input;
mod linker;
pub mod model;
mod outcome;
mod output;
mod quality;
mod run;
mod side;

pub use assign::greedy_one_to_one;
pub use config::{
    Blocking, Config, Mode, DEFAULT_MAX_BLOCK_PAIRS, DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_WITH_NHS,
    FIELD_FLOOR,
};
pub use input::{
    check_manifests, manifest_of, read_column, read_pairs, read_side, InputError, LinkInput, ManifestMismatch,
};
pub use linker::link;
pub use outcome::{LinkStats, Match, Method};
pub use output::{default_threshold, evaluate_run, evaluation_json, facts, matches_csv, model_json};
pub use quality::{blocking_quality, by_label, evaluate, BlockingQuality, Evaluation};
pub use run::{decision_lines, evaluate_files, LinkRun, RunError};
pub use side::{parse_blocking, RowReject, Side, MAX_PASSES};

/// Why linkage could not run. Carries positions and names, never tokens or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The two sides' CLKs have different lengths.
    #[error(
        "CLKs differ in length: left {left} bits, right {right} bits (were they made with the same schema?)"
    )]
    ClkLength {
        /// Left CLK bits.
        left: usize,
        /// Right CLK bits.
        right: usize,
    },
    /// A requested blocking pass is on neither side.
    #[error("blocking pass `{0}` is not present on both sides")]
    UnknownPass(String),
    /// A row's blocking column is malformed.
    #[error("row {row}: malformed blocking column (expected `name=16 hex digits` items separated by `;`)")]
    BadBlocking {
        /// 1-based row.
        row: usize,
    },
    /// The threshold is not in (0, 1].
    #[error("threshold must be greater than 0 and at most 1")]
    BadThreshold,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn tok(b: u8) -> Option<[u8; 32]> {
        Some([b; 32])
    }

    fn clk(bits: &[usize]) -> Vec<u64> {
        let mut w = vec![0u64; 2];
        for &b in bits {
            w[b / 64] |= 1 << (63 - b % 64);
        }
        w
    }

    #[test]
    fn exact_then_fuzzy_greedy_order() {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        // left 0 and right 1 share a token.
        l.push(tok(1), Some(&clk(&[1, 2, 3])), &[]);
        // left 1 has no token; its CLK is close to right 0 and right 2.
        l.push(None, Some(&clk(&[10, 11, 12, 13])), &[]);
        l.push(None, Some(&clk(&[10, 11, 12, 14])), &[]);
        r.push(tok(9), Some(&clk(&[10, 11, 12, 13])), &[]);
        r.push(tok(1), Some(&clk(&[50])), &[]);
        r.push(None, Some(&clk(&[10, 11, 12, 14])), &[]);
        let cfg = Config {
            blocking: Blocking::AllPairs,
            threshold: 0.7,
            ..Config::default()
        };
        let (m, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(s.exact, 1);
        assert_eq!(s.fuzzy, 2);
        let pairs: Vec<(usize, usize, Method)> = m.iter().map(|m| (m.left, m.right, m.method)).collect();
        assert_eq!(
            pairs,
            vec![
                (0, 1, Method::Exact),
                (1, 0, Method::Fuzzy),
                (2, 2, Method::Fuzzy)
            ]
        );
        // Token only: just the exact pair.
        let (m, _) = link(
            &l,
            &r,
            &Config {
                mode: Mode::TokenOnly,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn differing_nhs_tokens_veto_fuzzy_matches_in_hybrid_mode() {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        l.push_with_nhs(tok(1), tok(10), Some(&clk(&[1, 2, 3])), &[]);
        l.push_with_nhs(tok(2), tok(20), Some(&clk(&[7, 8, 9])), &[]);
        r.push_with_nhs(tok(3), tok(11), Some(&clk(&[1, 2, 3])), &[]); // another person's number
        r.push_with_nhs(tok(4), tok(20), Some(&clk(&[7, 8, 9])), &[]); // same number, DOB differs
        let cfg = Config {
            blocking: Blocking::AllPairs,
            ..Config::default()
        };
        let (m, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(
            m.iter().map(|m| (m.left, m.right)).collect::<Vec<_>>(),
            vec![(1, 1)]
        );
        assert_eq!(s.nhs_vetoed, 1);
        let (m, _) = link(
            &l,
            &r,
            &Config {
                mode: Mode::ClkOnly,
                ..cfg
            },
        )
        .unwrap();
        assert_eq!(m.len(), 2, "CLK-only ignores tokens");
    }

    #[test]
    fn ties_go_to_lower_left_then_right() {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        for _ in 0..2 {
            l.push(None, Some(&clk(&[1, 2])), &[]);
            r.push(None, Some(&clk(&[1, 2])), &[]);
        }
        let (m, _) = link(
            &l,
            &r,
            &Config {
                blocking: Blocking::AllPairs,
                ..Config::default()
            },
        )
        .unwrap();
        let pairs: Vec<(usize, usize)> = m.iter().map(|m| (m.left, m.right)).collect();
        assert_eq!(pairs, vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn all_zero_never_matches() {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        l.push(None, Some(&[0, 0]), &[]);
        r.push(None, Some(&[0, 0]), &[]);
        let (m, _) = link(
            &l,
            &r,
            &Config {
                blocking: Blocking::AllPairs,
                threshold: 0.01,
                ..Config::default()
            },
        )
        .unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn blocking_limits_comparisons_and_quality_is_measured() {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        l.push(None, Some(&clk(&[1, 2])), &[("dob", 7)]);
        l.push(None, Some(&clk(&[3, 4])), &[("dob", 8)]);
        r.push(None, Some(&clk(&[3, 4])), &[("dob", 9)]);
        r.push(None, Some(&clk(&[1, 2])), &[("dob", 7)]);
        let (m, s) = link(&l, &r, &Config::default()).unwrap();
        assert_eq!(s.comparisons, 1);
        assert_eq!(m.len(), 1);
        let q = blocking_quality(&l, &r, &Blocking::All, &[(0, 1), (1, 0)], s.comparisons).unwrap();
        assert_eq!(q.pair_completeness, 0.5);
        assert_eq!(q.reduction_ratio, 0.75);
        assert!(matches!(
            link(
                &l,
                &r,
                &Config {
                    blocking: Blocking::Passes(vec!["x".into()]),
                    ..Config::default()
                }
            ),
            Err(LinkError::UnknownPass(_))
        ));
    }

    #[test]
    fn one_key_per_pass_per_row() {
        let mut l = Side::new(128);
        assert_eq!(
            l.try_push_with_nhs(tok(1), None, Some(&clk(&[1])), &[("dob", 1), ("yob", 2)]),
            Ok(())
        );
        assert_eq!(
            l.try_push_with_nhs(tok(2), None, Some(&clk(&[1])), &[("dob", 1), ("dob", 2)]),
            Err(RowReject::RepeatedPass)
        );
        assert_eq!(RowReject::RepeatedPass.code(), "blocking_repeated_pass");
        // The refused row keeps its place but carries nothing.
        assert_eq!(l.len(), 2);
        assert_eq!(l.tokens[1], None);
        assert!(!l.has_clk[1]);
        assert!(l.row_keys(1).is_empty());
        // At the cap of passes per row: accepted; one over: refused.
        let names: Vec<String> = (0..=MAX_PASSES).map(|i| format!("p{i}")).collect();
        let items: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let mut s = Side::new(0);
        assert_eq!(
            s.try_push_with_nhs(None, None, None, &items[..MAX_PASSES]),
            Ok(())
        );
        assert_eq!(
            s.try_push_with_nhs(None, None, None, &items),
            Err(RowReject::TooManyPasses)
        );
        // A side cannot grow past MAX_PASSES pass names across rows either.
        assert_eq!(
            s.try_push_with_nhs(None, None, None, &[("another", 1)]),
            Err(RowReject::TooManyPasses)
        );
        assert_eq!(s.passes().len(), MAX_PASSES);
    }

    /// Left rows 0..nl and right rows 0..nr all in one block of pass `big`;
    /// left row 0 and right row 0 also share a small block of pass `small`.
    fn big_block(nl: usize, nr: usize) -> (Side, Side) {
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        for i in 0..nl {
            let small = if i == 0 { 5 } else { 100 + i as u64 };
            l.push(None, Some(&clk(&[1, 2, 3])), &[("big", 7), ("small", small)]);
        }
        for i in 0..nr {
            let small = if i == 0 { 5 } else { 1000 + i as u64 };
            r.push(None, Some(&clk(&[1, 2, 3])), &[("big", 7), ("small", small)]);
        }
        (l, r)
    }

    #[test]
    fn block_cap_boundary_and_lost_completeness() {
        let (l, r) = big_block(3, 4);
        // At the cap (3 × 4 = 12): compared.
        let at = Config {
            max_block_pairs: 12,
            ..Config::default()
        };
        let (m, s) = link(&l, &r, &at).unwrap();
        assert_eq!((s.skipped_blocks, s.skipped_pairs), (0, 0));
        assert_eq!(s.comparisons, 12 + 1);
        assert_eq!(m.len(), 3);
        // One under the block size: the big block is skipped, the small one
        // (left 0, right 0) is still compared.
        let over = Config {
            max_block_pairs: 11,
            ..Config::default()
        };
        let (m, s) = link(&l, &r, &over).unwrap();
        assert_eq!((s.skipped_blocks, s.skipped_pairs), (1, 12));
        assert_eq!(s.comparisons, 1);
        assert_eq!(
            m.iter().map(|m| (m.left, m.right)).collect::<Vec<_>>(),
            vec![(0, 0)]
        );
        // Every left row lost a candidate (left 0 lost rights 1..3); rows 1
        // and 2 had no comparison at all.
        assert_eq!(s.left_rows_lost_candidates, 3);
        assert_eq!(s.left_rows_uncompared, 2);
        // Without blocking, all pairs are one block under the same cap.
        let none = Config {
            blocking: Blocking::AllPairs,
            ..over.clone()
        };
        let (m, s) = link(&l, &r, &none).unwrap();
        assert!(m.is_empty());
        assert_eq!((s.skipped_blocks, s.skipped_pairs, s.comparisons), (1, 12, 0));
        assert_eq!((s.left_rows_lost_candidates, s.left_rows_uncompared), (3, 3));
    }

    #[test]
    fn a_skipped_block_covered_by_compared_blocks_loses_nothing() {
        // Two left rows, two right rows: pass `big` puts all four in one
        // block; pass `pair` pairs every left row with every right row in
        // small blocks of 1 × 2. The big block is skipped but no pair is lost.
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        for _ in 0..2 {
            l.push(None, Some(&clk(&[1])), &[("big", 1), ("pair", 9)]);
        }
        for _ in 0..2 {
            r.push(None, Some(&clk(&[1])), &[("big", 1), ("pair", 9)]);
        }
        let cfg = Config {
            max_block_pairs: 3,
            blocking: Blocking::Passes(vec!["big".into()]),
            ..Config::default()
        };
        let (_, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(s.left_rows_lost_candidates, 2);
        // `pair` is 2 × 2 = 4 > 3 too; with cap 4 `big` (also 4) is compared.
        let cfg = Config {
            max_block_pairs: 4,
            ..Config::default()
        };
        let (_, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(s.skipped_blocks, 0);
        // Split `pair` so it is compared while `big` is skipped.
        let mut l = Side::new(128);
        let mut r = Side::new(128);
        l.push(None, Some(&clk(&[1])), &[("big", 1), ("pair", 9)]);
        l.push(None, Some(&clk(&[1])), &[("big", 1), ("pair", 9)]);
        r.push(None, Some(&clk(&[1])), &[("big", 1), ("pair", 9)]);
        let cfg = Config {
            max_block_pairs: 1,
            ..Config::default()
        };
        // big: 2 × 1 = 2 > 1 skipped; pair: 2 × 1 = 2 > 1 skipped as well.
        let (_, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(s.skipped_blocks, 2);
        assert_eq!(s.left_rows_uncompared, 2);
        let cfg = Config {
            max_block_pairs: 2,
            ..Config::default()
        };
        let (_, s) = link(&l, &r, &cfg).unwrap();
        assert_eq!(s.skipped_blocks, 0);
        assert_eq!(s.left_rows_lost_candidates, 0);
    }

    #[test]
    fn blocking_cells() {
        assert_eq!(
            parse_blocking("dob=00000000000000ff;yob=0000000000000001").unwrap(),
            vec![("dob", 255), ("yob", 1)]
        );
        assert_eq!(parse_blocking("").unwrap(), vec![]);
        assert!(parse_blocking("dob=xyz").is_none());
        assert!(parse_blocking("=0000000000000001").is_none());
    }

    #[test]
    fn evaluation_figures() {
        let e = evaluate(&[(1, 1), (2, 2), (3, 4)], &[(1, 1), (2, 2), (3, 3), (5, 5)]);
        assert_eq!(
            (e.true_positives, e.false_positives, e.false_negatives),
            (2, 1, 2)
        );
        assert!((e.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.recall, 0.5);
    }

    proptest! {
        /// Output is 1:1, every fuzzy score is at or above the threshold, and
        /// blocking on one shared key gives the same matches as all pairs.
        #[test]
        fn one_to_one_and_blocking_consistent(rows in proptest::collection::vec((0u64..4, proptest::collection::vec(0usize..128, 1..20)), 1..30), split in 0usize..30, t in 0.3f64..1.0) {
            let mut l = Side::new(128);
            let mut r = Side::new(128);
            for (i, (_, bits)) in rows.iter().enumerate() {
                let side = if i < split { &mut l } else { &mut r };
                side.push(None, Some(&clk(bits)), &[("one", 1)]);
            }
            let cfg = Config { threshold: t, ..Config::default() };
            let (m1, _) = link(&l, &r, &Config { blocking: Blocking::AllPairs, ..cfg.clone() }).unwrap();
            let (m2, _) = link(&l, &r, &cfg).unwrap();
            // Same pairs and scores (evidence differs: blocked pairs share a key).
            let key = |m: &Vec<Match>| m.iter().map(|x| (x.left, x.right, x.score)).collect::<Vec<_>>();
            prop_assert_eq!(key(&m1), key(&m2));
            let ls: BTreeSet<usize> = m1.iter().map(|m| m.left).collect();
            let rs: BTreeSet<usize> = m1.iter().map(|m| m.right).collect();
            prop_assert_eq!(ls.len(), m1.len());
            prop_assert_eq!(rs.len(), m1.len());
            for m in &m1 { prop_assert!(m.score >= t); }
        }
    }
}
