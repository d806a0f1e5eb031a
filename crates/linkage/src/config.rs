//! What a linkage run is asked to do: the evidence, the candidate
//! generation, the decision rule and the caps, with their defaults.

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
    /// block is skipped and counted ([`crate::LinkStats::skipped_blocks`]). Without
    /// blocking, all pairs form one block under the same cap.
    pub max_block_pairs: u64,
    /// Match by the fitted model ([`crate::model`]) instead of a fixed Dice
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

/// Below this record Dice a pair sharing only a blocking key is not a
/// candidate when field evidence decides; a pair sharing a match key
/// (`mk_…`) or an NHS token is a candidate at any score (swapped names and
/// a DOB error score low on the record CLK while the fields agree).
pub const FIELD_FLOOR: f64 = 0.5;

impl Mode {
    /// `hybrid`, `token` or `clk` (anything else is hybrid).
    pub fn from_name(name: &str) -> Mode {
        match name {
            "token" => Mode::TokenOnly,
            "clk" => Mode::ClkOnly,
            _ => Mode::Hybrid,
        }
    }
}

impl Blocking {
    /// A `--blocking` spec: `all`, `none`, or a comma-separated list of
    /// pass names; without one, every pass when both files have a blocking
    /// column, else all pairs.
    pub fn from_spec(spec: Option<&str>, both_have_blocking: bool) -> Blocking {
        match spec {
            None if both_have_blocking => Blocking::All,
            None | Some("none") => Blocking::AllPairs,
            Some("all") => Blocking::All,
            Some(list) => Blocking::Passes(
                list.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        }
    }

    /// The spec that selects this blocking (`all`, `none` or the list).
    pub fn spec(&self) -> String {
        match self {
            Blocking::All => "all".to_string(),
            Blocking::AllPairs => "none".to_string(),
            Blocking::Passes(p) => p.join(","),
        }
    }
}
