//! The linkage run: exact token pairs first, then the fuzzy decision over
//! blocked candidates, then greedy 1:1 assignment.

use crate::blocks::{selected_passes, Plan};
use crate::config::{Blocking, Config, Mode, FIELD_FLOOR};
use crate::decide::{accepted, bests, fit_model, one_to_one, Fit, Rule};
use crate::evidence::Evidence;
use crate::fields;
use crate::model;
use crate::outcome::{LinkStats, Match, Method};
use crate::side::{key_of, Side, NHS_PASS};
use crate::LinkError;
use std::collections::HashMap;

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
        fuzzy(
            left,
            right,
            cfg,
            &mut l_used,
            &mut r_used,
            &mut matches,
            &mut stats,
        )?;
    }
    matches.sort_by(|a, b| a.left.cmp(&b.left).then(a.right.cmp(&b.right)));
    Ok((matches, stats))
}

/// Fuzzy matching of the rows no token paired.
fn fuzzy(
    left: &Side,
    right: &Side,
    cfg: &Config,
    l_used: &mut [bool],
    r_used: &mut [bool],
    matches: &mut Vec<Match>,
    stats: &mut LinkStats,
) -> Result<(), LinkError> {
    let l_ok: Vec<bool> = (0..left.len()).map(|l| !l_used[l] && left.has_clk[l]).collect();
    let r_ok: Vec<bool> = (0..right.len()).map(|r| !r_used[r] && right.has_clk[r]).collect();
    stats.fuzzy_left = l_ok.iter().filter(|x| **x).count();
    stats.fuzzy_right = r_ok.iter().filter(|x| **x).count();
    let passes = selected_passes(left, right, &cfg.blocking)?;
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
    let all_pairs = cfg.blocking == Blocking::AllPairs;
    let Some(plan) = Plan::new(
        left,
        right,
        &l_all,
        &r_all,
        floor,
        &block_passes,
        all_pairs,
        cfg.max_block_pairs,
    ) else {
        return Ok(());
    };
    stats.comparisons = plan.comparisons;
    stats.skipped_blocks = plan.skipped.blocks;
    stats.skipped_pairs = plan.skipped.pairs;
    stats.left_rows_lost_candidates = plan.skipped.left_rows_lost_candidates;
    stats.left_rows_uncompared = plan.skipped.left_rows_uncompared;
    let eligible = Fit {
        plan: &plan,
        left,
        right,
        l_ok: &l_ok,
        r_ok: &r_ok,
        ev: &ev,
    };
    let fitted = if cfg.model && evidence_fields {
        let fit_over = Fit {
            l_ok: &l_all,
            r_ok: &r_all,
            ..eligible
        };
        fit_model(&fit_over, 100)
    } else {
        None
    };
    let decided = match &fitted {
        Some(m) => {
            stats.rule = "model";
            // The one-to-one posterior needs the prior over all pairs.
            let one = m.all_pairs.then(|| one_to_one(&eligible, m, stats.exact));
            if let Some(o) = &one {
                stats.partnered_share = Some((o.left_view.1, o.right_view.1));
            }
            accepted(&eligible, &Rule::Model(m, one.as_ref()))
        }
        None => {
            let t = dice_rule(&plan, left, right, cfg, floor, stats);
            accepted(&eligible, &Rule::Dice(t))
        }
    };
    stats.model = fitted;
    stats.candidates = decided.len();
    let model_rule = stats.rule == "model";
    for (p, one_to_one_only, c) in decided {
        let (l, r) = (c.l as usize, c.r as usize);
        let nhs_agree = matches!((&left.nhs_tokens[l], &right.nhs_tokens[r]), (Some(a), Some(b)) if a == b);
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
            if one_to_one_only {
                stats.one_to_one += 1;
            }
        }
    }
    Ok(())
}

/// The Dice threshold when no model decides: with [`Config::model`], the
/// valley of the left rows' best scores (rows with a partner peak near 1,
/// rows without one at their best look-alike), else the configured one.
fn dice_rule(
    plan: &Plan<'_>,
    left: &Side,
    right: &Side,
    cfg: &Config,
    floor: f64,
    stats: &mut LinkStats,
) -> f64 {
    let t = if cfg.model {
        let b = bests(plan, left.len(), right.len());
        let scores: Vec<f64> = b.left.into_iter().filter(|s| *s > 0.0).collect();
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
    t
}
