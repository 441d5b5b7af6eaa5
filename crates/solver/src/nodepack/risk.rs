//! The spot risk model: a spot offering's price plus the expected cost of its
//! interruptions ([`RiskModel`]), and a pair's effective price under requirements.

use super::*;
use crate::prep::Prepared;
use nodepack_model::{Money, Offering, Requirements};

/// The spot risk model: the expected cost of interruptions, per hour, added to a spot
/// offering's price when choosing between offerings.
///
/// An interruption bucket's monthly reclaim rate (the middle of the Spot Advisor bucket)
/// gives an hourly hazard `rate / 730`. Each interruption costs `replacement_hours` of the
/// node's price (the 2-minute notice, the replacement's launch and the pods' restart, paid
/// twice over) plus `pod_restart_cost` per pod on the node (lost work).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskModel {
    /// Node-hours lost per interruption.
    pub replacement_hours: f64,
    /// Cost of restarting one pod.
    pub pod_restart_cost: Money,
    /// Spot offerings within this share of the cheapest count as equal, so that nodes
    /// can be spread over zones (0.01 = 1%).
    pub spread_tolerance: f64,
}

impl Default for RiskModel {
    fn default() -> Self {
        RiskModel {
            replacement_hours: 0.1,
            pod_restart_cost: Money(10_000),
            spread_tolerance: 0.01,
        }
    }
}

impl RiskModel {
    /// The settings [`RiskModel::effective`] depends on, as a memo key.
    pub(super) fn key(&self) -> (u64, i64) {
        (self.replacement_hours.to_bits(), self.pod_restart_cost.0)
    }

    /// Price plus expected interruption cost per hour, in micro-dollars (as f64).
    pub fn effective(&self, o: &Offering, pods: usize) -> f64 {
        let base = o.price.0 as f64;
        match o.spot_bucket() {
            Some(b) => {
                let hazard = b.monthly_rate_permille() as f64 / 1000.0 / 730.0;
                base + hazard
                    * (base * self.replacement_hours + pods as f64 * self.pod_restart_cost.0 as f64)
            }
            _ => base,
        }
    }
}

impl NodepackStrategy {
    /// The lowest effective price of pair `pt` under `reqs` for a node of `pods` pods
    /// (infinite when no offering is allowed).
    pub(super) fn price(&self, prep: &Prepared, pt: u32, reqs: &Requirements, pods: usize) -> f64 {
        prep.pool_types[pt as usize]
            .offerings_for(reqs)
            .map(|o| self.risk.effective(o, pods))
            .fold(f64::INFINITY, f64::min)
    }
}
