//! What the match model compares for a candidate pair: the record Dice and
//! groups of keyed blocking / match keys (where no field encodings exist),
//! each field encoding's level, and the NHS token; and the u-probabilities of
//! those levels among random pairs.

use crate::fields;
use crate::model;
use crate::side::{key_of, Side};
use bloom::dice::dice_from_counts;
use rayon::prelude::*;

pub(crate) fn key_level(a: Option<u64>, b: Option<u64>) -> u8 {
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
pub(crate) fn is_match_key(name: &str) -> bool {
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
pub(crate) struct Evidence<'a> {
    pub(crate) passes: &'a [(String, u16, u16)],
    pub(crate) fields: fields::Fields,
    pub(crate) use_nhs: bool,
}

impl Evidence<'_> {
    pub(crate) fn model_fields(&self) -> Vec<model::Field> {
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
    pub(crate) fn pair_levels(
        &self,
        left: &Side,
        right: &Side,
        l: usize,
        r: usize,
        dice: f64,
        out: &mut Vec<u8>,
    ) {
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
pub(crate) fn random_pair_u(
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
pub(crate) fn sampled_u(
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
