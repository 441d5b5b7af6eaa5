//! The discrete-event loop: trace, cloud, pods, autoscaler and samples on one clock.

use crate::autoscaler::{Action, Autoscaler, Ctx, LaunchReq};
use crate::cloud::{Cloud, Launched};
use crate::cluster::{Cluster, NodeLife, PodPhase, SimNode, SimPod};
use crate::config::{Settings, TraceEvent, TraceKind};
use crate::metrics::{Percentiles, Sample, Summary, Unscheduled};
use crate::queue::{first_tick, Next, Phase, Queue};
use nodepack_model::{
    labels, CapacityType, Catalog, Millis, Money, Node, NodePool, NodeState, PodDisruptionBudget,
};
use nodepack_solver::internals::{PoolCatalog, Prepared};
use nodepack_solver::Problem;
use std::sync::Arc;

/// Everything a replay needs.
#[derive(Clone, Copy, Debug)]
pub struct SimInput<'a> {
    /// Horizon, seed, cloud model.
    pub settings: &'a Settings,
    /// Node pools (daemonset overhead filled in).
    pub nodepools: &'a [NodePool],
    /// Instance catalog.
    pub catalog: &'a Catalog,
    /// The workload, sorted by time.
    pub trace: &'a [TraceEvent],
    /// Pod disruption budgets: drains evict covered pods only as they allow.
    pub pdbs: &'a [PodDisruptionBudget],
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SimResult {
    /// The summary.
    pub summary: Summary,
    /// Time series for charts.
    pub series: Vec<Sample>,
    /// Every pod's pending latency (creation to first binding; for a pod never bound, to
    /// its deletion or the horizon), milliseconds, sorted: the distribution behind the
    /// percentiles, for charts.
    pub pending_ms: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Tick,
    Registered(usize),
    Ready(usize),
    Notice(usize),
    Terminate(usize),
    /// Retry the evictions a disruption budget held back.
    Drain(usize),
    Running(usize, u32),
    Finish(usize, u32),
    Sample,
    Bound,
}

struct Sim<'a> {
    input: SimInput<'a>,
    pairs: Arc<PoolCatalog>,
    cluster: Cluster,
    cloud: Cloud,
    queue: Queue<Ev>,
    now: Millis,
    summary: Summary,
    series: Vec<Sample>,
    cost: Money,
    cost_spot: Money,
    node_ms: u64,
    // Utilization integrals: requested and allocatable CPU (millicore-ms) and memory.
    used_cpu: u128,
    alloc_cpu: u128,
    used_mem: u128,
    alloc_mem: u128,
    last_t: Millis,
    lb_prev: Millis,
    lb_total: f64,
    /// Consolidation's estimated saving so far, dollars.
    savings_usd: f64,
    capacity_changed: bool,
    new_pods: Vec<usize>,
    interrupted: u64,
    /// Replacements in flight: (nodes to remove, their replacements, reason).
    replacing: Vec<(Vec<usize>, Vec<usize>, &'static str)>,
    repack_gaps: Vec<f64>,
    /// The autoscaler's tick interval (ticks fall on its multiples).
    tick: Option<Millis>,
    /// The tick scheduled next (other `Tick` events in the queue are stale), and the
    /// last tick run.
    next_tick: Option<Millis>,
    last_tick: Option<Millis>,
}

/// Replay `input` with `autoscaler`.
pub fn run(input: SimInput, autoscaler: &mut dyn Autoscaler) -> SimResult {
    let pairs = Arc::new(PoolCatalog::new(input.nodepools, input.catalog));
    run_with_pairs(input, autoscaler, pairs)
}

/// [`run`], also returning the final cluster state (for tests and debugging).
pub fn run_debug(input: SimInput, autoscaler: &mut dyn Autoscaler) -> (SimResult, Cluster) {
    let pairs = Arc::new(PoolCatalog::new(input.nodepools, input.catalog));
    run_inner(input, autoscaler, pairs)
}

/// [`run`] with pairs prepared once for the pools and catalog (several replays share
/// them).
pub fn run_with_pairs(
    input: SimInput,
    autoscaler: &mut dyn Autoscaler,
    pairs: Arc<PoolCatalog>,
) -> SimResult {
    run_inner(input, autoscaler, pairs).0
}

fn run_inner(
    input: SimInput,
    autoscaler: &mut dyn Autoscaler,
    pairs: Arc<PoolCatalog>,
) -> (SimResult, Cluster) {
    let s = input.settings;
    let mut sim = Sim {
        input,
        pairs,
        cluster: Cluster::with_budgets(input.pdbs),
        cloud: Cloud::new(s.cloud.clone(), s.seed),
        queue: Queue::default(),
        now: Millis(0),
        summary: Summary {
            strategy: autoscaler.name().into(),
            seed: s.seed,
            ..Summary::default()
        },
        series: Vec::new(),
        cost: Money::ZERO,
        cost_spot: Money::ZERO,
        node_ms: 0,
        used_cpu: 0,
        alloc_cpu: 0,
        used_mem: 0,
        alloc_mem: 0,
        last_t: Millis(0),
        lb_prev: Millis(0),
        lb_total: 0.0,
        savings_usd: 0.0,
        capacity_changed: false,
        new_pods: Vec::new(),
        interrupted: 0,
        replacing: Vec::new(),
        repack_gaps: Vec::new(),
        tick: autoscaler.interval().filter(|i| i.0 > 0),
        next_tick: Some(Millis(0)),
        last_tick: None,
    };
    sim.queue.push(Millis(0), Phase::Autoscaler, Ev::Tick);
    sim.queue.push(Millis(0), Phase::Sample, Ev::Sample);
    if s.lb_samples > 0 {
        sim.queue.push(sim.lb_step(), Phase::Sample, Ev::Bound);
    }
    let times: Vec<Millis> = input.trace.iter().map(|e| e.at).collect();
    let mut cursor = 0usize;
    while let Some(next) = sim.queue.pop_merged(&times, &mut cursor) {
        let at = match &next {
            Next::Event(t, _) | Next::Trace(t, _) => *t,
        };
        if at > s.horizon {
            break;
        }
        if at > sim.now {
            // The instant is over: let the scheduler bind what it can.
            sim.schedule();
            sim.advance(at);
        }
        match next {
            Next::Trace(_, i) => {
                sim.summary.events += 1;
                sim.trace_event(&input.trace[i]);
                sim.poke();
            }
            Next::Event(_, Ev::Tick) if sim.next_tick != Some(sim.now) => {}
            Next::Event(_, e) => {
                sim.summary.events += 1;
                sim.event(e, autoscaler);
                if !matches!(e, Ev::Tick | Ev::Sample | Ev::Bound) {
                    sim.poke();
                }
            }
        }
    }
    sim.schedule();
    sim.advance(s.horizon);
    sim.finish()
}

impl Sim<'_> {
    /// Something changed: tick at the first tick time from now on (after now if this
    /// instant's tick has run), unless one comes sooner.
    fn poke(&mut self) {
        let Some(i) = self.tick else {
            return;
        };
        let mut at = first_tick(Millis(0), i, self.now);
        if self.last_tick == Some(at) {
            at += i;
        }
        if self.next_tick.is_none_or(|n| n > at) {
            self.next_tick = Some(at);
            self.queue.push(at, Phase::Autoscaler, Ev::Tick);
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            now: self.now,
            cluster: &self.cluster,
            pools: self.input.nodepools,
            catalog: self.input.catalog,
            pairs: &self.pairs,
            trace: self.input.trace,
            cloud: &self.cloud,
            spot_to_spot: self.input.settings.spot_to_spot_consolidation,
            pending_value: self.input.settings.pending_value,
        }
    }

    fn lb_step(&self) -> Millis {
        let s = self.input.settings;
        Millis((s.horizon.0 / s.lb_samples.max(1) as u64).max(1))
    }

    fn advance(&mut self, to: Millis) {
        let dt = to.0.saturating_sub(self.last_t.0) as u128;
        if dt > 0 {
            let (mut uc, mut ac, mut um, mut am) = (0u128, 0u128, 0u128, 0u128);
            for &i in &self.cluster.alive {
                let n = &self.cluster.nodes[i];
                if n.life == NodeLife::Ready {
                    uc += n.requested.cpu.0 as u128;
                    ac += n.node.allocatable.cpu.0 as u128;
                    um += n.requested.memory.0 as u128;
                    am += n.node.allocatable.memory.0 as u128;
                }
            }
            self.used_cpu += uc * dt;
            self.alloc_cpu += ac * dt;
            self.used_mem += um * dt;
            self.alloc_mem += am * dt;
        }
        self.last_t = to;
        self.now = to;
    }

    fn ctx_actions(&mut self, autoscaler: &mut dyn Autoscaler) {
        let actions = autoscaler.reconcile(&self.ctx());
        let cache = autoscaler.uses_unavailable_cache();
        for a in actions {
            match a {
                Action::Launch(req) => {
                    if let Some(n) = self.launch(&req, cache) {
                        if req.warm {
                            self.cluster.nodes[n].held = true;
                            self.cluster.nodes[n].warm = true;
                        }
                        self.launch_spares(n, &req);
                    }
                }
                Action::Remove { node, reason } => {
                    if self.cluster.nodes[node].life < NodeLife::Draining {
                        self.disrupted(&[node], &[], reason);
                        self.remove(node);
                    }
                }
                Action::Replace {
                    nodes,
                    launches,
                    reason,
                } => self.replace(nodes, launches, reason, cache),
                Action::Nominate { pod, node } => {
                    let c = &mut self.cluster;
                    if c.pending.contains(&pod) && c.nodes[node].live() {
                        let from = c.pods[pod].nominated;
                        c.unnominate(pod);
                        // A node still booting whose pods were all nominated elsewhere
                        // (a hedge's spare took them) becomes a held spare itself.
                        if let Some(m) = from.filter(|&m| m != node) {
                            let ms = &mut c.nodes[m];
                            if ms.idle_booting() {
                                ms.spare = true;
                                ms.held = true;
                            }
                        }
                        c.pods[pod].nominated = Some(node);
                        c.nodes[node].nominated.push(pod);
                        c.nodes[node].spare = false;
                        c.nodes[node].held = false;
                        c.nodes[node].warm = false;
                        if c.nodes[node].life == NodeLife::Ready {
                            // Room on a ready node: as when a node becomes ready, the
                            // constrained pods get a pass at once.
                            c.node_ready = true;
                            self.new_pods.push(pod);
                        }
                    }
                }
                Action::Unschedulable { pod, reason } => {
                    let ps = &mut self.cluster.pods[pod];
                    ps.reason = Some(reason);
                    ps.reason_at = self.now;
                }
            }
        }
    }

    fn event(&mut self, e: Ev, autoscaler: &mut dyn Autoscaler) {
        match e {
            Ev::Tick => {
                // Let the scheduler act on this instant first.
                self.schedule();
                self.ctx_actions(autoscaler);
                // And on the pass's nominations before the autoscaler says when it wakes:
                // a pod its nominated node cannot take waits again, which must wake it.
                self.schedule();
                self.last_tick = Some(self.now);
                self.next_tick = None;
                // The next tick: the first at or after the autoscaler's wake (at the
                // earliest the next one); a change ticks sooner (see `poke`).
                if let Some(i) = self.tick {
                    if let Some(w) = autoscaler.wake(&self.ctx()) {
                        let at = first_tick(Millis(0), i, w).max(self.now + i);
                        self.next_tick = Some(at);
                        self.queue.push(at, Phase::Autoscaler, Ev::Tick);
                    }
                }
            }
            Ev::Registered(n) => {
                if self.cluster.nodes[n].life == NodeLife::Launching {
                    self.cluster.nodes[n].life = NodeLife::Registered;
                }
            }
            Ev::Ready(n) => {
                let ns = &mut self.cluster.nodes[n];
                if ns.life < NodeLife::Ready {
                    ns.life = NodeLife::Ready;
                    ns.ready_at = Some(self.now);
                    let keep = ns.node.taints.len() - ns.startup_taints;
                    ns.node.taints.truncate(keep);
                    ns.startup_taints = 0;
                    ns.node.state = NodeState::Ready;
                    ns.last_change = self.now;
                    if ns.pods.is_empty() {
                        ns.empty_since = Some(self.now);
                    }
                    self.capacity_changed = true;
                    self.cluster.node_ready = true;
                    self.replacement_ready();
                }
            }
            Ev::Notice(n) => {
                if self.cluster.nodes[n].life == NodeLife::Terminated {
                    return;
                }
                self.summary.spot_interruptions += 1;
                self.cluster.nodes[n].noticed = true;
                if autoscaler.drains_on_notice() {
                    self.drain(n, true);
                }
                let notice = self.input.settings.cloud.notice;
                self.queue
                    .push(self.now + notice, Phase::Cloud, Ev::Terminate(n));
            }
            Ev::Terminate(n) => self.terminate(n),
            Ev::Drain(n) => self.continue_drain(n),
            Ev::Running(p, epoch) => {
                let ps = &mut self.cluster.pods[p];
                if ps.epoch == epoch && ps.phase == PodPhase::Bound {
                    ps.phase = PodPhase::Running;
                    ps.running_since = Some(self.now);
                    ps.first_running.get_or_insert(self.now);
                    if let Some(r) = ps.run_for {
                        self.queue
                            .push(self.now + r, Phase::Pods, Ev::Finish(p, epoch));
                    }
                }
            }
            Ev::Finish(p, epoch) => {
                let ps = &self.cluster.pods[p];
                if ps.epoch == epoch && ps.phase == PodPhase::Running {
                    self.cluster.unbind(p, self.now);
                    self.cluster.pods[p].phase = PodPhase::Completed;
                    self.cluster.finished(p);
                    self.summary.pods_completed += 1;
                    self.capacity_changed = true;
                }
            }
            Ev::Sample => {
                self.sample();
                let s = self.input.settings;
                let step = Millis((s.horizon.0 / s.series_points.max(1) as u64).max(1000));
                self.queue.push(self.now + step, Phase::Sample, Ev::Sample);
            }
            Ev::Bound => {
                self.bound_interval();
                self.queue
                    .push(self.now + self.lb_step(), Phase::Sample, Ev::Bound);
            }
        }
    }

    fn trace_event(&mut self, e: &TraceEvent) {
        match &e.kind {
            TraceKind::Arrive { pod, run_for } => {
                let mut pod = pod.clone();
                if pod.created != e.at {
                    Arc::make_mut(&mut pod).created = e.at;
                }
                if let Some(&old) = self.cluster.by_id.get(&pod.id) {
                    // A name reused while the old pod lives: the old one is replaced.
                    if matches!(
                        self.cluster.pods[old].phase,
                        PodPhase::Pending | PodPhase::Bound | PodPhase::Running
                    ) {
                        self.delete(old);
                    }
                }
                let i = self.cluster.arrive(pod, *run_for, e.at);
                self.summary.pods_total += 1;
                self.new_pods.push(i);
            }
            TraceKind::Delete(id) => {
                if let Some(&p) = self.cluster.by_id.get(id) {
                    self.delete(p);
                }
            }
        }
    }

    fn delete(&mut self, p: usize) {
        let phase = self.cluster.pods[p].phase;
        if matches!(phase, PodPhase::Completed | PodPhase::Deleted) {
            return;
        }
        self.cluster.unbind(p, self.now);
        self.cluster.unnominate(p);
        self.cluster.pending.remove(&p);
        self.cluster.pods[p].phase = PodPhase::Deleted;
        self.cluster.pods[p].deleted_at = Some(self.now);
        self.cluster.finished(p);
        self.summary.pods_deleted += 1;
        self.capacity_changed = true;
    }

    fn schedule(&mut self) {
        let only = if self.capacity_changed {
            None
        } else if self.new_pods.is_empty() {
            return;
        } else {
            Some(std::mem::take(&mut self.new_pods))
        };
        self.capacity_changed = false;
        self.new_pods.clear();
        let bound = self.cluster.schedule(
            self.now,
            only.as_deref(),
            self.input.nodepools,
            self.input.catalog,
            &self.pairs,
        );
        let start = self.input.settings.cloud.pod_start;
        for p in bound {
            let epoch = self.cluster.pods[p].epoch;
            self.queue
                .push(self.now + start, Phase::Pods, Ev::Running(p, epoch));
        }
    }

    /// Cordon `olds`, launch their replacements; they drain once all are ready. If a
    /// replacement cannot launch, the nodes stay (the launched ones will be empty and
    /// consolidated).
    fn replace(
        &mut self,
        olds: Vec<usize>,
        launches: Vec<LaunchReq>,
        reason: &'static str,
        cache: bool,
    ) {
        if olds.iter().any(|&n| {
            self.cluster.nodes[n].life != NodeLife::Ready || self.cluster.nodes[n].cordoned
        }) {
            return;
        }
        let mut news = Vec::new();
        for req in launches {
            match self.launch(&req, cache) {
                Some(n) => news.push(n),
                None => {
                    self.summary.replacements_failed += 1;
                    return;
                }
            }
        }
        for &n in &olds {
            self.cluster.nodes[n].cordoned = true;
            self.cluster.clear_nominations(n);
        }
        self.capacity_changed = true;
        self.replacing.push((olds, news, reason));
    }

    /// Replacements that are all ready: drain the nodes they replace. Replacements that
    /// died before they were ready: uncordon those nodes.
    fn replacement_ready(&mut self) {
        let mut k = 0;
        while k < self.replacing.len() {
            let (olds, news, _) = &self.replacing[k];
            let lives: Vec<NodeLife> = news.iter().map(|&n| self.cluster.nodes[n].life).collect();
            if lives.iter().all(|l| *l == NodeLife::Ready) {
                let (olds, news, reason) = self.replacing.swap_remove(k);
                self.disrupted(&olds, &news, reason);
                for n in olds {
                    self.cluster.nodes[n].cordoned = false;
                    self.remove(n);
                }
            } else if lives.iter().any(|l| *l >= NodeLife::Draining) {
                for &n in olds {
                    self.cluster.nodes[n].cordoned = false;
                }
                self.summary.replacements_failed += 1;
                self.replacing.swap_remove(k);
                self.capacity_changed = true;
            } else {
                k += 1;
            }
        }
    }

    /// Count a voluntary disruption of `olds` (replaced by `news`) and its savings.
    fn disrupted(&mut self, olds: &[usize], news: &[usize], reason: &'static str) {
        *self
            .summary
            .disruptions
            .entry(reason.to_string())
            .or_default() += olds.len() as u64;
        if matches!(reason, "empty" | "underutilized") {
            let price = |n: &usize| self.cluster.nodes[*n].offering.price;
            let saved: Money =
                olds.iter().map(price).sum::<Money>() - news.iter().map(price).sum::<Money>();
            let left = self.input.settings.horizon.saturating_sub(self.now);
            self.savings_usd += saved.usd() * left.0 as f64 / 3_600_000.0;
        }
    }

    /// Launch `req.spares` held spares of node `n`'s offering, in `n`'s request: no
    /// capacity draw or cache check of their own (`n` just launched there), boot times
    /// and interruptions from the spares' own draws (`Launched::Spare`).
    fn launch_spares(&mut self, n: usize, req: &LaunchReq) {
        if req.spares == 0 {
            return;
        }
        let ns = &self.cluster.nodes[n];
        let offering = (
            ns.node.instance_type.clone(),
            ns.offering.capacity_type,
            ns.node.zone.clone(),
        );
        let spare = LaunchReq {
            pods: vec![],
            spares: 0,
            ..req.clone()
        };
        for j in 0..req.spares {
            let who = Launched::Spare(j);
            let Some(s) = self.launch_one(&spare, offering.clone(), false, who) else {
                return;
            };
            self.cluster.nodes[s].spare = true;
            self.cluster.nodes[s].held = true;
        }
    }

    fn launch(&mut self, req: &LaunchReq, cache: bool) -> Option<usize> {
        if req.fleet {
            return self.launch_fleet(req, cache);
        }
        // The first offering tried is always the chosen one: try it before building the
        // rest of the list (the same offerings in the same order, so the same draws).
        let first = (
            req.instance_type.clone(),
            req.capacity_type,
            req.zone.clone(),
        );
        if let Some(n) = self.launch_one(req, first, cache, Launched::Planned) {
            return Some(n);
        }
        let pool = &self.input.nodepools[req.pool];
        let tries = launch_tries(req, pool, self.input.catalog, &self.cluster.pods);
        for t in tries.into_iter().skip(1) {
            if let Some(n) = self.launch_one(req, t, cache, Launched::Planned) {
                return Some(n);
            }
        }
        // Nothing launched: the pods stay pending for the next round.
        None
    }

    /// Karpenter's CreateFleet: one offering picked by the fleet's allocation strategy
    /// among the request's overrides not cached unavailable, tried once. On an
    /// insufficient-capacity error the NodeClaim fails (Karpenter's
    /// `InsufficientCapacityError`): the offering is cached unavailable and the pods go
    /// back to the next batch.
    fn launch_fleet(&mut self, req: &LaunchReq, cache: bool) -> Option<usize> {
        let pool = &self.input.nodepools[req.pool];
        let overrides = fleet_overrides(req, pool, self.input.catalog, &self.cluster.pods);
        let open: Vec<(&str, &nodepack_model::Offering)> = overrides
            .into_iter()
            .filter(|(t, o)| !(cache && self.cloud.cached_unavailable(t, o, self.now)))
            .collect();
        let k = nodepack_solver::internals::fleet_choice(&open)?;
        let pick = (
            open[k].0.to_string(),
            open[k].1.capacity_type,
            open[k].1.zone.clone(),
        );
        self.launch_one(req, pick, cache, Launched::Planned)
    }

    /// Try one offering of a launch request: `None` when the pool does not allow the
    /// type, the offering is unavailable or cached as such, or the cloud has no capacity.
    fn launch_one(
        &mut self,
        req: &LaunchReq,
        (ty, ct, zone): (String, CapacityType, String),
        cache: bool,
        who: Launched,
    ) -> Option<usize> {
        let it = self.input.catalog.get(&ty)?;
        // Only types the pool allows.
        let info = &self.pairs.pools[req.pool];
        let pt = (info.start..info.end).find(|&i| self.pairs.pool_types[i].name == ty)?;
        let o = it
            .offerings
            .iter()
            .find(|o| o.available && o.zone == zone && o.capacity_type == ct)?;
        // A node's spares are part of its request: they launch where it did.
        if who == Launched::Planned {
            if cache && self.cloud.cached_unavailable(&ty, o, self.now) {
                return None;
            }
            if !self.cloud.try_launch(&ty, o, self.now, cache) {
                self.summary.launch_failures += 1;
                return None;
            }
        }
        let o = o.clone();
        let n = self.create_node(req.pool, pt, it, o, who);
        for &p in &req.pods {
            let c = &mut self.cluster;
            if c.pending.contains(&p) {
                c.unnominate(p);
                c.pods[p].nominated = Some(n);
                c.nodes[n].nominated.push(p);
            }
        }
        Some(n)
    }

    fn create_node(
        &mut self,
        pool_i: usize,
        pt: usize,
        it: &nodepack_model::InstanceType,
        o: nodepack_model::Offering,
        who: Launched,
    ) -> usize {
        let pool = &self.input.nodepools[pool_i];
        let n = self.cluster.nodes.len();
        let name = format!("{}-{n}", pool.name);
        // The solver's labels for this (pool, type) pair: what the autoscaler planned is
        // what the node gets.
        let l =
            nodepack_solver::internals::node_labels(&self.pairs.pool_types[pt], pool, &o, &name);
        let typed = if pool.kubelet == Default::default() {
            it.allocatable()
        } else {
            it.with_kubelet(&pool.kubelet).allocatable()
        };
        let allocatable = typed
            .checked_sub(&pool.daemonset_overhead)
            .unwrap_or_default();
        let mut taints = pool.taints.clone();
        taints.extend(pool.startup_taints.iter().cloned());
        let times = self.cloud.launch_times(&o, self.now, who);
        self.cluster.add_node(SimNode {
            node: Node::new(
                &name,
                &it.name,
                &o.zone,
                o.capacity_type,
                o.price,
                allocatable,
            )
            .in_pool(&pool.name)
            .with_labels(l)
            .with_taints(taints)
            .with_state(NodeState::Launching)
            .created_at(self.now),
            pool: pool_i,
            capacity: it.capacity.clone(),
            offering: o,
            launched: self.now,
            ended: None,
            pods: vec![],
            requested: Default::default(),
            nominated: vec![],
            empty_since: None,
            ready_at: None,
            life: NodeLife::Launching,
            noticed: false,
            remove_when_drained: false,
            cordoned: false,
            last_change: self.now,
            spare: false,
            held: false,
            warm: false,
            startup_taints: pool.startup_taints.len(),
        });
        self.summary.nodes_launched += 1;
        self.queue
            .push(times.registered, Phase::Cloud, Ev::Registered(n));
        self.queue.push(times.ready, Phase::Cloud, Ev::Ready(n));
        if let Some(t) = times.notice.filter(|t| *t <= self.input.settings.horizon) {
            self.queue
                .push(t.max(times.ready), Phase::Cloud, Ev::Notice(n));
        }
        n
    }

    /// Cordon the node and evict its pods as their disruption budgets allow (the
    /// eviction API); nominations go back to the queue. Held pods are retried every
    /// [`EVICTION_RETRY`].
    fn drain(&mut self, n: usize, interruption: bool) {
        if self.cluster.nodes[n].life >= NodeLife::Draining {
            return;
        }
        self.cluster.nodes[n].life = NodeLife::Draining;
        self.cluster.clear_nominations(n);
        self.cluster.prune_budgets();
        self.evict_allowed(n, interruption);
    }

    /// Evict the node's pods that their budgets let go; schedule a retry for the rest.
    fn evict_allowed(&mut self, n: usize, interruption: bool) {
        for p in self.cluster.nodes[n].pods.clone() {
            if self.cluster.eviction_allowed(p) {
                self.evict_one(p, interruption);
            } else {
                self.summary.evictions_blocked += 1;
            }
        }
        self.capacity_changed = true;
        if !self.cluster.nodes[n].pods.is_empty() {
            self.queue
                .push(self.now + EVICTION_RETRY, Phase::Cloud, Ev::Drain(n));
        }
    }

    /// A retry of a drain: evict what may go now; a node being removed terminates once
    /// empty.
    fn continue_drain(&mut self, n: usize) {
        if self.cluster.nodes[n].life != NodeLife::Draining {
            return;
        }
        let noticed = self.cluster.nodes[n].noticed;
        self.evict_allowed(n, noticed);
        let ns = &self.cluster.nodes[n];
        if ns.pods.is_empty() && ns.remove_when_drained {
            self.terminate(n);
        }
    }

    fn evict_one(&mut self, p: usize, interruption: bool) {
        self.cluster.evict(p, self.now);
        self.summary.pods_evicted += 1;
        if interruption {
            self.interrupted += 1;
        } else {
            self.summary.evictions_disruption += 1;
        }
        self.new_pods.push(p);
    }

    /// Evict every pod of the node and drop its nominations.
    fn evict_all(&mut self, n: usize, interruption: bool) {
        self.cluster.clear_nominations(n);
        for p in self.cluster.nodes[n].pods.clone() {
            self.evict_one(p, interruption);
        }
        self.capacity_changed = true;
    }

    /// Voluntary removal: drain, then terminate once every pod has gone.
    fn remove(&mut self, n: usize) {
        if self.cluster.nodes[n].life >= NodeLife::Draining {
            return;
        }
        self.cluster.nodes[n].remove_when_drained = true;
        self.drain(n, false);
        if self.cluster.nodes[n].pods.is_empty() {
            self.queue.push(self.now, Phase::Cloud, Ev::Terminate(n));
        }
    }

    fn terminate(&mut self, n: usize) {
        if self.cluster.nodes[n].life == NodeLife::Terminated {
            return;
        }
        let noticed = self.cluster.nodes[n].noticed;
        // Pods still on it die with it.
        self.evict_all(n, noticed);
        let ns = &mut self.cluster.nodes[n];
        ns.life = NodeLife::Terminated;
        ns.ended = Some(self.now);
        // Nothing reads a terminated node's labels or pod lists again: free them (each
        // node has its own label map, hostname included; a hedged replay terminates
        // three nodes per launch).
        ns.node.labels = Default::default();
        ns.pods = Vec::new();
        ns.nominated = Vec::new();
        self.cluster.terminated(n);
        self.summary.nodes_terminated += 1;
        self.bill(n, self.now);
        if !self.replacing.is_empty() {
            self.replacement_ready();
        }
    }

    fn bill(&mut self, n: usize, end: Millis) {
        let ns = &self.cluster.nodes[n];
        let c = self
            .cloud
            .bill(&ns.node.instance_type, &ns.offering, ns.launched, end);
        self.cost += c;
        if ns.offering.capacity_type == CapacityType::Spot {
            self.cost_spot += c;
        }
        self.node_ms += end.0.saturating_sub(ns.launched.0);
    }

    fn sample(&mut self) {
        let c = &self.cluster;
        let hour = self.now.0 / 3_600_000;
        let mut cost_per_hour = 0.0;
        let mut s = Sample {
            t: self.now,
            pending: c.pending.len() as u32,
            ..Sample::default()
        };
        let (mut uc, mut ac, mut um, mut am) = (0u64, 0u64, 0u64, 0u64);
        let mut so_far = self.cost;
        for n in c.alive.iter().map(|&i| &c.nodes[i]) {
            cost_per_hour += n.offering.price.usd()
                * self
                    .cloud
                    .price_factor(&n.node.instance_type, &n.offering, hour);
            so_far += self
                .cloud
                .bill(&n.node.instance_type, &n.offering, n.launched, self.now);
            match n.offering.capacity_type {
                _ if n.held => s.nodes_held += 1,
                CapacityType::Spot => s.nodes_spot += 1,
                _ => s.nodes_on_demand += 1,
            }
            if n.life == NodeLife::Ready {
                uc += n.requested.cpu.0;
                ac += n.node.allocatable.cpu.0;
                um += n.requested.memory.0;
                am += n.node.allocatable.memory.0;
            }
        }
        s.cost_so_far = so_far;
        s.cost_per_hour = Money::from_usd(cost_per_hour);
        s.running = c
            .pods
            .iter()
            .filter(|p| matches!(p.phase, PodPhase::Bound | PodPhase::Running))
            .count() as u32;
        s.cpu_utilization = if ac == 0 { 0.0 } else { uc as f64 / ac as f64 };
        s.memory_utilization = if am == 0 { 0.0 } else { um as f64 / am as f64 };
        self.series.push(s);
    }

    /// Lower bound over the interval since the last one: the pods running throughout it
    /// had to be held by nodes costing at least their fractional LP for its length.
    fn bound_interval(&mut self) {
        let _ = self.repack_sample();
        let from = self.lb_prev;
        self.lb_prev = self.now;
        let pods: Vec<nodepack_model::Pod> = self
            .cluster
            .pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running && p.running_since.is_some_and(|t| t <= from))
            .map(|p| (*p.pod).clone())
            .collect();
        if pods.is_empty() || self.now <= from {
            return;
        }
        let problem = Problem::new(&pods, &[], self.input.nodepools, self.input.catalog);
        let prep = Prepared::with_pairs(self.pairs.clone(), problem);
        let all: Vec<usize> = (0..pods.len()).collect();
        // Running pods all have a node, so the LP has a solution; if the solver still
        // fails, the interval adds nothing, which keeps the total a valid (weaker) bound.
        let lb = nodepack_solver::internals::bound_for_prepared(&prep, &all)
            .unwrap_or(nodepack_model::Money::ZERO);
        let hours = (self.now.0 - from.0) as f64 / 3_600_000.0;
        // Spot prices may dip by the volatility; the bound must hold at the lowest.
        let factor = 1.0 - self.input.settings.cloud.spot_price_volatility;
        self.lb_total += lb.usd() * hours * factor;
    }

    /// How much the live fleet's price exceeds packing the bound pods from scratch.
    fn repack_sample(&mut self) -> Option<f64> {
        let pods: Vec<nodepack_model::Pod> = self
            .cluster
            .pods
            .iter()
            .filter(|p| matches!(p.phase, PodPhase::Bound | PodPhase::Running))
            .map(|p| (*p.pod).clone())
            .collect();
        if pods.is_empty() {
            return None;
        }
        let repack = nodepack_solver::consolidate::scratch_cost(
            &pods,
            self.input.nodepools,
            self.input.catalog,
            &self.pairs,
            "nodepack",
        )?;
        let fleet: Money = self
            .cluster
            .nodes
            .iter()
            .filter(|n| n.life != NodeLife::Terminated)
            .map(|n| n.offering.price)
            .sum();
        if repack <= Money::ZERO {
            return None;
        }
        let gap = fleet.usd() / repack.usd() - 1.0;
        self.repack_gaps.push(gap);
        Some(gap)
    }

    fn finish(mut self) -> (SimResult, Cluster) {
        let horizon = self.input.settings.horizon;
        // Every replay in the tests checks the index of nodes not terminated.
        debug_assert!(
            self.cluster
                .alive
                .iter()
                .copied()
                .eq((0..self.cluster.nodes.len())
                    .filter(|&n| self.cluster.nodes[n].life != NodeLife::Terminated)),
            "Cluster::alive lists exactly the nodes not terminated"
        );
        for n in 0..self.cluster.nodes.len() {
            if self.cluster.nodes[n].life != NodeLife::Terminated {
                self.bill(n, horizon);
            }
        }
        let mut pending_ms = Vec::new();
        let mut running_ms = Vec::new();
        let s = &mut self.summary;
        for p in &self.cluster.pods {
            match p.first_bound {
                Some(b) => {
                    s.pods_scheduled += 1;
                    pending_ms.push(b.0.saturating_sub(p.arrived.0));
                }
                // A pod never bound waited until it was deleted or until the horizon:
                // its censored wait counts in the pending percentiles.
                None => {
                    let end = p.deleted_at.unwrap_or(horizon);
                    pending_ms.push(end.0.saturating_sub(p.arrived.0));
                    if p.phase == PodPhase::Deleted {
                        s.deleted_before_binding += 1;
                    }
                }
            }
            if let Some(r) = p.first_running {
                running_ms.push(r.0.saturating_sub(p.arrived.0));
            }
            match p.phase {
                PodPhase::Bound | PodPhase::Running => s.pods_running_at_end += 1,
                PodPhase::Pending if p.first_bound.is_none() => {
                    s.unschedulable.push(Unscheduled {
                        pod: p.pod.id.to_string(),
                        reason: p
                            .reason
                            .clone()
                            .unwrap_or_else(|| "still pending at the horizon".into()),
                    });
                }
                _ => {}
            }
        }
        s.pods_unschedulable = s.unschedulable.len() as u64;
        debug_assert_eq!(
            s.pods_total,
            s.pods_scheduled + s.pods_unschedulable + s.deleted_before_binding,
            "every pod is scheduled, unschedulable or deleted before binding"
        );
        s.pending = Percentiles::of(&mut pending_ms);
        let sorted_pending = pending_ms;
        s.running = Percentiles::of(&mut running_ms);
        s.cost = self.cost;
        s.cost_spot = self.cost_spot;
        s.cost_on_demand = self.cost - self.cost_spot;
        // Rounded down, so that rounding never lifts the bound above the cost.
        s.lower_bound = Money((self.lb_total * 1e6).floor() as i64);
        s.consolidation_savings = Money::from_usd(self.savings_usd);
        s.node_time = Millis(self.node_ms);
        s.interruption_restarts = self.interrupted;
        s.cpu_utilization = ratio(self.used_cpu, self.alloc_cpu);
        s.memory_utilization = ratio(self.used_mem, self.alloc_mem);
        s.sim_time = horizon;
        let hours = horizon.0 as f64 / 3_600_000.0;
        if hours > 0.0 {
            s.nodes_launched_per_hour = s.nodes_launched as f64 / hours;
        }
        let node_hours = self.node_ms as f64 / 3_600_000.0;
        if node_hours > 0.0 {
            s.evictions_per_node_hour = s.evictions_disruption as f64 / node_hours;
        }
        // The fleet at the horizon against packing its pods from scratch.
        if let Some(end) = self.repack_sample() {
            self.summary.repack_gap_end = end;
        }
        let s = &mut self.summary;
        if !self.repack_gaps.is_empty() {
            s.repack_gap = self.repack_gaps.iter().sum::<f64>() / self.repack_gaps.len() as f64;
        }
        (
            SimResult {
                summary: self.summary,
                series: self.series,
                pending_ms: sorted_pending,
            },
            self.cluster,
        )
    }
}

/// How long a drain waits before retrying evictions a disruption budget refused.
const EVICTION_RETRY: Millis = Millis(5_000);

fn ratio(a: u128, b: u128) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The zones a launch request may use: every zone the pool and all its pods allow when
/// its pods carry no topology rule, otherwise only the planned zone.
fn launch_zones<'c>(
    req: &'c LaunchReq,
    pool: &'c NodePool,
    pods: &'c [SimPod],
) -> impl Fn(&str) -> bool + 'c {
    let free = !req.pods.is_empty() && req.pods.iter().all(|&p| pods[p].plain);
    move |z: &str| {
        if !free {
            return z == req.zone;
        }
        pool.requirements.get(labels::ZONE).has(z)
            && req
                .pods
                .iter()
                .all(|&p| pods[p].terms.iter().any(|t| t.get(labels::ZONE).has(z)))
    }
}

/// A fleet request's overrides: every available offering of the request's capacity type
/// of its type and alternatives, in the zones it may use (type order, then catalog order).
fn fleet_overrides<'c>(
    req: &'c LaunchReq,
    pool: &'c NodePool,
    catalog: &'c Catalog,
    pods: &'c [SimPod],
) -> Vec<(&'c str, &'c nodepack_model::Offering)> {
    let zone_ok = launch_zones(req, pool, pods);
    std::iter::once(&req.instance_type)
        .chain(req.alternatives.iter())
        .filter_map(|t| catalog.get(t))
        .flat_map(|it| {
            it.offerings
                .iter()
                .filter(|o| o.available && o.capacity_type == req.capacity_type)
                .map(move |o| (it.name.as_str(), o))
        })
        .filter(|(_, o)| zone_ok(&o.zone))
        .collect()
}

/// The offerings a launch request tries, in order: (type, capacity type, zone).
fn launch_tries(
    req: &LaunchReq,
    pool: &NodePool,
    catalog: &Catalog,
    pods: &[SimPod],
) -> Vec<(String, CapacityType, String)> {
    let allowed_ct = |ct: CapacityType| {
        pool.requirements
            .get_ref(labels::CAPACITY_TYPE)
            .is_none_or(|v| v.has(ct.as_str()))
    };
    // The chosen type, its alternatives, then on-demand when spot has no capacity.
    let mut tries: Vec<(String, CapacityType, String)> = std::iter::once(&req.instance_type)
        .chain(req.alternatives.iter())
        .map(|t| (t.clone(), req.capacity_type, req.zone.clone()))
        .collect();
    // Pods with no topology rule that allow other zones may go there too, as a fleet
    // request over every zone would: after the chosen offering, every offering of
    // the chosen type and its alternatives in the zones all of them allow, cheapest
    // first (an insufficient-capacity error in one zone does not send the node to a
    // dearer type in the same zone).
    if !req.pods.is_empty() && req.pods.iter().all(|&p| pods[p].plain) {
        let zone_ok = launch_zones(req, pool, pods);
        let mut offers: Vec<(Money, usize, String, String)> = Vec::new();
        for (k, ty) in std::iter::once(&req.instance_type)
            .chain(req.alternatives.iter())
            .enumerate()
        {
            let Some(it) = catalog.get(ty) else {
                continue;
            };
            for o in &it.offerings {
                if o.capacity_type == req.capacity_type
                    && !(k == 0 && o.zone == req.zone)
                    && zone_ok(&o.zone)
                {
                    offers.push((o.price, k, ty.clone(), o.zone.clone()));
                }
            }
        }
        offers.sort();
        tries.truncate(1);
        tries.extend(
            offers
                .into_iter()
                .map(|(_, _, ty, z)| (ty, req.capacity_type, z)),
        );
    }
    if req.capacity_type == CapacityType::Spot
        && req.on_demand_fallback
        && allowed_ct(CapacityType::OnDemand)
    {
        tries.push((
            req.instance_type.clone(),
            CapacityType::OnDemand,
            req.zone.clone(),
        ));
    }
    tries
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_testkit as tk;

    /// Regression: a spot launch that hit insufficient capacity fell back to the
    /// alternatives in the same zone (r6i.16xlarge at $1.12/h instead of r7g.16xlarge
    /// at $0.65/h one zone over). Pods free to go to any zone now try the same type in
    /// the other zones, cheapest first, before dearer types; pods bound to a zone (here
    /// by a zone spread) keep the zone.
    #[test]
    fn launches_of_zone_free_pods_try_other_zones_before_dearer_types() {
        let catalog = tk::catalog();
        let pool = NodePool::new("default");
        let mut cluster = Cluster::default();
        let free = cluster.arrive(Arc::new(tk::pod("free", 500, 512)), None, Millis(0));
        let spread = tk::spread(tk::pod("spread", 500, 512), labels::ZONE, 1);
        let bound = cluster.arrive(Arc::new(spread), None, Millis(0));
        let req = |pods: Vec<usize>| LaunchReq {
            pool: 0,
            instance_type: "m6i.2x".into(),
            zone: tk::ZONES[1].into(),
            capacity_type: CapacityType::Spot,
            alternatives: vec!["m6i.4x".into()],
            pods,
            on_demand_fallback: true,
            spares: 0,
            warm: false,
            fleet: false,
        };
        let tries = launch_tries(&req(vec![free]), &pool, &catalog, &cluster.pods);
        let first: Vec<(&str, &str)> = tries
            .iter()
            .take(3)
            .map(|(t, _, z)| (t.as_str(), z.as_str()))
            .collect();
        // Spot prices rise with the zone index in the test catalog.
        assert_eq!(
            first,
            vec![
                ("m6i.2x", tk::ZONES[1]),
                ("m6i.2x", tk::ZONES[0]),
                ("m6i.2x", tk::ZONES[2])
            ]
        );
        assert_eq!(
            tries.last().map(|(t, ct, z)| (t.as_str(), *ct, z.as_str())),
            Some(("m6i.2x", CapacityType::OnDemand, tk::ZONES[1]))
        );
        let tries = launch_tries(&req(vec![free, bound]), &pool, &catalog, &cluster.pods);
        assert!(tries
            .iter()
            .all(|(_, ct, z)| z == tk::ZONES[1] || *ct == CapacityType::OnDemand));
        assert_eq!(tries[1].0, "m6i.4x");
    }
}
