//! nodepack's autoscaler: the same provisioning loop as Karpenter's (batching, launch
//! fallback with the unavailable-offerings cache, drain on interruption notice) with the
//! `nodepack` solver (cost-driven packing and an explicit spot risk model that spreads
//! spot nodes over zones; new nodes sized for the replicas growing controllers are
//! expected to add, from [`super::growth_forecast`]), and nodepack's global
//! consolidation pass every 60 s (see
//! `nodepack_solver::consolidate::nodepack`), executed at once and held while pods wait
//! for capacity, so a burst lands on capacity consolidation would have freed.

use super::disruption::Disruptor;
use super::{Action, Autoscaler, Ctx, Provisioner};
use nodepack_model::Millis;

/// nodepack's autoscaler.
#[derive(Debug)]
pub struct NodepackAutoscaler {
    /// Provisioning.
    pub provisioner: Provisioner,
    /// Disruption.
    pub disruptor: Disruptor,
}

impl Default for NodepackAutoscaler {
    fn default() -> Self {
        NodepackAutoscaler {
            provisioner: Provisioner {
                growth_window: Some(super::GROWTH_WINDOW),
                ..Provisioner::new("nodepack")
            },
            disruptor: Disruptor::nodepack(),
        }
    }
}

impl Autoscaler for NodepackAutoscaler {
    fn name(&self) -> &'static str {
        "nodepack"
    }
    fn interval(&self) -> Option<Millis> {
        Some(Millis::from_secs(1))
    }
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        let waiting = self.provisioner.has_waiting(ctx);
        let mut out = self.provisioner.reconcile(ctx);
        out.extend(self.disruptor.reconcile(ctx, waiting));
        out
    }
    fn drains_on_notice(&self) -> bool {
        true
    }
}
