//! Karpenter-style autoscaler: Karpenter v1.14's provisioning loop with the `karpenter`
//! solver strategy, and its disruption controller with the `karpenter` consolidation
//! strategy. Batching: 1 s idle / 10 s maximum. Launch: the chosen offering, then the
//! ranked alternatives (instance types already in the 3-minute unavailable-offerings
//! cache are skipped), then on-demand if spot has no capacity. Interruptions: cordon and
//! drain on the 2-minute notice; replacements come from normal provisioning.
//! Disruption: every 10 s, expiry, emptiness, drift, multi-node and single-node
//! consolidation (see `nodepack_solver::consolidate::karpenter`), one command per pass,
//! validated again after 15 s; replacements launch and become ready before the old
//! nodes drain.

use super::disruption::Disruptor;
use super::{Action, Autoscaler, Ctx, Provisioner};
use nodepack_model::Millis;

/// The Karpenter-style autoscaler.
#[derive(Debug)]
pub struct KarpenterAutoscaler {
    /// Provisioning.
    pub provisioner: Provisioner,
    /// Disruption.
    pub disruptor: Disruptor,
}

impl Default for KarpenterAutoscaler {
    fn default() -> Self {
        KarpenterAutoscaler {
            provisioner: Provisioner::new("karpenter"),
            disruptor: Disruptor::karpenter(),
        }
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
        self.disruptor.catch_up(ctx.now);
        let mut out = self.provisioner.reconcile(ctx);
        out.extend(self.disruptor.reconcile(ctx, false, &[]));
        out
    }
    fn wake(&mut self, ctx: &Ctx) -> Option<Millis> {
        let p = self.provisioner.wake(ctx);
        if p == Some(ctx.now) {
            return p;
        }
        let d = self.disruptor.wake(ctx, &[], p);
        Some(p.map_or(d, |p| p.min(d)))
    }
    fn drains_on_notice(&self) -> bool {
        true
    }
}
