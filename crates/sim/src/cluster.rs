//! Cluster state: pods and nodes with their lifecycles, and the kube-scheduler model that
//! binds pending pods to ready nodes with room under the solver's rules.

use nodepack_model::taints::first_untolerated;
use nodepack_model::{
    Catalog, LabelMap, Millis, Node, NodePool, NodeState, Offering, Pod, PodDisruptionBudget,
    PodId, Requirements, Resources,
};
use nodepack_solver::internals::{PoolCatalog, Prepared};
use nodepack_solver::{ExistingNode, Problem};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Waiting for a node.
    Pending,
    /// Bound to a node, starting.
    Bound,
    /// Running.
    Running,
    /// Ran to completion.
    Completed,
    /// Deleted by the workload.
    Deleted,
}

/// A pod and its history.
#[derive(Clone, Debug)]
pub struct SimPod {
    /// The pod (shared with the trace).
    pub pod: Arc<Pod>,
    /// Its node requirement alternatives (computed once, shared by pods with the same
    /// node selector and affinity).
    pub terms: Arc<[Requirements]>,
    /// No topology spread, pod (anti-)affinity or preferences: the fast path may bind it.
    pub plain: bool,
    /// Phase.
    pub phase: PodPhase,
    /// The node it is bound to.
    pub node: Option<usize>,
    /// The node an autoscaler launched (or chose) for it.
    pub nominated: Option<usize>,
    /// Creation.
    pub arrived: Millis,
    /// First binding.
    pub first_bound: Option<Millis>,
    /// First running.
    pub first_running: Option<Millis>,
    /// Running without interruption since.
    pub running_since: Option<Millis>,
    /// Running time to completion (`None`: until deleted).
    pub run_for: Option<Millis>,
    /// Incremented on every eviction, so stale start and finish events are ignored.
    pub epoch: u32,
    /// Evictions suffered.
    pub restarts: u32,
    /// The last reason an autoscaler gave for not scheduling it.
    pub reason: Option<String>,
    /// When that reason was given.
    pub reason_at: Millis,
    /// When the trace deleted it, if it did.
    pub deleted_at: Option<Millis>,
    /// Indices of the disruption budgets covering it.
    pub budgets: Vec<u32>,
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeLife {
    /// Requested, not registered.
    Launching,
    /// Registered, not ready.
    Registered,
    /// Ready.
    Ready,
    /// Cordoned and drained, waiting for termination.
    Draining,
    /// Gone.
    Terminated,
}

/// A node and its history.
#[derive(Clone, Debug)]
pub struct SimNode {
    /// The node (labels, taints, allocatable minus daemonset overhead; the labels are
    /// dropped once it is terminated, to save memory).
    pub node: Node,
    /// Pool index.
    pub pool: usize,
    /// Its instance type's capacity (what pool limits count).
    pub capacity: Resources,
    /// The offering it runs on.
    pub offering: Offering,
    /// Launch request time (billing starts).
    pub launched: Millis,
    /// End of billing.
    pub ended: Option<Millis>,
    /// Bound pods.
    pub pods: Vec<usize>,
    /// Sum of bound pods' requests.
    pub requested: Resources,
    /// Pods nominated to it.
    pub nominated: Vec<usize>,
    /// Ready and without pods since.
    pub empty_since: Option<Millis>,
    /// Ready since.
    pub ready_at: Option<Millis>,
    /// Lifecycle.
    pub life: NodeLife,
    /// An interruption notice arrived.
    pub noticed: bool,
    /// Startup taints still on it.
    pub startup_taints: usize,
    /// Removal requested: terminate once drained (pods held by disruption budgets keep
    /// it draining until they may go).
    pub remove_when_drained: bool,
    /// Cordoned: no new pods (a consolidation replacement is on its way).
    pub cordoned: bool,
    /// When a pod last arrived on or left it (or it became ready).
    pub last_change: Millis,
    /// Launched or left with nothing to do: a hedge's spare (see `autoscaler::hedge`)
    /// or a node still booting whose nominated pods all went elsewhere; cleared when
    /// pods are nominated to it or bound on it.
    pub spare: bool,
    /// Held out of scheduling: a hedge's spare that neither the scheduler, the
    /// provisioner nor consolidation sees until the autoscaler nominates pods to it
    /// (see `autoscaler::hedge`); cleared then.
    pub held: bool,
    /// Held as headroom's warm node: the provisioner sees it (see
    /// `autoscaler::headroom`); cleared with `held`.
    pub warm: bool,
}

impl SimNode {
    /// Not terminated and not draining.
    pub fn live(&self) -> bool {
        self.life < NodeLife::Draining
    }

    /// Still booting with no pod bound or nominated to it: nothing to do (its pods went
    /// elsewhere).
    pub fn idle_booting(&self) -> bool {
        self.life < NodeLife::Ready && self.nominated.is_empty() && self.pods.is_empty()
    }
}

/// Pods and nodes.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Every pod ever created, by arrival.
    pub pods: Vec<SimPod>,
    /// Every node ever launched (add with [`Cluster::add_node`]).
    pub nodes: Vec<SimNode>,
    /// Indices of the nodes not terminated, ascending (kept by [`Cluster::add_node`] and
    /// [`Cluster::terminated`]): the loops over the fleet skip the thousands of
    /// terminated nodes a long replay accumulates.
    pub alive: Vec<usize>,
    /// Pending pods, in arrival order.
    pub pending: BTreeSet<usize>,
    /// Pod by id, while it is not finished.
    pub by_id: HashMap<PodId, usize>,
    /// Bound pods with required pod anti-affinity (they constrain others).
    pub anti: BTreeSet<usize>,
    /// A node became ready since constrained pods were last tried.
    pub node_ready: bool,
    /// Constrained pods that did not fit are tried again at this time at the latest
    /// (kube-scheduler's backoff), or when a node becomes ready.
    pub constrained_retry: Millis,
    /// Pod disruption budgets and the pods each covers.
    pub budgets: Vec<Budget>,
    /// Node requirement alternatives by (node selector, required node affinity).
    terms_cache: HashMap<(LabelMap, Vec<Requirements>), Arc<[Requirements]>>,
}

/// A disruption budget and the pods it has covered (finished ones are pruned lazily).
#[derive(Clone, Debug)]
pub struct Budget {
    /// The budget.
    pub pdb: PodDisruptionBudget,
    /// Pods it covers, by index.
    pub pods: Vec<usize>,
}

/// Backoff of constrained pods that did not fit.
const CONSTRAINED_BACKOFF: Millis = Millis(5_000);

/// Node requirement alternatives of a pod.
pub fn pod_terms(p: &Pod) -> Vec<Requirements> {
    p.node_requirement_terms()
}

/// Is the pod free of constraints that involve other pods?
pub fn is_plain(p: &Pod) -> bool {
    p.topology_spread.is_empty()
        && p.pod_affinity.is_empty()
        && p.pod_anti_affinity.is_empty()
        && !p.has_preferences()
}

impl Cluster {
    /// Add a node; its index.
    pub fn add_node(&mut self, n: SimNode) -> usize {
        let i = self.nodes.len();
        if n.life != NodeLife::Terminated {
            self.alive.push(i);
        }
        self.nodes.push(n);
        i
    }

    /// Record that node `n` was terminated (its `life` set to `Terminated`).
    pub fn terminated(&mut self, n: usize) {
        if let Ok(k) = self.alive.binary_search(&n) {
            self.alive.remove(k);
        }
    }

    /// An empty cluster whose pods are covered by these disruption budgets.
    pub fn with_budgets(pdbs: &[PodDisruptionBudget]) -> Self {
        Cluster {
            budgets: pdbs
                .iter()
                .map(|b| Budget {
                    pdb: b.clone(),
                    pods: Vec::new(),
                })
                .collect(),
            ..Cluster::default()
        }
    }

    /// Add a pod arriving at `at`.
    pub fn arrive(&mut self, pod: Arc<Pod>, run_for: Option<Millis>, at: Millis) -> usize {
        let i = self.pods.len();
        self.by_id.insert(pod.id.clone(), i);
        let key = (
            pod.node_selector.clone(),
            pod.node_affinity_required.clone(),
        );
        let terms = self
            .terms_cache
            .entry(key)
            .or_insert_with(|| pod_terms(&pod).into())
            .clone();
        let mut budgets = Vec::new();
        for (b, bs) in self.budgets.iter_mut().enumerate() {
            if bs.pdb.covers(&pod) {
                bs.pods.push(i);
                budgets.push(b as u32);
            }
        }
        self.pods.push(SimPod {
            terms,
            plain: is_plain(&pod),
            pod,
            phase: PodPhase::Pending,
            node: None,
            nominated: None,
            arrived: at,
            first_bound: None,
            first_running: None,
            running_since: None,
            run_for,
            epoch: 0,
            restarts: 0,
            reason: None,
            reason_at: Millis(0),
            deleted_at: None,
            budgets,
        });
        self.pending.insert(i);
        i
    }

    /// Does the pod fit on the node by resources, node requirements and taints?
    pub fn fits(&self, p: usize, n: usize) -> bool {
        let (ps, ns) = (&self.pods[p], &self.nodes[n]);
        ns.life == NodeLife::Ready
            && !ns.cordoned
            && !ns.held
            && ps
                .pod
                .requests
                .fits_with(&ns.requested, &ns.node.allocatable)
            && ps.terms.iter().any(|t| t.satisfied_by(&ns.node.labels))
            && first_untolerated(&ns.node.taints, &ps.pod.tolerations).is_none()
    }

    /// Like [`Cluster::fits`], but the room of the pods nominated to the node (other than
    /// `p`) stays reserved for them, as kube-scheduler keeps room for nominated pods.
    pub fn fits_reserving(&self, p: usize, n: usize) -> bool {
        if !self.fits(p, n) {
            return false;
        }
        let ns = &self.nodes[n];
        // No other pod nominated to it: `fits` tested the same sum.
        if ns.nominated.iter().all(|&q| q == p) {
            return true;
        }
        let reserved =
            ns.nominated
                .iter()
                .filter(|&&q| q != p)
                .fold(ns.requested.clone(), |mut acc, &q| {
                    acc.saturating_add_assign(&self.pods[q].pod.requests);
                    acc
                });
        self.pods[p]
            .pod
            .requests
            .fits_with(&reserved, &ns.node.allocatable)
    }

    /// Do pods `a` and `b` ask for the same requests, node rules and tolerations (so a
    /// node admits both or neither, room aside)?
    fn same_shape(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.pods[a], &self.pods[b]);
        x.pod.requests == y.pod.requests
            && x.terms == y.terms
            && x.pod.tolerations == y.pod.tolerations
    }

    /// Could a bound pod's required anti-affinity object to `p`?
    fn anti_blocks(&self, p: usize) -> bool {
        let pod = &self.pods[p].pod;
        self.anti.iter().any(|&q| {
            let other = &self.pods[q].pod;
            other
                .pod_anti_affinity
                .iter()
                .any(|t| t.selects(&other.id.namespace, pod))
        })
    }

    /// Bind `p` to `n`.
    pub fn bind(&mut self, p: usize, n: usize, now: Millis) {
        let ps = &mut self.pods[p];
        ps.phase = PodPhase::Bound;
        ps.node = Some(n);
        ps.first_bound.get_or_insert(now);
        if let Some(m) = ps.nominated.take() {
            let ms = &mut self.nodes[m];
            ms.nominated.retain(|&x| x != p);
            if m != n && ms.idle_booting() {
                ms.spare = true;
            }
        }
        let req = ps.pod.requests.clone();
        let anti = !ps.pod.pod_anti_affinity.is_empty();
        let ns = &mut self.nodes[n];
        ns.pods.push(p);
        ns.requested.saturating_add_assign(&req);
        ns.empty_since = None;
        ns.last_change = now;
        ns.spare = false;
        self.pending.remove(&p);
        if anti {
            self.anti.insert(p);
        }
    }

    /// Take `p` off its node (it completed, was deleted or evicted).
    pub fn unbind(&mut self, p: usize, now: Millis) {
        let Some(n) = self.pods[p].node.take() else {
            return;
        };
        let req = self.pods[p].pod.requests.clone();
        let ns = &mut self.nodes[n];
        ns.pods.retain(|&x| x != p);
        ns.requested = ns.requested.checked_sub(&req).unwrap_or_default();
        ns.last_change = now;
        if ns.pods.is_empty() && ns.life == NodeLife::Ready {
            ns.empty_since = Some(now);
        }
        self.anti.remove(&p);
        self.pods[p].running_since = None;
    }

    /// Evict `p`: it becomes pending again (a replacement with the same identity).
    pub fn evict(&mut self, p: usize, now: Millis) {
        self.unbind(p, now);
        let ps = &mut self.pods[p];
        if matches!(ps.phase, PodPhase::Bound | PodPhase::Running) {
            ps.phase = PodPhase::Pending;
            ps.epoch += 1;
            ps.restarts += 1;
            self.pending.insert(p);
        }
    }

    /// May `p` be evicted now without breaking a disruption budget covering it? Pods
    /// that are not running (healthy) count against the budget.
    pub fn eviction_allowed(&self, p: usize) -> bool {
        let pod_healthy = self.pods[p].phase == PodPhase::Running;
        self.pods[p].budgets.iter().all(|&b| {
            let b = &self.budgets[b as usize];
            let (healthy, expected) = self.health(b);
            b.pdb.allows_eviction(healthy, expected, pod_healthy)
        })
    }

    /// (healthy, expected) pods of a budget: running ones are both, pending and
    /// starting ones only expected.
    fn health(&self, b: &Budget) -> (u32, u32) {
        let (mut expected, mut healthy) = (0u32, 0u32);
        for &q in &b.pods {
            match self.pods[q].phase {
                PodPhase::Running => {
                    expected += 1;
                    healthy += 1;
                }
                PodPhase::Pending | PodPhase::Bound => expected += 1,
                PodPhase::Completed | PodPhase::Deleted => {}
            }
        }
        (healthy, expected)
    }

    /// The pod disruption budgets.
    pub fn pdbs(&self) -> Vec<PodDisruptionBudget> {
        self.budgets.iter().map(|b| b.pdb.clone()).collect()
    }

    /// Evictions each disruption budget allows now (`disruptionsAllowed`): running
    /// covered pods beyond the desired healthy count; pods not running count against it.
    pub fn pdb_allowed(&self) -> Vec<u32> {
        self.budgets
            .iter()
            .map(|b| {
                let (healthy, expected) = self.health(b);
                healthy.saturating_sub(b.pdb.desired_healthy(expected))
            })
            .collect()
    }

    /// `p` completed or was deleted: its name is free again.
    pub fn finished(&mut self, p: usize) {
        let id = &self.pods[p].pod.id;
        if self.by_id.get(id) == Some(&p) {
            self.by_id.remove(id);
        }
    }

    /// Forget finished pods in the budgets' pod lists.
    pub fn prune_budgets(&mut self) {
        let pods = &self.pods;
        for b in &mut self.budgets {
            b.pods
                .retain(|&q| !matches!(pods[q].phase, PodPhase::Completed | PodPhase::Deleted));
        }
    }

    /// Drop every nomination to node `n` (the pods go back to the provisioning queue).
    pub fn clear_nominations(&mut self, n: usize) {
        for p in std::mem::take(&mut self.nodes[n].nominated) {
            self.pods[p].nominated = None;
        }
    }

    /// Remove a nomination.
    pub fn unnominate(&mut self, p: usize) {
        if let Some(m) = self.pods[p].nominated.take() {
            self.nodes[m].nominated.retain(|&x| x != p);
        }
    }

    /// Does the solver see node `i` as existing capacity ([`Cluster::existing`])? Live,
    /// not cordoned, not held (but warm ones for the provisioner), and ready unless
    /// launching nodes are included.
    pub fn solver_sees(&self, i: usize, include_launching: bool) -> bool {
        let n = &self.nodes[i];
        // Held nodes: only warm ones, and only for the provisioner.
        let held = n.held && !(include_launching && n.warm);
        n.live() && !n.cordoned && !held && (include_launching || n.life == NodeLife::Ready)
    }

    /// The cluster as the solver sees it: live nodes and their pods. For provisioning
    /// (`include_launching`), nodes still launching count too, and pods nominated to a
    /// node count as on it; for the scheduler only ready nodes and bound pods count (the
    /// pods being scheduled include the nominated ones). Held nodes are left out, but for
    /// the provisioner's warm ones.
    pub fn existing(&self, include_launching: bool) -> (Vec<ExistingNode>, Vec<usize>) {
        let mut out = Vec::new();
        let mut idx = Vec::new();
        for &i in &self.alive {
            let n = &self.nodes[i];
            if !self.solver_sees(i, include_launching) {
                continue;
            }
            let mut node = n.node.clone();
            node.state = match n.life {
                NodeLife::Ready => NodeState::Ready,
                NodeLife::Registered => NodeState::Registered,
                _ => NodeState::Launching,
            };
            if n.life != NodeLife::Ready {
                // Startup taints do not keep the solver from planning pods onto it.
                node.taints.truncate(node.taints.len() - n.startup_taints);
            }
            let nominated: &[usize] = if include_launching { &n.nominated } else { &[] };
            let pods = n
                .pods
                .iter()
                .chain(nominated.iter())
                .map(|&p| self.pods[p].pod.clone())
                .collect();
            out.push(ExistingNode::new(node, pods));
            idx.push(i);
        }
        (out, idx)
    }

    /// The kube-scheduler: bind pending pods to ready nodes. Pods nominated to a ready
    /// node go there first if they fit; other unconstrained pods go to the fullest node
    /// that fits (the MostAllocated profile autoscaled clusters use); pods with topology
    /// or pod-affinity rules are placed by the solver's rules on the ready nodes only.
    /// `only` limits the pass to some pods (new arrivals when no capacity changed).
    pub fn schedule(
        &mut self,
        now: Millis,
        only: Option<&[usize]>,
        pools: &[NodePool],
        catalog: &Catalog,
        pairs: &Arc<PoolCatalog>,
    ) -> Vec<usize> {
        let mut order: Vec<usize> = match only {
            Some(ps) => ps
                .iter()
                .copied()
                .filter(|p| self.pending.contains(p))
                .collect(),
            None => self.pending.iter().copied().collect(),
        };
        if order.is_empty() {
            return vec![];
        }
        // Priority first, then arrival.
        order.sort_by_key(|&p| (std::cmp::Reverse(self.pods[p].pod.priority), p));
        let ready: Vec<usize> = self
            .alive
            .iter()
            .copied()
            .filter(|&n| self.nodes[n].life == NodeLife::Ready)
            .collect();
        let mut bound = Vec::new();
        let mut constrained = Vec::new();
        // Pods without a nomination that no ready node took in this pass: a later pod of
        // the same requests, node rules and tolerations fits none either (binding only
        // takes room; an unnomination frees some and clears the list).
        let mut fit_none: Vec<usize> = Vec::new();
        for p in order {
            if !self.pods[p].plain || (!self.anti.is_empty() && self.anti_blocks(p)) {
                constrained.push(p);
                continue;
            }
            if let Some(m) = self.pods[p].nominated {
                if self.fits(p, m) {
                    self.bind(p, m, now);
                    bound.push(p);
                    continue;
                }
                // The nominated node is not ready (or has no room): like kube-scheduler,
                // take any ready node that fits; otherwise keep waiting for it.
                if self.nodes[m].life >= NodeLife::Ready {
                    self.unnominate(p);
                    fit_none.clear();
                }
            }
            let free = self.pods[p].nominated.is_none();
            if free && fit_none.iter().any(|&q| self.same_shape(q, p)) {
                continue;
            }
            let mut best: Option<(u64, usize)> = None;
            for &n in &ready {
                if self.fits_reserving(p, n) {
                    let ns = &self.nodes[n];
                    // Fullest node first: requested share of the scarcer resource.
                    let score = share_permille(&ns.requested, &ns.node.allocatable);
                    if best.is_none_or(|(s, _)| score > s) {
                        best = Some((score, n));
                    }
                }
            }
            match best {
                Some((_, n)) => {
                    self.bind(p, n, now);
                    bound.push(p);
                }
                None if free => fit_none.push(p),
                None => {}
            }
        }
        let due = self.node_ready || now >= self.constrained_retry || only.is_some();
        if !constrained.is_empty() && !ready.is_empty() && due {
            self.node_ready = false;
            let got = self.schedule_constrained(now, &constrained, pools, catalog, pairs);
            if got.len() < constrained.len() {
                self.constrained_retry = now + CONSTRAINED_BACKOFF;
            }
            bound.extend(got);
        }
        bound
    }

    fn schedule_constrained(
        &mut self,
        now: Millis,
        pods: &[usize],
        pools: &[NodePool],
        catalog: &Catalog,
        pairs: &Arc<PoolCatalog>,
    ) -> Vec<usize> {
        let (nodes, idx) = self.existing(false);
        let pending: Vec<Pod> = pods.iter().map(|&p| (*self.pods[p].pod).clone()).collect();
        // No node pools: kube-scheduler counts topology domains among the nodes that
        // exist, not among the zones a pool could launch into.
        let _ = (pools, pairs);
        let problem = Problem::new(&pending, &nodes, &[], catalog);
        let prep = Prepared::new(problem);
        let plan =
            nodepack_solver::Strategy::solve_prepared(&nodepack_solver::Builtin::Karpenter, &prep);
        let mut bound = Vec::new();
        for b in &plan.existing {
            let Some(&p) = self.by_id.get(&b.pod) else {
                continue;
            };
            let Some(k) = nodes.iter().position(|n| n.node.name == b.node) else {
                continue;
            };
            let n = idx[k];
            if self.pending.contains(&p) && self.fits(p, n) {
                self.bind(p, n, now);
                bound.push(p);
            }
        }
        // A pod nominated to a ready node that still cannot go there goes back to the
        // autoscaler.
        for &p in pods {
            if self.pending.contains(&p)
                && self.pods[p]
                    .nominated
                    .is_some_and(|m| self.nodes[m].life >= NodeLife::Ready)
            {
                self.unnominate(p);
            }
        }
        bound
    }
}

/// Requested share of the scarcer of CPU and memory, in thousandths.
pub fn share_permille(req: &Resources, alloc: &Resources) -> u64 {
    let f = |a: u64, b: u64| a.saturating_mul(1000).checked_div(b).unwrap_or(0);
    f(req.cpu.0, alloc.cpu.0).max(f(req.memory.0, alloc.memory.0))
}

/// A ready node with `cpu` millicores, 8 GiB and 10 pods (tests).
#[cfg(test)]
pub(crate) fn test_node(cpu: u64) -> SimNode {
    use nodepack_model::{Bytes, CapacityType, Millicores, Money};
    SimNode {
        node: Node::new(
            "n",
            "t",
            "z",
            CapacityType::OnDemand,
            Money(1),
            Resources::new(Millicores(cpu), Bytes::from_gib(8)).with_pods(10),
        ),
        pool: 0,
        capacity: Resources::new(Millicores(cpu), Bytes::from_gib(8)).with_pods(10),
        offering: Offering::new("z", CapacityType::OnDemand, Money(1)),
        launched: Millis(0),
        ended: None,
        pods: vec![],
        requested: Resources::default(),
        nominated: vec![],
        empty_since: None,
        ready_at: Some(Millis(0)),
        life: NodeLife::Ready,
        noticed: false,
        startup_taints: 0,
        remove_when_drained: false,
        cordoned: false,
        last_change: Millis(0),
        spare: false,
        held: false,
        warm: false,
    }
}

/// A held node of [`test_node`]'s shape: a hedge's spare, or headroom's warm node
/// (tests).
#[cfg(test)]
pub(crate) fn held_node(cpu: u64, warm: bool) -> SimNode {
    let mut n = test_node(cpu);
    (n.spare, n.held, n.warm) = (!warm, true, warm);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};

    /// Held spares are invisible to the scheduler and the provisioner; warm ones (held
    /// headroom) to the scheduler only; nobody binds on a held node by fit.
    #[test]
    fn held_nodes_are_seen_by_the_provisioner_only_when_warm() {
        let mut c = Cluster::default();
        let plain = c.add_node(test_node(4000));
        let spare = c.add_node(held_node(4000, false));
        let warm = c.add_node(held_node(4000, true));
        assert_eq!(c.existing(false).1, vec![plain]);
        assert_eq!(c.existing(true).1, vec![plain, warm]);
        let p = c.arrive(
            Arc::new(Pod::new(
                "default",
                "p",
                Resources::new(Millicores(100), Bytes::from_mib(64)),
            )),
            None,
            Millis(0),
        );
        assert!(c.fits(p, plain) && !c.fits(p, spare) && !c.fits(p, warm));
    }

    /// The index of nodes not terminated follows additions and terminations.
    #[test]
    fn alive_lists_the_nodes_not_terminated() {
        let mut c = Cluster::default();
        for _ in 0..4 {
            c.add_node(test_node(1000));
        }
        let mut gone = test_node(1000);
        gone.life = NodeLife::Terminated;
        assert_eq!(c.add_node(gone), 4);
        assert_eq!(c.alive, vec![0, 1, 2, 3]);
        for n in [2, 0, 2] {
            c.nodes[n].life = NodeLife::Terminated;
            c.terminated(n);
        }
        assert_eq!(c.alive, vec![1, 3]);
        let (nodes, idx) = c.existing(true);
        assert_eq!((nodes.len(), idx), (2, vec![1, 3]));
    }

    /// Regression: a pod not nominated anywhere took the room a ready node kept for the
    /// pod the autoscaler had nominated to it, so the nominated pod went back to the
    /// autoscaler and a new node was launched for it.
    #[test]
    fn nominated_room_is_kept_for_the_nominated_pod() {
        let mut c = Cluster::default();
        c.add_node(test_node(1000));
        let req = Resources::new(Millicores(800), Bytes::from_gib(1));
        let a = c.arrive(Arc::new(Pod::new("d", "a", req.clone())), None, Millis(0));
        let b = c.arrive(Arc::new(Pod::new("d", "b", req)), None, Millis(0));
        // `a` was planned onto the node; `b` comes first in the queue (it has priority).
        c.pods[a].nominated = Some(0);
        c.nodes[0].nominated.push(a);
        Arc::make_mut(&mut c.pods[b].pod).priority = 10;
        let catalog = Catalog::default();
        let pairs = Arc::new(PoolCatalog::new(&[], &catalog));
        let bound = c.schedule(Millis(1), None, &[], &catalog, &pairs);
        assert_eq!(bound, vec![a]);
        assert_eq!(c.pods[a].node, Some(0));
        assert!(c.pending.contains(&b));
    }

    /// A pod no ready node takes keeps later pods of its shape from being tried, until
    /// an unnomination frees room: then they are tried again.
    #[test]
    fn room_freed_by_an_unnomination_is_tried_by_later_pods_of_a_shape_that_fit_nowhere() {
        let mut c = Cluster::default();
        c.add_node(test_node(4000));
        let small = Resources::new(Millicores(1000), Bytes::from_gib(1));
        let big = Resources::new(Millicores(5000), Bytes::from_gib(1));
        let a = c.arrive(Arc::new(Pod::new("d", "a", small.clone())), None, Millis(0));
        // Nominated to the ready node but too large for it: unnominated in the pass.
        let x = c.arrive(Arc::new(Pod::new("d", "x", big)), None, Millis(0));
        c.pods[x].nominated = Some(0);
        c.nodes[0].nominated.push(x);
        let b = c.arrive(Arc::new(Pod::new("d", "b", small)), None, Millis(0));
        let catalog = Catalog::default();
        let pairs = Arc::new(PoolCatalog::new(&[], &catalog));
        let bound = c.schedule(Millis(1), None, &[], &catalog, &pairs);
        // `a` met the room kept for `x`; `b` came after `x` let it go.
        assert_eq!(bound, vec![b]);
        assert!(c.pending.contains(&a) && c.pending.contains(&x));
        assert_eq!(c.pods[x].nominated, None);
    }
}
