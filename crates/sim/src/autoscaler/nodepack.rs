//! nodepack's autoscaler: the same provisioning loop as Karpenter's (batching, launch
//! fallback with the unavailable-offerings cache, drain on interruption notice) with the
//! `nodepack` solver (cost-driven packing and an explicit spot risk model that spreads
//! spot nodes over zones; new nodes sized for the replicas growing controllers are
//! expected to add, from [`super::growth_forecast`]), and nodepack's global
//! consolidation pass every 60 s (see
//! `nodepack_solver::consolidate::nodepack`), executed at once and held while pods wait
//! for capacity, so a burst lands on capacity consolidation would have freed. Two
//! policies cut the pending-latency tail that node boot times set: the launch hedge
//! (held spares beside each launch that carries pods: up to two, one more for the
//! fullest half of a round's launches and one more for launches of zone-spread pods,
//! those that pay for themselves, shared by the launches of one offering, see
//! [`super::hedge`]) and headroom for growing controllers (placed every 30 s, see
//! [`super::headroom`]).
//! [`NodepackAutoscaler::lean`] (`nodepack-lean`) leaves both out: a little cheaper,
//! with the boot-time tail.

use super::disruption::Disruptor;
use super::headroom::Headroom;
use super::{Action, Autoscaler, Ctx, Provisioner};
use nodepack_model::Millis;

/// nodepack's autoscaler.
#[derive(Debug)]
pub struct NodepackAutoscaler {
    /// Provisioning.
    pub provisioner: Provisioner,
    /// Disruption.
    pub disruptor: Disruptor,
    /// Room kept for growing controllers (`None` in `nodepack-lean`; see
    /// [`super::headroom`]).
    pub headroom: Option<Headroom>,
    name: &'static str,
}

impl Default for NodepackAutoscaler {
    fn default() -> Self {
        NodepackAutoscaler {
            provisioner: Provisioner {
                growth_window: Some(super::GROWTH_WINDOW),
                hedge_share: 2.5,
                ..Provisioner::new("nodepack")
            },
            disruptor: Disruptor::nodepack(),
            headroom: Some(Headroom::new(super::GROWTH_WINDOW, Millis::from_secs(30))),
            name: "nodepack",
        }
    }
}

impl NodepackAutoscaler {
    /// `nodepack-lean`: nodepack without the launch hedge and headroom. It pays for no
    /// spare or warm node, and its pods wait for the nodes they were planned on, boot
    /// tail included.
    pub fn lean() -> Self {
        let mut a = Self::default();
        a.provisioner.hedge_share = 0.0;
        a.headroom = None;
        a.name = "nodepack-lean";
        a
    }
}

impl Autoscaler for NodepackAutoscaler {
    fn name(&self) -> &'static str {
        self.name
    }
    fn interval(&self) -> Option<Millis> {
        Some(Millis::from_secs(1))
    }
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        self.disruptor.catch_up(ctx.now);
        let waiting = self.provisioner.has_waiting(ctx);
        let mut out = Vec::new();
        if self.provisioner.hedge_share > 0.0 {
            out.extend(super::hedge::reconcile(ctx.cluster));
        }
        out.extend(self.provisioner.reconcile(ctx));
        let mut reserved: &[_] = &[];
        if let Some(h) = &mut self.headroom {
            if !waiting {
                // Placed afresh right before a consolidation pass reads the placement.
                let force = self.disruptor.due(ctx.now);
                out.extend(h.reconcile(ctx, force));
            }
            reserved = &h.placed;
        }
        out.extend(self.disruptor.reconcile(ctx, waiting, reserved));
        out
    }
    fn wake(&mut self, ctx: &Ctx) -> Option<Millis> {
        let p = self.provisioner.wake(ctx);
        if p == Some(ctx.now)
            || (self.provisioner.hedge_share > 0.0 && super::hedge::has_unused(ctx.cluster))
        {
            return Some(ctx.now);
        }
        let others = p
            .into_iter()
            .chain(self.headroom.as_ref().map(|h| h.next()))
            .min();
        let at = self.disruptor.wake(
            ctx,
            self.headroom.as_ref().map_or(&[][..], |h| &h.placed[..]),
            others,
        );
        Some(others.map_or(at, |o| o.min(at)))
    }
    fn drains_on_notice(&self) -> bool {
        true
    }
}
