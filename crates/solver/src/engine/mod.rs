//! The scheduling engine both strategies share: existing nodes, claims (nodes planned in
//! this round), topology bookkeeping, preference relaxation and pool limits. A strategy
//! decides the order of pods, how nodes are chosen among those that fit, and which
//! instance type and offering a claim launches.

mod claims;
mod merge;
mod queue;
mod relax;

pub use claims::{max_capacity_usable, option_values, Claim, MERGE_CANDIDATES};
use claims::{BoundsMemo, DomainsMemo, FreshMemo, HostBlocks, ScanMemo, NO_ZONE};
pub use queue::karpenter_order;
pub use relax::{Relax, View};

use crate::prep::{max_capacity, taint_blocking, CompatCache, LimitTracker, Prepared};
use crate::topology::{HostCounts, PodGroups, Topology};
use crate::Reason;
use nodepack_model::{labels, Pod, Requirements, Resources};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

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
    fresh_memo: FreshMemo,
    /// Candidate domains of fresh claims by (requirements, requests, options, key).
    domains_memo: DomainsMemo,
    /// Options' bounds and cheapest option by (options, offering masks).
    bounds_memo: BoundsMemo,
    /// By a pod's (CPU, memory) requests: the option that last held such a pod at the
    /// least fair price, tried first as the witness of a growth refusal (only a hint:
    /// a refusal is checked against the pod's own requests).
    fair_hint: std::cell::RefCell<HashMap<(u64, u64), u32>>,
    policy: Policy,
}

fn dominant_share(req: &Resources, cap: &Resources) -> f64 {
    use crate::prep::ratio;
    ratio(req.cpu.0, cap.cpu.0).max(ratio(req.memory.0, cap.memory.0))
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
                used.saturating_add_assign(&p.requests);
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
            domains_memo: Default::default(),
            bounds_memo: Default::default(),
            fair_hint: Default::default(),
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
                        let limits = &self.prep.problem.nodepools[pool].limits;
                        max_capacity(self.prep, fitting, limits.on_extended())
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
                        floor: i64::MAX,
                        requested: Resources::default(),
                        pods: vec![],
                        hostname,
                        host: HostCounts::default(),
                        zone: None,
                        target_cap: Resources::default(),
                        cheapest: None,
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
            cl.floor,
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

    /// The constraint groups of a pending pod at relaxation level 0, completed (tests
    /// check `pod_is_free` against them).
    #[cfg(test)]
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
    let p = &prep.pool_types[pt as usize];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Option lists of one length and the same ends are filed under one hash (the hash
    /// reads only those), and the memo answers only for the list it holds.
    #[test]
    fn option_lists_filed_together_are_told_apart() {
        type M = claims::Memo<Vec<u32>, u32>;
        let a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        b[50] = 1_000;
        let h = M::hash(M::sample(&a));
        assert_eq!(h, M::hash(M::sample(&b)));
        assert_ne!(h, M::hash(M::sample(&a[1..])));
        let memo = M::default();
        memo.insert(h, a.clone(), 1);
        assert_eq!(memo.get(h, |k| *k == b), None);
        assert_eq!(memo.get(h, |k| *k == a), Some(1));
        // Short lists are read whole.
        assert_ne!(
            M::hash(M::sample(&[1, 2, 3])),
            M::hash(M::sample(&[1, 5, 3]))
        );
    }

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
        let policy = Policy {
            existing_best_fit: false,
            growth_factor: None,
        };
        with_engine(&pending, &tk::catalog(), policy, |eng| {
            let free = |eng: &mut Engine| -> Vec<bool> {
                (0..pending.len())
                    .map(|pi| {
                        let quick = eng.pod_is_free(pi);
                        assert_eq!(quick, eng.pod_groups(pi).is_free(), "pod {pi}");
                        quick
                    })
                    .collect()
            };
            assert_eq!(free(eng), vec![false, false, true, true]);
            // The anti-affinity pod placed: web-2 (selected by it) is no longer free.
            assert!(eng.run_queue(&[0], true).is_empty());
            assert_eq!(free(eng), vec![false, false, false, true]);
        });
    }

    /// Run `f` on an engine for `pending` on `catalog`, one unconstrained pool.
    fn with_engine<R>(
        pending: &[Pod],
        catalog: &nodepack_model::Catalog,
        policy: Policy,
        f: impl FnOnce(&mut Engine) -> R,
    ) -> R {
        let pools = vec![nodepack_model::NodePool::new("p")];
        let problem = crate::Problem::new(pending, &[], &pools, catalog);
        let prep = Prepared::new(problem);
        f(&mut Engine::new(&prep, policy))
    }

    /// The one-pass bounds are the largest usable capacity (as `max_capacity_usable`
    /// gives it) and the element-wise smallest of the plain dimensions.
    #[test]
    fn cap_bounds_are_the_largest_and_smallest_capacities() {
        crate::prep::tests::with_testkit_prep(|prep| {
            let all: Vec<u32> = (0..prep.pool_types.len() as u32).collect();
            let cap = |o: &u32| &prep.pool_types[*o as usize].usable;
            assert!(all.iter().any(|o| !cap(o).extended.is_empty()));
            let plain: Vec<u32> = all
                .iter()
                .copied()
                .filter(|o| cap(o).extended.is_empty())
                .collect();
            for opts in [all.clone(), plain, all[..1].to_vec(), all[2..5].to_vec()] {
                let (max, min) = claims::cap_bounds(prep, &opts);
                assert_eq!(max, crate::prep::max_of(opts.iter().map(cap)));
                for (k, m) in min.iter().enumerate() {
                    let want = opts.iter().map(|&o| prep.caps_of(o as usize)[k]).min();
                    assert_eq!(Some(*m), want);
                }
            }
            assert_eq!(
                claims::cap_bounds(prep, &[]),
                (Resources::default(), [0; 4])
            );
            // A claim's bounds drop extended resources exactly when no pending pod
            // requests any (only pending pods' requests are checked against them).
            let (max, min) = claims::claim_bounds(prep, &all);
            let (full_max, full_min) = claims::cap_bounds(prep, &all);
            assert_eq!(min, full_min);
            assert_eq!(
                (max.cpu, max.memory, max.pods),
                (full_max.cpu, full_max.memory, full_max.pods)
            );
            assert_eq!(max.extended.is_empty(), !prep.pending_extended);
        });
    }

    /// Claims committing the same options in different zones each get the bounds and
    /// the cheapest option of their own offerings: the memo of bounds is keyed by the
    /// offering masks too. Here the cheaper of two types depends on the zone, and two
    /// zone-spread pods open claims with the same options in two zones.
    #[test]
    fn claims_with_the_same_options_keep_their_zones_cheapest_option() {
        use nodepack_model::{CapacityType, Money, Offering};
        use nodepack_testkit as tk;
        let zone_prices = [[0.10, 0.30, 0.30], [0.20, 0.20, 0.20]];
        let types: Vec<_> = [("m6i", 2), ("m6i", 4)]
            .into_iter()
            .zip(zone_prices)
            .map(|((fam, cpu), prices)| {
                let mut t = tk::instance_type(fam, "amd64", cpu, 4, 0, 0.05);
                t.offerings = tk::ZONES
                    .iter()
                    .zip(prices)
                    .map(|(z, p)| Offering::new(z, CapacityType::OnDemand, Money::from_usd(p)))
                    .collect();
                t
            })
            .collect();
        let catalog = tk::catalog_of(types);
        let pending: Vec<Pod> = tk::pods("web", 2, 500, 512)
            .into_iter()
            .map(|p| tk::spread(p, labels::ZONE, 1))
            .collect();
        let policy = Policy {
            existing_best_fit: true,
            growth_factor: Some(4.0),
        };
        with_engine(&pending, &catalog, policy, |eng| {
            let prep = eng.prep;
            assert!(eng.run_queue(&[0, 1], true).is_empty());
            assert_eq!(eng.claims.len(), 2);
            assert_ne!(eng.claims[0].zone, eng.claims[1].zone);
            assert_eq!(eng.claims[0].options, eng.claims[1].options);
            let mut targets = Vec::new();
            for cl in &eng.claims {
                let cheapest = prep.cheapest_option(&cl.reqs, &cl.options).unwrap();
                assert_eq!(cl.cheapest, Some(cheapest));
                let usable = &prep.pool_types[cheapest as usize].usable;
                assert_eq!(&cl.target_cap, usable, "zone {:?}", cl.zone);
                let (max_cap, min_cap) = claims::claim_bounds(prep, &cl.options);
                assert_eq!((&cl.max_cap, cl.min_cap), (&max_cap, min_cap));
                assert_eq!(cl.floor, claims::floor_of(prep, &cl.options));
                targets.push(cl.target_cap.cpu);
            }
            // The zones' cheapest types differ (2 and 4 cores), so a memo keyed by the
            // options alone would show here.
            assert_ne!(targets[0], targets[1]);
        });
    }

    /// After claims are merged, each claim's `cheapest` is still the cheapest option of
    /// its requirements and options (the type it launches), and an emptied claim has
    /// none: the room-filling phase and the next merge read it.
    #[test]
    fn merged_claims_keep_their_cheapest_option() {
        use nodepack_testkit as tk;
        let pending = tk::pods("w", 24, 1500, 3072);
        let policy = Policy {
            existing_best_fit: true,
            growth_factor: Some(4.0),
        };
        with_engine(&pending, &tk::catalog(), policy, |eng| {
            let all: Vec<usize> = (0..pending.len()).collect();
            assert!(eng.run_queue(&all, true).is_empty());
            let before = eng.claims.len();
            let emptied = eng.merge_claims();
            assert!(emptied > 0 && emptied < before, "{emptied} of {before}");
            for cl in &eng.claims {
                let want = eng.prep.cheapest_option(&cl.reqs, &cl.options);
                assert_eq!(cl.cheapest, want);
                assert_eq!(cl.floor, claims::floor_of(eng.prep, &cl.options));
                assert_eq!(cl.pods.is_empty(), want.is_none());
            }
        });
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// `cheapest_kept` (the pairs walked by price, then a pass over the options
        /// when that runs long) gives what a full scan of the options gives: the
        /// least price, and the kept option of least (price, index).
        #[test]
        fn cheapest_kept_agrees_with_the_full_scan(
            pick in proptest::collection::vec(proptest::bool::ANY, 64),
            keep in proptest::collection::vec(proptest::bool::weighted(0.2), 64),
            shift in 0usize..64,
        ) {
            crate::prep::tests::with_testkit_prep(|prep| {
                let n = prep.pool_types.len();
                let options: Vec<u32> = (0..n as u32)
                    .filter(|&o| pick[o as usize % pick.len()])
                    .collect();
                let keep = |o: u32| keep[(o as usize + shift) % keep.len()];
                // The full scan: the least price, and the kept option of least (price,
                // index).
                let price = |o: u32| prep.min_price_of(o as usize);
                let before = options.iter().map(|&o| price(o)).min().unwrap_or(i64::MAX);
                let best = options
                    .iter()
                    .copied()
                    .filter(|&o| keep(o))
                    .min_by_key(|&o| (price(o), o));
                let want = (before, best.map_or(i64::MAX, price), best);
                let eng = Engine::new(
                    prep,
                    Policy {
                        existing_best_fit: false,
                        growth_factor: Some(4.0),
                    },
                );
                assert_eq!(eng.cheapest_kept(&options, keep), want);
            });
        }

        /// A claim's growth is refused, or its options narrowed, exactly as a full scan
        /// of its options says (the cheapest price before and after, and the least fair
        /// price of the pod over the options kept), whatever option the refusal's hint
        /// names: one not among the options, one too small, one that refuses or not.
        /// The growth factor is drawn around the one at which the full scan's answer
        /// turns (`scale` 1), where a wrong witness would show.
        #[test]
        fn growth_answers_agree_with_the_full_scan(
            pick in proptest::collection::vec(proptest::bool::ANY, 64),
            cpu in 1u64..8_000,
            mem_mi in 1u64..32_768,
            used_cpu in 0u64..32_000,
            used_mi in 0u64..131_072,
            scale in 0.5f64..2.0,
            negative in proptest::bool::weighted(0.1),
            hint in 0u32..64,
        ) {
            crate::prep::tests::with_testkit_prep(|prep| {
                let n = prep.pool_types.len();
                let options: Vec<u32> = (0..n as u32)
                    .filter(|&o| pick[o as usize % pick.len()] || o as usize >= pick.len())
                    .collect();
                let pod = nodepack_testkit::pods("w", 1, cpu, mem_mi).remove(0);
                let used = Resources::new(
                    nodepack_model::Millicores(used_cpu),
                    nodepack_model::Bytes::from_mib(used_mi),
                );
                let total = used.saturating_add(&pod.requests);
                // The full scan.
                let fit = prep.fit_test(&total);
                let kept: Vec<u32> =
                    options.iter().copied().filter(|&o| fit.fits(o as usize)).collect();
                let price = |o: &u32| prep.min_price_of(*o as usize);
                let before = options.iter().map(price).min().unwrap_or(i64::MAX);
                let after = kept.iter().map(price).min().unwrap_or(i64::MAX);
                let fair = kept
                    .iter()
                    .map(|&o| {
                        let p = &prep.pool_types[o as usize];
                        p.min_price as f64 * dominant_share(&pod.requests, &p.usable)
                    })
                    .fold(f64::INFINITY, f64::min);
                let rise = (after - before) as f64;
                let factor = if negative {
                    -scale
                } else if rise > 1.0 && fair > 0.0 && fair.is_finite() {
                    (rise - 1.0) / fair * scale
                } else {
                    scale
                };
                let refused = (rise > 1.0 || factor < 0.0) && rise > factor * fair + 1.0;
                let eng = Engine::new(
                    prep,
                    Policy {
                        existing_best_fit: false,
                        growth_factor: Some(factor),
                    },
                );
                // The hint: an option from outside the options, any option, or the
                // least fair option kept (what the hint usually is); each with the
                // floor given (the quick refusal may answer) or not.
                let outside: Vec<u32> =
                    (0..n as u32).filter(|o| !options.contains(o)).collect();
                let least_fair = kept.iter().copied().min_by(|&a, &b| {
                    let f = |o: u32| {
                        let p = &prep.pool_types[o as usize];
                        p.min_price as f64 * dominant_share(&pod.requests, &p.usable)
                    };
                    f(a).total_cmp(&f(b))
                });
                let way = hint % 6;
                let hint = match (way % 3, outside.len(), least_fair) {
                    (0, k, _) if k > 0 => outside[hint as usize / 6 % k],
                    (2, _, Some(o)) => o,
                    _ => hint % n as u32,
                };
                eng.fair_hint
                    .borrow_mut()
                    .insert((pod.requests.cpu.0, pod.requests.memory.0), hint);
                let reqs = Requirements::new();
                let floor = if way < 3 { before } else { i64::MAX };
                let got = eng.narrow_options(
                    &pod, &reqs, &reqs, &total, &options, false, &[0; 4], floor,
                );
                match got {
                    Ok(o) => {
                        proptest::prop_assert!(!kept.is_empty() && !refused);
                        proptest::prop_assert_eq!(o, kept);
                    }
                    Err(Reason::Resources(m)) if m == claims::GROWTH_REFUSED => {
                        proptest::prop_assert!(!kept.is_empty() && refused);
                    }
                    Err(e) => proptest::prop_assert!(kept.is_empty(), "{e:?}"),
                }
                Ok(())
            })?;
        }
    }

    /// The fresh claims' memo of candidate domains answers as the scan does, asked in
    /// turn with the same options and other requests, other options and other keys.
    #[test]
    fn fresh_candidate_domains_are_the_scan_answers() {
        crate::prep::tests::with_testkit_prep(|prep| {
            let eng = Engine::new(
                prep,
                Policy {
                    existing_best_fit: false,
                    growth_factor: None,
                },
            );
            let n = prep.pool_types.len() as u32;
            let all: Vec<u32> = (0..n).collect();
            let small: Vec<u32> = (0..n).step_by(3).collect();
            let reqs = Requirements::new();
            let mut seen = BTreeSet::new();
            for _ in 0..2 {
                for opts in [&all, &small] {
                    for (cpu, gib) in [(500, 1), (30_000, 60), (120_000, 900)] {
                        let total = Resources::new(
                            nodepack_model::Millicores(cpu),
                            nodepack_model::Bytes::from_gib(gib),
                        );
                        for key in [labels::ZONE, labels::CAPACITY_TYPE] {
                            let want = eng.candidate_domains(opts, &reqs, &total, key);
                            let got = eng.fresh_candidate_domains(opts, &reqs, &total, key);
                            assert_eq!(got, want, "{cpu}m {gib}Gi {key} {}", opts.len());
                            seen.insert(want.len());
                        }
                    }
                }
            }
            // Answers of several sizes, none among them only (the largest requests
            // fit nowhere).
            assert!(seen.len() >= 3 && seen.contains(&0), "{seen:?}");
        });
    }

    /// A memo of fresh-claim answers keeps at most `MEMO_MOST` entries: full, it
    /// starts again with the new one.
    #[test]
    fn fresh_memos_are_bounded() {
        let memo: claims::Memo<u64, u64> = Default::default();
        for k in 0..claims::MEMO_MOST as u64 {
            memo.insert(k, k, k);
        }
        assert_eq!(memo.0.borrow().len(), claims::MEMO_MOST);
        assert_eq!(memo.get(3, |&k| k == 3), Some(3));
        assert_eq!(memo.get(3, |&k| k == 4), None);
        memo.insert(u64::MAX, 9, 7);
        assert_eq!(
            memo.0.into_inner().into_iter().collect::<Vec<_>>(),
            vec![(u64::MAX, (9, 7))]
        );
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
