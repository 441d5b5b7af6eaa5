//! Autoscalers, behind one trait, all driven by the same environment and random draws.
//! One strategy per file: [`karpenter`], [`nodepack`], [`cluster_autoscaler`],
//! [`static_fleet`]; the provisioning loop Karpenter and nodepack share is
//! [`Provisioner`].

pub mod cluster_autoscaler;
pub mod disruption;
pub mod headroom;
pub mod hedge;
pub mod karpenter;
pub mod nodepack;
pub mod static_fleet;

use crate::cluster::Cluster;
use crate::config::TraceEvent;
use nodepack_model::taints::first_untolerated;
use nodepack_model::{CapacityType, Catalog, Millis, NodePool, Pod, Requirements, Toleration};
use nodepack_solver::internals::{PoolCatalog, Prepared};
use nodepack_solver::Growth;
use nodepack_solver::{Plan, Problem, Strategy};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What an autoscaler sees.
pub struct Ctx<'a> {
    /// Now.
    pub now: Millis,
    /// The cluster.
    pub cluster: &'a Cluster,
    /// Node pools.
    pub pools: &'a [NodePool],
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Prepared pairs of the pools and catalog.
    pub pairs: &'a Arc<PoolCatalog>,
    /// The whole trace (only the static fleet looks ahead, to size itself for the peak).
    pub trace: &'a [TraceEvent],
    /// The cloud (for its unavailable-offerings cache).
    pub cloud: &'a crate::cloud::Cloud,
    /// Karpenter's `SpotToSpotConsolidation` feature gate ([`crate::config::Settings`]).
    pub spot_to_spot: bool,
    /// Dollars an hour of one pod's pending time is worth, against which the launch
    /// hedge prices each spare ([`crate::config::Settings::pending_value`]).
    pub pending_value: f64,
}

/// A node to launch.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchReq {
    /// Pool index.
    pub pool: usize,
    /// Preferred instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Other types, in order, if the preferred one has no capacity.
    pub alternatives: Vec<String>,
    /// Pods to nominate to it.
    pub pods: Vec<usize>,
    /// A spot launch may fall back to on-demand when spot has no capacity (not for a
    /// consolidation replacement pinned to spot).
    pub on_demand_fallback: bool,
    /// Held spares to launch beside it, of the offering it launched on (nodepack's
    /// hedge, see [`hedge`]); none if that offering has no more capacity.
    pub spares: u32,
    /// Launched as a warm node for headroom (held: seen by the provisioner only, see
    /// [`headroom`]).
    pub warm: bool,
    /// Karpenter's CreateFleet semantics: one request over the overrides (the type and
    /// its alternatives, in every zone the pods allow), the offering picked by
    /// `nodepack_solver::internals::fleet_choice` among those not in the
    /// unavailable-offerings cache; an insufficient-capacity error fails the whole
    /// launch (the offering is cached unavailable, the pods wait for the next batch).
    /// Otherwise the chosen offering is tried first, then the others in order.
    pub fleet: bool,
}

/// What an autoscaler decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Launch a node.
    Launch(LaunchReq),
    /// Cordon, drain and terminate a node.
    Remove {
        /// Node index.
        node: usize,
        /// Why (`empty`, `underutilized`, `drifted`, `expired`).
        reason: &'static str,
    },
    /// Cordon nodes, launch their replacements, and drain and terminate the nodes once
    /// every replacement is ready (if a replacement cannot launch, the nodes are
    /// uncordoned and stay).
    Replace {
        /// Node indices.
        nodes: Vec<usize>,
        /// The replacements.
        launches: Vec<LaunchReq>,
        /// Why.
        reason: &'static str,
    },
    /// Nominate a pending pod to a node (launching or ready).
    Nominate {
        /// Pod.
        pod: usize,
        /// Node.
        node: usize,
    },
    /// Record why a pod cannot be scheduled.
    Unschedulable {
        /// Pod.
        pod: usize,
        /// Reason.
        reason: String,
    },
}

/// An autoscaler.
pub trait Autoscaler: Send {
    /// Its name.
    fn name(&self) -> &'static str;
    /// How often its loop runs (`None`: only at time zero).
    fn interval(&self) -> Option<Millis>;
    /// One pass of its loop.
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action>;
    /// After a pass: the earliest time its loop may act if the cluster does not change
    /// (`None`: not before a change). The engine ticks again at the first tick at or
    /// after it, or at the first tick after any change, whichever comes first; ticks in
    /// between are skipped. The default: the next tick.
    fn wake(&mut self, ctx: &Ctx) -> Option<Millis> {
        self.interval().map(|i| ctx.now + i)
    }
    /// Whether it cordons and drains a spot node on the interruption notice (otherwise
    /// the pods die with the node two minutes later).
    fn drains_on_notice(&self) -> bool;
    /// Whether failed offerings are kept out of launches for a while.
    fn uses_unavailable_cache(&self) -> bool {
        true
    }
}

/// The autoscalers by name.
pub const AUTOSCALERS: &[&str] = &[
    "nodepack",
    "nodepack-lean",
    "karpenter",
    "cluster-autoscaler",
    "static",
];

/// Look an autoscaler up by name.
pub fn by_name(name: &str) -> Option<Box<dyn Autoscaler>> {
    match name {
        "nodepack" => Some(Box::new(nodepack::NodepackAutoscaler::default())),
        "nodepack-lean" => Some(Box::new(nodepack::NodepackAutoscaler::lean())),
        "karpenter" => Some(Box::new(karpenter::KarpenterAutoscaler::default())),
        "cluster-autoscaler" => Some(Box::new(cluster_autoscaler::ClusterAutoscaler::default())),
        "static" => Some(Box::new(static_fleet::StaticFleet::default())),
        _ => None,
    }
}

/// Karpenter's provisioning loop with a pluggable solver: batch pending pods (a batch
/// closes after `idle` without new pods or `max` after it opened), solve with the
/// cluster's live nodes (in-flight ones included, with their nominated pods) as existing
/// capacity, nominate and launch. Disruption is [`disruption::Disruptor`]'s.
#[derive(Clone, Debug)]
pub struct Provisioner {
    /// Solver strategy name.
    pub solver: &'static str,
    /// Batch idle duration (Karpenter: 1 s).
    pub idle: Millis,
    /// Batch maximum duration (Karpenter: 10 s).
    pub max: Millis,
    /// Retry pods found unschedulable after this long.
    pub retry_unschedulable: Millis,
    /// nodepack only: size new nodes for the replicas their pods' controllers added over
    /// this window (see [`growth_forecast`]); `None`: for the pending pods alone.
    pub growth_window: Option<Millis>,
    /// nodepack only: spare nodes launched beside a round's nodes, as a share of them
    /// (see [`hedge`]); 0: none.
    pub hedge_share: f64,
    /// Keep out of a round the pods found unschedulable that nothing could place by
    /// resources, taints, node requirements and pool limits (until their next retry);
    /// off: every retry is solved, as Karpenter solves every pending pod.
    pub park: bool,
    opened: Option<Millis>,
    last_change: Millis,
    last_count: usize,
    /// Pods found unschedulable that nothing could place at their retry, and when they
    /// are looked at again.
    parked: BTreeMap<usize, Millis>,
}

impl Provisioner {
    /// A provisioner with Karpenter's timings.
    pub fn new(solver: &'static str) -> Self {
        Provisioner {
            solver,
            idle: Millis::from_secs(1),
            max: Millis::from_secs(10),
            retry_unschedulable: Millis::from_mins(5),
            growth_window: None,
            hedge_share: 0.0,
            park: true,
            opened: None,
            last_change: Millis(0),
            last_count: 0,
            parked: BTreeMap::new(),
        }
    }

    /// Pods waiting for capacity: pending, not nominated, not recently found
    /// unschedulable.
    fn waiting(&self, ctx: &Ctx) -> Vec<usize> {
        let c = ctx.cluster;
        c.pending
            .iter()
            .copied()
            .filter(|&p| self.waits_from(c, p).is_some_and(|t| t <= ctx.now))
            .collect()
    }

    /// From when pending pod `p` waits for capacity: at once, or, once found
    /// unschedulable, when it may be retried (and, if parked, looked at again); `None`
    /// while it is nominated to a node.
    fn waits_from(&self, c: &Cluster, p: usize) -> Option<Millis> {
        let ps = &c.pods[p];
        if ps.nominated.is_some() {
            return None;
        }
        Some(match ps.reason {
            None => Millis(0),
            Some(_) => (ps.reason_at + self.retry_unschedulable)
                .max(self.parked.get(&p).copied().unwrap_or(Millis(0))),
        })
    }

    /// Keep out of the coming round the pods found unschedulable whose retry is due but
    /// that nothing could place (`Room::could_place`): no live node admits them with
    /// their requests free, and no pair of a pool that admits them holds them within
    /// that pool's limits. The solver could only find them unschedulable again (it places a
    /// pod on a live node or a new node of a pool within its limits), so they keep their
    /// reason and are looked at again after `retry_unschedulable`; a standing backlog
    /// behind a pool limit is then not re-solved every retry while the limit binds.
    fn park(&mut self, ctx: &Ctx) {
        let c = ctx.cluster;
        let now = ctx.now;
        self.parked.retain(|p, _| c.pending.contains(p));
        if !self.park {
            return;
        }
        let due: Vec<usize> = c
            .pending
            .iter()
            .copied()
            .filter(|&p| c.pods[p].reason.is_some())
            .filter(|&p| self.waits_from(c, p).is_some_and(|t| t <= now))
            .collect();
        if due.is_empty() {
            return;
        }
        let room = Room::new(ctx);
        // Pods of one workload share their requests, terms and tolerations.
        type Key<'k> = (
            &'k nodepack_model::Resources,
            &'k [Requirements],
            &'k [Toleration],
        );
        let mut verdict: std::collections::HashMap<Key, bool> = std::collections::HashMap::new();
        for p in due {
            let ps = &c.pods[p];
            let key: Key = (&ps.pod.requests, &ps.terms, &ps.pod.tolerations);
            let could = *verdict
                .entry(key)
                .or_insert_with(|| room.could_place(&ps.pod, &ps.terms));
            if !could {
                self.parked.insert(p, now + self.retry_unschedulable);
            }
        }
    }

    /// The earliest time a pass may provision, the cluster unchanged: now if pods wait
    /// for capacity (a batch is open), else when the first pod found unschedulable may
    /// be retried (`None`: no such pod).
    pub fn wake(&self, ctx: &Ctx) -> Option<Millis> {
        let c = ctx.cluster;
        c.pending
            .iter()
            .filter_map(|&p| self.waits_from(c, p))
            .min()
            .map(|t| t.max(ctx.now))
    }

    /// Are pods waiting for capacity?
    pub fn has_waiting(&self, ctx: &Ctx) -> bool {
        !self.waiting(ctx).is_empty()
    }

    /// One pass: provisioning (when a batch closes).
    pub fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        let mut out = Vec::new();
        self.park(ctx);
        let waiting = self.waiting(ctx);
        if waiting.is_empty() {
            // The batch is over (its pods placed some other way): the next one starts
            // afresh, its idle window from its first pod.
            self.opened = None;
            self.last_count = 0;
        } else {
            let opened = *self.opened.get_or_insert(ctx.now);
            if waiting.len() != self.last_count {
                self.last_change = ctx.now;
            }
            self.last_count = waiting.len();
            if ctx.now.saturating_sub(self.last_change) >= self.idle
                || ctx.now.saturating_sub(opened) >= self.max
            {
                self.opened = None;
                self.last_count = 0;
                out.extend(self.provision(ctx, &waiting));
            }
        }
        out
    }

    fn provision(&self, ctx: &Ctx, waiting: &[usize]) -> Vec<Action> {
        let strategy: Box<dyn Strategy> = match (self.solver, self.growth_window) {
            ("nodepack", Some(w)) => {
                let mut s = nodepack_solver::NodepackStrategy::default();
                s.growth = growth_forecast(ctx.cluster, ctx.now, waiting, w);
                Box::new(s)
            }
            // Names are checked when the autoscaler is built (`by_name`).
            (name, _) => match nodepack_solver::strategy(name) {
                Ok(s) => Box::new(s),
                Err(_) => return vec![],
            },
        };
        let mut out = provision_with(strategy.as_ref(), ctx, waiting);
        if self.hedge_share > 0.0 {
            let pricing = hedge::Pricing::new(&ctx.cloud.config, ctx.pending_value);
            let price_of = |l: &LaunchReq| {
                let t = ctx.catalog.get(&l.instance_type)?;
                let o = t
                    .offerings
                    .iter()
                    .find(|o| o.zone == l.zone && o.capacity_type == l.capacity_type)?;
                Some(o.price.usd())
            };
            hedge::assign(&mut out, self.hedge_share, ctx.cluster, &pricing, price_of);
        }
        out
    }
}

/// Where a pending pod could go, ignoring the rules between pods: each live node's free
/// room (its bound and nominated pods' requests taken off), and each pool's usage as the
/// solver counts it against its limits (the capacity of the nodes it sees). Both are
/// read when a test needs them: the free room node by node, the pools' usage once, when
/// no live node takes a pod (a replay builds a room in most passes, most of them for a
/// pod some node has room for; only pools with limits are summed).
struct Room<'c> {
    ctx: &'c Ctx<'c>,
    /// Per pool: the summed capacity and the count of the nodes the solver sees.
    used: std::cell::OnceCell<Vec<(nodepack_model::Resources, u64)>>,
}

impl<'c> Room<'c> {
    fn new(ctx: &'c Ctx<'c>) -> Self {
        Room {
            ctx,
            used: std::cell::OnceCell::new(),
        }
    }

    fn used(&self) -> &[(nodepack_model::Resources, u64)] {
        self.used.get_or_init(|| {
            let ctx = self.ctx;
            let c = ctx.cluster;
            let mut used = vec![(nodepack_model::Resources::default(), 0u64); ctx.pools.len()];
            for &i in &c.alive {
                let n = &c.nodes[i];
                if !n.live() || !c.solver_sees(i, true) {
                    continue;
                }
                // A pool without limits admits any usage.
                if ctx.pools.get(n.pool).is_none_or(|p| p.limits.is_empty()) {
                    continue;
                }
                if let Some(u) = used.get_mut(n.pool) {
                    u.0.saturating_add_assign(&n.capacity);
                    u.1 += 1;
                }
            }
            used
        })
    }

    /// Could `pod` (node requirement alternatives `terms`) go on a live node whose
    /// labels and taints (but those lifted at startup) admit it and that has its
    /// requests free, or on a new node of a pair whose pool's taints and requirements
    /// admit it, whose allocatable holds it and that its pool's limits admit? The
    /// solver's own tests, but for the rules between pods and offering availability.
    fn could_place(&self, pod: &Pod, terms: &[Requirements]) -> bool {
        let c = self.ctx.cluster;
        let req = &pod.requests;
        let on_node = |&i: &usize| {
            let n = &c.nodes[i];
            let taints = &n.node.taints[..n.node.taints.len().saturating_sub(n.startup_taints)];
            n.live()
                && fits_free(c, i, req)
                && pod.node_labels_ok(&n.node.labels)
                && first_untolerated(taints, &pod.tolerations).is_none()
        };
        if c.alive.iter().any(on_node) {
            return true;
        }
        let pairs = &self.ctx.pairs;
        let within = |pool: &nodepack_model::NodePool,
                      k: usize,
                      pt: &nodepack_solver::internals::PoolType| {
            if pool.limits.is_empty() {
                return true;
            }
            let (u, n) = &self.used()[k];
            !pool.limits.exceeded_by_sum(u, &pt.capacity, n + 1)
        };
        let fit = pairs.fit_test(req);
        let on_new = |(k, pt): (usize, &nodepack_solver::internals::PoolType)| {
            fit.fits(k)
                && self.ctx.pools.get(pt.pool).is_some_and(|pool| {
                    within(pool, pt.pool, pt)
                        && first_untolerated(&pool.taints, &pod.tolerations).is_none()
                })
                && terms.iter().any(|t| pairs.pool_type_compatible(t, k))
        };
        pairs.pool_types.iter().enumerate().any(on_new)
    }
}

/// Does `req` fit in node `i`'s free room: its allocatable less (saturating) the
/// requests of its bound pods (`requested`) and of the pods nominated to it? Without
/// building the sums (a replay asks this millions of times).
fn fits_free(c: &Cluster, i: usize, req: &nodepack_model::Resources) -> bool {
    let n = &c.nodes[i];
    let nominated = || n.nominated.iter().map(|&q| &c.pods[q].pod.requests);
    let alloc = &n.node.allocatable;
    let taken = &n.requested;
    let fits =
        |want: u64, have: u64, bound: u64, of: &dyn Fn(&nodepack_model::Resources) -> u64| {
            let t = nominated().fold(bound, |a, r| a.saturating_add(of(r)));
            want <= have.saturating_sub(t)
        };
    fits(req.cpu.0, alloc.cpu.0, taken.cpu.0, &|r| r.cpu.0)
        && fits(req.memory.0, alloc.memory.0, taken.memory.0, &|r| {
            r.memory.0
        })
        && fits(
            req.ephemeral_storage.0,
            alloc.ephemeral_storage.0,
            taken.ephemeral_storage.0,
            &|r| r.ephemeral_storage.0,
        )
        && fits(req.pods, alloc.pods, taken.pods, &|r| r.pods)
        && req
            .extended
            .iter()
            .all(|(k, &v)| fits(v, alloc.extended(k), taken.extended(k), &|r| r.extended(k)))
}

/// nodepack's growth forecast: the replicas added over this window...
pub const GROWTH_WINDOW: Millis = Millis(3_600_000);
/// ...are expected again in each of this many windows ahead (a node sized for them is
/// billed for hours, and the pods fill it over that time).
pub const GROWTH_AHEAD: u32 = 4;

/// Controller kinds whose replica count scales (a Job's pods arrive at once).
const REPLICATED: &[&str] = &[
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "ReplicationController",
];

/// A replicated controller: (namespace, kind, name).
pub(crate) type ControllerKey<'k> = (&'k str, &'k str, &'k str);

/// Pod `p`'s controller, if it is a replicated one.
pub(crate) fn controller_key(c: &Cluster, p: usize) -> Option<ControllerKey<'_>> {
    let pod = &c.pods[p].pod;
    let o = pod.owner.as_ref()?;
    REPLICATED.contains(&o.kind.as_str()).then_some((
        pod.id.namespace.as_str(),
        o.kind.as_str(),
        o.name.as_str(),
    ))
}

/// nodepack's growth forecast, by persistence: each replicated controller of a pod in
/// `of` is expected to add, in each of the next [`GROWTH_AHEAD`] windows, as many
/// replicas as it added over the last `window`: its pods created within `window` that
/// are bound or nominated, not counting those created with its first live pod (the
/// replicas it started with are not growth). Pods being placed are in `of`, not yet
/// counted. Only live nodes' pods and `of` are read.
pub fn growth_forecast(c: &Cluster, now: Millis, of: &[usize], window: Millis) -> Growth {
    let key = |p: usize| controller_key(c, p);
    // Controller -> (first creation among its live pods, replicas added in the window).
    let mut by: BTreeMap<ControllerKey, (Millis, u32)> = BTreeMap::new();
    for &p in of {
        if let Some(k) = key(p) {
            let e = by.entry(k).or_insert((Millis(u64::MAX), 0));
            e.0 = e.0.min(c.pods[p].arrived);
        }
    }
    if by.is_empty() {
        return Growth::default();
    }
    let live = || {
        c.nodes
            .iter()
            .filter(|n| n.live())
            .flat_map(|n| n.pods.iter().chain(n.nominated.iter()).copied())
    };
    for p in live() {
        if let Some(e) = key(p).and_then(|k| by.get_mut(&k)) {
            e.0 = e.0.min(c.pods[p].arrived);
        }
    }
    let since = now.saturating_sub(window);
    for p in live() {
        let at = c.pods[p].arrived;
        if at < since {
            continue;
        }
        if let Some(e) = key(p).and_then(|k| by.get_mut(&k)) {
            if at > e.0 {
                e.1 += 1;
            }
        }
    }
    Growth {
        expected: by
            .into_iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|((ns, kind, name), (_, n))| {
                ((ns.into(), kind.into(), name.into()), n * GROWTH_AHEAD)
            })
            .collect(),
        ..Growth::default()
    }
}

/// The launch of a planned node with `pods` nominated (`None`: its pool is unknown).
pub fn launch_of(ctx: &Ctx, n: &nodepack_solver::NewNode, pods: Vec<usize>) -> Option<LaunchReq> {
    Some(LaunchReq {
        pool: ctx.pools.iter().position(|p| p.name == n.nodepool)?,
        instance_type: n.instance_type.clone(),
        zone: n.zone.clone(),
        capacity_type: n.capacity_type,
        alternatives: n.alternatives.clone(),
        pods,
        on_demand_fallback: true,
        spares: 0,
        warm: false,
        fleet: false,
    })
}

/// Solve `pending` with the live nodes (launching ones with their nominated pods) as
/// existing capacity; with the plan, the cluster index of each of its bindings' nodes.
pub(crate) fn solve_live(
    strategy: &dyn Strategy,
    ctx: &Ctx,
    pending: &[Pod],
) -> (Plan, Vec<Option<usize>>) {
    let (nodes, idx) = ctx.cluster.existing(true);
    let problem = Problem::new(pending, &nodes, ctx.pools, ctx.catalog);
    let prep = Prepared::with_pairs(ctx.pairs.clone(), problem);
    let plan = strategy.solve_prepared(&prep);
    let at = plan
        .existing
        .iter()
        .map(|b| {
            nodes
                .iter()
                .position(|n| n.node.name == b.node)
                .map(|k| idx[k])
        })
        .collect();
    (plan, at)
}

/// Solve for `waiting` with the live nodes as existing capacity and turn the plan into
/// actions.
pub fn provision_with(strategy: &dyn Strategy, ctx: &Ctx, waiting: &[usize]) -> Vec<Action> {
    let c = ctx.cluster;
    let pending: Vec<Pod> = waiting.iter().map(|&p| (*c.pods[p].pod).clone()).collect();
    let (plan, at) = solve_live(strategy, ctx, &pending);
    let mut out = Vec::new();
    let pod_of = |id: &nodepack_model::PodId| c.by_id.get(id).copied();
    for (b, node) in plan.existing.iter().zip(at) {
        if let (Some(pod), Some(node)) = (pod_of(&b.pod), node) {
            out.push(Action::Nominate { pod, node });
        }
    }
    // Karpenter launches a NodeClaim through CreateFleet.
    let fleet = strategy.name() == "karpenter";
    for n in &plan.nodes {
        let pods = n.pods.iter().filter_map(pod_of).collect();
        out.extend(launch_of(ctx, n, pods).map(|l| Action::Launch(LaunchReq { fleet, ..l })));
    }
    for u in &plan.unschedulable {
        if let Some(p) = pod_of(&u.pod) {
            out.push(Action::Unschedulable {
                pod: p,
                reason: u.reason.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::pod::Owner;
    use nodepack_model::{Bytes, Millicores, Resources};

    /// A 100m/64Mi pod of controller `owner` of `kind`, labelled `app: owner`.
    pub(crate) fn owned(name: &str, kind: &str, owner: &str) -> Arc<Pod> {
        let mut p = Pod::new(
            "default",
            name,
            Resources::new(Millicores(100), Bytes::from_mib(64)),
        );
        p.labels.insert("app".into(), owner.into());
        p.owner = Some(Arc::new(Owner {
            kind: kind.into(),
            name: owner.into(),
        }));
        Arc::new(p)
    }

    proptest::proptest! {
        /// The free-room test without sums answers as the test on the built free room.
        #[test]
        fn free_room_without_sums_is_the_built_free_room(
            alloc in (0u64..64_000, 0u64..64, 0u64..8, 0u64..4),
            bound in (0u64..80_000, 0u64..80, 0u64..10, 0u64..6),
            nominated in proptest::collection::vec((0u64..16_000, 0u64..16, 0u64..3), 0..4),
            req in (0u64..32_000, 0u64..32, 0u64..6, proptest::bool::ANY),
        ) {
            let gpu = nodepack_model::resources::NVIDIA_GPU;
            let gib = Bytes::from_gib;
            let mut c = Cluster::default();
            let mut n = crate::cluster::test_node(alloc.0);
            n.node.allocatable = Resources::new(Millicores(alloc.0), gib(alloc.1))
                .with_pods(alloc.3 * 4)
                .with_extended(gpu, alloc.2);
            n.requested = Resources::new(Millicores(bound.0), gib(bound.1))
                .with_pods(bound.3)
                .with_extended(gpu, bound.2);
            c.add_node(n);
            for (k, (cpu, mem, g)) in nominated.iter().enumerate() {
                let mut p = Pod::new(
                    "default",
                    &format!("p{k}"),
                    Resources::new(Millicores(*cpu), gib(*mem)).with_extended(gpu, *g),
                );
                p.requests.pods = 1;
                let q = c.arrive(Arc::new(p), None, Millis(0));
                c.nodes[0].nominated.push(q);
            }
            let mut r = Resources::new(Millicores(req.0), gib(req.1))
                .with_pods(1)
                .with_extended(gpu, req.2);
            if req.3 {
                // A resource the node does not have, asked for as zero.
                r.extended.insert("example.com/fpga".into(), 0);
            }
            let n = &c.nodes[0];
            let taken = n.nominated.iter().fold(n.requested.clone(), |a, &q| {
                a.saturating_add(&c.pods[q].pod.requests)
            });
            let built = r.fits(&n.node.allocatable.saturating_sub(&taken));
            proptest::prop_assert_eq!(fits_free(&c, 0, &r), built);
        }
    }

    /// The forecast counts the replicas a controller added within the window after its
    /// first ones, for replicated controllers only, times the windows ahead.
    #[test]
    fn growth_forecast_counts_replicas_added_after_the_first() {
        let mut c = Cluster::default();
        c.add_node(crate::cluster::test_node(64_000));
        let min = Millis::from_mins;
        let mut add = |name: &str, kind: &str, owner: &str, at: Millis, bind: bool| {
            let p = c.arrive(owned(name, kind, owner), None, at);
            if bind {
                c.bind(p, 0, at);
            }
            p
        };
        // web: three at the start, three more later (one of them before the window).
        for (i, at) in [0, 0, 0, 10, 50, 70].into_iter().enumerate() {
            add(&format!("web-{i}"), "ReplicaSet", "web", min(at), true);
        }
        let web = add("web-6", "ReplicaSet", "web", min(80), false);
        // api: all its replicas were created at once: no growth.
        for i in 0..3 {
            add(&format!("api-{i}"), "ReplicaSet", "api", min(75), true);
        }
        let api = add("api-3", "ReplicaSet", "api", min(75), false);
        // etl: a Job's pods arrive together; never forecast.
        add("etl-0", "Job", "etl", min(30), true);
        let etl = add("etl-1", "Job", "etl", min(60), false);
        let g = growth_forecast(&c, min(80), &[web, api, etl], min(60));
        let key = |o: &str| {
            (
                "default".to_string(),
                "ReplicaSet".to_string(),
                o.to_string(),
            )
        };
        assert_eq!(g.expected.get(&key("web")), Some(&(2 * GROWTH_AHEAD)));
        assert_eq!(g.expected.len(), 1, "{:?}", g.expected);
        // Nothing waiting: nothing forecast.
        assert!(growth_forecast(&c, min(80), &[], min(60))
            .expected
            .is_empty());
    }
}
