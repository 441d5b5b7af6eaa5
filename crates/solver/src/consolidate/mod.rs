//! Consolidation and disruption: which nodes to delete or replace so the fleet costs
//! less, as pure functions of the cluster state.
//!
//! A [`Consolidator`] takes a [`ConsolidationProblem`] (the nodes with their pods, each
//! node's last pod change and whether it is already being deleted, the pools, the
//! catalog, the pod disruption budgets and the time) and returns the [`Move`]s it would
//! make, without applying them. Two strategies, one per file: [`karpenter`] (Karpenter
//! v1.14's disruption controller: emptiness, drift, multi-node then single-node
//! consolidation, one command per pass) and [`nodepack`] (a global pass that plans many
//! moves at once and only makes those whose savings over a horizon exceed their
//! disruption cost). Both rest on the [`Fleet`] here: candidate rules, node disruption
//! budgets, pod disruption budgets, eviction costs and the scheduling simulation that
//! says where the pods of removed nodes would go.

pub mod karpenter;
pub mod nodepack;

use crate::prep::{PoolCatalog, Prepared};
use crate::{ExistingNode, NewNode, Problem};
use nodepack_model::taints::first_untolerated;
use nodepack_model::{
    labels, CapacityType, Catalog, Millis, Money, NodePool, Pod, PodDisruptionBudget, PodId,
    Resources,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What the cluster knows about a node beyond its spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// When a pod last arrived on or left the node (`consolidateAfter` counts from
    /// here).
    pub last_change: Millis,
    /// Already being deleted or replaced (it counts against the disruption budgets).
    pub deleting: bool,
}

/// The input of a consolidation pass.
#[derive(Clone, Copy)]
pub struct ConsolidationProblem<'a> {
    /// Now.
    pub now: Millis,
    /// The nodes with their pods.
    pub nodes: &'a [ExistingNode],
    /// The status of each node, in the same order (missing entries: changed at time
    /// zero, not deleting).
    pub status: &'a [NodeStatus],
    /// Node pools (daemonset overhead filled in).
    pub nodepools: &'a [NodePool],
    /// The instance catalog.
    pub catalog: &'a Catalog,
    /// Pod disruption budgets.
    pub pdbs: &'a [PodDisruptionBudget],
    /// PoolCatalog prepared for these pools and catalog, if the caller has them.
    pub pairs: Option<&'a Arc<PoolCatalog>>,
    /// Evictions each pod disruption budget allows now, when the caller knows better
    /// than counting the pods on the nodes as healthy (pods pending or starting count
    /// against a budget).
    pub pdb_allowed: Option<&'a [u32]>,
    /// Karpenter's `SpotToSpotConsolidation` feature gate (off by default, as in
    /// Karpenter): whether the `karpenter` strategy may replace spot nodes by a spot node.
    pub spot_to_spot: bool,
}

/// Why nodes are disrupted (Karpenter's disruption reasons, plus expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Reason {
    /// No pods to move.
    Empty,
    /// The node no longer matches its pool.
    Drifted,
    /// Older than the pool's `expireAfter` (forceful: no budgets apply).
    Expired,
    /// Its pods fit elsewhere, or on a cheaper node.
    Underutilized,
}

impl Reason {
    /// Karpenter's name for it (`Empty`, `Drifted`, `Expired`, `Underutilized`), as
    /// budgets name reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
            Reason::Expired => "Expired",
            Reason::Underutilized => "Underutilized",
        }
    }
}

/// Where an evicted pod is expected to go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodMove {
    /// The pod.
    pub pod: PodId,
    /// The node it leaves.
    pub from: String,
    /// The node it goes to (an existing node or a replacement's placeholder name).
    pub to: String,
}

/// One disruption decision: delete nodes, launching replacements first if any.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Move {
    /// Why.
    pub reason: Reason,
    /// The nodes removed, by name.
    pub nodes: Vec<String>,
    /// Their indices in the problem's nodes.
    #[serde(skip)]
    pub node_indices: Vec<usize>,
    /// Nodes launched before the removed ones are drained.
    pub replacements: Vec<NewNode>,
    /// The replacement must launch as spot (an on-demand node replaced by spot must not
    /// fall back to a dearer on-demand launch).
    pub spot_only: bool,
    /// Where each evicted pod goes, in placement order.
    pub pods: Vec<PodMove>,
    /// Price of the removed nodes minus price of the replacements, per hour.
    pub savings_per_hour: Money,
    /// Pods evicted.
    pub evictions: u32,
    /// Eviction cost of the move (Karpenter's weighting by priority, deletion cost and
    /// remaining lifetime).
    pub disruption_cost: f64,
}

impl Move {
    /// `delete` or `replace`.
    pub fn kind(&self) -> &'static str {
        if self.replacements.is_empty() {
            "delete"
        } else {
            "replace"
        }
    }
}

/// The result of a pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsolidationPlan {
    /// Strategy name.
    pub strategy: String,
    /// The moves, in the order they would be made.
    pub moves: Vec<Move>,
    /// Price per hour of the nodes before the moves.
    pub cost_before: Money,
    /// Price per hour after them.
    pub cost_after: Money,
    /// Price per hour of packing every pod from scratch, when the strategy computed it
    /// (`nodepack`: by its greedy packer, [`greedy_repack_cost`]).
    pub repack_cost: Option<Money>,
    /// Nodes that were candidates for consolidation.
    pub candidates: usize,
}

/// A consolidation strategy: a pure function of the problem.
pub trait Consolidator: Send {
    /// Its name.
    fn name(&self) -> &'static str;
    /// One pass.
    fn consolidate(&self, problem: &ConsolidationProblem) -> ConsolidationPlan;
    /// Re-check a move computed earlier against the current state (Karpenter waits 15 s
    /// and validates again before acting): the move as it now stands, or `None` if it
    /// is no longer valid.
    fn revalidate(&self, problem: &ConsolidationProblem, m: &Move) -> Option<Move>;
}

/// The consolidation strategies by name.
pub const CONSOLIDATORS: &[&str] = &["nodepack", "karpenter"];

/// Look a consolidation strategy up by name (default settings).
pub fn consolidator(name: &str) -> Option<Box<dyn Consolidator>> {
    match name {
        "nodepack" => Some(Box::new(nodepack::NodepackConsolidation::default())),
        "karpenter" => Some(Box::new(karpenter::KarpenterConsolidation)),
        _ => None,
    }
}

/// Karpenter's eviction cost of a pod: 1, plus its deletion cost over 2^27, plus its
/// priority over 2^25, clamped to [-10, 10].
pub fn eviction_cost(pod: &Pod) -> f64 {
    let c = 1.0
        + f64::from(pod.deletion_cost) / f64::from(1u32 << 27)
        + f64::from(pod.priority) / f64::from(1u32 << 25);
    c.clamp(-10.0, 10.0)
}

/// Where the pods of removed nodes would go.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// (pod, from node, to existing node).
    pub to_existing: Vec<(Arc<Pod>, usize, usize)>,
    /// (pod, from node, index of the replacement).
    pub to_new: Vec<(Arc<Pod>, usize, usize)>,
    /// Replacements.
    pub new_nodes: Vec<NewNode>,
    /// The pods in placement order (topology rules hold in this order).
    pub order: Vec<PodId>,
}

impl Outcome {
    /// Price per hour of the replacements.
    pub fn new_cost(&self) -> Money {
        self.new_nodes.iter().map(|n| n.price).sum()
    }
}

/// The cluster as a consolidation pass sees it, updated as the pass commits moves.
pub struct Fleet<'p, 'a> {
    /// The problem.
    pub p: &'p ConsolidationProblem<'a>,
    /// Pool index of each node (`None`: not managed by a known pool).
    pub pool: Vec<Option<usize>>,
    /// Free resources of each node, moved pods included.
    pub free: Vec<Resources>,
    /// Pods moved onto each node by committed moves.
    pub moved_in: Vec<Vec<Arc<Pod>>>,
    /// Deleted (already, or by a committed move).
    pub gone: Vec<bool>,
    /// Nodes no pod is moved onto (nodepack: nodes emptied within `consolidateAfter`,
    /// which go as empty once settled).
    pub keep_out: Vec<bool>,
    /// Nodes per pool, and those being disrupted.
    pub pool_nodes: Vec<u32>,
    /// Nodes of each pool being disrupted.
    pub pool_disrupting: Vec<u32>,
    /// Evictions each pod disruption budget still allows.
    pub pdb_left: Vec<i64>,
    /// Some pod has required anti-affinity (moves must go through the full solver).
    anti_any: bool,
    by_name: HashMap<&'a str, usize>,
    pairs: Arc<PoolCatalog>,
    /// Replacement names handed out so far (unique within the pass).
    named: std::cell::Cell<usize>,
    /// Pods moved onto replacements by committed moves, with the replacement's zone
    /// (they count for later moves' zone spreads).
    pub on_replacements: Vec<(Arc<Pod>, String)>,
    /// Replacements of committed moves.
    pub replacements: Vec<NewNode>,
    /// Simulations through the full solver this pass may still run (a work budget, as
    /// Karpenter's consolidation has timeouts); `usize::MAX` by default.
    pub full_budget: std::cell::Cell<usize>,
    /// Capacity of each node, as pool limits count it (its type's, else allocatable).
    capacity: Vec<Resources>,
    /// Node indices by name (Karpenter's existing-node order), built when first asked.
    by_name_order: std::cell::OnceCell<Vec<usize>>,
}

impl<'p, 'a> Fleet<'p, 'a> {
    /// The fleet of a problem.
    pub fn new(p: &'p ConsolidationProblem<'a>) -> Self {
        let pairs = match p.pairs {
            Some(x) => x.clone(),
            None => Arc::new(PoolCatalog::new(p.nodepools, p.catalog)),
        };
        let n = p.nodes.len();
        let pool: Vec<Option<usize>> = p
            .nodes
            .iter()
            .map(|e| {
                let name = e.node.nodepool.as_deref()?;
                p.nodepools.iter().position(|q| q.name == name)
            })
            .collect();
        let mut pool_nodes = vec![0u32; p.nodepools.len()];
        let mut pool_disrupting = vec![0u32; p.nodepools.len()];
        let mut gone = vec![false; n];
        for i in 0..n {
            if let Some(k) = pool[i] {
                pool_nodes[k] += 1;
                if status(p, i).deleting {
                    pool_disrupting[k] += 1;
                }
            }
            gone[i] = status(p, i).deleting;
        }
        let capacity = p
            .nodes
            .iter()
            .map(|e| {
                p.catalog
                    .get(&e.node.instance_type)
                    .map(|t| t.capacity.clone())
                    .unwrap_or_else(|| e.node.allocatable.clone())
            })
            .collect();
        let free = p
            .nodes
            .iter()
            .map(|e| {
                let used = e.pods.iter().fold(Resources::default(), |mut a, q| {
                    a.saturating_add_assign(&q.requests);
                    a
                });
                e.node.allocatable.saturating_sub(&used)
            })
            .collect();
        let mut pdb_left = Vec::new();
        for (k, b) in p.pdbs.iter().enumerate() {
            if let Some(a) = p.pdb_allowed.and_then(|a| a.get(k)) {
                pdb_left.push(i64::from(*a));
                continue;
            }
            let covered = p
                .nodes
                .iter()
                .flat_map(|e| e.pods.iter())
                .filter(|q| b.covers(q))
                .count() as u32;
            pdb_left.push(i64::from(covered) - i64::from(b.desired_healthy(covered)));
        }
        let anti_any = p
            .nodes
            .iter()
            .any(|e| e.pods.iter().any(|q| !q.pod_anti_affinity.is_empty()));
        let by_name = p
            .nodes
            .iter()
            .enumerate()
            .map(|(i, e)| (e.node.name.as_str(), i))
            .collect();
        Fleet {
            p,
            pool,
            free,
            moved_in: vec![Vec::new(); n],
            gone,
            keep_out: vec![false; n],
            pool_nodes,
            pool_disrupting,
            pdb_left,
            anti_any,
            by_name,
            pairs,
            named: std::cell::Cell::new(0),
            on_replacements: Vec::new(),
            replacements: Vec::new(),
            full_budget: std::cell::Cell::new(usize::MAX),
            capacity,
            by_name_order: std::cell::OnceCell::new(),
        }
    }

    /// The pairs of the pools and catalog.
    pub fn pairs(&self) -> &PoolCatalog {
        &self.pairs
    }

    /// The indices of nodes named in a move, if they all still exist.
    pub fn indices(&self, names: &[String]) -> Option<Vec<usize>> {
        names.iter().map(|n| self.index(n)).collect()
    }

    /// An expiry move for `nodes` if they are all still expired (revalidation).
    pub fn still_expired(&self, nodes: &[usize]) -> Option<Move> {
        nodes
            .iter()
            .all(|&i| self.expired(i))
            .then(|| self.make_move(Reason::Expired, nodes, &Outcome::default()))
    }

    /// The node's index by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Price per hour of the nodes not gone.
    pub fn cost(&self) -> Money {
        (0..self.p.nodes.len())
            .filter(|&i| !self.gone[i])
            .map(|i| self.p.nodes[i].node.price)
            .sum()
    }

    /// The pods on node `i` now (its own and those moved onto it).
    pub fn pods_of(&self, i: usize) -> impl Iterator<Item = &Arc<Pod>> {
        self.p.nodes[i].pods.iter().chain(self.moved_in[i].iter())
    }

    /// Why node `i` may not be disrupted voluntarily at all, if it may not: unmanaged,
    /// not initialized, being deleted, `do-not-disrupt` on it or a pod, or a pod
    /// disruption budget that would not let its pods go.
    pub fn blocked(&self, i: usize) -> Option<String> {
        let e = &self.p.nodes[i];
        if self.pool[i].is_none() {
            return Some("not managed by a known node pool".into());
        }
        if !e.node.initialized() {
            return Some("not initialized".into());
        }
        if self.gone[i] {
            return Some("already being deleted".into());
        }
        if e.node.do_not_disrupt {
            return Some("node has karpenter.sh/do-not-disrupt".into());
        }
        if let Some(q) = self.pods_of(i).find(|q| q.do_not_disrupt) {
            return Some(format!("pod {} has karpenter.sh/do-not-disrupt", q.id));
        }
        if let Some(q) = self.pods_of(i).find(|q| !q.pod_affinity.is_empty()) {
            // Re-placing a pod with required pod affinity against running pods is not
            // simulated faithfully yet (see ARCHITECTURE.md): such nodes stay.
            return Some(format!("pod {} has required pod affinity", q.id));
        }
        if !self.pdbs_allow(&[i]) {
            return Some("a pod disruption budget does not allow evicting its pods".into());
        }
        None
    }

    /// Has node `i` been unchanged for its pool's `consolidateAfter` (`Never`: no)?
    pub fn settled(&self, i: usize) -> bool {
        let Some(k) = self.pool[i] else {
            return false;
        };
        match self.p.nodepools[k].disruption.consolidate_after {
            Some(after) => self.p.now.saturating_sub(status(self.p, i).last_change) >= after,
            None => false,
        }
    }

    /// Has node `i` outlived its pool's `expireAfter`?
    pub fn expired(&self, i: usize) -> bool {
        let (Some(k), false) = (self.pool[i], self.gone[i]) else {
            return false;
        };
        self.p.nodepools[k]
            .expire_after
            .is_some_and(|e| self.p.now.saturating_sub(self.p.nodes[i].node.created) >= e)
    }

    /// Does node `i` no longer match its pool: a label the pool constrains with a value
    /// it no longer allows, or an instance type the pool no longer offers?
    pub fn drifted(&self, i: usize) -> bool {
        let Some(k) = self.pool[i] else {
            return false;
        };
        let n = &self.p.nodes[i].node;
        let reqs = self.p.nodepools[k].node_requirements();
        let label_drift = reqs
            .keys
            .iter()
            .any(|(key, allowed)| n.labels.get(key).is_some_and(|v| !allowed.has(v.as_str())));
        let info = &self.pairs.pools[k];
        let type_gone = !n.instance_type.is_empty()
            && !(info.start..info.end).any(|pt| self.pairs.pool_types[pt].name == n.instance_type);
        label_drift || type_gone
    }

    /// Node disruption budget left in pool `k` for `reason`.
    pub fn budget_left(&self, k: usize, reason: Reason) -> u32 {
        self.p.nodepools[k]
            .disruption
            .allowed(reason.as_str(), self.pool_nodes[k], self.p.now)
            .saturating_sub(self.pool_disrupting[k])
    }

    /// Do the node budgets allow disrupting all of `nodes` for `reason`?
    pub fn budgets_allow(&self, nodes: &[usize], reason: Reason) -> bool {
        let mut per_pool: HashMap<usize, u32> = HashMap::new();
        for &i in nodes {
            if let Some(k) = self.pool[i] {
                *per_pool.entry(k).or_default() += 1;
            }
        }
        per_pool
            .iter()
            .all(|(&k, &c)| self.budget_left(k, reason) >= c)
    }

    /// Do the pod disruption budgets allow evicting every pod of `nodes` now?
    pub fn pdbs_allow(&self, nodes: &[usize]) -> bool {
        if self.pdb_left.is_empty() {
            return true;
        }
        let mut need = vec![0i64; self.pdb_left.len()];
        for &i in nodes {
            for q in self.pods_of(i) {
                for (b, pdb) in self.p.pdbs.iter().enumerate() {
                    if pdb.covers(q) {
                        need[b] += 1;
                    }
                }
            }
        }
        need.iter()
            .zip(&self.pdb_left)
            .all(|(n, left)| *n == 0 || n <= left)
    }

    /// Karpenter's disruption cost of node `i`: its pods' eviction costs, scaled by the
    /// share of its lifetime left when its pool expires nodes.
    pub fn disruption_cost(&self, i: usize) -> f64 {
        let pods: f64 = self.pods_of(i).map(|q| eviction_cost(q)).sum();
        let left = self.pool[i]
            .and_then(|k| self.p.nodepools[k].expire_after)
            .map_or(1.0, |e| {
                let age = self.p.now.saturating_sub(self.p.nodes[i].node.created);
                (1.0 - age.0 as f64 / e.0.max(1) as f64).clamp(0.0, 1.0)
            });
        pods * left
    }

    /// The most a single-node replacement of node `i` could save per hour, in
    /// micro-dollars: its price minus the cheapest pair that holds its pods (a quick
    /// test before simulating one; zero or less means only deleting it can save).
    pub fn replacement_headroom(&self, i: usize) -> i64 {
        let price = self.p.nodes[i].node.price.0;
        let need = self
            .pods_of(i)
            .fold(Resources::default(), |a, q| a.saturating_add(&q.requests));
        self.pairs.cheapest_fitting(&need).map_or(0, |c| price - c)
    }

    /// Pods on the nodes.
    pub fn pod_count(&self, nodes: &[usize]) -> usize {
        nodes
            .iter()
            .map(|&i| self.p.nodes[i].pods.len() + self.moved_in[i].len())
            .sum()
    }

    /// Where the pods of `removed` would go: onto the other live nodes first (the fullest
    /// that fits, as the scheduler does), the rest onto new nodes the `solver` strategy
    /// chooses. `None` if some pod would be left unschedulable. Pods with topology or
    /// pod-affinity rules (or a cluster with required anti-affinity) go through the
    /// full solver with the other nodes as existing capacity.
    pub fn simulate(&self, removed: &[usize], solver: &str) -> Option<Outcome> {
        self.simulate_with(removed, solver, true)
    }

    /// [`Fleet::simulate`]; without `allow_new`, `None` unless every pod fits on the
    /// nodes that stay.
    pub fn simulate_with(
        &self,
        removed: &[usize],
        solver: &str,
        allow_new: bool,
    ) -> Option<Outcome> {
        self.simulate_below(removed, solver, allow_new, None)
    }

    /// [`Fleet::simulate_with`] for a caller that takes no outcome with two or more new
    /// nodes, nor one new node priced at `ceiling` or more: when the pods the nodes that
    /// stay cannot hold select two zones, or fit no pair with an offering cheaper than
    /// `ceiling` (in the zone they select), it answers `None` without solving for their
    /// room (as Karpenter refuses a replacement when no instance type cheaper than the
    /// candidates remains).
    pub(crate) fn simulate_below(
        &self,
        removed: &[usize],
        solver: &str,
        allow_new: bool,
        ceiling: Option<Money>,
    ) -> Option<Outcome> {
        let pods: Vec<(Arc<Pod>, usize)> = removed
            .iter()
            .flat_map(|&i| self.pods_of(i).map(move |q| (q.clone(), i)))
            .collect();
        let plain = !self.anti_any && pods.iter().all(|(q, _)| fast_path_ok(q));
        if plain {
            self.simulate_plain(removed, pods, solver, allow_new, ceiling)
        } else if !self.replacements.is_empty() {
            // The full solver would not see the replacements planned earlier in this
            // pass: constrained pods wait for the next pass.
            None
        } else {
            let out = self.simulate_full(removed, pods, solver)?;
            (allow_new || out.new_nodes.is_empty()).then_some(out)
        }
    }

    fn usable(&self, j: usize, removed: &[usize]) -> bool {
        let n = &self.p.nodes[j].node;
        !self.gone[j]
            && !self.keep_out[j]
            && n.initialized()
            && n.schedulable()
            && !removed.contains(&j)
    }

    /// Node indices by name (ties by index), computed once per fleet.
    fn name_order(&self) -> &[usize] {
        self.by_name_order.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.p.nodes.len()).collect();
            order.sort_by(|&a, &b| self.p.nodes[a].node.name.cmp(&self.p.nodes[b].node.name));
            order
        })
    }

    fn simulate_plain(
        &self,
        removed: &[usize],
        mut pods: Vec<(Arc<Pod>, usize)>,
        solver: &str,
        allow_new: bool,
        ceiling: Option<Money>,
    ) -> Option<Outcome> {
        let all = pods.clone();
        // Largest first.
        pods.sort_by(|a, b| {
            (b.0.requests.cpu, b.0.requests.memory)
                .cmp(&(a.0.requests.cpu, a.0.requests.memory))
                .then_with(|| a.0.id.cmp(&b.0.id))
        });
        // Karpenter's scheduling simulation places each pod on the first existing node
        // that fits, in its existing-node order (initialized first, then by name; every
        // target here is initialized); nodepack's takes the fullest node that fits.
        let first_fit = solver == "karpenter";
        let targets: Vec<usize> = if first_fit {
            self.name_order()
                .iter()
                .copied()
                .filter(|&j| self.usable(j, removed))
                .collect()
        } else {
            (0..self.p.nodes.len())
                .filter(|&j| self.usable(j, removed))
                .collect()
        };
        let mut spreads = ZoneSpreads::default();
        if pods.iter().any(|(q, _)| !q.topology_spread.is_empty()) {
            let stay: Vec<usize> = (0..self.p.nodes.len())
                .filter(|&j| !self.gone[j] && !removed.contains(&j))
                .collect();
            spreads.zones = self.pairs.zones.clone();
            for &j in &stay {
                let z = &self.p.nodes[j].node.zone;
                if !spreads.zones.contains(z) {
                    spreads.zones.push(z.clone());
                }
            }
            spreads.stay = stay;
        }
        // Free room of the nodes pods moved to in this simulation (by node index).
        let mut free: Vec<Option<Resources>> = vec![None; self.p.nodes.len()];
        let mut out = Outcome::default();
        let mut left: Vec<(Arc<Pod>, usize)> = Vec::new();
        let mut pending: Vec<Pod> = Vec::new();
        for (q, from) in pods {
            let terms = q.node_requirement_terms();
            let allowed = spreads.allowed(self, &q, &terms);
            let mut best: Option<(u64, usize)> = None;
            for &j in &targets {
                let f = free[j].as_ref().unwrap_or(&self.free[j]);
                if !q.requests.fits(f) {
                    continue;
                }
                let n = &self.p.nodes[j].node;
                if !terms.iter().any(|t| t.satisfied_by(&n.labels))
                    || first_untolerated(&n.taints, &q.tolerations).is_some()
                    || allowed.as_ref().is_some_and(|a| !a.contains(&n.zone))
                {
                    continue;
                }
                if first_fit {
                    best = Some((0, j));
                    break;
                }
                // The fullest node that fits (least free share left).
                let score = used_share(f, &n.allocatable);
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, j));
                }
            }
            match best {
                Some((_, j)) => {
                    let f = free[j].get_or_insert_with(|| self.free[j].clone());
                    *f = f.saturating_sub(&q.requests);
                    spreads
                        .placed
                        .push((q.clone(), self.p.nodes[j].node.zone.clone()));
                    out.order.push(q.id.clone());
                    out.to_existing.push((q, from, j));
                }
                None if !allow_new => return None,
                None => {
                    let mut solo = (*q).clone();
                    if !spreads.zones.is_empty() {
                        // With zone spreads in play, every pod for a new node is pinned
                        // to a zone here, where the spreads are checked in this order:
                        // a spread pod to a zone its spread allows now (its own if it
                        // may), any other pod to its own zone. The solver need not see
                        // the spreads.
                        let own = &self.p.nodes[from].node.zone;
                        let zone = match &allowed {
                            Some(ok) if ok.contains(own) => own.clone(),
                            Some(ok) => ok.first()?.clone(),
                            None => own.clone(),
                        };
                        solo.topology_spread.clear();
                        solo.node_selector.insert(labels::ZONE.into(), zone.clone());
                        spreads.placed.push((q.clone(), zone));
                    }
                    pending.push(solo);
                    out.order.push(q.id.clone());
                    left.push((q, from));
                }
            }
        }
        if !left.is_empty() {
            if let Some(ceiling) = ceiling {
                // One new node would hold every pod left: they select no two zones,
                // and its pair fits their sum, with an offering in their zone.
                // Two or more are refused by the caller.
                let mut zones = pending
                    .iter()
                    .filter_map(|q| q.node_selector.get(labels::ZONE));
                let first = zones.next();
                if zones.any(|z| Some(z) != first) {
                    return None;
                }
                let need = pending
                    .iter()
                    .fold(Resources::default(), |a, q| a.saturating_add(&q.requests));
                if !self
                    .pairs
                    .fits_below(&need, first.map(String::as_str), ceiling.0)
                {
                    return None;
                }
            }
            let plan = self.solve(&pending, &[], solver)?;
            if self.over_limits(removed, &plan.nodes) {
                if !self.replacements.is_empty() {
                    return None;
                }
                // Solved without the cluster's nodes, the plan does not see how much of
                // the pools' limits they use: the full solver does.
                return self.simulate_full(removed, all, solver);
            }
            self.take_new(&plan, &left, &mut out)?;
        }
        Some(out)
    }

    /// Would these new nodes push a pool over its limits, with the nodes that stay?
    fn over_limits(&self, removed: &[usize], new: &[NewNode]) -> bool {
        let cap = |ty: &str| self.p.catalog.get(ty).map(|t| t.capacity.clone());
        for (k, pool) in self.p.nodepools.iter().enumerate() {
            if pool.limits.is_empty() || !new.iter().any(|n| n.nodepool == pool.name) {
                continue;
            }
            let (mut used, mut count) = self.pool_usage(k, removed);
            for n in new.iter().filter(|n| n.nodepool == pool.name) {
                used.saturating_add_assign(&cap(&n.instance_type).unwrap_or_default());
                count += 1;
            }
            if pool.limits.exceeded_by(&used, count).is_some() {
                return true;
            }
        }
        false
    }

    /// Capacity and node count of pool `k` without `removed`: the nodes that stay and
    /// the replacements planned in this pass.
    fn pool_usage(&self, k: usize, removed: &[usize]) -> (Resources, u64) {
        let cap = |ty: &str| self.p.catalog.get(ty).map(|t| t.capacity.clone());
        let mut used = Resources::default();
        let mut count = 0u64;
        for j in 0..self.p.nodes.len() {
            if self.pool[j] == Some(k) && !self.gone[j] && !removed.contains(&j) {
                used.saturating_add_assign(&self.capacity[j]);
                count += 1;
            }
        }
        let name = &self.p.nodepools[k].name;
        for n in self.replacements.iter().filter(|n| &n.nodepool == name) {
            used.saturating_add_assign(&cap(&n.instance_type).unwrap_or_default());
            count += 1;
        }
        (used, count)
    }

    fn simulate_full(
        &self,
        removed: &[usize],
        pods: Vec<(Arc<Pod>, usize)>,
        solver: &str,
    ) -> Option<Outcome> {
        let budget = self.full_budget.get();
        if budget == 0 {
            return None;
        }
        self.full_budget.set(budget - 1);
        let mut idx = Vec::new();
        let nodes: Vec<ExistingNode> = (0..self.p.nodes.len())
            .filter(|&j| self.usable(j, removed))
            .map(|j| {
                idx.push(j);
                ExistingNode::new(
                    self.p.nodes[j].node.clone(),
                    self.pods_of(j).cloned().collect(),
                )
            })
            .collect();
        let pending: Vec<Pod> = pods.iter().map(|(q, _)| (**q).clone()).collect();
        let plan = self.solve(&pending, &nodes, solver)?;
        let mut out = Outcome::default();
        let pos: HashMap<&PodId, usize> = pods
            .iter()
            .enumerate()
            .map(|(k, (q, _))| (&q.id, k))
            .collect();
        let node_pos: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(k, e)| (e.node.name.as_str(), k))
            .collect();
        for b in &plan.existing {
            let (&k, &m) = (pos.get(&b.pod)?, node_pos.get(b.node.as_str())?);
            out.to_existing.push((pods[k].0.clone(), pods[k].1, idx[m]));
        }
        self.take_new(&plan, &pods, &mut out)?;
        out.order = plan.order.clone();
        Some(out)
    }

    fn solve(&self, pending: &[Pod], nodes: &[ExistingNode], solver: &str) -> Option<crate::Plan> {
        let problem = Problem::new(pending, nodes, self.p.nodepools, self.p.catalog);
        let prep = Prepared::with_pairs(self.pairs.clone(), problem);
        let plan = crate::Strategy::solve_prepared(&crate::strategy(solver).ok()?, &prep);
        plan.unschedulable.is_empty().then_some(plan)
    }

    fn take_new(
        &self,
        plan: &crate::Plan,
        pods: &[(Arc<Pod>, usize)],
        out: &mut Outcome,
    ) -> Option<()> {
        let pos: HashMap<&PodId, usize> = pods
            .iter()
            .enumerate()
            .map(|(k, (q, _))| (&q.id, k))
            .collect();
        for n in &plan.nodes {
            let r = out.new_nodes.len();
            for id in &n.pods {
                let k = *pos.get(id)?;
                out.to_new.push((pods[k].0.clone(), pods[k].1, r));
            }
            // The solver's placeholder names may be taken by nodes of the cluster.
            let mut n = n.clone();
            let k = self.named.get();
            self.named.set(k + 1);
            let mut name = format!("replacement-{k}");
            while self.by_name.contains_key(name.as_str()) {
                name.push('x');
            }
            n.labels.insert(labels::HOSTNAME.into(), name.clone());
            n.name = name;
            out.new_nodes.push(n);
        }
        Some(())
    }

    /// Record a move: its nodes are gone, their pods are on their new nodes, budgets
    /// are spent.
    pub fn commit(&mut self, removed: &[usize], out: &Outcome) {
        for (q, _, j) in &out.to_existing {
            self.free[*j] = self.free[*j].saturating_sub(&q.requests);
            self.moved_in[*j].push(q.clone());
        }
        self.replacements.extend(out.new_nodes.iter().cloned());
        for (q, _, r) in &out.to_new {
            self.on_replacements
                .push((q.clone(), out.new_nodes[*r].zone.clone()));
        }
        for &i in removed {
            for (b, pdb) in self.p.pdbs.iter().enumerate() {
                let c = self.pods_of(i).filter(|q| pdb.covers(q)).count() as i64;
                self.pdb_left[b] -= c;
            }
            self.gone[i] = true;
            if let Some(k) = self.pool[i] {
                self.pool_disrupting[k] += 1;
            }
        }
    }

    /// Build the move for `removed` with its simulated outcome.
    pub fn make_move(&self, reason: Reason, removed: &[usize], out: &Outcome) -> Move {
        let names = |i: usize| self.p.nodes[i].node.name.clone();
        let mut pods: Vec<PodMove> = out
            .to_existing
            .iter()
            .map(|(q, from, to)| PodMove {
                pod: q.id.clone(),
                from: names(*from),
                to: names(*to),
            })
            .chain(out.to_new.iter().map(|(q, from, r)| PodMove {
                pod: q.id.clone(),
                from: names(*from),
                to: out.new_nodes[*r].name.clone(),
            }))
            .collect();
        let rank: HashMap<&PodId, usize> = out
            .order
            .iter()
            .enumerate()
            .map(|(k, id)| (id, k))
            .collect();
        pods.sort_by_key(|m| {
            (
                rank.get(&m.pod).copied().unwrap_or(usize::MAX),
                m.pod.clone(),
            )
        });
        let before: Money = removed.iter().map(|&i| self.p.nodes[i].node.price).sum();
        let all_spot = removed
            .iter()
            .all(|&i| self.p.nodes[i].node.capacity_type == CapacityType::Spot);
        let spot_only = !all_spot
            && out
                .new_nodes
                .iter()
                .all(|n| n.capacity_type == CapacityType::Spot)
            && !out.new_nodes.is_empty();
        Move {
            reason,
            nodes: removed.iter().map(|&i| names(i)).collect(),
            node_indices: removed.to_vec(),
            replacements: out.new_nodes.clone(),
            spot_only,
            evictions: self.pod_count(removed) as u32,
            pods,
            savings_per_hour: before - out.new_cost(),
            disruption_cost: removed.iter().map(|&i| self.disruption_cost(i)).sum(),
        }
    }

    /// Spot prices of a replacement's instance type and alternatives, cheapest first,
    /// in the replacement's zone.
    pub fn spot_prices(&self, n: &NewNode) -> Vec<(Money, &str)> {
        let mut v: Vec<(Money, &str)> = std::iter::once(&n.instance_type)
            .chain(n.alternatives.iter())
            .filter_map(|t| {
                let it = self.p.catalog.get(t)?;
                it.offerings
                    .iter()
                    .filter(|o| {
                        o.available && o.capacity_type == CapacityType::Spot && o.zone == n.zone
                    })
                    .map(|o| o.price)
                    .min()
                    .map(|p| (p, it.name.as_str()))
            })
            .collect();
        v.sort();
        v
    }
}

/// Can the pod's moves be simulated without the full solver: no pod affinity or
/// anti-affinity, and hard spread constraints only over zones (without `minDomains`),
/// which the fast path checks itself.
fn fast_path_ok(q: &Pod) -> bool {
    q.pod_affinity.is_empty()
        && q.pod_anti_affinity.is_empty()
        && q.topology_spread.iter().all(|t| {
            t.when_unsatisfiable == nodepack_model::pod::WhenUnsatisfiable::ScheduleAnyway
                || (t.topology_key == labels::ZONE && t.min_domains.is_none())
        })
}

/// Zone spread bookkeeping of the fast path: the zones, the nodes that stay and the pods
/// placed so far in this simulation.
#[derive(Default)]
struct ZoneSpreads {
    zones: Vec<String>,
    stay: Vec<usize>,
    placed: Vec<(Arc<Pod>, String)>,
    /// Per (namespace, selector) seen: its pods on the nodes that stay, per zone of
    /// `zones` (they do not change within one simulation).
    base: Vec<(String, nodepack_model::Requirements, Vec<i64>)>,
}

impl ZoneSpreads {
    /// The zones the pod's hard zone spreads allow now (`None`: no such spread).
    fn allowed(
        &mut self,
        fleet: &Fleet,
        q: &Pod,
        terms: &[nodepack_model::Requirements],
    ) -> Option<Vec<String>> {
        let hard: Vec<_> = q.hard_spreads().collect();
        if hard.is_empty() {
            return None;
        }
        let zone_of = |zones: &[String], z: &str| zones.iter().position(|x| x == z);
        // Domains: zones the pod's node requirements allow (indices into `zones`).
        let domains: Vec<usize> = (0..self.zones.len())
            .filter(|&i| {
                terms.iter().any(|t| {
                    t.get_ref(labels::ZONE)
                        .is_none_or(|v| v.has(self.zones[i].as_str()))
                })
            })
            .collect();
        let mut ok = domains.clone();
        for t in hard {
            let matches =
                |o: &Pod| o.id.namespace == q.id.namespace && t.selector.satisfied_by(&o.labels);
            let known = self
                .base
                .iter()
                .position(|(ns, sel, _)| *ns == q.id.namespace && *sel == t.selector);
            let b = match known {
                Some(b) => b,
                None => {
                    let mut per = vec![0i64; self.zones.len()];
                    for &j in &self.stay {
                        if let Some(i) = zone_of(&self.zones, &fleet.p.nodes[j].node.zone) {
                            per[i] += fleet.pods_of(j).filter(|o| matches(o)).count() as i64;
                        }
                    }
                    self.base
                        .push((q.id.namespace.clone(), t.selector.clone(), per));
                    self.base.len() - 1
                }
            };
            let mut count = self.base[b].2.clone();
            for (o, z) in self.placed.iter().chain(fleet.on_replacements.iter()) {
                if matches(o) {
                    if let Some(i) = zone_of(&self.zones, z) {
                        count[i] += 1;
                    }
                }
            }
            let self_match = i64::from(matches(q));
            let min = domains.iter().map(|&i| count[i]).min().unwrap_or(0);
            ok.retain(|&i| count[i] + self_match - min <= i64::from(t.max_skew));
        }
        Some(ok.into_iter().map(|i| self.zones[i].clone()).collect())
    }
}

/// Requested share of the scarcer of CPU and memory, in thousandths.
pub fn share(used: &Resources, alloc: &Resources) -> u64 {
    share_of(used.cpu.0, used.memory.0, alloc)
}

/// [`share`] of what `free` leaves used, without building it.
fn used_share(free: &Resources, alloc: &Resources) -> u64 {
    share_of(
        alloc.cpu.0.saturating_sub(free.cpu.0),
        alloc.memory.0.saturating_sub(free.memory.0),
        alloc,
    )
}

fn share_of(cpu: u64, memory: u64, alloc: &Resources) -> u64 {
    let f = |a: u64, b: u64| a.saturating_mul(1000).checked_div(b).unwrap_or(0);
    f(cpu, alloc.cpu.0).max(f(memory, alloc.memory.0))
}

pub(crate) fn status(p: &ConsolidationProblem, i: usize) -> NodeStatus {
    p.status.get(i).copied().unwrap_or_default()
}

/// Moves for expired nodes (forceful: no budgets; their pods are provisioned again).
pub fn expirations(fleet: &mut Fleet) -> Vec<Move> {
    let mut out = Vec::new();
    for i in 0..fleet.p.nodes.len() {
        if fleet.expired(i) {
            let m = fleet.make_move(Reason::Expired, &[i], &Outcome::default());
            fleet.commit(&[i], &Outcome::default());
            out.push(m);
        }
    }
    out
}

/// Empty candidates: blocked by nothing, settled, without pods; within the budgets for
/// `Empty`, in node order.
pub fn empties(fleet: &Fleet) -> Vec<usize> {
    let mut per_pool: HashMap<usize, u32> = HashMap::new();
    let mut out = Vec::new();
    for i in 0..fleet.p.nodes.len() {
        if fleet.pod_count(&[i]) > 0 || !fleet.settled(i) || fleet.blocked(i).is_some() {
            continue;
        }
        let Some(k) = fleet.pool[i] else { continue };
        let used = per_pool.entry(k).or_default();
        if *used < fleet.budget_left(k, Reason::Empty) {
            *used += 1;
            out.push(i);
        }
    }
    out
}

/// The total price of the running pods packed from scratch with `solver` (the target a
/// global consolidation aims at).
pub fn repack_cost(fleet: &Fleet, solver: &str) -> Option<Money> {
    scratch_cost(
        &fleet_pods(fleet),
        fleet.p.nodepools,
        fleet.p.catalog,
        &fleet.pairs,
        solver,
    )
}

/// The running pods of the fleet, node by node.
fn fleet_pods(fleet: &Fleet) -> Vec<Pod> {
    fleet
        .p
        .nodes
        .iter()
        .flat_map(|e| e.pods.iter().map(|q| (**q).clone()))
        .collect()
}

/// The total price of the running pods packed from scratch by nodepack's greedy packer
/// alone (the `nodepack` solver without its pattern LP): a quick target, a few percent
/// above the full solver's where pods are many and diverse.
pub fn greedy_repack_cost(fleet: &Fleet) -> Money {
    let np = crate::nodepack::NodepackStrategy {
        cost_only: true,
        greedy_only: true,
        ..Default::default()
    };
    let (p, pods) = (fleet.p, fleet_pods(fleet));
    packed_cost(&pods, p.nodepools, p.catalog, &fleet.pairs, &np)
}

/// Price per hour of `pods` packed onto new nodes only by the `solver` strategy (the
/// from-scratch packing consolidation aims at and the simulator's repack gap measures
/// against); `None` for an unknown strategy.
pub fn scratch_cost(
    pods: &[Pod],
    nodepools: &[NodePool],
    catalog: &Catalog,
    pairs: &Arc<PoolCatalog>,
    solver: &str,
) -> Option<Money> {
    Some(if solver == "nodepack" {
        let np = crate::nodepack::NodepackStrategy {
            cost_only: true,
            ..Default::default()
        };
        packed_cost(pods, nodepools, catalog, pairs, &np)
    } else {
        let s = crate::strategy(solver).ok()?;
        packed_cost(pods, nodepools, catalog, pairs, &s)
    })
}

/// Price per hour of `pods` packed onto new nodes only by `strategy`.
fn packed_cost(
    pods: &[Pod],
    nodepools: &[NodePool],
    catalog: &Catalog,
    pairs: &Arc<PoolCatalog>,
    strategy: &dyn crate::Strategy,
) -> Money {
    let problem = Problem::new(pods, &[], nodepools, catalog);
    let prep = Prepared::with_pairs(pairs.clone(), problem);
    strategy.solve_prepared(&prep).cost_per_hour
}

#[cfg(test)]
pub(crate) mod tests;
