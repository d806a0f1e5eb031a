//! Quotas per stratum, selection within strata (registry volunteers first,
//! then by a seeded rank) and SWAT arms balanced within strata.

use super::cohort::{Demo, Eligible};
pub(crate) use super::summary::Selection;
use super::summary::StratumSummary;
use crate::request::{self, Validated};
use crate::select::{self, Candidate};
use std::collections::BTreeMap;

/// Requested invitations per stratum: the request's explicit strata, or
/// the invitations allocated in proportion to each stratum's eligible pool
/// (largest remainder).
pub(crate) fn requested_per_stratum(
    v: &Validated,
    eligible: &[Eligible],
    demo_label: &[String],
) -> (Vec<String>, Vec<u32>) {
    if !v.explicit.is_empty() {
        return v.explicit.iter().cloned().unzip();
    }
    let mut pool: BTreeMap<&str, u64> = BTreeMap::new();
    for e in eligible {
        *pool.entry(demo_label[e.demo as usize].as_str()).or_insert(0) += 1;
    }
    if pool.is_empty() {
        pool.insert("all", 0);
    }
    let labels: Vec<String> = pool.keys().map(|s| s.to_string()).collect();
    let weights: Vec<u64> = pool.values().copied().collect();
    let alloc = if weights.iter().sum::<u64>() == 0 {
        let mut a = vec![0; weights.len()];
        a[0] = v.request.invitations as u64;
        a
    } else {
        select::largest_remainder(v.request.invitations as u64, &weights)
    };
    (labels, alloc.into_iter().map(|x| x as u32).collect())
}

/// Allocate, select and assign arms.
pub(crate) fn select_and_assign(
    store: &store::Store,
    v: &Validated,
    eligible: &[Eligible],
    demos: &[Demo],
) -> store::Result<Selection> {
    let r = &v.request;
    let demo_label: Vec<String> = demos
        .iter()
        .map(|d| request::stratum_label(&v.dims, |dim| d.get(dim)))
        .collect();
    let (labels, mut requested) = requested_per_stratum(v, eligible, &demo_label);
    let label_idx: BTreeMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let demo_stratum: Vec<u32> = demo_label
        .iter()
        .map(|l| label_idx.get(l.as_str()).copied().unwrap_or(u32::MAX))
        .collect();
    let cands: Vec<Candidate> = eligible
        .iter()
        .map(|e| Candidate {
            stratum: demo_stratum[e.demo as usize],
            registry: e.registry,
            rank: e.rank,
        })
        .collect();
    let outside = cands.iter().filter(|c| c.stratum == u32::MAX).count() as u64;
    let allocation = crate::allocation::plan(store, v, &labels, &requested, &cands)?;
    if let Some(p) = &allocation {
        requested = p.requested_invitations();
    }
    let sel = select::select(&cands, &requested, r.registry.prioritise, v.allow_fill());

    // Arms within strata.
    let weights: Vec<u32> = r.arms.iter().map(|a| a.weight).collect();
    let mut chosen: Vec<(usize, usize)> = Vec::new();
    let mut strata = Vec::new();
    let mut arm_totals: BTreeMap<String, u64> = r.arms.iter().map(|a| (a.name.clone(), 0)).collect();
    for (s, idxs) in sel.chosen.iter().enumerate() {
        let mut rng = select::rng_for(r.seed, &format!("arms:{}", labels[s]));
        let arms = select::assign_arms(idxs.len(), &weights, &mut rng);
        let mut per: BTreeMap<String, u32> = r.arms.iter().map(|a| (a.name.clone(), 0)).collect();
        for (&i, &a) in idxs.iter().zip(&arms) {
            chosen.push((i, a));
            *per.get_mut(&r.arms[a].name).expect("arm") += 1;
            *arm_totals.get_mut(&r.arms[a].name).expect("arm") += 1;
        }
        let oc = &sel.outcomes[s];
        strata.push(StratumSummary {
            stratum: labels[s].clone(),
            requested: oc.requested,
            available: oc.available,
            registry_available: oc.registry_available,
            selected: oc.selected,
            registry_selected: oc.registry_selected,
            fill: oc.fill,
            shortfall: oc.shortfall,
            arms: per,
        });
    }
    Ok(Selection {
        labels,
        stratum_of: cands.iter().map(|c| c.stratum).collect(),
        chosen,
        strata,
        arm_totals,
        outside,
        allocation,
    })
}
