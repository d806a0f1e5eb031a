//! What a linkage run produced: the accepted pairs and the figures behind
//! them.

use crate::model;

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
    /// Blocks larger than [`crate::Config::max_block_pairs`], not compared.
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
    /// The fitted model, when [`crate::Config::model`] fitted one.
    pub model: Option<model::Model>,
    /// How the decision rule was chosen: `fixed` (the configured Dice
    /// threshold), `valley` (Dice threshold from the score distribution),
    /// `fallback` (model asked for but too little data: fixed threshold), or
    /// `model` (match probability or one-to-one posterior at least 0.5).
    pub rule: &'static str,
    /// The Dice threshold applied (for `fixed`, `valley`, `fallback`).
    pub dice_threshold: Option<f64>,
    /// Under the model with the all-pairs prior: the share of eligible
    /// left and right rows taken to have a partner in the one-to-one
    /// posterior.
    pub partnered_share: Option<(f64, f64)>,
    /// Fuzzy pairs matched on the one-to-one posterior whose match
    /// probability is under 0.5.
    pub one_to_one: usize,
}
