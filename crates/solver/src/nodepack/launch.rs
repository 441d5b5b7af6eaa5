//! Launching a claim: its offering by effective price (spread over zones among
//! offerings within a small tolerance) and its alternatives ranked by price.

use super::*;
use crate::prep::Prepared;
use nodepack_model::{CapacityType, Offering, Requirements};

impl NodepackStrategy {
    /// Choose the offering for a node of pair `pt` with the given requirements.
    pub(super) fn choose(
        &self,
        prep: &Prepared,
        pt: u32,
        reqs: &Requirements,
        pods: usize,
        spread: &Spread,
    ) -> Option<Offering> {
        let p = &prep.pool_types[pt as usize];
        let offs: Vec<&Offering> = p.offerings_for(reqs).collect();
        let best = offs
            .iter()
            .map(|o| self.risk.effective(o, pods))
            .fold(f64::INFINITY, f64::min);
        offs.into_iter()
            .filter(|o| {
                self.risk.effective(o, pods) <= best * (1.0 + self.risk.spread_tolerance) + 1e-9
            })
            .min_by(|a, b| {
                let used = |o: &Offering| {
                    spread
                        .get(&(p.name.clone(), o.zone.clone()))
                        .copied()
                        .unwrap_or(0)
                };
                used(a)
                    .cmp(&used(b))
                    .then(a.price.cmp(&b.price))
                    .then_with(|| a.zone.cmp(&b.zone))
            })
            .cloned()
    }

    /// Launch a claim: the option with the lowest effective price, with its offering
    /// chosen by [`NodepackStrategy::choose`] (spreading spot nodes over zones).
    pub(super) fn launch(
        &self,
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
        pods: usize,
        spread: &Spread,
    ) -> Option<(u32, Offering, Vec<String>)> {
        let ranked = self.rank(prep, reqs, options, crate::karpenter::MAX_INSTANCE_TYPES);
        let &o = ranked.first()?;
        let off = self.choose(prep, o, reqs, pods, spread)?;
        let alternatives = ranked
            .iter()
            .skip(1)
            .take(crate::karpenter::MAX_INSTANCE_TYPES - 1)
            .map(|o| prep.pool_types[*o as usize].name.clone())
            .collect();
        Some((o, off, alternatives))
    }

    /// The `limit` options (0: all) with the cheapest offering prices, cheapest first
    /// (ties by index).
    pub(super) fn rank(
        &self,
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
        limit: usize,
    ) -> Vec<u32> {
        // Types are ranked by their cheapest offering's price (the rule the engine plans
        // limits with); the risk model then chooses the offering of the chosen type.
        let masks = prep.offer_masks(reqs);
        if options.len() > RANK_WALK {
            rank_by_walk(prep, masks, options, limit)
        } else {
            rank_by_sort(prep, masks, options, limit)
        }
    }
}

/// [`NodepackStrategy::rank`] for many options: walk every pair in price order and keep the
/// options, until `limit` are found.
pub(super) fn rank_by_walk(
    prep: &Prepared,
    masks: (u64, u8),
    options: &[u32],
    limit: usize,
) -> Vec<u32> {
    let mut member = vec![0u64; prep.pool_types.len().div_ceil(64)];
    for &o in options {
        member[o as usize / 64] |= 1 << (o % 64);
    }
    let mut out = Vec::with_capacity(if limit > 0 { limit } else { options.len() });
    for &o in prep.by_price(masks).iter() {
        if member[o as usize / 64] & (1 << (o % 64)) != 0 {
            out.push(o);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// [`NodepackStrategy::rank`] for few options: sort them by (price, index).
pub(super) fn rank_by_sort(
    prep: &Prepared,
    masks: (u64, u8),
    options: &[u32],
    limit: usize,
) -> Vec<u32> {
    let prices = prep.min_prices(masks);
    // (price, index): distinct keys, so the unstable sorts give one order.
    let mut ranked: Vec<(i64, u32)> = options
        .iter()
        .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
        .collect();
    // Only the first `limit` are used (launch flexibility is capped): select them
    // before sorting.
    if limit > 0 && ranked.len() > limit {
        ranked.select_nth_unstable(limit - 1);
        ranked.truncate(limit);
    }
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, o)| o).collect()
}

/// [`NodepackStrategy::rank`] walks the pairs in price order instead of sorting the options
/// when there are more options than this.
pub(super) const RANK_WALK: usize = 64;

/// Capacity types in their order (the order a set of them iterates in, and their
/// [`capacity_rank`]).
pub(super) const CT_ORDER: [CapacityType; 3] = [
    CapacityType::Reserved,
    CapacityType::Spot,
    CapacityType::OnDemand,
];
