//! Karpenter-style autoscaler: Karpenter v1.14's provisioning loop with the `karpenter`
//! solver strategy. Batching: 1 s idle / 10 s maximum. Launch: the chosen offering, then
//! the ranked alternatives (instance types already in the 3-minute unavailable-offerings
//! cache are skipped), then on-demand if spot has no capacity. Interruptions: cordon and
//! drain on the 2-minute notice; replacements come from normal provisioning. Emptiness:
//! nodes empty for `consolidateAfter` are removed (the consolidation issue adds the rest).

use super::{Action, Autoscaler, Ctx, Provisioner};
use nodepack_model::Millis;

/// The Karpenter-style autoscaler.
#[derive(Clone, Debug)]
pub struct KarpenterAutoscaler(pub Provisioner);

impl Default for KarpenterAutoscaler {
    fn default() -> Self {
        KarpenterAutoscaler(Provisioner::new("karpenter"))
    }
}

impl Autoscaler for KarpenterAutoscaler {
    fn name(&self) -> &'static str {
        "karpenter"
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
