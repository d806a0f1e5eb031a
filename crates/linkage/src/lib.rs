//! Exact joins, keyed blocking, fuzzy CLK matching, 1:1 assignment and
//! evaluation.
//!
//! The linker sees only pseudonymised data: per row an optional 32-byte token
//! (`token_nhs_dob`, DESIGN §4.3), an optional CLK (§4.6) and optional keyed
//! blocking keys. Blocking needs plaintext (a date, a name's phonetic code), so
//! whoever encodes computes the keys — `bloom::clk::ClkEncoder::blocking_keys`
//! writes a `blocking` column of `pass=hex16` items, each an HMAC under a key
//! derived from the CLK secret — and the linker only compares them for
//! equality. Without the secret a blocking column cannot be dictionary-attacked
//! (blocklib's unkeyed keys can).
//!
//! [`link`] runs, by [`Mode`]:
//! 1. **exact**: rows whose tokens are equal, paired 1:1 in row order within a
//!    token (score 1);
//! 2. **fuzzy** on the rest: candidate pairs that share a key in any selected
//!    blocking pass (or all pairs, without blocking), scored by Dice, kept at
//!    or above the threshold, ordered by score descending, then left row, then
//!    right row, and assigned greedily 1:1 in that order (DESIGN §4.6).
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
//!
//! Work is spread over rayon's pool; results do not depend on thread count.
//! [`evaluate`] gives precision, recall and F1 against ground truth, and
//! [`blocking_quality`] pair completeness and reduction ratio.

#![forbid(unsafe_code)]

mod assign;
pub mod fields;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod model;

pub use assign::greedy_one_to_one;

use bloom::dice::{dice_from_counts, ClkMatrix};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// Which evidence to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exact tokens first, then fuzzy CLKs for the rows left over.
    Hybrid,
    /// Exact tokens only.
    TokenOnly,
    /// Fuzzy CLKs only (tokens ignored).
    ClkOnly,
}

/// How fuzzy candidates are generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocking {
    /// Every pass present on both sides.
    All,
    /// These passes only.
    Passes(Vec<String>),
    /// No blocking: all pairs (quadratic; for small files).
    AllPairs,
}

/// Linkage settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Evidence.
    pub mode: Mode,
    /// Dice threshold for fuzzy matches.
    pub threshold: f64,
    /// Candidate generation.
    pub blocking: Blocking,
    /// Largest block compared, in pairs (left rows × right rows); a larger
    /// block is skipped and counted ([`LinkStats::skipped_blocks`]). Without
    /// blocking, all pairs form one block under the same cap.
    pub max_block_pairs: u64,
    /// Match by the fitted model ([`model`]) instead of a fixed Dice
    /// threshold: with per-field evidence (blocking keys, NHS tokens) a pair
    /// is accepted when its match probability is at least 0.5; with CLKs
    /// only, the Dice threshold is the valley of the score distribution
    /// (`threshold` is the fallback when there is no clear valley or too
    /// few candidates to fit).
    pub model: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Hybrid,
            threshold: DEFAULT_THRESHOLD,
            blocking: Blocking::All,
            max_block_pairs: DEFAULT_MAX_BLOCK_PAIRS,
            model: false,
        }
    }
}

/// Default cap on one block's comparisons: 10,000 × 10,000. A file from
/// another organisation that puts the same blocking key on every row would
/// otherwise make `link` compare all pairs (2·10¹² at 25k × 80M).
pub const DEFAULT_MAX_BLOCK_PAIRS: u64 = 10_000 * 10_000;

/// Most blocking items one row may carry (and most distinct pass names one
/// side may use); the encoder writes one per schema pass.
pub const MAX_PASSES: usize = 32;

/// Why a row's blocking keys were refused. The row stays in place (row
/// numbers do not shift) but carries no evidence and never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RowReject {
    /// More than one key for the same pass: a row may only be in one block
    /// per pass, or one row could join every block.
    #[error("more than one blocking key for the same pass")]
    RepeatedPass,
    /// More than [`MAX_PASSES`] items in the row, or a new pass name on a
    /// side that already has [`MAX_PASSES`].
    #[error("more than 32 blocking passes")]
    TooManyPasses,
}

impl RowReject {
    /// The reason code for manifests and rejects files.
    pub fn code(&self) -> &'static str {
        match self {
            RowReject::RepeatedPass => "blocking_repeated_pass",
            RowReject::TooManyPasses => "blocking_too_many_passes",
        }
    }
}

/// Default Dice threshold for the example schema (`fixtures/linkage/schema.json`),
/// chosen on synthetic registry data with `bench/link_quality.sh`: at 0.85
/// hybrid linkage keeps precision and recall both above 0.99 (0.80 lets
/// registry outsiders match look-alikes; 0.90 loses typo-heavy true pairs).
pub const DEFAULT_THRESHOLD: f64 = 0.85;

/// Default Dice threshold in hybrid mode when both sides carry `nhs_token`:
/// the NHS-token veto removes most look-alike false matches, so a lower
/// threshold recovers typo-heavy true pairs (precision and recall both above
/// 0.99 on synthetic registries of 12k–25k rows against 100k–200k people).
pub const DEFAULT_THRESHOLD_WITH_NHS: f64 = 0.80;

/// How a pair was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// Equal tokens.
    Exact,
    /// Dice on CLKs.
    Fuzzy,
}

impl Method {
    /// `exact` or `fuzzy`, as written in match files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Fuzzy => "fuzzy",
        }
    }
}

/// One accepted pair (0-based row indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Left row (0-based).
    pub left: usize,
    /// Right row (0-based).
    pub right: usize,
    /// How it was matched.
    pub method: Method,
    /// 1 for exact, Dice for fuzzy.
    pub score: f64,
    /// Match probability (1 for exact; from the model, or 1 for a fixed
    /// threshold match).
    pub probability: f64,
    /// Strongest evidence behind the match: `token`, `nhs` (NHS tokens
    /// agree), `fields` (field encodings weighed by the model), `keys` (at
    /// least one keyed blocking / match key agrees), `clk` (CLK similarity
    /// only).
    pub evidence: &'static str,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStats {
    /// Pairs matched on tokens.
    pub exact: usize,
    /// Pairs matched on CLKs.
    pub fuzzy: usize,
    /// Dice comparisons made (a pair in several blocks counts each time).
    pub comparisons: u64,
    /// Distinct candidate pairs at or above the threshold.
    pub candidates: usize,
    /// Blocking passes used (empty for all-pairs or token-only).
    pub passes: Vec<String>,
    /// Fuzzy candidates vetoed because both rows' NHS tokens are present and differ.
    pub nhs_vetoed: usize,
    /// Left rows eligible for fuzzy matching.
    pub fuzzy_left: usize,
    /// Right rows eligible for fuzzy matching.
    pub fuzzy_right: usize,
    /// Blocks larger than [`Config::max_block_pairs`], not compared.
    pub skipped_blocks: u64,
    /// Comparisons those blocks would have needed.
    pub skipped_pairs: u64,
    /// Eligible left rows that share a skipped block with at least one right
    /// row they share no compared block with: each lost at least one
    /// candidate pair to the cap.
    pub left_rows_lost_candidates: usize,
    /// Of those, left rows with no comparison at all (every block they are
    /// in was skipped).
    pub left_rows_uncompared: usize,
    /// The fitted model, when [`Config::model`] fitted one.
    pub model: Option<model::Model>,
    /// How the decision rule was chosen: `fixed` (the configured Dice
    /// threshold), `valley` (Dice threshold from the score distribution),
    /// `fallback` (model asked for but too little data: fixed threshold), or
    /// `model` (match probability at least 0.5).
    pub rule: &'static str,
    /// The Dice threshold applied (for `fixed`, `valley`, `fallback`).
    pub dice_threshold: Option<f64>,
}

/// One side of a linkage: tokens, CLKs and blocking keys by row. Its
/// `Debug` shows sizes only, never tokens, CLKs or blocking keys.
#[derive(Clone, Default)]
pub struct Side {
    tokens: Vec<Option<[u8; 32]>>,
    nhs_tokens: Vec<Option<[u8; 32]>>,
    clk_bits: usize,
    clks: Option<ClkMatrix>,
    has_clk: Vec<bool>,
    /// Pass name → index.
    pass_ids: BTreeMap<String, u16>,
    /// Flattened (pass, key) per row, with row offsets.
    keys: Vec<(u16, u64)>,
    key_start: Vec<u32>,
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Side")
            .field("rows", &self.tokens.len())
            .field("with_token", &self.tokens.iter().filter(|t| t.is_some()).count())
            .field("with_clk", &self.has_clk.iter().filter(|&&c| c).count())
            .field("clk_bits", &self.clk_bits)
            .field("blocking_passes", &self.pass_ids.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Parse a `blocking` cell: `name=hex16;name=hex16`, possibly empty.
pub fn parse_blocking(cell: &str) -> Option<Vec<(&str, u64)>> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Some(Vec::new());
    }
    cell.split(';')
        .map(|item| {
            let (name, hex) = item.split_once('=')?;
            if name.is_empty() || hex.len() != 16 {
                return None;
            }
            Some((name, u64::from_str_radix(hex, 16).ok()?))
        })
        .collect()
}

impl Side {
    /// An empty side whose CLKs (if any) have `clk_bits` bits.
    pub fn new(clk_bits: usize) -> Self {
        Side {
            clk_bits,
            clks: (clk_bits > 0).then(|| ClkMatrix::new(clk_bits.div_ceil(64))),
            key_start: vec![0],
            ..Default::default()
        }
    }

    /// Turn on CLKs of `clk_bits` bits for a side made with `Side::new(0)`
    /// (rows already pushed get no CLK). No-op if CLKs are already on.
    pub fn enable_clks(&mut self, clk_bits: usize) {
        if self.clks.is_some() || clk_bits == 0 {
            return;
        }
        let mut m = ClkMatrix::new(clk_bits.div_ceil(64));
        let zero = vec![0u64; m.stride()];
        for _ in 0..self.len() {
            m.push(&zero);
        }
        self.clk_bits = clk_bits;
        self.clks = Some(m);
    }

    /// Append a row. `clk` must have `ceil(clk_bits/64)` words when given.
    pub fn push(&mut self, token: Option<[u8; 32]>, clk: Option<&[u64]>, blocking: &[(&str, u64)]) {
        self.push_with_nhs(token, None, clk, blocking)
    }

    /// Append a row that may also carry `nhs_token` (the NHS number alone,
    /// DESIGN §4.3). In hybrid mode two rows whose NHS tokens are both
    /// present and differ are never matched fuzzily: they are different
    /// people unless a number was recorded against the wrong person.
    /// A row whose blocking keys are refused (see [`Side::try_push_with_nhs`])
    /// is kept in place without evidence.
    pub fn push_with_nhs(
        &mut self,
        token: Option<[u8; 32]>,
        nhs_token: Option<[u8; 32]>,
        clk: Option<&[u64]>,
        blocking: &[(&str, u64)],
    ) {
        let _ = self.try_push_with_nhs(token, nhs_token, clk, blocking);
    }

    /// Append a row, refusing blocking keys that would let one row join many
    /// blocks: at most one key per pass, at most [`MAX_PASSES`] passes per
    /// row and per side. A refused row is still appended — with no token, no
    /// CLK and no keys, so it never matches and later row numbers do not
    /// shift — and the reason is returned for the caller to count.
    pub fn try_push_with_nhs(
        &mut self,
        token: Option<[u8; 32]>,
        nhs_token: Option<[u8; 32]>,
        clk: Option<&[u64]>,
        blocking: &[(&str, u64)],
    ) -> Result<(), RowReject> {
        // One pass over the items (stopping at the first problem), so a
        // hostile cell of many items costs linear time.
        let mut names: Vec<&str> = Vec::with_capacity(blocking.len().min(MAX_PASSES));
        let mut problem = None;
        for (n, _) in blocking {
            if names.contains(n) {
                problem = Some(RowReject::RepeatedPass);
                break;
            }
            if names.len() == MAX_PASSES {
                problem = Some(RowReject::TooManyPasses);
                break;
            }
            names.push(n);
        }
        if problem.is_none() {
            let new = names.iter().filter(|n| !self.pass_ids.contains_key(**n)).count();
            if self.pass_ids.len() + new > MAX_PASSES {
                problem = Some(RowReject::TooManyPasses);
            }
        }
        if let Some(p) = problem {
            self.push_row(None, None, None, &[]);
            return Err(p);
        }
        self.push_row(token, nhs_token, clk, blocking);
        Ok(())
    }

    fn push_row(
        &mut self,
        token: Option<[u8; 32]>,
        nhs_token: Option<[u8; 32]>,
        clk: Option<&[u64]>,
        blocking: &[(&str, u64)],
    ) {
        self.tokens.push(token);
        self.nhs_tokens.push(nhs_token);
        if let Some(m) = &mut self.clks {
            match clk {
                Some(c) => m.push(c),
                None => m.push(&vec![0; m.stride()]),
            }
        }
        self.has_clk.push(clk.is_some() && self.clks.is_some());
        for (name, key) in blocking {
            let id = match self.pass_ids.get(*name) {
                Some(id) => *id,
                None => {
                    let id = self.pass_ids.len() as u16;
                    self.pass_ids.insert((*name).to_string(), id);
                    id
                }
            };
            self.keys.push((id, *key));
        }
        self.key_start.push(self.keys.len() as u32);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// CLK length in bits (0 when the side has no CLK column).
    pub fn clk_bits(&self) -> usize {
        self.clk_bits
    }

    /// Whether any row carries an NHS token.
    pub fn has_nhs_tokens(&self) -> bool {
        self.nhs_tokens.iter().any(Option::is_some)
    }

    /// Blocking pass names seen on this side.
    pub fn passes(&self) -> Vec<String> {
        self.pass_ids.keys().cloned().collect()
    }

    pub(crate) fn row_keys(&self, row: usize) -> &[(u16, u64)] {
        &self.keys[self.key_start[row] as usize..self.key_start[row + 1] as usize]
    }

    /// Rows (eligible) sorted by key for one pass ([`NHS_PASS`]: the NHS
    /// token's first 8 bytes).
    fn pass_index(&self, pass: u16, eligible: &[bool]) -> Vec<(u64, u32)> {
        if pass == NHS_PASS {
            let mut v: Vec<(u64, u32)> = (0..self.len())
                .filter(|&r| eligible[r])
                .filter_map(|r| {
                    let t = self.nhs_tokens[r]?;
                    Some((u64::from_be_bytes(t[..8].try_into().ok()?), r as u32))
                })
                .collect();
            v.sort_unstable();
            return v;
        }
        let mut v: Vec<(u64, u32)> = (0..self.len())
            .filter(|&r| eligible[r])
            .flat_map(|r| {
                self.row_keys(r)
                    .iter()
                    .filter(move |(p, _)| *p == pass)
                    .map(move |(_, k)| (*k, r as u32))
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Pseudo pass id: rows with equal NHS tokens share a block (with field
/// evidence in hybrid mode, so that an NHS-number agreement is a candidate
/// however much else differs).
const NHS_PASS: u16 = u16::MAX;

/// Below this record Dice a pair sharing only a blocking key is not a
/// candidate when field evidence decides; a pair sharing a match key
/// (`mk_…`) or an NHS token is a candidate at any score (swapped names and
/// a DOB error score low on the record CLK while the fields agree).
pub const FIELD_FLOOR: f64 = 0.5;

/// Exact token matches, 1:1 in row order within each token.
fn exact_matches(left: &Side, right: &Side) -> Vec<Match> {
    let mut by_token: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (r, t) in right.tokens.iter().enumerate() {
        if let Some(t) = t {
            by_token.entry(*t).or_default().push(r);
        }
    }
    let mut next: HashMap<[u8; 32], usize> = HashMap::new();
    let mut out = Vec::new();
    for (l, t) in left.tokens.iter().enumerate() {
        let Some(t) = t else { continue };
        if let Some(rows) = by_token.get(t) {
            let i = next.entry(*t).or_insert(0);
            if *i < rows.len() {
                out.push(Match {
                    left: l,
                    right: rows[*i],
                    method: Method::Exact,
                    score: 1.0,
                    probability: 1.0,
                    evidence: "token",
                });
                *i += 1;
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
struct Cand {
    score: f64,
    l: u32,
    r: u32,
}

fn sort_candidates(c: &mut Vec<Cand>) {
    c.par_sort_unstable_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.l.cmp(&b.l))
            .then(a.r.cmp(&b.r))
    });
    c.dedup_by(|a, b| a.l == b.l && a.r == b.r);
}

/// Resolve the passes a config selects (present on both sides).
fn selected_passes(
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

/// Gather rows of `m` into a contiguous matrix.
fn gather(m: &ClkMatrix, rows: impl Iterator<Item = usize>) -> ClkMatrix {
    let mut g = ClkMatrix::new(m.stride());
    for r in rows {
        g.push(m.row(r));
    }
    g
}

/// Fuzzy candidates among eligible rows (blocks over `max_block_pairs`
/// skipped and counted in `stats`).
#[allow(clippy::too_many_arguments)]
fn fuzzy_candidates(
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    threshold: f64,
    passes: &[(String, u16, u16)],
    all_pairs: bool,
    max_block_pairs: u64,
    stats: &mut LinkStats,
) -> (Vec<Cand>, u64) {
    let (Some(lm), Some(rm)) = (&left.clks, &right.clks) else {
        return (Vec::new(), 0);
    };
    if all_pairs {
        let r_rows: Vec<usize> = (0..right.len()).filter(|&r| r_ok[r]).collect();
        let l_rows: Vec<usize> = (0..left.len()).filter(|&l| l_ok[l]).collect();
        let comps = l_rows.len() as u64 * r_rows.len() as u64;
        if comps > max_block_pairs {
            // All pairs are one block: skipped whole.
            stats.skipped_blocks = 1;
            stats.skipped_pairs = comps;
            if !r_rows.is_empty() {
                stats.left_rows_lost_candidates = l_rows.len();
                stats.left_rows_uncompared = l_rows.len();
            }
            return (Vec::new(), 0);
        }
        let g = gather(rm, r_rows.iter().copied());
        let cands = l_rows
            .par_iter()
            .flat_map_iter(|&l| {
                let mut found = Vec::new();
                g.scan(lm.row(l), lm.pop(l), 0, g.len(), threshold, |i, s| {
                    found.push(Cand {
                        score: s,
                        l: l as u32,
                        r: r_rows[i] as u32,
                    })
                });
                found
            })
            .collect();
        return (cands, comps);
    }
    // Blocks: (left rows, right rows) sharing a key in a pass.
    // Blocks of strong passes (match keys, NHS tokens) are compared at any
    // score: sharing one is evidence enough to weigh the pair's fields.
    let mut blocks: Vec<Block> = Vec::new();
    for (name, lp, rp) in passes {
        let floor = if *lp == NHS_PASS || is_match_key(name) {
            threshold.min(f64::MIN_POSITIVE)
        } else {
            threshold
        };
        let li = left.pass_index(*lp, l_ok);
        let ri = right.pass_index(*rp, r_ok);
        let (mut i, mut j) = (0, 0);
        while i < li.len() && j < ri.len() {
            let (kl, kr) = (li[i].0, ri[j].0);
            if kl < kr {
                i += 1;
            } else if kr < kl {
                j += 1;
            } else {
                let i2 = i + li[i..].iter().take_while(|x| x.0 == kl).count();
                let j2 = j + ri[j..].iter().take_while(|x| x.0 == kl).count();
                blocks.push((
                    li[i..i2].iter().map(|x| x.1).collect(),
                    ri[j..j2].iter().map(|x| x.1).collect(),
                    floor,
                ));
                i = i2;
                j = j2;
            }
        }
    }
    let (blocks, skipped): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .partition(|(a, b, _)| a.len() as u64 * b.len() as u64 <= max_block_pairs);
    if !skipped.is_empty() {
        stats.skipped_blocks = skipped.len() as u64;
        stats.skipped_pairs = skipped
            .iter()
            .map(|(a, b, _)| a.len() as u64 * b.len() as u64)
            .sum();
        (stats.left_rows_lost_candidates, stats.left_rows_uncompared) = lost_to_skipped(&blocks, &skipped);
    }
    let comps: u64 = blocks
        .iter()
        .map(|(a, b, _)| a.len() as u64 * b.len() as u64)
        .sum();
    let cands = blocks
        .par_iter()
        .flat_map_iter(|(ls, rs, threshold)| {
            let threshold = *threshold;
            let mut found = Vec::new();
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
                        threshold,
                        |i, s| {
                            found.push(Cand {
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
                        if s >= threshold && s > 0.0 {
                            found.push(Cand { score: s, l, r });
                        }
                    }
                }
            }
            found
        })
        .collect();
    (cands, comps)
}

/// Rows of both sides sharing one key, and the lowest score compared in it.
type Block = (Vec<u32>, Vec<u32>, f64);

/// Left rows that lost at least one candidate pair to skipped blocks, and
/// of those the rows with no compared block at all. A left row `l` in a
/// skipped block `B` lost a pair unless every right row of `B` shares a
/// compared block with `l`; checking that costs at most the comparisons `l`
/// had anyway (a right set larger than `l`'s compared right rows is lost at
/// once), so the check is bounded by the work the cap allows.
fn lost_to_skipped(compared: &[Block], skipped: &[Block]) -> (usize, usize) {
    // Skipped blocks by left row (only rows in one).
    let mut in_skipped: HashMap<u32, Vec<usize>> = HashMap::new();
    for (b, (ls, _, _)) in skipped.iter().enumerate() {
        for &l in ls {
            in_skipped.entry(l).or_default().push(b);
        }
    }
    let mut compared_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (b, (ls, _, _)) in compared.iter().enumerate() {
        for &l in ls {
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
        let seen: std::collections::HashSet<u32> =
            cbs.iter().flat_map(|&b| compared[b].1.iter().copied()).collect();
        if bs.iter().any(|&b| {
            let rs = &skipped[b].1;
            rs.len() > seen.len() || rs.iter().any(|r| !seen.contains(r))
        }) {
            lost += 1;
        }
    }
    (lost, uncompared)
}

fn key_of(side: &Side, row: usize, pass: u16) -> Option<u64> {
    side.row_keys(row)
        .iter()
        .find(|(p, _)| *p == pass)
        .map(|(_, k)| *k)
}

fn key_level(a: Option<u64>, b: Option<u64>) -> u8 {
    match (a, b) {
        (Some(a), Some(b)) if a == b => 2,
        (Some(_), Some(_)) => 1,
        _ => 0,
    }
}

fn nhs_level(left: &Side, right: &Side, l: usize, r: usize) -> u8 {
    match (&left.nhs_tokens[l], &right.nhs_tokens[r]) {
        (Some(a), Some(b)) if a == b => 2,
        (Some(_), Some(_)) => 1,
        _ => 0,
    }
}

/// Passes named `mk_…` are match keys (keyed exact keys of field
/// combinations); the others are blocking keys. Each group is one compared
/// field whose level counts the keys that agree, so keys sharing a field
/// (all match keys contain the names) are not counted as independent
/// evidence.
fn is_match_key(name: &str) -> bool {
    name.starts_with("mk_")
}

/// Level of a group of keys: 0 when no key of the group is present on both
/// rows, else 1 + the number that agree.
fn group_level(left: &Side, right: &Side, l: usize, r: usize, passes: &[(String, u16, u16)], mk: bool) -> u8 {
    let mut present = false;
    let mut agree = 0u8;
    for (name, lp, rp) in passes {
        if is_match_key(name) != mk {
            continue;
        }
        match key_level(key_of(left, l, *lp), key_of(right, r, *rp)) {
            2 => {
                present = true;
                agree += 1;
            }
            1 => present = true,
            _ => {}
        }
    }
    if present {
        1 + agree
    } else {
        0
    }
}

/// What the model compares: the record Dice and key groups (when no field
/// items exist), field items, the NHS token.
struct Evidence<'a> {
    passes: &'a [(String, u16, u16)],
    fields: fields::Fields,
    use_nhs: bool,
}

impl Evidence<'_> {
    fn model_fields(&self) -> Vec<model::Field> {
        let mut out = Vec::new();
        if self.fields.is_empty() {
            out.push(model::Field {
                name: "dice".into(),
                levels: model::DICE_EDGES.len(),
                has_missing: false,
                labels: model::DICE_EDGES.iter().map(|e| format!("dice>={e}")).collect(),
            });
            let (nb, nm) = group_sizes(self.passes);
            for (name, n) in [("blocking_keys", nb), ("match_keys", nm)] {
                if n > 0 {
                    out.push(model::Field {
                        name: name.into(),
                        levels: n + 2,
                        has_missing: true,
                        labels: std::iter::once("missing".to_string())
                            .chain((0..=n).map(|k| format!("{k}_agree")))
                            .collect(),
                    });
                }
            }
        }
        for f in &self.fields.specs {
            out.push(model::Field {
                name: f.name.clone(),
                levels: f.levels(),
                has_missing: true,
                labels: f.level_names(),
            });
        }
        if self.use_nhs {
            out.push(model::Field {
                name: "nhs".into(),
                levels: 3,
                has_missing: true,
                labels: vec!["missing".into(), "disagree".into(), "agree".into()],
            });
        }
        out
    }

    /// Comparison levels of one pair, in [`Evidence::model_fields`] order.
    fn pair_levels(&self, left: &Side, right: &Side, l: usize, r: usize, dice: f64, out: &mut Vec<u8>) {
        if self.fields.is_empty() {
            out.push(model::dice_level(dice));
            let (nb, nm) = group_sizes(self.passes);
            if nb > 0 {
                out.push(group_level(left, right, l, r, self.passes, false));
            }
            if nm > 0 {
                out.push(group_level(left, right, l, r, self.passes, true));
            }
        }
        for f in 0..self.fields.specs.len() {
            out.push(self.fields.level(l, r, f));
        }
        if self.use_nhs {
            out.push(nhs_level(left, right, l, r));
        }
    }
}

fn group_sizes(passes: &[(String, u16, u16)]) -> (usize, usize) {
    let nm = passes.iter().filter(|p| is_match_key(&p.0)).count();
    (passes.len() - nm, nm)
}

/// u-probabilities seen among random pairs (deterministic generator).
fn random_pair_u(
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    ev: &Evidence<'_>,
    fields: &[model::Field],
) -> Vec<Vec<f64>> {
    let ls: Vec<usize> = (0..left.len()).filter(|&i| l_ok[i]).collect();
    let rs: Vec<usize> = (0..right.len()).filter(|&i| r_ok[i]).collect();
    let mut u: Vec<Vec<f64>> = fields.iter().map(|f| vec![0.5; f.levels]).collect();
    if let (false, false, Some(lm), Some(rm)) = (ls.is_empty(), rs.is_empty(), &left.clks, &right.clks) {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut v = Vec::with_capacity(fields.len());
        let mut cnt = [0u32; 1];
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let l = ls[(x % ls.len() as u64) as usize];
            let r = rs[((x >> 32) % rs.len() as u64) as usize];
            bloom::dice::and_popcounts(lm.row(l), rm.row(r), rm.stride(), &mut cnt);
            let d = dice_from_counts(cnt[0], lm.pop(l), rm.pop(r));
            v.clear();
            ev.pair_levels(left, right, l, r, d, &mut v);
            for (f, &lv) in v.iter().enumerate() {
                u[f][lv as usize] += 1.0;
            }
        }
    }
    u
}

/// Random pairs sampled for u-probabilities of field evidence.
const U_SAMPLES: usize = 1 << 20;

/// u-probabilities of the field evidence among [`U_SAMPLES`] random pairs
/// of eligible rows (a fixed generator per chunk: the same files give the
/// same u), with half a pair added to every level so none is 0.
fn sampled_u(
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    ev: &Evidence<'_>,
    fields: &[model::Field],
) -> Vec<Vec<f64>> {
    let ls: Vec<usize> = (0..left.len()).filter(|&i| l_ok[i]).collect();
    let rs: Vec<usize> = (0..right.len()).filter(|&i| r_ok[i]).collect();
    let zero: Vec<Vec<f64>> = fields.iter().map(|f| vec![0.0; f.levels]).collect();
    let mut u = if ls.is_empty() || rs.is_empty() {
        zero.clone()
    } else {
        const CHUNK: usize = 1 << 14;
        (0..U_SAMPLES / CHUNK)
            .into_par_iter()
            .map(|c| {
                let mut u: Vec<Vec<f64>> = fields.iter().map(|f| vec![0.0; f.levels]).collect();
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
                let mut v = Vec::with_capacity(fields.len());
                for _ in 0..CHUNK {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let l = ls[(x % ls.len() as u64) as usize];
                    let r = rs[((x >> 32) % rs.len() as u64) as usize];
                    v.clear();
                    ev.pair_levels(left, right, l, r, 0.0, &mut v);
                    for (f, &lv) in v.iter().enumerate() {
                        u[f][lv as usize] += 1.0;
                    }
                }
                u
            })
            .reduce(
                || zero.clone(),
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        for (p, q) in x.iter_mut().zip(y) {
                            *p += q;
                        }
                    }
                    a
                },
            )
    };
    for f in &mut u {
        f.iter_mut().for_each(|x| *x += 0.5);
        let s: f64 = f.iter().sum();
        for x in f.iter_mut() {
            *x /= s;
        }
    }
    u
}

/// Fit the match model on the candidates; u starts from random pairs.
/// Returns the model and every candidate's levels.
fn fit_model(
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    ev: &Evidence<'_>,
    cands: &[Cand],
) -> (model::Model, Vec<u8>) {
    let fields = ev.model_fields();
    let nf = fields.len();
    let levels: Vec<u8> = cands
        .par_chunks(4096)
        .flat_map_iter(|ch| {
            let mut v = Vec::with_capacity(ch.len() * nf);
            for c in ch {
                ev.pair_levels(left, right, c.l as usize, c.r as usize, c.score, &mut v);
            }
            v
        })
        .collect();
    if !ev.fields.is_empty() {
        // Field evidence: u from random pairs, m and the prior over all
        // pairs by EM (candidates stand for every pair of the two files).
        let u = sampled_u(left, right, l_ok, r_ok, ev, &fields);
        let nl = l_ok.iter().filter(|x| **x).count() as f64;
        let nr = r_ok.iter().filter(|x| **x).count() as f64;
        let how = model::Fit::AllPairs {
            pairs: (nl * nr).max(1.0),
            expected: (nl.min(nr) / 2.0).max(1.0),
        };
        return (model::Model::fit(fields, &levels, u, how), levels);
    }
    // u from non-matches among the candidates themselves: a pair that is
    // the best-scoring candidate of neither its left nor its right row is
    // almost never a match (one true partner per row), and unlike random
    // pairs it was selected by the same blocking, so its key agreements are
    // not mistaken for evidence.
    let mut best_l: HashMap<u32, f64> = HashMap::new();
    let mut best_r: HashMap<u32, f64> = HashMap::new();
    for c in cands {
        let e = best_l.entry(c.l).or_insert(0.0);
        *e = e.max(c.score);
        let e = best_r.entry(c.r).or_insert(0.0);
        *e = e.max(c.score);
    }
    let mut u: Vec<Vec<f64>> = fields.iter().map(|f| vec![0.5; f.levels]).collect();
    let mut non = 0usize;
    for (i, c) in cands.iter().enumerate() {
        if c.score < best_l[&c.l] && c.score < best_r[&c.r] {
            non += 1;
            for (f, &lv) in levels[i * nf..(i + 1) * nf].iter().enumerate() {
                u[f][lv as usize] += 1.0;
            }
        }
    }
    // Too few such pairs (sparse candidates): fall back to random pairs.
    if non < 100 {
        u = random_pair_u(left, right, l_ok, r_ok, ev, &fields);
    }
    if ev.fields.is_empty() {
        // The lowest Dice level is never a candidate.
        u[0][0] = 1e-9;
    }
    for f in &mut u {
        let s: f64 = f.iter().sum();
        for x in f.iter_mut() {
            *x /= s;
        }
    }
    (
        model::Model::fit(fields, &levels, u, model::Fit::Candidates),
        levels,
    )
}

/// Link two sides. Matches are returned sorted by left row, then right row.
pub fn link(left: &Side, right: &Side, cfg: &Config) -> Result<(Vec<Match>, LinkStats), LinkError> {
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err(LinkError::BadThreshold);
    }
    let mut stats = LinkStats::default();
    let mut matches = Vec::new();
    let mut l_used = vec![false; left.len()];
    let mut r_used = vec![false; right.len()];
    if cfg.mode != Mode::ClkOnly {
        for m in exact_matches(left, right) {
            l_used[m.left] = true;
            r_used[m.right] = true;
            matches.push(m);
        }
        stats.exact = matches.len();
    }
    if cfg.mode != Mode::TokenOnly && left.clk_bits > 0 && right.clk_bits > 0 {
        if left.clk_bits != right.clk_bits {
            return Err(LinkError::ClkLength {
                left: left.clk_bits,
                right: right.clk_bits,
            });
        }
        let l_ok: Vec<bool> = (0..left.len()).map(|l| !l_used[l] && left.has_clk[l]).collect();
        let r_ok: Vec<bool> = (0..right.len()).map(|r| !r_used[r] && right.has_clk[r]).collect();
        stats.fuzzy_left = l_ok.iter().filter(|x| **x).count();
        stats.fuzzy_right = r_ok.iter().filter(|x| **x).count();
        let passes = selected_passes(left, right, &cfg.blocking)?;
        let all_pairs = cfg.blocking == Blocking::AllPairs;
        stats.passes = passes.iter().map(|p| p.0.clone()).collect();
        let use_nhs = cfg.mode == Mode::Hybrid && left.has_nhs_tokens() && right.has_nhs_tokens();
        let ev = Evidence {
            passes: &passes,
            fields: fields::field_specs(left, right),
            use_nhs,
        };
        let evidence_fields = !passes.is_empty() || use_nhs || !ev.fields.is_empty();
        let floor = match (cfg.model, evidence_fields) {
            (true, true) if !ev.fields.is_empty() => cfg.threshold.min(FIELD_FLOOR),
            (true, true) => cfg.threshold.min(model::MODEL_FLOOR),
            (true, false) => cfg.threshold.min(model::VALLEY_FLOOR),
            _ => cfg.threshold,
        };
        // The model is fitted on every CLK row's candidates (rows already
        // paired by tokens are the clearest examples of true pairs), then
        // applied to the rows left over.
        let (l_all, r_all): (Vec<bool>, Vec<bool>) = if cfg.model {
            (left.has_clk.clone(), right.has_clk.clone())
        } else {
            (l_ok.clone(), r_ok.clone())
        };
        let mut block_passes = passes.clone();
        if cfg.model && use_nhs && !ev.fields.is_empty() {
            block_passes.push(("nhs_token".into(), NHS_PASS, NHS_PASS));
        }
        let (mut cands, comps) = fuzzy_candidates(
            left,
            right,
            &l_all,
            &r_all,
            floor,
            &block_passes,
            all_pairs,
            cfg.max_block_pairs,
            &mut stats,
        );
        stats.comparisons = comps;
        sort_candidates(&mut cands);
        // Decide: per candidate, accept? and its probability.
        let mut decided: Vec<(f64, Cand)> = Vec::with_capacity(cands.len());
        let fitted = if cfg.model && evidence_fields && cands.len() >= 100 {
            Some(fit_model(left, right, &l_all, &r_all, &ev, &cands))
        } else {
            None
        };
        if let Some((m, levels)) = fitted {
            let nf = m.fields.len();
            for (i, c) in cands.iter().enumerate() {
                if !l_ok[c.l as usize] || !r_ok[c.r as usize] {
                    continue;
                }
                let p = m.probability(&levels[i * nf..(i + 1) * nf]);
                if p >= 0.5 {
                    decided.push((p, *c));
                }
            }
            stats.rule = "model";
            stats.model = Some(m);
            // Most probable first; ties by Dice, then rows.
            decided.sort_by(|a, b| {
                b.0.total_cmp(&a.0)
                    .then(b.1.score.total_cmp(&a.1.score))
                    .then(a.1.l.cmp(&b.1.l))
                    .then(a.1.r.cmp(&b.1.r))
            });
        } else {
            let t = if cfg.model {
                // Each left row's best score: rows with a partner peak near
                // 1, rows without one at their best look-alike.
                let mut best: HashMap<u32, f64> = HashMap::new();
                for c in &cands {
                    let e = best.entry(c.l).or_insert(0.0);
                    *e = e.max(c.score);
                }
                let scores: Vec<f64> = best.into_values().collect();
                match model::valley_threshold(&scores, floor) {
                    Some(t) => {
                        stats.rule = "valley";
                        t
                    }
                    None => {
                        stats.rule = "fallback";
                        cfg.threshold
                    }
                }
            } else {
                stats.rule = "fixed";
                cfg.threshold
            };
            stats.dice_threshold = Some(t);
            decided.extend(
                cands
                    .iter()
                    .filter(|c| c.score >= t && l_ok[c.l as usize] && r_ok[c.r as usize])
                    .map(|c| (1.0, *c)),
            );
        }
        stats.candidates = decided.len();
        let model_rule = stats.rule == "model";
        for (p, c) in decided {
            let (l, r) = (c.l as usize, c.r as usize);
            let nhs_agree =
                matches!((&left.nhs_tokens[l], &right.nhs_tokens[r]), (Some(a), Some(b)) if a == b);
            if cfg.mode == Mode::Hybrid && !model_rule {
                if let (Some(a), Some(b)) = (&left.nhs_tokens[l], &right.nhs_tokens[r]) {
                    if a != b {
                        stats.nhs_vetoed += 1;
                        continue;
                    }
                }
            }
            if !l_used[l] && !r_used[r] {
                l_used[l] = true;
                r_used[r] = true;
                let keys_agree = passes.iter().any(|(_, lp, rp)| {
                    matches!((key_of(left, l, *lp), key_of(right, r, *rp)), (Some(a), Some(b)) if a == b)
                });
                matches.push(Match {
                    left: l,
                    right: r,
                    method: Method::Fuzzy,
                    score: c.score,
                    probability: p,
                    evidence: if use_nhs && nhs_agree {
                        "nhs"
                    } else if model_rule && !ev.fields.is_empty() {
                        "fields"
                    } else if keys_agree {
                        "keys"
                    } else {
                        "clk"
                    },
                });
                stats.fuzzy += 1;
            }
        }
    }
    matches.sort_by(|a, b| a.left.cmp(&b.left).then(a.right.cmp(&b.right)));
    Ok((matches, stats))
}

/// Candidate-generation quality against ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingQuality {
    /// True pairs that share a key in at least one selected pass (or, with
    /// all-pairs, every true pair) over all true pairs.
    pub pair_completeness: f64,
    /// `1 − comparisons / (left rows × right rows)`.
    pub reduction_ratio: f64,
}

/// Pair completeness of the selected blocking over `truth` (0-based pairs),
/// and reduction ratio given the comparisons a run made.
pub fn blocking_quality(
    left: &Side,
    right: &Side,
    blocking: &Blocking,
    truth: &[(usize, usize)],
    comparisons: u64,
) -> Result<BlockingQuality, LinkError> {
    let passes = selected_passes(left, right, blocking)?;
    let covered = if *blocking == Blocking::AllPairs {
        truth.len()
    } else {
        truth
            .iter()
            .filter(|&&(l, r)| {
                l < left.len()
                    && r < right.len()
                    && passes.iter().any(|(_, lp, rp)| {
                        left.row_keys(l)
                            .iter()
                            .filter(|(p, _)| p == lp)
                            .any(|(_, k)| right.row_keys(r).iter().any(|(p, k2)| p == rp && k2 == k))
                    })
            })
            .count()
    };
    let total = left.len() as f64 * right.len() as f64;
    Ok(BlockingQuality {
        pair_completeness: if truth.is_empty() {
            1.0
        } else {
            covered as f64 / truth.len() as f64
        },
        reduction_ratio: if total == 0.0 {
            1.0
        } else {
            1.0 - comparisons as f64 / total
        },
    })
}

/// Precision, recall and F1 of a set of matches against ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Matches that are in the truth.
    pub true_positives: usize,
    /// Matches that are not.
    pub false_positives: usize,
    /// True pairs not matched.
    pub false_negatives: usize,
    /// TP / (TP + FP) (1 when there are no matches).
    pub precision: f64,
    /// TP / (TP + FN) (1 when the truth is empty).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Compare matched pairs with true pairs (any comparable identifiers; each
/// set is deduplicated).
pub fn evaluate<T: Ord + Clone>(matches: &[(T, T)], truth: &[(T, T)]) -> Evaluation {
    let m: BTreeSet<(T, T)> = matches.iter().cloned().collect();
    let t: BTreeSet<(T, T)> = truth.iter().cloned().collect();
    let tp = m.intersection(&t).count();
    let fp = m.len() - tp;
    let fn_ = t.len() - tp;
    let precision = if m.is_empty() {
        1.0
    } else {
        tp as f64 / m.len() as f64
    };
    let recall = if t.is_empty() {
        1.0
    } else {
        tp as f64 / t.len() as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Evaluation {
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision,
        recall,
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn lost_candidates_counts_only_pairs_no_compared_block_covers() {
        // Blocks: skipped B = ({0,1}, {0,1,2}); compared C = ({0}, {0,1,2}).
        // Left 0 is covered by C; left 1 is not.
        let skipped = vec![(vec![0, 1], vec![0, 1, 2], 0.5)];
        let compared = vec![(vec![0], vec![0, 1, 2], 0.5)];
        assert_eq!(lost_to_skipped(&compared, &skipped), (1, 1));
        let compared = vec![(vec![0], vec![0, 1], 0.5)];
        assert_eq!(lost_to_skipped(&compared, &skipped), (2, 1));
        let compared = vec![(vec![0, 1], vec![2, 1, 0], 0.5)];
        assert_eq!(lost_to_skipped(&compared, &skipped), (0, 0));
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
