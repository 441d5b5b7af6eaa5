//! The disruption loop Karpenter and nodepack share, with a pluggable consolidation
//! strategy from `nodepack_solver::consolidate`: every `interval`, build the
//! consolidation problem from the cluster, compute moves, optionally wait `validation`
//! and re-check them (Karpenter's 15 s), and turn them into removals and replacements.

use super::{Action, Ctx, LaunchReq};
use crate::cluster::{NodeLife, SimNode};
use crate::queue::first_tick;
use nodepack_model::{Millis, NodeState, Pod};
use nodepack_solver::consolidate::nodepack::NodepackConsolidation;
use nodepack_solver::consolidate::{
    consolidator, ConsolidationProblem, Consolidator, Move, NodeStatus, Reason,
};
use nodepack_solver::ExistingNode;
use std::sync::Arc;

/// The disruption loop.
pub struct Disruptor {
    /// The consolidation strategy.
    pub consolidator: Box<dyn Consolidator>,
    /// A cheaper strategy for the passes between deep ones, and how often a deep pass
    /// runs (nodepack: deletions every pass, merges and replacements every 15 minutes).
    pub quick: Option<(Box<dyn Consolidator>, Millis)>,
    last_deep: Option<Millis>,
    /// How often a pass runs (Karpenter polls every 10 s).
    pub interval: Millis,
    /// How long computed moves wait before they are validated again and executed
    /// (Karpenter: 15 s; zero executes at once).
    pub validation: Millis,
    /// Make no moves while pods wait for capacity, and drop moves computed before they
    /// arrived: a burst lands on the capacity consolidation would have freed instead of
    /// new nodes (nodepack).
    pub hold_while_pending: bool,
    next: Millis,
    pending: Option<(Millis, Vec<Move>)>,
    /// The cluster's signature at the last pass that found nothing, and when that
    /// answer may change with time alone (a node settling or expiring), at the latest
    /// [`RECHECK`] later (budget schedules, Karpenter's consolidation-state TTL).
    quiet: Option<(u64, Millis)>,
    /// [`Disruptor::wake`] let ticks be skipped over quiet passes.
    skipping: bool,
}

/// A pass that found nothing is repeated on an unchanged cluster after this long.
const RECHECK: Millis = Millis(300_000);

impl std::fmt::Debug for Disruptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disruptor")
            .field("consolidator", &self.consolidator.name())
            .field("interval", &self.interval)
            .field("validation", &self.validation)
            .finish()
    }
}

impl Disruptor {
    /// Karpenter's loop: its consolidation rules, 10 s passes, 15 s validation.
    pub fn karpenter() -> Self {
        Disruptor {
            consolidator: consolidator("karpenter").expect("known strategy"),
            quick: None,
            last_deep: None,
            interval: Millis::from_secs(10),
            validation: Millis::from_secs(15),
            hold_while_pending: false,
            next: Millis(0),
            pending: None,
            quiet: None,
            skipping: false,
        }
    }

    /// nodepack's loop: its global pass every 60 s (merges and replacements every 15 minutes), executed at once, held while pods
    /// wait.
    pub fn nodepack() -> Self {
        Disruptor {
            consolidator: consolidator("nodepack").expect("known strategy"),
            quick: Some((
                Box::new(NodepackConsolidation {
                    max_merges: 0,
                    max_replacements_tried: 0,
                    target: false,
                    ..NodepackConsolidation::default()
                }),
                Millis::from_mins(15),
            )),
            last_deep: None,
            interval: Millis::from_secs(60),
            validation: Millis(0),
            hold_while_pending: true,
            next: Millis(0),
            pending: None,
            quiet: None,
            skipping: false,
        }
    }

    /// Whether its replacements launch through CreateFleet (Karpenter's).
    fn fleet(&self) -> bool {
        self.consolidator.name() == "karpenter"
    }

    /// When its next pass may act, the cluster unchanged (the engine ticks again at
    /// once on any change): the next pass, or, when the last pass found nothing and the
    /// cluster's signature is the same, the first pass at or after the time that answer
    /// may change (the passes before it would find the same nothing).
    /// `sooner`: the autoscaler's other loops wake by then, so no later wake of this
    /// one matters (and the cluster's signature is not computed).
    pub fn wake(
        &mut self,
        ctx: &Ctx,
        reserved: &[(usize, Arc<Pod>)],
        sooner: Option<Millis>,
    ) -> Millis {
        self.skipping = false;
        if sooner.is_some_and(|t| t <= self.next) {
            return self.next;
        }
        if self.pending.is_none() {
            if let Some((s, w)) = self.quiet {
                if w > self.next && signature(ctx, reserved) == s {
                    self.skipping = true;
                    return first_tick(self.next, self.interval, w);
                }
            }
        }
        self.next
    }

    /// At a tick after skipped ones (see [`Disruptor::wake`]): the quiet passes those
    /// ticks would have run only moved the next pass on by the interval each.
    pub fn catch_up(&mut self, now: Millis) {
        if !std::mem::take(&mut self.skipping) || now <= self.next {
            return;
        }
        self.next = first_tick(self.next, self.interval, now);
    }

    /// Would a pass run at `now` (pods not waiting)?
    pub fn due(&self, now: Millis) -> bool {
        now >= self.next
    }

    /// One pass, if due. `waiting`: pods are waiting for capacity. `reserved`: room to
    /// keep, as pods on nodes (nodepack's headroom placeholders; see
    /// [`super::headroom`]): consolidation sees them as pods it must place.
    pub fn reconcile(
        &mut self,
        ctx: &Ctx,
        waiting: bool,
        reserved: &[(usize, Arc<Pod>)],
    ) -> Vec<Action> {
        if self.hold_while_pending && waiting {
            self.pending = None;
            return vec![];
        }
        if ctx.now < self.next {
            return vec![];
        }
        self.next = ctx.now + self.interval;
        let sig = signature(ctx, reserved);
        if self.pending.is_none() {
            if let Some((s, wake)) = self.quiet {
                if s == sig && ctx.now < wake {
                    return vec![];
                }
            }
        }
        let (nodes, status, idx) = view(ctx, reserved);
        let (pdbs, allowed) = (ctx.cluster.pdbs(), ctx.cluster.pdb_allowed());
        let problem = ConsolidationProblem {
            now: ctx.now,
            nodes: &nodes,
            status: &status,
            nodepools: ctx.pools,
            catalog: ctx.catalog,
            pdbs: &pdbs,
            pairs: Some(ctx.pairs),
            pdb_allowed: Some(&allowed),
            spot_to_spot: ctx.spot_to_spot,
        };
        if let Some((at, moves)) = self.pending.take() {
            if ctx.now < at + self.validation {
                self.pending = Some((at, moves));
                return vec![];
            }
            let valid: Vec<Move> = moves
                .iter()
                .filter_map(|m| self.consolidator.revalidate(&problem, m))
                .collect();
            return actions(ctx, &valid, &idx, self.fleet());
        }
        let deep = match &self.quick {
            None => true,
            Some((_, every)) => self
                .last_deep
                .is_none_or(|t| ctx.now.saturating_sub(t) >= *every),
        };
        let plan = match (&self.quick, deep) {
            (Some((q, _)), false) => q.consolidate(&problem),
            _ => {
                self.last_deep = Some(ctx.now);
                self.consolidator.consolidate(&problem)
            }
        };
        if plan.moves.is_empty() {
            let mut w = wake(ctx, &nodes, &status);
            if let (Some((_, every)), Some(last)) = (&self.quick, self.last_deep) {
                w = w.min(last + *every);
            }
            self.quiet = Some((sig, w));
            return vec![];
        }
        self.quiet = None;
        if self.validation > Millis(0) {
            self.pending = Some((ctx.now, plan.moves));
            return vec![];
        }
        actions(ctx, &plan.moves, &idx, self.fleet())
    }
}

/// The cluster as consolidation sees it: nodes not terminated with their bound pods;
/// draining or cordoned nodes count as being deleted; a node with pods nominated to it
/// counts as just changed; `reserved` pods are added to their nodes.
fn view(
    ctx: &Ctx,
    reserved: &[(usize, Arc<Pod>)],
) -> (Vec<ExistingNode>, Vec<NodeStatus>, Vec<usize>) {
    let c = ctx.cluster;
    let (mut nodes, mut status, mut idx) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &c.alive {
        let n = &c.nodes[i];
        let Some(state) = seen_state(n) else {
            continue;
        };
        let mut node = n.node.clone();
        node.state = state;
        let mut pods: Vec<Arc<Pod>> = n.pods.iter().map(|&p| c.pods[p].pod.clone()).collect();
        pods.extend(
            reserved
                .iter()
                .filter(|(at, _)| *at == i)
                .map(|(_, p)| p.clone()),
        );
        nodes.push(ExistingNode::new(node, pods));
        status.push(seen_status(ctx, n));
        idx.push(i);
    }
    (nodes, status, idx)
}

/// A node's state as consolidation sees it (`None`: terminated or a held spare, not
/// seen).
fn seen_state(n: &SimNode) -> Option<NodeState> {
    if n.held {
        return None;
    }
    Some(match n.life {
        NodeLife::Terminated => return None,
        NodeLife::Launching => NodeState::Launching,
        NodeLife::Registered => NodeState::Registered,
        NodeLife::Ready if n.cordoned => NodeState::Cordoned,
        NodeLife::Ready => NodeState::Ready,
        _ => NodeState::Draining,
    })
}

/// A node's last change and deletion as consolidation sees them.
fn seen_status(ctx: &Ctx, n: &SimNode) -> NodeStatus {
    NodeStatus {
        last_change: if n.nominated.is_empty() {
            n.last_change
        } else {
            ctx.now
        },
        deleting: n.life == NodeLife::Draining || n.cordoned,
    }
}

/// A fingerprint of what consolidation looks at ([`view`]'s nodes: each one's name,
/// state, pods and status), read from the cluster without building the view (std's
/// `DefaultHasher::new()` has fixed keys, so this is deterministic).
fn signature(ctx: &Ctx, reserved: &[(usize, Arc<Pod>)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for &i in &ctx.cluster.alive {
        let n = &ctx.cluster.nodes[i];
        let Some(state) = seen_state(n) else {
            continue;
        };
        let s = seen_status(ctx, n);
        n.node.name.hash(&mut h);
        (state as u8).hash(&mut h);
        n.pods.len().hash(&mut h);
        for &p in &n.pods {
            ctx.cluster.pods[p].pod.id.hash(&mut h);
        }
        s.last_change.0.hash(&mut h);
        s.deleting.hash(&mut h);
    }
    for (n, p) in reserved {
        n.hash(&mut h);
        p.id.hash(&mut h);
    }
    h.finish()
}

/// The earliest time a quiet answer may change with no event: a node reaching its
/// pool's `consolidateAfter` or `expireAfter`, and at the latest [`RECHECK`] from now.
fn wake(ctx: &Ctx, nodes: &[ExistingNode], status: &[NodeStatus]) -> Millis {
    let mut t = ctx.now + RECHECK;
    for (e, s) in nodes.iter().zip(status) {
        let Some(pool) = e
            .node
            .nodepool
            .as_deref()
            .and_then(|n| ctx.pools.iter().find(|p| p.name == n))
        else {
            continue;
        };
        for at in [
            pool.disruption.consolidate_after.map(|a| s.last_change + a),
            pool.expire_after.map(|x| e.node.created + x),
        ]
        .into_iter()
        .flatten()
        {
            if at > ctx.now && at < t {
                t = at;
            }
        }
    }
    t
}

fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::Empty => "empty",
        Reason::Drifted => "drifted",
        Reason::Expired => "expired",
        Reason::Underutilized => "underutilized",
    }
}

/// Moves as simulator actions.
fn actions(ctx: &Ctx, moves: &[Move], idx: &[usize], fleet: bool) -> Vec<Action> {
    let mut out = Vec::new();
    for m in moves {
        let nodes: Vec<usize> = m.node_indices.iter().map(|&k| idx[k]).collect();
        let reason = reason_name(m.reason);
        if m.replacements.is_empty() {
            out.extend(
                nodes
                    .into_iter()
                    .map(|node| Action::Remove { node, reason }),
            );
            continue;
        }
        let launches: Option<Vec<LaunchReq>> = m
            .replacements
            .iter()
            .map(|r| {
                Some(LaunchReq {
                    pool: ctx.pools.iter().position(|p| p.name == r.nodepool)?,
                    instance_type: r.instance_type.clone(),
                    zone: r.zone.clone(),
                    capacity_type: r.capacity_type,
                    alternatives: r.alternatives.clone(),
                    pods: vec![],
                    on_demand_fallback: !m.spot_only,
                    spares: 0,
                    warm: false,
                    fleet,
                })
            })
            .collect();
        if let Some(launches) = launches {
            out.push(Action::Replace {
                nodes,
                launches,
                reason,
            });
        }
    }
    out
}
