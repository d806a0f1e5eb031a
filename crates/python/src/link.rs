//! Linkage over Arrow arrays: `trialink.link`, `trialink.candidates`, and the
//! pieces the Spark module runs per partition (`dice_pairs`) and on the
//! driver (`assign_greedy`).

use crate::arrays::{same_length, to_py, Text};
use crate::errors;
use arrow_array::builder::{Float64Builder, StringBuilder, UInt64Builder};
use arrow_array::{cast::AsArray, make_array, types::Int64Type, Array};
use arrow_pyarrow::FromPyArrow;
use linkage::{parse_blocking, Blocking, Config, Mode, Side};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

fn bad_cell(side: &str, row: usize, column: &str, what: &str) -> PyErr {
    errors::raise::<errors::InputError>(
        format!("{side}: row {}, column `{column}`: {what}", row + 1),
        "bad_cell",
        Some("link token files from `pseudonymise` and/or CLK tables from `encode`"),
        &[("row", Some(row as u64 + 1))],
    )
}

fn token(side: &str, col: &Text, i: usize, name: &str) -> PyResult<Option<[u8; 32]>> {
    let b = col.get(i);
    if b.is_empty() {
        return Ok(None);
    }
    pseudonym::Token::from_hex_bytes(b)
        .map(|t| Some(t.0))
        .map_err(|_| bad_cell(side, i, name, "expected 64 hexadecimal characters"))
}

/// Decode a base64 CLK cell (standard alphabet), checking its length against
/// the first one seen.
fn clk(side: &str, col: &Text, i: usize, bytes: &mut Option<usize>) -> PyResult<Option<Vec<u64>>> {
    let b = col.get(i);
    if b.is_empty() {
        return Ok(None);
    }
    let s = std::str::from_utf8(b).map_err(|_| bad_cell(side, i, "clk", "expected standard base64"))?;
    let words = bloom::clk::from_base64(s, *bytes).map_err(|e| bad_cell(side, i, "clk", &e.to_string()))?;
    if bytes.is_none() {
        let t = s.trim();
        *bytes = Some(t.len() / 4 * 3 - t.bytes().rev().take_while(|&c| c == b'=').count());
    }
    Ok(Some(words))
}

/// One side: its rows, its counted row rejects, whether it has a
/// `blocking` column.
type Built = (Side, std::collections::BTreeMap<&'static str, u64>, bool);

/// Build one side from a dict of optional arrays `token`, `nhs_token`,
/// `clk`, `blocking`.
fn side(name: &str, cols: &Bound<'_, PyDict>) -> PyResult<Built> {
    let get = |k: &str| -> PyResult<Option<Text>> {
        match cols.get_item(k)? {
            Some(v) if !v.is_none() => Text::from_py(&v, k).map(Some),
            _ => Ok(None),
        }
    };
    let (tok, ntok, clks, blk) = (get("token")?, get("nhs_token")?, get("clk")?, get("blocking")?);
    let n = [&tok, &ntok, &clks, &blk]
        .iter()
        .find_map(|c| c.as_ref().map(Text::len))
        .unwrap_or(0);
    for (c, k) in [
        (&tok, "token"),
        (&ntok, "nhs_token"),
        (&clks, "clk"),
        (&blk, "blocking"),
    ] {
        if let Some(c) = c {
            same_length(n, c, k)?;
        }
    }
    let mut s = Side::new(0);
    let mut rejected = std::collections::BTreeMap::new();
    let mut clk_bytes = None;
    for i in 0..n {
        let t = tok
            .as_ref()
            .map(|c| token(name, c, i, "token"))
            .transpose()?
            .flatten();
        let nt = ntok
            .as_ref()
            .map(|c| token(name, c, i, "nhs_token"))
            .transpose()?
            .flatten();
        let cv = match &clks {
            Some(c) => {
                let v = clk(name, c, i, &mut clk_bytes)?;
                if let Some(b) = clk_bytes {
                    s.enable_clks(b * 8);
                }
                v
            }
            None => None,
        };
        let blocks = match &blk {
            Some(c) => {
                let cell = c
                    .str(i)
                    .ok_or_else(|| bad_cell(name, i, "blocking", "not UTF-8"))?;
                parse_blocking(cell).ok_or_else(|| {
                    bad_cell(
                        name,
                        i,
                        "blocking",
                        "expected `name=16 hex digits` items separated by `;`",
                    )
                })?
            }
            None => Vec::new(),
        };
        if let Err(why) = s.try_push_with_nhs(t, nt, cv.as_deref(), &blocks) {
            *rejected.entry(why.code()).or_insert(0) += 1;
        }
    }
    Ok((s, rejected, blk.is_some()))
}

/// Link two sides (dicts of pyarrow arrays: any of ``token``,
/// ``nhs_token``, ``clk``, ``blocking``) as ``trialink link`` does: with
/// ``threshold`` as ``--threshold``, without it by the fitted model (or the
/// automatic Dice threshold) with the CLI's defaults. Without ``blocking``,
/// every pass when both sides have a ``blocking`` column, else all pairs.
/// Returns ``(left, right, method, score, probability, evidence, stats)``:
/// 0-based row indices, ``exact``/``fuzzy``, the score (1 for exact, Dice
/// for fuzzy), the match probability, the strongest evidence, and a dict of
/// run statistics.
#[pyfunction]
#[pyo3(signature = (left, right, *, threshold=None, mode="hybrid", blocking=None, all_pairs=false, max_block_pairs=linkage::DEFAULT_MAX_BLOCK_PAIRS))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn link_arrays<'py>(
    py: Python<'py>,
    left: &Bound<'py, PyDict>,
    right: &Bound<'py, PyDict>,
    threshold: Option<f64>,
    mode: &str,
    blocking: Option<Vec<String>>,
    all_pairs: bool,
    max_block_pairs: u64,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyDict>,
)> {
    let mode = match mode {
        "hybrid" => Mode::Hybrid,
        "token" => Mode::TokenOnly,
        "clk" => Mode::ClkOnly,
        _ => return Err(errors::argument("mode must be `hybrid`, `token` or `clk`")),
    };
    let (ls, lrej, lblk) = side("left", left)?;
    let (rs, rrej, rblk) = side("right", right)?;
    let blocking = match (blocking, all_pairs) {
        (_, true) => Blocking::AllPairs,
        (Some(p), false) => Blocking::Passes(p),
        (None, false) if lblk && rblk => Blocking::All,
        (None, false) => Blocking::AllPairs,
    };
    // The CLI's defaults: the model's floor and fallback threshold.
    let both_nhs = mode == Mode::Hybrid && ls.has_nhs_tokens() && rs.has_nhs_tokens();
    let cfg = Config {
        mode,
        threshold: threshold.unwrap_or(if both_nhs {
            linkage::DEFAULT_THRESHOLD_WITH_NHS
        } else {
            linkage::DEFAULT_THRESHOLD
        }),
        blocking,
        max_block_pairs,
        model: threshold.is_none(),
    };
    let (matches, stats) = py.detach(|| linkage::link(&ls, &rs, &cfg)).map_err(|e| {
        let code = match &e {
            linkage::LinkError::ClkLength { .. } => "clk_length",
            linkage::LinkError::UnknownPass(_) => "unknown_pass",
            linkage::LinkError::BadBlocking { .. } => "bad_blocking",
            linkage::LinkError::BadThreshold => "bad_threshold",
        };
        errors::raise::<errors::LinkError>(
            e.to_string(),
            code,
            Some("check both sides were encoded with the same schema"),
            &[],
        )
    })?;
    let mut l = UInt64Builder::with_capacity(matches.len());
    let mut r = UInt64Builder::with_capacity(matches.len());
    let mut method = StringBuilder::new();
    let mut score = Float64Builder::with_capacity(matches.len());
    let mut probability = Float64Builder::with_capacity(matches.len());
    let mut evidence = StringBuilder::new();
    for m in &matches {
        l.append_value(m.left as u64);
        r.append_value(m.right as u64);
        method.append_value(m.method.as_str());
        score.append_value(m.score);
        probability.append_value(m.probability);
        evidence.append_value(m.evidence);
    }
    let st = PyDict::new(py);
    st.set_item("exact", stats.exact)?;
    st.set_item("fuzzy", stats.fuzzy)?;
    st.set_item("comparisons", stats.comparisons)?;
    st.set_item("candidates", stats.candidates)?;
    st.set_item("passes", stats.passes.clone())?;
    st.set_item("nhs_vetoed", stats.nhs_vetoed)?;
    st.set_item("skipped_blocks", stats.skipped_blocks)?;
    st.set_item("skipped_pairs", stats.skipped_pairs)?;
    st.set_item("rule", stats.rule)?;
    st.set_item("dice_threshold", stats.dice_threshold)?;
    st.set_item("threshold", cfg.threshold)?;
    st.set_item("left_rows_rejected", lrej.into_iter().collect::<Vec<_>>())?;
    st.set_item("right_rows_rejected", rrej.into_iter().collect::<Vec<_>>())?;
    Ok((
        to_py(py, &l.finish())?,
        to_py(py, &r.finish())?,
        to_py(py, &method.finish())?,
        to_py(py, &score.finish())?,
        to_py(py, &probability.finish())?,
        to_py(py, &evidence.finish())?,
        st,
    ))
}

/// Decode a column of base64 CLKs (nulls stay `None`).
fn decode_all(name: &str, col: &Text) -> PyResult<(Vec<Option<Vec<u64>>>, usize)> {
    let mut bytes = None;
    let v = (0..col.len())
        .map(|i| clk(name, col, i, &mut bytes))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((v, bytes.unwrap_or(0)))
}

/// Every pair of a left and a right CLK (base64) whose Dice coefficient is
/// at least ``threshold``, as ``(left, right, score)`` sorted by left row
/// then right row. All pairs are compared: block first for large inputs.
#[pyfunction]
pub fn candidates<'py>(
    py: Python<'py>,
    left_clks: &Bound<'py, PyAny>,
    right_clks: &Bound<'py, PyAny>,
    threshold: f64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(errors::argument("threshold must be greater than 0 and at most 1"));
    }
    let (lv, lb) = decode_all("left", &Text::from_py(left_clks, "left_clks")?)?;
    let (rv, rb) = decode_all("right", &Text::from_py(right_clks, "right_clks")?)?;
    if lb != 0 && rb != 0 && lb != rb {
        return Err(errors::raise::<errors::LinkError>(
            format!(
                "CLKs differ in length: left {} bits, right {} bits",
                lb * 8,
                rb * 8
            ),
            "clk_length",
            Some("check both sides were encoded with the same schema"),
            &[],
        ));
    }
    let mut m = bloom::dice::ClkMatrix::new(rb.div_ceil(8).max(1));
    let zero = vec![0u64; m.stride()];
    for r in &rv {
        m.push(r.as_deref().unwrap_or(&zero));
    }
    let found: Vec<Vec<(u64, u64, f64)>> = py.detach(|| {
        lv.par_iter()
            .enumerate()
            .map(|(i, q)| {
                let mut out = Vec::new();
                if let Some(q) = q {
                    let pop = q.iter().map(|w| w.count_ones()).sum();
                    m.scan(q, pop, 0, m.len(), threshold, |j, s| {
                        out.push((i as u64, j as u64, s))
                    });
                }
                out
            })
            .collect()
    });
    let (mut l, mut r, mut s) = (UInt64Builder::new(), UInt64Builder::new(), Float64Builder::new());
    for (i, j, d) in found.into_iter().flatten() {
        l.append_value(i);
        r.append_value(j);
        s.append_value(d);
    }
    Ok((
        to_py(py, &l.finish())?,
        to_py(py, &r.finish())?,
        to_py(py, &s.finish())?,
    ))
}

/// Dice coefficient of each row's two CLKs (base64), null where either is
/// null. Used per partition by ``trialink.spark``.
#[pyfunction]
pub fn dice_pairs<'py>(
    py: Python<'py>,
    left_clks: &Bound<'py, PyAny>,
    right_clks: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let lc = Text::from_py(left_clks, "left_clks")?;
    let rc = Text::from_py(right_clks, "right_clks")?;
    same_length(lc.len(), &rc, "right_clks")?;
    let mut out = Float64Builder::with_capacity(lc.len());
    let (mut lb, mut rb) = (None, None);
    for i in 0..lc.len() {
        match (clk("left", &lc, i, &mut lb)?, clk("right", &rc, i, &mut rb)?) {
            (Some(a), Some(b)) if a.len() == b.len() => out.append_value(bloom::dice::dice(&a, &b)),
            (Some(_), Some(_)) => {
                return Err(errors::raise::<errors::LinkError>(
                    format!("row {}: CLKs differ in length", i + 1),
                    "clk_length",
                    None,
                    &[("row", Some(i as u64 + 1))],
                ))
            }
            _ => out.append_null(),
        }
    }
    to_py(py, &out.finish())
}

/// Greedy 1:1 assignment of candidate pairs (``left``, ``right``: int64
/// row ids; ``score``: float64), as ``trialink link`` assigns its fuzzy
/// candidates: returns the indices of the accepted pairs (uint64), sorted by
/// left then right id.
#[pyfunction]
pub fn assign_greedy<'py>(
    py: Python<'py>,
    left: &Bound<'py, PyAny>,
    right: &Bound<'py, PyAny>,
    score: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let l = make_array(arrow_data::ArrayData::from_pyarrow_bound(
        &crate::arrays::single(left)?,
    )?);
    let r = make_array(arrow_data::ArrayData::from_pyarrow_bound(
        &crate::arrays::single(right)?,
    )?);
    let s = make_array(arrow_data::ArrayData::from_pyarrow_bound(
        &crate::arrays::single(score)?,
    )?);
    let (Some(l), Some(r), Some(s)) = (
        l.as_primitive_opt::<Int64Type>(),
        r.as_primitive_opt::<Int64Type>(),
        s.as_primitive_opt::<arrow_array::types::Float64Type>(),
    ) else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "left and right must be int64 arrays and score a float64 array",
        ));
    };
    if l.len() != r.len() || l.len() != s.len() || l.null_count() + r.null_count() + s.null_count() > 0 {
        return Err(errors::argument(
            "left, right and score must have equal lengths and no nulls",
        ));
    }
    let cands: Vec<(u64, u64, f64)> = (0..l.len())
        .map(|i| (l.value(i) as u64, r.value(i) as u64, s.value(i)))
        .collect();
    let chosen = py.detach(|| linkage::greedy_one_to_one(&cands));
    let mut out = UInt64Builder::with_capacity(chosen.len());
    for i in chosen {
        out.append_value(i as u64);
    }
    to_py(py, &out.finish())
}

/// Rows of one partition of blocking items, decoded.
struct Items {
    /// (pass name, key) per row.
    block: Vec<(Vec<u8>, u64)>,
    right: Vec<bool>,
    id: Vec<i64>,
    clk: Vec<Option<Vec<u64>>>,
    nhs: Vec<Vec<u8>>,
    words: usize,
}

fn items(
    right_side: &Bound<'_, PyAny>,
    item: &Bound<'_, PyAny>,
    id: &Bound<'_, PyAny>,
    clks: &Bound<'_, PyAny>,
    nhs: Option<&Bound<'_, PyAny>>,
) -> PyResult<Items> {
    let side = make_array(arrow_data::ArrayData::from_pyarrow_bound(
        &crate::arrays::single(right_side)?,
    )?);
    let ids = make_array(arrow_data::ArrayData::from_pyarrow_bound(
        &crate::arrays::single(id)?,
    )?);
    let (Some(side), Some(ids)) = (side.as_boolean_opt(), ids.as_primitive_opt::<Int64Type>()) else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "right_side must be a boolean array and id an int64 array",
        ));
    };
    let item = Text::from_py(item, "item")?;
    let clks = Text::from_py(clks, "clks")?;
    let nhs = nhs.map(|n| Text::from_py(n, "nhs")).transpose()?;
    let n = item.len();
    same_length(n, &clks, "clks")?;
    if let Some(t) = &nhs {
        same_length(n, t, "nhs")?;
    }
    if side.len() != n || ids.len() != n || side.null_count() + ids.null_count() > 0 {
        return Err(errors::argument(
            "right_side, item, id and clks must have equal lengths; right_side and id no nulls",
        ));
    }
    let mut bytes = None;
    let mut out = Items {
        block: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        id: Vec::with_capacity(n),
        clk: Vec::with_capacity(n),
        nhs: Vec::with_capacity(n),
        words: 0,
    };
    for i in 0..n {
        let parsed = item
            .str(i)
            .and_then(|s| s.split_once('='))
            .filter(|(name, hex)| !name.is_empty() && hex.len() == 16)
            .and_then(|(name, hex)| Some((name.as_bytes().to_vec(), u64::from_str_radix(hex, 16).ok()?)));
        let Some(block) = parsed else {
            return Err(bad_cell(
                "items",
                i,
                "blocking",
                "expected `name=16 hex digits` items separated by `;`",
            ));
        };
        out.block.push(block);
        out.right.push(side.value(i));
        out.id.push(ids.value(i));
        out.clk.push(clk("items", &clks, i, &mut bytes)?);
        out.nhs
            .push(nhs.as_ref().map(|t| t.get(i).to_vec()).unwrap_or_default());
    }
    out.words = bytes.unwrap_or(0).div_ceil(8).max(1);
    Ok(out)
}

/// Dice of every left × right pair within each block of one partition of
/// blocking items, keeping those at or above ``threshold``: the distributed
/// half of ``trialink.spark.link`` with a threshold. Each row is one
/// blocking item of one eligible row: ``right_side`` (bool: the item is
/// the right side's), ``item`` (``pass=key``, the block), ``id`` (int64),
/// ``clks`` (base64) and optionally ``nhs`` (NHS tokens, empty or null when
/// absent). Every item of a block must be in the partition. Blocks with
/// more than ``max_block_pairs`` comparisons are skipped, as ``trialink
/// link`` skips them; pairs whose NHS tokens are both present and differ
/// are left out (two people). Returns ``(left, right, score, agree)``:
/// ids, Dice, and whether both NHS tokens are present and equal. A pair
/// sharing several blocks is given once per block.
#[pyfunction]
#[pyo3(signature = (right_side, item, id, clks, nhs, threshold, max_block_pairs))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn block_pairs<'py>(
    py: Python<'py>,
    right_side: &Bound<'py, PyAny>,
    item: &Bound<'py, PyAny>,
    id: &Bound<'py, PyAny>,
    clks: &Bound<'py, PyAny>,
    nhs: Option<&Bound<'py, PyAny>>,
    threshold: f64,
    max_block_pairs: u64,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
)> {
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(errors::argument("threshold must be greater than 0 and at most 1"));
    }
    let it = items(right_side, item, id, clks, nhs)?;
    if let Some(c) = it.clk.iter().flatten().find(|c| c.len() != it.words) {
        return Err(errors::raise::<errors::LinkError>(
            format!(
                "CLKs differ in length: {} and {} bits",
                c.len() * 64,
                it.words * 64
            ),
            "clk_length",
            Some("check both sides were encoded with the same schema"),
            &[],
        ));
    }
    let found: Vec<(i64, i64, f64, bool)> = py.detach(|| {
        // Rows by block, then side, then id; each block's left and right rows.
        let mut order: Vec<usize> = (0..it.id.len()).filter(|&i| it.clk[i].is_some()).collect();
        order.sort_unstable_by(|&a, &b| {
            it.block[a]
                .cmp(&it.block[b])
                .then(it.right[a].cmp(&it.right[b]))
                .then(it.id[a].cmp(&it.id[b]))
        });
        let mut blocks = Vec::new();
        let mut s = 0;
        while s < order.len() {
            let e = s + order[s..]
                .iter()
                .take_while(|&&i| it.block[i] == it.block[order[s]])
                .count();
            let m = s + order[s..e].iter().take_while(|&&i| !it.right[i]).count();
            let (nl, nr) = ((m - s) as u64, (e - m) as u64);
            if nl > 0 && nr > 0 && nl * nr <= max_block_pairs {
                blocks.push((&order[s..m], &order[m..e]));
            }
            s = e;
        }
        blocks
            .par_iter()
            .map(|(ls, rs)| {
                let mut g = bloom::dice::ClkMatrix::new(it.words);
                for &r in rs.iter() {
                    g.push(it.clk[r].as_deref().unwrap_or_default());
                }
                let mut out = Vec::new();
                for &l in ls.iter() {
                    let q = it.clk[l].as_deref().unwrap_or_default();
                    let pop = q.iter().map(|w| w.count_ones()).sum();
                    g.scan(q, pop, 0, g.len(), threshold, |j, score| {
                        let r = rs[j];
                        let (a, b) = (&it.nhs[l], &it.nhs[r]);
                        if a.is_empty() || b.is_empty() || a == b {
                            out.push((it.id[l], it.id[r], score, !a.is_empty() && a == b));
                        }
                    });
                }
                out
            })
            .flatten()
            .collect()
    });
    let mut l = arrow_array::builder::Int64Builder::with_capacity(found.len());
    let mut r = arrow_array::builder::Int64Builder::with_capacity(found.len());
    let mut score = Float64Builder::with_capacity(found.len());
    let mut agree = arrow_array::builder::BooleanBuilder::with_capacity(found.len());
    for (a, b, s, n) in found {
        l.append_value(a);
        r.append_value(b);
        score.append_value(s);
        agree.append_value(n);
    }
    Ok((
        to_py(py, &l.finish())?,
        to_py(py, &r.finish())?,
        to_py(py, &score.finish())?,
        to_py(py, &agree.finish())?,
    ))
}
