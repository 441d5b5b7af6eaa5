//! nodepack's autoscaler: the same loop as Karpenter's (batching, launch fallback with
//! the unavailable-offerings cache, drain on interruption notice, emptiness), with the
//! `nodepack` solver: cost-driven packing and an explicit spot risk model that spreads
//! spot nodes over zones.

use super::{Action, Autoscaler, Ctx, Provisioner};
use nodepack_model::Millis;

/// nodepack's autoscaler.
#[derive(Clone, Debug)]
pub struct NodepackAutoscaler(pub Provisioner);

impl Default for NodepackAutoscaler {
    fn default() -> Self {
        NodepackAutoscaler(Provisioner::new("nodepack"))
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
        self.0.reconcile(ctx)
    }
    fn drains_on_notice(&self) -> bool {
        true
    }
}
