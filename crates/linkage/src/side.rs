//! One party's rows as the linker holds them: tokens, NHS tokens, CLKs and
//! keyed blocking keys, with the limits that stop one row joining many
//! blocks.

use bloom::dice::ClkMatrix;
use std::collections::BTreeMap;

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

/// One side of a linkage: tokens, CLKs and blocking keys by row. Its
/// `Debug` shows sizes only, never tokens, CLKs or blocking keys.
#[derive(Clone, Default)]
pub struct Side {
    pub(crate) tokens: Vec<Option<[u8; 32]>>,
    pub(crate) nhs_tokens: Vec<Option<[u8; 32]>>,
    pub(crate) clk_bits: usize,
    pub(crate) clks: Option<ClkMatrix>,
    pub(crate) has_clk: Vec<bool>,
    /// Pass name → index.
    pub(crate) pass_ids: BTreeMap<String, u16>,
    /// Flattened (pass, key) per row, with row offsets.
    pub(crate) keys: Vec<(u16, u64)>,
    pub(crate) key_start: Vec<u32>,
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
    /// `pseudonymise --with-nhs-token`). In hybrid mode two rows whose NHS tokens are both
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
    pub(crate) fn pass_index(&self, pass: u16, eligible: &[bool]) -> Vec<(u64, u32)> {
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
pub(crate) const NHS_PASS: u16 = u16::MAX;

/// The key of `row` in `pass` ([`NHS_PASS`]: the NHS token's first 8 bytes).
pub(crate) fn pass_key(side: &Side, row: usize, pass: u16) -> Option<u64> {
    if pass == NHS_PASS {
        let t = side.nhs_tokens[row]?;
        return Some(u64::from_be_bytes(t[..8].try_into().ok()?));
    }
    key_of(side, row, pass)
}

pub(crate) fn key_of(side: &Side, row: usize, pass: u16) -> Option<u64> {
    side.row_keys(row)
        .iter()
        .find(|(p, _)| *p == pass)
        .map(|(_, k)| *k)
}
