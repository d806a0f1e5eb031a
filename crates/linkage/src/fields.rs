//! Field-level evidence: comparison levels per field from keyed field
//! encodings carried in the `blocking` column.
//!
//! Besides blocking passes, an encoder may write two kinds of field items
//! (never used for blocking):
//!
//! - `fb_<field>=hex16`: a 64-bit keyed Bloom filter of one field's bigrams
//!   (`bloom::clk::field_filter`), compared by Dice. Filters named
//!   `fb_name_…` (given and family name, encoded in one filter group) are
//!   compared in both orders and the better order counts, so swapped names
//!   agree.
//! - `fk_<field>_<n>[_<tag>]=hex16`: a keyed hash of a reduction of one field
//!   (e.g. for a date: year, year and month, day pair, full date) at
//!   agreement level `n` (1–9, higher is closer). Several keys may share a
//!   level (`fk_dob_3_even`, `fk_dob_3_odd`).
//!
//! Levels of a field, least to most agreement: 0 missing (not present on
//! both rows), 1 different, then for a filter field Dice bands
//! ([`FILTER_EDGES`]) with exact agreement on top; for a key field 1 + the
//! highest level of an agreeing key.

use crate::side::Side;

/// Lower edges of a filter field's Dice levels above "different": level 2
/// from the first edge, …, and the top level for Dice exactly 1.
pub const FILTER_EDGES: [f64; 3] = [0.45, 0.65, 0.8];

/// One compared field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Field name (`name_given`, `dob`, …).
    pub name: String,
    /// How it is compared.
    pub kind: FieldKind,
}

/// How a field is compared.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// A Bloom filter; `swap` is the other name filter, compared crosswise.
    Filter {
        /// The filter item.
        pass: Item,
        /// The other name field's item, for comparing in both orders.
        swap: Option<Item>,
    },
    /// Keys, each with its level.
    Keys {
        /// The field's keys.
        keys: Vec<(Item, u8)>,
        /// Highest key level.
        top: u8,
    },
}

impl FieldSpec {
    /// Number of levels (including missing).
    pub fn levels(&self) -> usize {
        match &self.kind {
            FieldKind::Filter { .. } => FILTER_EDGES.len() + 3,
            FieldKind::Keys { top, .. } => *top as usize + 2,
        }
    }

    /// Names of the levels, least to most agreement.
    pub fn level_names(&self) -> Vec<String> {
        let mut v = vec!["missing".to_string(), "different".to_string()];
        match &self.kind {
            FieldKind::Filter { .. } => {
                v.extend(FILTER_EDGES.iter().map(|e| format!("dice>={e}")));
                v.push("exact".into());
            }
            FieldKind::Keys { keys, top } => {
                for l in 1..=*top {
                    let n = keys.iter().filter(|k| k.1 == l).count();
                    v.push(format!(
                        "key_level_{l}_agrees ({n} key{})",
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        v
    }
}

/// One item: its column in both sides' [`Table`]s.
pub type Item = usize;

/// One side's field items, row-major, 0 where a row has none (a keyed
/// hash is 0 with probability 2⁻⁶⁴; a filter of a non-empty value never).
#[derive(Debug, Clone, Default)]
pub struct Table {
    width: usize,
    vals: Vec<u64>,
}

impl Table {
    fn build(side: &Side, passes: &[u16]) -> Table {
        let mut col = vec![usize::MAX; side.pass_ids.len()];
        for (c, &p) in passes.iter().enumerate() {
            col[p as usize] = c;
        }
        let width = passes.len();
        let mut vals = vec![0u64; width * side.len()];
        for r in 0..side.len() {
            for &(p, k) in side.row_keys(r) {
                if let Some(&c) = col.get(p as usize).filter(|c| **c != usize::MAX) {
                    vals[r * width + c] = k;
                }
            }
        }
        Table { width, vals }
    }

    fn get(&self, row: usize, item: Item) -> Option<u64> {
        Some(self.vals[row * self.width + item]).filter(|v| *v != 0)
    }
}

/// The fields both sides carry, and their items by row.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// The fields, in name order.
    pub specs: Vec<FieldSpec>,
    left: Table,
    right: Table,
}

impl Fields {
    fn pair(&self, l: usize, r: usize, item: Item) -> Option<(u64, u64)> {
        Some((self.left.get(l, item)?, self.right.get(r, item)?))
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The level of field `f` for the pair (`l`, `r`).
    pub fn level(&self, l: usize, r: usize, f: usize) -> u8 {
        field_level(self, l, r, &self.specs[f])
    }
}

/// Whether a pass name is a field item (never a blocking pass).
pub fn is_field_item(name: &str) -> bool {
    name.starts_with("fb_") || name.starts_with("fk_")
}

/// `fk_<field>_<n>[_<tag>]` → (field, n).
fn parse_key_name(name: &str) -> Option<(&str, u8)> {
    let rest = name.strip_prefix("fk_")?;
    let segs: Vec<&str> = rest.split('_').collect();
    let i = segs
        .iter()
        .rposition(|s| s.len() == 1 && s.as_bytes()[0].is_ascii_digit() && *s != "0")?;
    if i == 0 {
        return None;
    }
    let field_end = segs[..i].iter().map(|s| s.len() + 1).sum::<usize>() - 1;
    Some((&rest[..field_end], segs[i].parse().ok()?))
}

/// The fields both sides carry, in name order.
pub fn field_specs(left: &Side, right: &Side) -> Fields {
    let mut lps: Vec<u16> = Vec::new();
    let mut rps: Vec<u16> = Vec::new();
    let mut both = |n: &str| {
        let (lp, rp) = (*left.pass_ids.get(n)?, *right.pass_ids.get(n)?);
        Some(match lps.iter().position(|&p| p == lp) {
            Some(i) => i,
            None => {
                lps.push(lp);
                rps.push(rp);
                lps.len() - 1
            }
        })
    };
    let mut out: Vec<FieldSpec> = Vec::new();
    let names: Vec<&String> = left
        .pass_ids
        .keys()
        .filter(|n| right.pass_ids.contains_key(*n))
        .collect();
    let name_filters: Vec<&String> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("fb_name_"))
        .collect();
    for n in &names {
        if let Some(field) = n.strip_prefix("fb_") {
            let Some(pass) = both(n) else { continue };
            let swap = if name_filters.len() == 2 && name_filters.contains(n) {
                name_filters.iter().find(|o| **o != *n).and_then(|o| both(o))
            } else {
                None
            };
            out.push(FieldSpec {
                name: field.to_string(),
                kind: FieldKind::Filter { pass, swap },
            });
        } else if let Some((field, level)) = parse_key_name(n) {
            let Some(item) = both(n) else { continue };
            match out
                .iter_mut()
                .find(|f| f.name == field && matches!(f.kind, FieldKind::Keys { .. }))
            {
                Some(FieldSpec {
                    kind: FieldKind::Keys { keys, top },
                    ..
                }) => {
                    keys.push((item, level));
                    *top = (*top).max(level);
                }
                _ => out.push(FieldSpec {
                    name: field.to_string(),
                    kind: FieldKind::Keys {
                        keys: vec![(item, level)],
                        top: level,
                    },
                }),
            }
        }
    }
    Fields {
        left: Table::build(left, &lps),
        right: Table::build(right, &rps),
        specs: out,
    }
}

fn filter_dice(a: u64, b: u64) -> f64 {
    let n = a.count_ones() + b.count_ones();
    if n == 0 {
        0.0
    } else {
        2.0 * (a & b).count_ones() as f64 / n as f64
    }
}

fn filter_level(d: f64) -> u8 {
    if d >= 1.0 {
        return FILTER_EDGES.len() as u8 + 2;
    }
    1 + FILTER_EDGES.iter().filter(|&&e| d >= e).count() as u8
}

/// The level of `field` for the pair (`l`, `r`).
fn field_level(t: &Fields, l: usize, r: usize, field: &FieldSpec) -> u8 {
    match &field.kind {
        FieldKind::Filter { pass, swap } => {
            let Some((a, b)) = t.pair(l, r, *pass) else {
                return 0;
            };
            let mut d = filter_dice(a, b);
            // In the crossed order: this left name against the other right
            // name, and the other left name against this right name; the
            // crossed order counts when it is better for both names.
            if let Some(o) = swap {
                if let Some((lo, ro)) = t.pair(l, r, *o) {
                    let crossed = (filter_dice(a, ro), filter_dice(lo, b));
                    let straight_other = filter_dice(lo, ro);
                    if crossed.0 + crossed.1 > d + straight_other {
                        d = crossed.0;
                    }
                }
            }
            filter_level(d)
        }
        FieldKind::Keys { keys, .. } => {
            let mut present = false;
            let mut best = 0u8;
            for &(item, lv) in keys {
                if let Some((a, b)) = t.pair(l, r, item) {
                    present = true;
                    if a == b {
                        best = best.max(lv);
                    }
                }
            }
            if present {
                1 + best
            } else {
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert_eq!(parse_key_name("fk_dob_4"), Some(("dob", 4)));
        assert_eq!(parse_key_name("fk_dob_3_even"), Some(("dob", 3)));
        assert_eq!(parse_key_name("fk_post_code_2"), Some(("post_code", 2)));
        assert_eq!(parse_key_name("fk_dob"), None);
        assert_eq!(parse_key_name("fk_3"), None);
        assert_eq!(parse_key_name("fk_dob_0"), None);
        assert_eq!(parse_key_name("dob_3"), None);
    }

    #[test]
    fn filter_levels_are_ordered() {
        assert_eq!(filter_level(0.0), 1);
        assert_eq!(filter_level(0.5), 2);
        assert_eq!(filter_level(0.7), 3);
        assert_eq!(filter_level(0.9), 4);
        assert_eq!(filter_level(1.0), 5);
    }

    #[test]
    fn fields_from_pass_names_and_levels() {
        let mut l = Side::new(0);
        let mut r = Side::new(0);
        // Names swapped on the right; DOB one day out (odd pair agrees).
        l.push(
            None,
            None,
            &[
                ("fb_name_given", 0b1111),
                ("fb_name_family", 0b1111 << 8),
                ("fk_dob_4", 1),
                ("fk_dob_3_odd", 2),
                ("fk_dob_3_even", 3),
                ("fk_sex_1", 5),
                ("dob", 1),
            ],
        );
        r.push(
            None,
            None,
            &[
                ("fb_name_given", 0b1111 << 8),
                ("fb_name_family", 0b1111),
                ("fk_dob_4", 9),
                ("fk_dob_3_odd", 2),
                ("fk_dob_3_even", 4),
                ("dob", 9),
            ],
        );
        let t = field_specs(&l, &r);
        let f = &t.specs;
        let names: Vec<&str> = f.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, vec!["name_family", "name_given", "dob"]);
        let lv: Vec<u8> = (0..f.len()).map(|i| t.level(0, 0, i)).collect();
        // Both names exact in the crossed order; DOB level 3 agrees; sex is
        // on one side only, so it is not a field.
        assert_eq!(lv, vec![5, 5, 4]);
        assert_eq!(f[2].levels(), 6);
        assert_eq!(f[0].levels(), 6);
        assert_eq!(f[2].level_names()[4], "key_level_3_agrees (2 keys)");
    }
}
