//! The scheduling engine both strategies share: existing nodes, claims (nodes planned in
//! this round), topology bookkeeping, preference relaxation and pool limits. A strategy
//! decides the order of pods, how nodes are chosen among those that fit, and which
//! instance type and offering a claim launches.

use crate::prep::{max_capacity, taint_blocking, CompatCache, LimitTracker, Prepared};
use crate::topology::{HostCounts, Kind, PodGroups, Topology};
use crate::Reason;
use nodepack_model::pod::{PodAffinityTerm, TopologySpread, WhenUnsatisfiable, HOSTNAME_KEY};
use nodepack_model::taints::TolerationOperator;
use nodepack_model::{labels, Effect, Pod, Requirements, Resources, Toleration, ValueSet};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// How far a pod's preferences have been relaxed, in Karpenter's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relax {
    /// Index of the required node-affinity term in use (earlier terms were dropped).
    pub term: usize,
    /// Preferred pod affinity terms dropped (heaviest first).
    pub pref_affinity: usize,
    /// Preferred pod anti-affinity terms dropped (heaviest first).
    pub pref_anti: usize,
    /// Preferred node affinity terms dropped (heaviest first).
    pub pref_node: usize,
    /// ScheduleAnyway spread constraints dropped.
    pub soft_spread: usize,
    /// PreferNoSchedule taints tolerated.
    pub tolerate_prefer: bool,
}

fn by_weight<T>(v: &[nodepack_model::pod::Weighted<T>]) -> Vec<&T> {
    let mut w: Vec<(usize, &nodepack_model::pod::Weighted<T>)> = v.iter().enumerate().collect();
    w.sort_by(|a, b| b.1.weight.cmp(&a.1.weight).then(a.0.cmp(&b.0)));
    w.into_iter().map(|(_, t)| &t.term).collect()
}

impl Relax {
    /// Relax one more step, in Karpenter's order: drop the first of several required
    /// node-affinity terms, then the heaviest preferred pod affinity, preferred pod
    /// anti-affinity and preferred node affinity terms, then one ScheduleAnyway spread
    /// constraint, then tolerate PreferNoSchedule taints. False when nothing is left.
    pub fn step(&mut self, pod: &Pod) -> bool {
        let soft = pod
            .topology_spread
            .iter()
            .filter(|t| t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
            .count();
        if self.term + 1 < pod.node_affinity_required.len() {
            self.term += 1;
        } else if self.pref_affinity < pod.pod_affinity_preferred.len() {
            self.pref_affinity += 1;
        } else if self.pref_anti < pod.pod_anti_affinity_preferred.len() {
            self.pref_anti += 1;
        } else if self.pref_node < pod.node_affinity_preferred.len() {
            self.pref_node += 1;
        } else if self.soft_spread < soft {
            self.soft_spread += 1;
        } else if !self.tolerate_prefer {
            self.tolerate_prefer = true;
        } else {
            return false;
        }
        true
    }
}

/// A pod's effective constraints after relaxation (its pod-affinity and spread terms
/// borrowed from the pod).
#[derive(Clone, Debug)]
pub struct View<'a> {
    /// Node requirements (node selector, the required term in use, the heaviest
    /// remaining preferred node-affinity term).
    pub term: Requirements,
    /// The required part of `term` (no preferred terms): topology spread counts its
    /// domains, as Kubernetes does.
    pub required: Requirements,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Whether PreferNoSchedule taints still block.
    pub strict_prefer: bool,
    /// Spread constraints in force.
    pub spreads: Vec<&'a TopologySpread>,
    /// Pod affinity terms in force (required and remaining preferred).
    pub affinity: Vec<&'a PodAffinityTerm>,
    /// Pod anti-affinity terms in force.
    pub anti: Vec<&'a PodAffinityTerm>,
}

impl<'a> View<'a> {
    /// The view of a pod at a relaxation level.
    pub fn new(pod: &'a Pod, r: &Relax) -> View<'a> {
        let terms = pod.node_requirement_terms();
        let mut term = terms[r.term.min(terms.len() - 1)].clone();
        let required = term.clone();
        let pref_node = by_weight(&pod.node_affinity_preferred);
        if let Some(t) = pref_node.get(r.pref_node) {
            // Karpenter treats the heaviest remaining preferred term as required; if it
            // contradicts the required terms it is relaxed away like any other.
            term = term.intersect(t);
        }
        let mut affinity: Vec<&PodAffinityTerm> = pod.pod_affinity.iter().collect();
        affinity.extend(
            by_weight(&pod.pod_affinity_preferred)
                .into_iter()
                .skip(r.pref_affinity),
        );
        let mut anti: Vec<&PodAffinityTerm> = pod.pod_anti_affinity.iter().collect();
        anti.extend(
            by_weight(&pod.pod_anti_affinity_preferred)
                .into_iter()
                .skip(r.pref_anti),
        );
        let mut dropped = 0;
        let spreads = pod
            .topology_spread
            .iter()
            .filter(|t| {
                if t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway
                    && dropped < r.soft_spread
                {
                    dropped += 1;
                    false
                } else {
                    true
                }
            })
            .collect();
        let mut tolerations = pod.tolerations.clone();
        if r.tolerate_prefer {
            tolerations.push(Toleration {
                key: String::new(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: Some(Effect::PreferNoSchedule),
            });
        }
        View {
            term,
            required,
            tolerations,
            strict_prefer: !r.tolerate_prefer,
            spreads,
            affinity,
            anti,
        }
    }
}

/// An existing node as the engine tracks it.
#[derive(Clone, Debug)]
pub struct NodeSt {
    /// Index in the problem's nodes.
    pub index: usize,
    /// Free resources.
    pub free: Resources,
    /// Hostname counts.
    pub host: HostCounts,
    /// Pending pods placed on it (indices).
    pub pods: Vec<usize>,
}

/// A node planned in this round.
#[derive(Clone, Debug)]
pub struct Claim {
    /// Pool index.
    pub pool: usize,
    /// Accumulated node requirements.
    pub reqs: Requirements,
    /// Pairs (pool, instance type) it may still launch: compatible with its requirements
    /// and with room for all its pods, as indices into `Prepared::pts`.
    pub options: Vec<u32>,
    /// Element-wise maximum of the options' usable capacity (a quick rejection test).
    pub max_cap: Resources,
    /// Element-wise minimum of the options' usable (cpu, memory, storage, pods): requests
    /// within it fit every option (a quick acceptance test).
    pub min_cap: [u64; 4],
    /// Sum of its pods' requests.
    pub requested: Resources,
    /// Pending pods placed on it (indices).
    pub pods: Vec<usize>,
    /// Placeholder hostname.
    pub hostname: String,
    /// Hostname counts.
    pub host: HostCounts,
    /// The zone, once pinned to one.
    pub zone: Option<String>,
    /// Usable capacity of its cheapest option: room here costs nothing more.
    pub target_cap: Resources,
    /// How often growing it was refused (growth policy): after a few, only free room
    /// is offered, which bounds the work spent on full claims.
    pub growth_refusals: std::cell::Cell<u32>,
    /// Capacity counted against its pool's limits.
    pub reserved: Resources,
}

/// A memoized fresh-claim answer: its key in full, and the options or the refusal.
type FreshMemo = (Requirements, Resources, Vec<u32>, Result<Vec<u32>, Reason>);

/// `Engine::claim_zone` of a claim not pinned to one of the first 64 zones.
const NO_ZONE: u8 = u8::MAX;

/// Options tried per group when [`Engine::merge_claims`] re-packs claims.
pub const MERGE_CANDIDATES: usize = 16;

/// Refused growths after which a claim leaves the first-fit order.
const MAX_GROWTH_REFUSALS: u32 = 3;

/// The refusal of [`Policy::growth_factor`].
const GROWTH_REFUSED: &str = "growing the claim costs more than a node of its own";

/// Where a pod went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// An existing node (index in the problem's nodes).
    Existing(usize),
    /// A claim (index in the engine's claims).
    Claim(usize),
}

/// How the engine chooses among nodes that fit.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Existing nodes: best fit (least free capacity left) instead of first fit.
    pub existing_best_fit: bool,
    /// Claims grow only while worth it: adding a pod may raise the price of the cheapest
    /// type that holds the claim by at most this factor times the pod's fair cost (its
    /// dominant share of that type's price). `None` is Karpenter's rule: a claim grows
    /// while any type still holds it, up to the largest instance in the catalog.
    pub growth_factor: Option<f64>,
}

/// Bitsets over claims: for each hostname-keyed group, which claims have reached the
/// group's limit by count (`by_count`) or by owners (`by_owner`). Lets a pod skip claims
/// its hostname anti-affinity or spread rules out with one bit test.
#[derive(Clone, Debug, Default)]
struct HostBlocks {
    by_count: Vec<Vec<u64>>,
    by_owner: Vec<Vec<u64>>,
}

impl HostBlocks {
    fn set(v: &mut Vec<Vec<u64>>, g: usize, c: usize, on: bool) {
        if v.len() <= g {
            v.resize(g + 1, Vec::new());
        }
        let w = &mut v[g];
        if w.len() <= c / 64 {
            w.resize(c / 64 + 1, 0);
        }
        if on {
            w[c / 64] |= 1 << (c % 64);
        } else {
            w[c / 64] &= !(1 << (c % 64));
        }
    }
    /// The claims any of `blockers` (group, by owners) blocks.
    fn union(&self, blockers: &[(usize, bool)]) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for &(g, by_owner) in blockers {
            let v = if by_owner {
                &self.by_owner
            } else {
                &self.by_count
            };
            let Some(w) = v.get(g) else { continue };
            if out.len() < w.len() {
                out.resize(w.len(), 0);
            }
            for (o, x) in out.iter_mut().zip(w) {
                *o |= x;
            }
        }
        out
    }
}

/// The engine state.
pub struct Engine<'p, 'a> {
    /// Preparation.
    pub prep: &'p Prepared<'a>,
    /// Each pending pod's view with nothing relaxed (built once: a pod's view is
    /// asked for in every phase).
    base_views: Vec<Rc<View<'a>>>,
    /// Topology groups and counts.
    pub topo: Topology,
    /// Existing nodes.
    pub nodes: Vec<NodeSt>,
    /// Existing node order: initialized first, then by name.
    pub node_order: Vec<usize>,
    /// Claims.
    pub claims: Vec<Claim>,
    /// Claim order for first fit: fewest pods first, then creation.
    claim_order: Vec<usize>,
    /// Each claim's pinned zone as an index into `Prepared::zones` (below 64), or
    /// [`NO_ZONE`]; a compact copy of `Claim::zone` for the first-fit scan.
    claim_zone: Vec<u8>,
    /// Pool limits.
    pub limits: LimitTracker,
    /// Compatibility cache.
    pub cache: CompatCache,
    /// Placement of each pending pod.
    pub placed: Vec<Option<Placement>>,
    /// Pods in placement order.
    pub order: Vec<usize>,
    /// Full constraint groups of each pending pod.
    full_groups: Vec<PodGroups>,
    universe: HashMap<(Requirements, String), BTreeSet<String>>,
    blocks: HostBlocks,
    /// Claims whose growth was refused too often: taken out of the first-fit order.
    closing: std::cell::RefCell<Vec<usize>>,
    /// Options of fresh claims by (requirements, requests, candidate options).
    fresh_memo: std::cell::RefCell<HashMap<u64, FreshMemo>>,
    policy: Policy,
}

fn dominant_share(req: &Resources, cap: &Resources) -> f64 {
    let f = |a: u64, b: u64| {
        if b == 0 {
            if a == 0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            a as f64 / b as f64
        }
    };
    f(req.cpu.0, cap.cpu.0).max(f(req.memory.0, cap.memory.0))
}

/// The anti-affinity groups a placed pod keeps other pods out of: those of its
/// *required* terms only (they come first in a view). Karpenter's topology tracks
/// inverse anti-affinity for `requiredDuringSchedulingIgnoredDuringExecution` terms;
/// a placed pod's preferred anti-affinity does not block others (kube-scheduler scores
/// it, never filters on it).
fn required_anti<'g>(pod: &Pod, pg: &'g PodGroups) -> &'g [usize] {
    &pg.anti[..pod.pod_anti_affinity.len().min(pg.anti.len())]
}

impl<'p, 'a> Engine<'p, 'a> {
    /// A new engine: existing pods counted, every pending pod's groups declared.
    pub fn new(prep: &'p Prepared<'a>, policy: Policy) -> Self {
        let problem = prep.problem;
        let mut topo = Topology::default();
        let base_views: Vec<Rc<View<'a>>> = problem
            .pending
            .iter()
            .map(|p| Rc::new(View::new(p, &Relax::default())))
            .collect();
        let full_groups: Vec<PodGroups> = problem
            .pending
            .iter()
            .zip(&base_views)
            .map(|(p, v)| topo.declare(p, &v.spreads, &v.affinity, &v.anti))
            .collect();
        let mut existing_anti = Vec::new();
        for n in problem.nodes {
            for p in &n.pods {
                let v = View::new(p, &Relax::default());
                let mut anti = topo.declare(p, &v.spreads, &v.affinity, &v.anti).anti;
                anti.truncate(p.pod_anti_affinity.len());
                existing_anti.push(anti);
            }
        }
        let mut nodes = Vec::new();
        let mut k = 0;
        let base = problem.pending.len();
        for (i, n) in problem.nodes.iter().enumerate() {
            let mut used = Resources::default();
            let mut host = HostCounts::default();
            for p in &n.pods {
                used = used.saturating_add(&p.requests);
                let labels = &n.node.labels;
                // Existing pods get indices past the pending ones for the select cache.
                topo.record(base + k, p, &existing_anti[k], &mut host, &|key| {
                    labels.get(key).cloned()
                });
                k += 1;
            }
            nodes.push(NodeSt {
                index: i,
                free: n.node.allocatable.saturating_sub(&used),
                host,
                pods: vec![],
            });
        }
        let mut node_order: Vec<usize> = (0..nodes.len()).collect();
        node_order.sort_by(|&a, &b| {
            let (na, nb) = (&problem.nodes[a].node, &problem.nodes[b].node);
            nb.initialized()
                .cmp(&na.initialized())
                .then_with(|| na.name.cmp(&nb.name))
        });
        Engine {
            prep,
            base_views,
            topo,
            nodes,
            node_order,
            claims: vec![],
            claim_order: vec![],
            claim_zone: vec![],
            limits: LimitTracker::new(prep),
            cache: CompatCache::default(),
            placed: vec![None; problem.pending.len()],
            order: vec![],
            full_groups,
            universe: HashMap::new(),
            blocks: HostBlocks::default(),
            closing: Default::default(),
            fresh_memo: Default::default(),
            policy,
        }
    }

    /// The pod's groups for a view (the full groups when nothing is relaxed).
    fn groups(&mut self, pi: usize, view: &View, relaxed: bool) -> PodGroups {
        let pod = &self.prep.problem.pending[pi];
        let mut g = if relaxed {
            self.topo
                .declare(pod, &view.spreads, &view.affinity, &view.anti)
        } else {
            self.full_groups[pi].clone()
        };
        self.topo.complete(pi, pod, &mut g);
        g
    }

    /// Domains of `key` the pod could use at all: values from every compatible pair of
    /// every pool, and from compatible existing nodes.
    fn universe(&mut self, view: &View, key: &str) -> BTreeSet<String> {
        let ck = (view.required.clone(), key.to_string());
        if let Some(u) = self.universe.get(&ck) {
            return u.clone();
        }
        let mut u = BTreeSet::new();
        for pool in 0..self.prep.pools.len() {
            if let Ok(list) =
                self.cache
                    .get(self.prep, pool, &view.required, &view.tolerations, false)
            {
                for &o in list {
                    u.extend(option_values(self.prep, o, &view.required, key));
                }
            }
        }
        for n in self.prep.problem.nodes {
            if view.required.satisfied_by(&n.node.labels) {
                if let Some(v) = n.node.labels.get(key) {
                    u.insert(v.clone());
                }
            }
        }
        self.universe.insert(ck, u.clone());
        u
    }

    /// Try to place pending pod `pi` with its view. `new_claims` allows creating claims.
    pub fn place(
        &mut self,
        pi: usize,
        view: &View,
        relaxed: bool,
        new_claims: bool,
    ) -> Result<Placement, Reason> {
        let mut pg = self.groups(pi, view, relaxed);
        let pod = &self.prep.problem.pending[pi];
        let mut universes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for k in &pg.keys {
            let u = self.universe(view, k);
            universes.insert(k.clone(), u);
        }
        self.topo.prepare_mins(pod, &mut pg, &universes);
        let mut last: Option<Reason> = None;
        // 1. Existing nodes.
        match self.try_existing(pod, view, &pg) {
            Ok(n) => {
                self.commit_existing(pi, n, &pg);
                return Ok(Placement::Existing(self.nodes[n].index));
            }
            Err(e) => last = e.or(last),
        }
        // 2. Claims of this round.
        let tried = self.try_claims(pod, view, &pg, &universes);
        for c in self.closing.take() {
            if let Some(pos) = self.claim_order.iter().position(|&x| x == c) {
                self.claim_order.remove(pos);
            }
        }
        match tried {
            Ok((c, reqs, options)) => {
                self.commit_claim(pi, c, reqs, options, &pg);
                return Ok(Placement::Claim(c));
            }
            Err(e) => last = e.or(last),
        }
        if !new_claims {
            return Err(last.unwrap_or(Reason::NoRoomOnExisting));
        }
        // 3. A new claim, from the pools in weight order.
        let mut reasons = Vec::new();
        for &pool in &self.prep.pool_order.clone() {
            match self.new_claim(pod, view, &pg, &universes, pool) {
                Ok((reqs, options)) => {
                    let c = self.claims.len();
                    let hostname = format!("{}-{}", self.prep.problem.nodepools[pool].name, c);
                    // Karpenter reserves the largest capacity the claim might launch;
                    // with the growth policy the claim reserves its cheapest option's
                    // capacity and updates it as it grows (see `commit_claim`).
                    let fitting = options.as_deref().unwrap_or(&[]);
                    let reserved = if self.policy.growth_factor.is_none() {
                        max_capacity(self.prep, fitting)
                    } else {
                        Resources::default()
                    };
                    self.limits.add(pool, &reserved);
                    self.claims.push(Claim {
                        pool,
                        reqs: self.prep.pools[pool].reqs.clone(),
                        options: vec![],
                        max_cap: Resources::default(),
                        min_cap: [0; 4],
                        requested: Resources::default(),
                        pods: vec![],
                        hostname,
                        host: HostCounts::default(),
                        zone: None,
                        target_cap: Resources::default(),
                        growth_refusals: Default::default(),
                        reserved,
                    });
                    self.claim_order.insert(0, c);
                    self.claim_zone.push(NO_ZONE);
                    self.commit_claim(pi, c, reqs, options, &pg);
                    return Ok(Placement::Claim(c));
                }
                Err(e) => reasons.push(e),
            }
        }
        if self.prep.pool_order.is_empty() {
            return Err(last.unwrap_or(Reason::NoNodePool));
        }
        Err(match reasons.len() {
            1 => reasons.remove(0),
            _ => Reason::Pools(reasons),
        })
    }

    fn try_existing(
        &self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
    ) -> Result<usize, Option<Reason>> {
        let mut best: Option<(f64, usize)> = None;
        let mut last = None;
        for &n in &self.node_order {
            let st = &self.nodes[n];
            let node = &self.prep.problem.nodes[st.index].node;
            if !node.schedulable() {
                continue;
            }
            if taint_blocking(&node.taints, &view.tolerations, view.strict_prefer).is_some() {
                continue;
            }
            if !view.term.satisfied_by(&node.labels) || !pod.requests.fits(&st.free) {
                continue;
            }
            if let Err(r) = self.topo.host_ok(pod, pg, &st.host) {
                last = Some(Reason::Topology(r.to_string()));
                continue;
            }
            let mut ok = true;
            for k in &pg.keys {
                let Some(d) = node.labels.get(k) else {
                    ok = false;
                    break;
                };
                if let Err(r) = self.topo.allows_one(pod, pg, k, d) {
                    last = Some(Reason::Topology(format!("{k}: {r}")));
                    ok = false;
                    break;
                }
            }
            if !ok {
                continue;
            }
            if !self.policy.existing_best_fit {
                return Ok(n);
            }
            let left = st.free.saturating_sub(&pod.requests);
            let score = 1.0 - dominant_share(&left, &node.allocatable);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, n));
            }
        }
        best.map(|(_, n)| n).ok_or(last)
    }

    fn commit_existing(&mut self, pi: usize, n: usize, pg: &PodGroups) {
        let pod = &self.prep.problem.pending[pi];
        let st = &mut self.nodes[n];
        st.free = st.free.saturating_sub(&pod.requests);
        st.pods.push(pi);
        let labels = &self.prep.problem.nodes[st.index].node.labels;
        self.topo
            .record(pi, pod, required_anti(pod, pg), &mut st.host, &|k| {
                labels.get(k).cloned()
            });
        self.placed[pi] = Some(Placement::Existing(st.index));
        self.order.push(pi);
    }

    /// Check a claim (or a fresh claim's requirements and options) for the pod. Returns
    /// the new requirements and options.
    #[allow(clippy::too_many_arguments)]
    fn fit_claim(
        &self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
        reqs: &Requirements,
        options: &[u32],
        requested: &Resources,
        fresh: bool,
        min_cap: &[u64; 4],
    ) -> Result<(Requirements, Option<Vec<u32>>), Reason> {
        // Keys whose requirement changes: the pod's terms that narrow the claim's, and
        // topology pins. Options already satisfy the claim's requirements, so only these
        // keys (and the offerings) need checking again.
        let mut changed = Requirements::new();
        let mut new_reqs = reqs.clone();
        for (k, vs) in &view.term.keys {
            let cur = reqs.get(k);
            let merged = cur.intersect(vs);
            if merged != cur {
                if merged.is_empty() {
                    return Err(Reason::Requirements(format!(
                        "requirement {k} {vs} conflicts with the node's {cur}"
                    )));
                }
                changed.add(k, vs.clone());
                new_reqs.add(k, vs.clone());
            }
        }
        let total = requested.saturating_add(&pod.requests);
        // Non-hostname topology keys: choose (and pin) a domain.
        for k in pg.keys.iter().chain(pg.counted_keys.iter()) {
            let pinned = new_reqs
                .get_ref(k)
                .filter(|v| v.len() == Some(1))
                .and_then(|v| v.any_value().map(str::to_string));
            if let Some(d) = &pinned {
                if pg.keys.contains(k) {
                    self.topo
                        .allows_one(pod, pg, k, d)
                        .map_err(|r| Reason::Topology(format!("{k} {d}: {r}")))?;
                }
                continue;
            }
            let cand = self.candidate_domains(options, &new_reqs, &total, k);
            if cand.is_empty() {
                return Err(Reason::Topology(format!("no domain of {k} available")));
            }
            let allowed = if pg.keys.contains(k) {
                self.topo
                    .allowed(pod, pg, k, &cand, &universes[k])
                    .map_err(|r| Reason::Topology(r.0))?
            } else {
                cand
            };
            let d = self.topo.best(pg, k, &allowed).unwrap_or_default();
            changed.add(k, ValueSet::in_values([d.clone()]));
            new_reqs.add(k, ValueSet::in_values([d]));
        }
        if fresh {
            // New claims of the same requirements, requests and options (most pods of a
            // workload) get the same options: computed once.
            let key = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (&new_reqs, &total, options).hash(&mut h);
                h.finish()
            };
            if let Some((r, t, o, out)) = self.fresh_memo.borrow().get(&key) {
                if *r == new_reqs && *t == total && o[..] == *options {
                    return out.clone().map(|x| (new_reqs, Some(x)));
                }
            }
            let out = self.narrow_options(pod, &new_reqs, &changed, &total, options, true, min_cap);
            self.fresh_memo.borrow_mut().insert(
                key,
                (new_reqs.clone(), total, options.to_vec(), out.clone()),
            );
            return out.map(|x| (new_reqs, Some(x)));
        }
        self.narrow_options(pod, &new_reqs, &changed, &total, options, false, min_cap)
            .map(|o| (new_reqs, Some(o)))
    }

    /// The options that keep room for `total` and stay compatible with `new_reqs` (only
    /// the `changed` keys are checked again, unless `fresh`), with the growth policy and
    /// minValues applied.
    #[allow(clippy::too_many_arguments)]
    fn narrow_options(
        &self,
        pod: &Pod,
        new_reqs: &Requirements,
        changed: &Requirements,
        total: &Resources,
        options: &[u32],
        fresh: bool,
        min_cap: &[u64; 4],
    ) -> Result<Vec<u32>, Reason> {
        let recheck = fresh || !changed.is_empty();
        // `Prepared::pt_compatible_delta` in two parts: the labels only when a changed key is
        // not zone or capacity type, the offerings from the per-masks price table (a pair
        // has a price there exactly when it has an offering within the masks).
        let labels = changed
            .keys
            .keys()
            .any(|k| k != labels::ZONE && k != labels::CAPACITY_TYPE);
        let offered = recheck.then(|| self.prep.min_prices(self.prep.offer_masks(new_reqs)));
        let keep = |o: u32| {
            self.prep.fits_pt(total, o as usize)
                && offered.as_ref().is_none_or(|m| {
                    m[o as usize].is_some()
                        && (!labels || self.prep.pt_labels_ok(new_reqs, changed, o as usize))
                })
        };
        // One pass: the options kept (the vector allocates only once one is kept: most
        // attempts on existing claims keep none), and the growth policy's prices.
        let growth = self.policy.growth_factor.filter(|_| !fresh);
        let (mut before, mut after) = (i64::MAX, i64::MAX);
        let mut new_options: Vec<u32> = Vec::new();
        // Nothing to re-check and room in every option (`min_cap`, the smallest of the
        // options' capacities): all options stay, so the cheapest price does not rise.
        let all_fit =
            !recheck && total.extended.is_empty() && crate::prep::fits_caps(total, min_cap);
        if all_fit {
            new_options = options.to_vec();
        } else {
            for &o in options {
                let price = self.prep.min_price_of(o as usize);
                if growth.is_some() {
                    before = before.min(price);
                }
                if keep(o) {
                    new_options.push(o);
                    if growth.is_some() {
                        after = after.min(price);
                    }
                }
            }
        }
        if new_options.is_empty() {
            if !fresh {
                return Err(Reason::Resources(
                    "no instance type has room for the claim's pods and this one".into(),
                ));
            }
            let biggest = max_capacity_usable(self.prep, options);
            return Err(match total.shortfall(&biggest) {
                Some(s) => Reason::Resources(format!("no instance type has room: {s}")),
                None => Reason::Requirements(
                    "no instance type is compatible with the combined requirements".into(),
                ),
            });
        }
        if let Some(factor) = growth {
            // The fair price is needed only when the cheapest price rose by more than
            // the 1 micro-dollar slack (it is never negative).
            let rise = (after - before) as f64;
            if rise > 1.0 || factor < 0.0 {
                let fair = new_options
                    .iter()
                    .map(|&o| {
                        let p = &self.prep.pts[o as usize];
                        p.min_price as f64 * dominant_share(&pod.requests, &p.cap)
                    })
                    .fold(f64::INFINITY, f64::min);
                if rise > factor * fair + 1.0 {
                    return Err(Reason::Resources(GROWTH_REFUSED.into()));
                }
            }
        }
        if let Some(m) = self.prep.min_values_ok(new_reqs, &new_options) {
            return Err(Reason::Requirements(m));
        }
        Ok(new_options)
    }

    /// The values of `key` the options that can hold `total` could give the node.
    fn candidate_domains(
        &self,
        options: &[u32],
        reqs: &Requirements,
        total: &Resources,
        key: &str,
    ) -> BTreeSet<String> {
        if key == labels::ZONE && self.prep.zones.len() <= 64 {
            // Zones as bits: an allowed zone where some option with room has an
            // offering of an allowed capacity type.
            let (zm, cm) = self.prep.offer_masks(reqs);
            let mut found = 0u64;
            for &o in options {
                let pt = &self.prep.pts[o as usize];
                if found == zm || !self.prep.fits_pt(total, o as usize) {
                    continue;
                }
                for &(z, c) in &pt.offer_bits {
                    if c & cm != 0 {
                        found |= z & zm;
                    }
                }
            }
            return self
                .prep
                .zones
                .iter()
                .enumerate()
                .filter(|(i, _)| found & (1u64 << i) != 0)
                .map(|(_, z)| z.clone())
                .collect();
        }
        options
            .iter()
            .filter(|&&o| self.prep.fits_pt(total, o as usize))
            .flat_map(|&o| option_values(self.prep, o, reqs, key))
            .collect()
    }

    /// Cheap checks of a claim for a pod, without allocating: room in its largest
    /// option, pool taints, hostname topology, pinned domains and pinned requirements.
    ///
    /// `scan` memoizes, for one pod, the per-pool and per-domain answers that do not
    /// depend on the claim (topology counts do not change while claims are scanned).
    fn claim_plausible<'s>(
        &self,
        pod: &Pod,
        view: &View,
        pg: &'s PodGroups,
        cl: &'s Claim,
        scan: &mut ScanMemo<'s>,
    ) -> bool {
        if !pod.requests.fits_with(&cl.requested, &cl.max_cap) {
            return false;
        }
        if self.policy.growth_factor.is_some()
            && cl.growth_refusals.get() >= 3
            && !pod.requests.fits_with(&cl.requested, &cl.target_cap)
        {
            return false;
        }
        let tainted = *scan.pool_tainted.entry(cl.pool).or_insert_with(|| {
            let np = &self.prep.problem.nodepools[cl.pool];
            taint_blocking(&np.taints, &view.tolerations, view.strict_prefer).is_some()
        });
        if tainted {
            return false;
        }
        if self.topo.host_ok(pod, pg, &cl.host).is_err() {
            return false;
        }
        for (k, vs) in &view.term.keys {
            if let Some(v) = cl
                .reqs
                .get_ref(k)
                .filter(|v| v.len() == Some(1))
                .and_then(|v| v.any_value())
            {
                if !vs.has(v) {
                    return false;
                }
            }
        }
        for k in &pg.keys {
            let pinned = if k == labels::ZONE {
                cl.zone.as_deref()
            } else {
                cl.reqs
                    .get_ref(k)
                    .filter(|v| v.len() == Some(1))
                    .and_then(|v| v.any_value())
            };
            if let Some(d) = pinned {
                let ok = match scan.domains.iter().find(|(mk, md, _)| *mk == k && *md == d) {
                    Some(&(_, _, ok)) => ok,
                    None => {
                        let ok = self.topo.allows_one(pod, pg, k, d).is_ok();
                        scan.domains.push((k, d, ok));
                        ok
                    }
                };
                if !ok {
                    return false;
                }
            }
        }
        true
    }

    fn try_claims(
        &self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(usize, Requirements, Option<Vec<u32>>), Option<Reason>> {
        let mut last = None;
        let blockers = self.topo.host_blockers(pg);
        let mut scan = ScanMemo::default();
        // Zones the pod's zone topology rules out: claims pinned there are skipped
        // without being read (topology counts do not change during the scan).
        let mut zone_ok = u64::MAX;
        if pg.keys.iter().any(|k| k == labels::ZONE) {
            for (i, z) in self.prep.zones.iter().enumerate().take(64) {
                if self.topo.allows_one(pod, pg, labels::ZONE, z).is_err() {
                    zone_ok &= !(1u64 << i);
                }
            }
        }
        // The claims the pod's hostname rules block, as one bit set.
        let blocked = self.blocks.union(&blockers);
        // Karpenter: the first claim that takes the pod, fewest pods first.
        for &c in &self.claim_order {
            let z = self.claim_zone[c];
            if z != NO_ZONE && zone_ok & (1u64 << z) == 0 {
                continue;
            }
            if blocked
                .get(c / 64)
                .is_some_and(|w| w & (1 << (c % 64)) != 0)
            {
                continue;
            }
            let cl = &self.claims[c];
            if !self.claim_plausible(pod, view, pg, cl, &mut scan) {
                continue;
            }
            match self.fit_claim(
                pod,
                view,
                pg,
                universes,
                &cl.reqs,
                &cl.options,
                &cl.requested,
                false,
                &cl.min_cap,
            ) {
                Ok((r, o)) if self.policy.growth_factor.is_some() => {
                    // The option the claim would launch after growing must keep the pool
                    // within its limits.
                    let np = &self.prep.problem.nodepools[cl.pool];
                    let grown = self
                        .prep
                        .cheapest_option(&r, o.as_deref().unwrap_or(&cl.options))
                        .map(|x| {
                            self.prep.pts[x as usize]
                                .capacity
                                .saturating_sub(&cl.reserved)
                        })
                        .unwrap_or_default();
                    if grown.is_zero()
                        || self.limits.exceeded(&np.limits, cl.pool, &grown).is_none()
                    {
                        return Ok((c, r, o));
                    }
                    last = Some(Reason::Limits(format!(
                        "node pool {}: limits reached",
                        np.name
                    )));
                }
                Ok((r, o)) => return Ok((c, r, o)),
                Err(e) => {
                    if matches!(&e, Reason::Resources(m) if m == GROWTH_REFUSED) {
                        cl.growth_refusals.set(cl.growth_refusals.get() + 1);
                        if cl.growth_refusals.get() == MAX_GROWTH_REFUSALS {
                            self.closing.borrow_mut().push(c);
                        }
                    }
                    last = Some(e)
                }
            }
        }
        Err(last)
    }

    fn new_claim(
        &mut self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
        pool: usize,
    ) -> Result<(Requirements, Option<Vec<u32>>), Reason> {
        let np = &self.prep.problem.nodepools[pool];
        let compat = self
            .cache
            .get(
                self.prep,
                pool,
                &view.term,
                &view.tolerations,
                view.strict_prefer,
            )
            .clone()?;
        let host = HostCounts::default();
        self.topo
            .host_ok(pod, pg, &host)
            .map_err(|r| Reason::Topology(format!("node pool {}: {r}", np.name)))?;
        // Karpenter drops instance types whose capacity would exceed the pool's
        // remaining limits.
        // (Limits only bound sums from above: room for the pool's largest pair in every
        // dimension is room for any of them.)
        let first = compat.first().copied();
        let within: Vec<u32> =
            if self
                .limits
                .allows(&np.limits, pool, &self.prep.pools[pool].max_capacity)
            {
                compat
            } else {
                compat
                    .into_iter()
                    .filter(|&o| {
                        self.limits
                            .allows(&np.limits, pool, &self.prep.pts[o as usize].capacity)
                    })
                    .collect()
            };
        if within.is_empty() {
            let why = first
                .and_then(|o| {
                    self.limits
                        .exceeded(&np.limits, pool, &self.prep.pts[o as usize].capacity)
                })
                .unwrap_or_default();
            return Err(Reason::Limits(format!(
                "node pool {}: limits reached ({why})",
                np.name
            )));
        }
        self.fit_claim(
            pod,
            view,
            pg,
            universes,
            &self.prep.pools[pool].reqs,
            &within,
            &Resources::default(),
            true,
            &[0; 4],
        )
        .map_err(|e| e.map_text(|m| format!("node pool {}: {m}", np.name)))
    }

    fn commit_claim(
        &mut self,
        pi: usize,
        c: usize,
        reqs: Requirements,
        options: Option<Vec<u32>>,
        pg: &PodGroups,
    ) {
        let pod = &self.prep.problem.pending[pi];
        // Unchanged options under the same offering masks keep the same largest
        // capacity and cheapest option: nothing to recompute.
        let options = options.filter(|o| {
            let cl = &self.claims[c];
            *o != cl.options
                || cl.pods.is_empty()
                || self.prep.offer_masks(&reqs) != self.prep.offer_masks(&cl.reqs)
        });
        if let Some(options) = options {
            let (max_cap, min_cap) = cap_bounds(self.prep, &options);
            let cheapest = self
                .prep
                .cheapest_option(&reqs, &options)
                .map(|o| &self.prep.pts[o as usize]);
            let target = cheapest.map(|p| p.cap.clone()).unwrap_or_default();
            if self.policy.growth_factor.is_some() {
                let cap = cheapest.map(|p| p.capacity.clone()).unwrap_or_default();
                let cl = &mut self.claims[c];
                self.limits.remove(cl.pool, &cl.reserved);
                self.limits.add(cl.pool, &cap);

                cl.reserved = cap;
            }
            let cl = &mut self.claims[c];
            cl.min_cap = min_cap;
            cl.options = options;
            cl.max_cap = max_cap;
            cl.target_cap = target;
        }
        let cl = &mut self.claims[c];
        cl.zone = reqs
            .get_ref(labels::ZONE)
            .filter(|v| v.len() == Some(1))
            .and_then(|v| v.any_value().map(str::to_string));
        self.claim_zone[c] = cl
            .zone
            .as_ref()
            .and_then(|z| self.prep.zones.binary_search(z).ok())
            .filter(|&i| i < 64)
            .map_or(NO_ZONE, |i| i as u8);
        cl.reqs = reqs;
        cl.requested = cl.requested.saturating_add(&pod.requests);
        cl.pods.push(pi);
        let hostname = cl.hostname.clone();
        let creqs = &cl.reqs;
        self.topo
            .record(pi, pod, required_anti(pod, pg), &mut cl.host, &|k| {
                if k == HOSTNAME_KEY {
                    return Some(hostname.clone());
                }
                creqs
                    .get_ref(k)
                    .filter(|v| v.len() == Some(1))
                    .and_then(|v| v.any_value().map(str::to_string))
            });
        for &(g, count, owners) in cl.host.entries() {
            if let Some(limit) = self.topo.host_limit(g as usize) {
                HostBlocks::set(&mut self.blocks.by_count, g as usize, c, count >= limit);
                HostBlocks::set(&mut self.blocks.by_owner, g as usize, c, owners > 0);
            }
        }
        // Keep the first-fit order: fewest pods first, then creation order. The claim
        // gained a pod, so it moves right, past the claims now ordered before it (a
        // rotation of that stretch only: the order can hold thousands of claims).
        let n = cl.pods.len();
        let claims = &self.claims;
        let key = |x: usize| {
            if x == c {
                (n - 1, x)
            } else {
                (claims[x].pods.len(), x)
            }
        };
        let found = self.claim_order.partition_point(|&x| key(x) < (n - 1, c));
        let pos = if self.claim_order.get(found) == Some(&c) {
            Some(found)
        } else {
            self.claim_order.iter().position(|&x| x == c)
        };
        if let Some(pos) = pos {
            let k = self.claim_order[pos + 1..]
                .partition_point(|&x| (claims[x].pods.len(), x) < (n, c));
            self.claim_order[pos..=pos + k].rotate_left(1);
        }
        self.placed[pi] = Some(Placement::Claim(c));
        self.order.push(pi);
    }

    /// Schedule pods in the given order with Karpenter's queue: a pod that fails is
    /// relaxed one step and queued again; the round ends when a full pass over the queue
    /// makes no progress. Returns the failures with their last reason.
    pub fn run_queue(&mut self, pods: &[usize], new_claims: bool) -> Vec<(usize, Reason)> {
        let mut queue: std::collections::VecDeque<(usize, Relax)> =
            pods.iter().map(|&p| (p, Relax::default())).collect();
        let mut reasons: BTreeMap<usize, Reason> = BTreeMap::new();
        let mut stalled = 0usize;
        while let Some((pi, mut r)) = queue.pop_front() {
            let pod = &self.prep.problem.pending[pi];
            let view = if r == Relax::default() {
                self.base_views[pi].clone()
            } else {
                Rc::new(View::new(pod, &r))
            };
            match self.place(pi, &view, r != Relax::default(), new_claims) {
                Ok(_) => {
                    reasons.remove(&pi);
                    stalled = 0;
                }
                Err(e) => {
                    reasons.insert(pi, e);
                    if r.step(pod) {
                        stalled = 0;
                        queue.push_back((pi, r));
                    } else {
                        stalled += 1;
                        queue.push_back((pi, r));
                        if stalled > queue.len() {
                            break;
                        }
                    }
                }
            }
        }
        let mut failed: Vec<(usize, Reason)> = queue
            .into_iter()
            .map(|(pi, _)| (pi, reasons.remove(&pi).unwrap_or(Reason::NotPlaced)))
            .collect();
        failed.sort_by_key(|f| f.0);
        failed
    }
}

/// The values of `key` a pair could give a node under the requirements: zones and
/// capacity types from its offerings, other keys from its requirements.
pub fn option_values(prep: &Prepared, o: u32, reqs: &Requirements, key: &str) -> Vec<String> {
    let pt = &prep.pts[o as usize];
    if key == labels::ZONE {
        let mut v: Vec<String> = pt.offerings_for(reqs).map(|o| o.zone.clone()).collect();
        v.dedup();
        v
    } else if key == labels::CAPACITY_TYPE {
        let mut v: Vec<String> = pt
            .offerings_for(reqs)
            .map(|o| o.capacity_type.as_str().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    } else {
        let own = pt.reqs.get(key).intersect(&reqs.get(key));
        if own.complement {
            vec![]
        } else {
            own.values.into_iter().collect()
        }
    }
}

/// Element-wise maximum of the usable capacity of a set of pairs.
pub fn max_capacity_usable(prep: &Prepared, options: &[u32]) -> Resources {
    cap_bounds(prep, options).0
}

/// In one pass over the options: [`max_capacity_usable`], and the element-wise minimum
/// of their usable (cpu, memory, storage, pods) (all zeros for none: no quick
/// acceptance).
fn cap_bounds(prep: &Prepared, options: &[u32]) -> (Resources, [u64; 4]) {
    if options.is_empty() {
        return (Resources::default(), [0; 4]);
    }
    let (mut hi, mut lo) = ([0u64; 4], [u64::MAX; 4]);
    let mut extended = false;
    for &o in options {
        extended |= prep.has_extended(o as usize);
        for ((h, l), b) in hi
            .iter_mut()
            .zip(lo.iter_mut())
            .zip(prep.caps_of(o as usize))
        {
            *h = (*h).max(*b);
            *l = (*l).min(*b);
        }
    }
    let mut max = crate::prep::from_plain_dims(hi);
    if extended {
        // Extended resources (GPUs...) from the few options that have any.
        max.extended = crate::prep::max_of(
            options
                .iter()
                .filter(|&&o| prep.has_extended(o as usize))
                .map(|&o| &prep.pts[o as usize].cap),
        )
        .extended;
    }
    (max, lo)
}

/// Karpenter's pod order: CPU request descending, memory descending, creation time,
/// then namespace/name (for the UID).
pub fn karpenter_order(pods: &[Pod]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pods.len()).collect();
    idx.sort_by(|&a, &b| {
        let (pa, pb) = (&pods[a], &pods[b]);
        pb.requests
            .cpu
            .cmp(&pa.requests.cpu)
            .then(pb.requests.memory.cmp(&pa.requests.memory))
            .then(pa.created.cmp(&pb.created))
            .then_with(|| pa.id.cmp(&pb.id))
    });
    idx
}

impl<'a> Engine<'_, 'a> {
    /// Try to put pending pod `pi` (at relaxation level 0) on a specific claim.
    pub fn try_claim(&mut self, pi: usize, c: usize) -> bool {
        let pod = &self.prep.problem.pending[pi];
        let view = self.base_views[pi].clone();
        let mut pg = self.groups(pi, &view, false);
        let mut universes = BTreeMap::new();
        for k in &pg.keys {
            let u = self.universe(&view, k);
            universes.insert(k.clone(), u);
        }
        self.topo.prepare_mins(pod, &mut pg, &universes);
        let cl = &self.claims[c];
        let np = &self.prep.problem.nodepools[cl.pool];
        if taint_blocking(&np.taints, &view.tolerations, true).is_some()
            || !self.claim_plausible(pod, &view, &pg, cl, &mut ScanMemo::default())
        {
            return false;
        }
        match self.fit_claim(
            pod,
            &view,
            &pg,
            &universes,
            &cl.reqs,
            &cl.options,
            &cl.requested,
            false,
            &cl.min_cap,
        ) {
            Ok((r, o)) => {
                self.commit_claim(pi, c, r, o, &pg);
                true
            }
            Err(_) => false,
        }
    }

    /// Pending pod `pi`'s view with nothing relaxed (shared, not copied).
    pub fn base_view(&self, pi: usize) -> Rc<View<'a>> {
        self.base_views[pi].clone()
    }

    /// `self.pod_groups(pi).is_free()` without building the groups: the pod has no
    /// constraint and no placed pod's anti-affinity selects it.
    pub fn pod_is_free(&mut self, pi: usize) -> bool {
        let g = &self.full_groups[pi];
        g.spread.is_empty()
            && g.affinity.is_empty()
            && g.anti.is_empty()
            && !self.topo.has_inverse(pi, &self.prep.problem.pending[pi])
    }

    /// The constraint groups of a pending pod at relaxation level 0, completed.
    pub fn pod_groups(&mut self, pi: usize) -> PodGroups {
        let view = self.base_views[pi].clone();
        self.groups(pi, &view, false)
    }

    /// Build a new node for a claim launched as pair `pt` with the chosen offering.
    pub fn claim_node(
        &self,
        c: usize,
        pt: u32,
        offering: &nodepack_model::Offering,
        alternatives: Vec<String>,
    ) -> crate::NewNode {
        let cl = &self.claims[c];
        node_for(
            self.prep,
            &cl.hostname,
            pt,
            offering,
            alternatives,
            cl.pods
                .iter()
                .map(|&p| self.prep.problem.pending[p].id.clone())
                .collect(),
            &cl.requested,
        )
    }

    /// May the claim's pods share a node with the pods of another claim of their pool
    /// and requirements without breaking a hostname rule that holds now? None of them has
    /// a hostname spread or a required hostname (anti-)affinity, none is counted by
    /// anyone's hostname spread, and each preferred hostname anti-affinity term of theirs
    /// is already unmet on this claim (merging adds pods, so it cannot unmeet a preferred
    /// affinity). Anti-affinity of pods outside the merged claims is untouched: their
    /// nodes do not change.
    pub fn claim_mergeable(&self, c: usize) -> bool {
        let pending = self.prep.problem.pending;
        let pods = &self.claims[c].pods;
        let host = |t: &PodAffinityTerm| t.topology_key == labels::HOSTNAME;
        pods.iter().all(|&pi| {
            let pod = &pending[pi];
            !pod.topology_spread
                .iter()
                .any(|t| t.topology_key == labels::HOSTNAME)
                && !pod
                    .pod_affinity
                    .iter()
                    .chain(&pod.pod_anti_affinity)
                    .any(host)
                && pod
                    .pod_anti_affinity_preferred
                    .iter()
                    .map(|w| &w.term)
                    .filter(|t| host(t))
                    .all(|t| {
                        pods.iter()
                            .any(|&q| q != pi && t.selects(&pod.id.namespace, &pending[q]))
                    })
                && !self
                    .topo
                    .groups
                    .iter()
                    .any(|g| g.host && matches!(g.kind, Kind::Spread { .. }) && g.selects(pod))
        })
    }

    /// [`Prepared::cheapest_option`] restricted to the options with room for `total`,
    /// with its price in the zones and capacity types of `reqs`.
    fn cheapest_holding(
        &self,
        reqs: &Requirements,
        options: &[u32],
        total: &Resources,
    ) -> Option<(u32, i64)> {
        let prices = self.prep.min_prices(self.prep.offer_masks(reqs));
        options
            .iter()
            .filter(|&&o| self.prep.fits_pt(total, o as usize))
            .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
            .min()
            .map(|(p, o)| (o, p))
    }

    /// Re-pack claims when fewer or better-filled nodes cost less: claims of one pool
    /// with equal requirements (so the same zone) that are all
    /// [`Engine::claim_mergeable`] are packed again, first-fit decreasing, onto each of
    /// the [`MERGE_CANDIDATES`] options with the lowest price per share of the group's
    /// demand, twice: with whole claims as items, and (when no pod of the group has a
    /// preferred hostname affinity that splitting could unmeet) with single pods as
    /// items. The cheapest packing, each bin priced at its cheapest option, replaces the
    /// claims if it costs less and needs no more nodes than there are claims. The
    /// growth policy is myopic (a claim refuses a pod that a small node of its own holds
    /// more cheaply, but a dozen such nodes cost more than one bigger node); this pass
    /// recovers the economy of scale. Returns the number of claims emptied. Hostname
    /// counts of the claims are not updated: nothing may be placed on claims after it.
    pub fn merge_claims(&mut self) -> usize {
        let mut groups: Vec<((usize, Requirements), Vec<usize>)> = Vec::new();
        for c in 0..self.claims.len() {
            let cl = &self.claims[c];
            if cl.pods.is_empty() || !self.claim_mergeable(c) {
                continue;
            }
            match groups
                .iter_mut()
                .find(|((pool, reqs), _)| *pool == cl.pool && *reqs == cl.reqs)
            {
                Some((_, v)) => v.push(c),
                None => groups.push(((cl.pool, cl.reqs.clone()), vec![c])),
            }
        }
        let mut emptied = 0;
        for ((pool, reqs), members) in groups {
            if members.len() < 2 {
                continue;
            }
            if let Some(bins) = self.repack(&reqs, &members) {
                emptied += self.apply_repack(pool, &members, &bins);
            }
        }
        emptied
    }

    /// The options of a group of claims with equal requirements: those of its smallest
    /// claim, which hold every option the others keep.
    fn group_options(&self, members: &[usize]) -> &[u32] {
        let smallest = members
            .iter()
            .copied()
            .min_by_key(|&c| {
                (
                    self.claims[c].requested.cpu.0,
                    self.claims[c].requested.memory.0,
                    c,
                )
            })
            .unwrap_or(members[0]);
        &self.claims[smallest].options
    }

    /// A cheaper packing of the claims `members`, as bins of pod indices (at most one
    /// bin per claim).
    fn repack(&self, reqs: &Requirements, members: &[usize]) -> Option<Vec<Vec<usize>>> {
        let pending = self.prep.problem.pending;
        let options = self.group_options(members);
        let prices = self.prep.min_prices(self.prep.offer_masks(reqs));
        let mut current = 0i64;
        for &c in members {
            let cl = &self.claims[c];
            current += self.cheapest_holding(reqs, &cl.options, &cl.requested)?.1;
        }
        // Items, largest first: whole claims, and single pods where splitting is safe.
        let claims: Vec<(Resources, Vec<usize>)> = members
            .iter()
            .map(|&c| {
                (
                    self.claims[c].requested.clone(),
                    self.claims[c].pods.clone(),
                )
            })
            .collect();
        let splittable = members
            .iter()
            .flat_map(|&c| &self.claims[c].pods)
            .all(|&pi| {
                !pending[pi]
                    .pod_affinity_preferred
                    .iter()
                    .any(|w| w.term.topology_key == labels::HOSTNAME)
            });
        let pods: Vec<(Resources, Vec<usize>)> = if splittable {
            claims
                .iter()
                .flat_map(|(_, ps)| {
                    ps.iter()
                        .map(|&pi| (pending[pi].requests.clone(), vec![pi]))
                })
                .collect()
        } else {
            Vec::new()
        };
        let total = claims
            .iter()
            .fold(Resources::default(), |acc, (r, _)| acc.saturating_add(r));
        let largest_item = |items: &[(Resources, Vec<usize>)]| {
            items.iter().fold(Resources::default(), |acc, (r, _)| {
                crate::prep::max_of([&acc, r].into_iter())
            })
        };
        let mut best: Option<(i64, Vec<Vec<usize>>)> = None;
        for mut items in [claims, pods] {
            if items.is_empty() {
                continue;
            }
            items.sort_by_key(|(r, _)| std::cmp::Reverse((r.cpu.0, r.memory.0)));
            let biggest = largest_item(&items);
            // Options that hold the largest item, by price per share of the demand.
            let mut cands: Vec<(f64, u32)> = options
                .iter()
                .filter(|&&o| self.prep.fits_pt(&biggest, o as usize))
                .filter_map(|&o| {
                    let p = prices[o as usize]?;
                    let share = dominant_share(&total, &self.prep.pts[o as usize].cap);
                    Some((p as f64 * share, o))
                })
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(_, o) in cands.iter().take(MERGE_CANDIDATES) {
                let cap = &self.prep.pts[o as usize].cap;
                let mut used: Vec<Resources> = Vec::new();
                let mut bins: Vec<Vec<usize>> = Vec::new();
                for (req, ps) in &items {
                    match used.iter().position(|u| req.fits_with(u, cap)) {
                        Some(b) => {
                            used[b] = used[b].saturating_add(req);
                            bins[b].extend(ps);
                        }
                        None if bins.len() < members.len() => {
                            used.push(req.clone());
                            bins.push(ps.clone());
                        }
                        None => {
                            bins.clear();
                            break;
                        }
                    }
                }
                if bins.is_empty() {
                    continue;
                }
                // Each bin launches its cheapest option.
                let mut cost = 0i64;
                for u in &used {
                    match self.cheapest_holding(reqs, options, u) {
                        Some((_, p)) => cost += p,
                        None => {
                            cost = i64::MAX;
                            break;
                        }
                    }
                }
                if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                    best = Some((cost, bins));
                }
            }
        }
        best.filter(|(cost, _)| *cost < current)
            .map(|(_, bins)| bins)
    }

    /// Give bin `k` of pods to claim `members[k]`, emptying the claims left over; pool
    /// limits must still hold.
    fn apply_repack(&mut self, pool: usize, members: &[usize], bins: &[Vec<usize>]) -> usize {
        let np = &self.prep.problem.nodepools[pool];
        let reqs = self.claims[members[0]].reqs.clone();
        let options = self.group_options(members).to_vec();
        let mut limits = self.limits.clone();
        for &c in members {
            limits.remove(pool, &self.claims[c].reserved);
        }
        let mut plans = Vec::new();
        for bin in bins {
            let total = bin.iter().fold(Resources::default(), |acc, &pi| {
                acc.saturating_add(&self.prep.problem.pending[pi].requests)
            });
            let Some((o, _)) = self.cheapest_holding(&reqs, &options, &total) else {
                return 0;
            };
            let cap = &self.prep.pts[o as usize].capacity;
            if limits.exceeded(&np.limits, pool, cap).is_some() {
                return 0;
            }
            limits.add(pool, cap);
            plans.push((total, o));
        }
        self.limits = limits;
        for (k, &c) in members.iter().enumerate() {
            let cl = &mut self.claims[c];
            match (bins.get(k), plans.get(k)) {
                (Some(bin), Some((total, o))) => {
                    let kept: Vec<u32> = options
                        .iter()
                        .copied()
                        .filter(|&x| self.prep.fits_pt(total, x as usize))
                        .collect();
                    cl.pods = bin.clone();
                    cl.requested = total.clone();
                    (cl.max_cap, cl.min_cap) = cap_bounds(self.prep, &kept);
                    cl.options = kept;
                    cl.target_cap = self.prep.pts[*o as usize].cap.clone();
                    cl.reserved = self.prep.pts[*o as usize].capacity.clone();
                    for &pi in bin {
                        self.placed[pi] = Some(Placement::Claim(c));
                    }
                }
                _ => {
                    cl.pods.clear();
                    cl.requested = Resources::default();
                    cl.options.clear();
                    cl.reserved = Resources::default();
                }
            }
        }
        members.len() - bins.len()
    }

    /// The options of a claim that fit all its pods: what it may launch.
    pub fn fitting_options(&self, c: usize) -> &[u32] {
        &self.claims[c].options
    }

    /// Bindings to existing nodes and the placement order, for a plan.
    pub fn bindings(&self) -> Vec<crate::Binding> {
        let mut b = Vec::new();
        for &pi in &self.order {
            if let Some(Placement::Existing(n)) = self.placed[pi] {
                b.push(crate::Binding {
                    pod: self.prep.problem.pending[pi].id.clone(),
                    node: self.prep.problem.nodes[n].node.name.clone(),
                });
            }
        }
        b
    }
}

/// The labels a node of the pair gets with this offering and hostname: the type's and
/// the pool's labels, zone, capacity type, hostname, and the pool's single-valued
/// requirements (Karpenter labels nodes with those too).
pub fn node_labels(
    p: &crate::prep::PoolType,
    np: &nodepack_model::NodePool,
    offering: &nodepack_model::Offering,
    hostname: &str,
) -> BTreeMap<String, String> {
    let mut labels = p.labels.clone();
    labels.insert(labels::ZONE.into(), offering.zone.clone());
    labels.insert(
        labels::CAPACITY_TYPE.into(),
        offering.capacity_type.as_str().into(),
    );
    labels.insert(labels::HOSTNAME.into(), hostname.to_string());
    for (k, v) in &np.requirements.keys {
        if let (false, Some(1)) = (labels.contains_key(k), v.len()) {
            if let Some(val) = v.any_value() {
                labels.insert(k.clone(), val.to_string());
            }
        }
    }
    labels
}

/// Build a new node: labels from the pair, the offering and the hostname.
pub fn node_for(
    prep: &Prepared,
    hostname: &str,
    pt: u32,
    offering: &nodepack_model::Offering,
    alternatives: Vec<String>,
    pods: Vec<nodepack_model::PodId>,
    requested: &Resources,
) -> crate::NewNode {
    let p = &prep.pts[pt as usize];
    let np = &prep.problem.nodepools[p.pool];
    let labels = node_labels(p, np, offering, hostname);
    crate::NewNode {
        name: hostname.to_string(),
        nodepool: np.name.clone(),
        instance_type: p.name.clone(),
        zone: offering.zone.clone(),
        capacity_type: offering.capacity_type,
        price: offering.price,
        pods,
        alternatives,
        labels,
        requested: requested.saturating_add(&np.daemonset_overhead),
        expected_replicas: 0,
    }
}

/// Answers memoized while one pod scans the claims (see `Engine::claim_plausible`).
#[derive(Default)]
struct ScanMemo<'a> {
    /// Pool -> whether its taints block the pod.
    pool_tainted: BTreeMap<usize, bool>,
    /// (topology key, pinned domain, allowed).
    domains: Vec<(&'a str, &'a str, bool)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pod_is_free` agrees with the completed groups, before and after a pod whose
    /// anti-affinity selects a plain pod is placed.
    #[test]
    fn pod_is_free_agrees_with_the_completed_groups() {
        use nodepack_model::pod::HOSTNAME_KEY;
        use nodepack_testkit as tk;
        let mut web = tk::pods("web", 3, 500, 512);
        web[0] = tk::anti(web[0].clone(), HOSTNAME_KEY);
        web[1] = tk::spread(web[1].clone(), labels::ZONE, 1);
        let api = tk::pods("api", 1, 500, 512);
        let pending: Vec<Pod> = web.into_iter().chain(api).collect();
        let catalog = tk::catalog();
        let pools = vec![nodepack_model::NodePool::new("p")];
        let problem = crate::Problem {
            pending: &pending,
            nodes: &[],
            nodepools: &pools,
            catalog: &catalog,
        };
        let prep = Prepared::new(problem);
        let mut eng = Engine::new(
            &prep,
            Policy {
                existing_best_fit: false,
                growth_factor: None,
            },
        );
        let free = |eng: &mut Engine| -> Vec<bool> {
            (0..pending.len())
                .map(|pi| {
                    let quick = eng.pod_is_free(pi);
                    assert_eq!(quick, eng.pod_groups(pi).is_free(), "pod {pi}");
                    quick
                })
                .collect()
        };
        assert_eq!(free(&mut eng), vec![false, false, true, true]);
        // The anti-affinity pod placed: web-2 (selected by it) is no longer free.
        assert!(eng.run_queue(&[0], true).is_empty());
        assert_eq!(free(&mut eng), vec![false, false, false, true]);
    }

    /// The one-pass bounds are the largest usable capacity (as `max_capacity_usable`
    /// gives it) and the element-wise smallest of the plain dimensions.
    #[test]
    fn cap_bounds_are_the_largest_and_smallest_capacities() {
        crate::prep::tests::with_testkit_prep(|prep| {
            let all: Vec<u32> = (0..prep.pts.len() as u32).collect();
            let cap = |o: &u32| &prep.pts[*o as usize].cap;
            assert!(all.iter().any(|o| !cap(o).extended.is_empty()));
            let plain: Vec<u32> = all
                .iter()
                .copied()
                .filter(|o| cap(o).extended.is_empty())
                .collect();
            for opts in [all.clone(), plain, all[..1].to_vec(), all[2..5].to_vec()] {
                let (max, min) = cap_bounds(prep, &opts);
                assert_eq!(max, crate::prep::max_of(opts.iter().map(cap)));
                for (k, m) in min.iter().enumerate() {
                    let want = opts.iter().map(|&o| prep.caps_of(o as usize)[k]).min();
                    assert_eq!(Some(*m), want);
                }
            }
            assert_eq!(cap_bounds(prep, &[]), (Resources::default(), [0; 4]));
        });
    }

    /// The union of blockers is every claim one of them blocks, by count or by owners
    /// as each blocker says, and nothing else.
    #[test]
    fn host_blocks_union_is_the_claims_any_blocker_blocks() {
        let mut b = HostBlocks::default();
        HostBlocks::set(&mut b.by_count, 0, 3, true);
        HostBlocks::set(&mut b.by_count, 0, 70, true);
        HostBlocks::set(&mut b.by_owner, 0, 5, true);
        HostBlocks::set(&mut b.by_count, 2, 130, true);
        HostBlocks::set(&mut b.by_count, 2, 131, true);
        HostBlocks::set(&mut b.by_count, 2, 131, false);
        let claims = |v: Vec<u64>| -> Vec<usize> {
            (0..v.len() * 64)
                .filter(|&c| v[c / 64] & (1 << (c % 64)) != 0)
                .collect()
        };
        assert_eq!(claims(b.union(&[(0, false)])), vec![3, 70]);
        assert_eq!(claims(b.union(&[(0, true)])), vec![5]);
        assert_eq!(claims(b.union(&[(0, false), (2, false)])), vec![3, 70, 130]);
        // A group nothing blocked yet (index past the sets) blocks nothing.
        assert_eq!(
            claims(b.union(&[(7, false), (1, true)])),
            Vec::<usize>::new()
        );
        assert!(b.union(&[]).is_empty());
    }
}
