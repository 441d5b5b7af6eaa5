//! Strategy `nodepack` (the default): cost-driven packing that respects every constraint
//! the Karpenter baseline respects.
//!
//! 1. Existing nodes first, best fit (the node left fullest), without relaxing anything.
//! 2. Pods with topology constraints or preferences go through the shared engine (same
//!    topology, relaxation and limit rules as the baseline), with best-fit claims.
//! 3. Plain pods (no topology, no preferences, not referenced by anyone's affinity) first
//!    fill the room left in those claims without making them launch a bigger type, then
//!    are packed by pool, in weight order. Those without zone terms first get the nodes
//!    of the pattern LP (column generation over packing patterns, in `nodepack/patterns.rs`):
//!    whole copies of its patterns, then single nodes for what they leave. The rest go
//!    to a greedy packer: repeatedly open the (instance type, capacity type) whose best
//!    first-fit-decreasing fill of the remaining pods buys the most "fair cost" per
//!    dollar, where a pod's fair cost is the cheapest price of its dominant share on any
//!    type it fits; a pattern that repeats opens all its copies at once. Columns are
//!    scored lazily (a score from an earlier step bounds the score now, within `RISE`),
//!    so a step re-scores a few columns, not all. The greedy also finishes the pattern
//!    plan without its single nodes, and packs everything alone (the plan of a pattern
//!    LP cut short by its work budget); the cheapest completion is kept. Each node is
//!    right-sized to the cheapest type holding its pods, and the least utilized ones are
//!    merged where one node costs less.
//! 4. Offerings are chosen by price plus an explicit spot risk model ([`RiskModel`]), and
//!    spot nodes are spread over zones among offerings within a small price tolerance so
//!    that one reclaim hits few pods.
//! 5. Given a forecast of the replicas controllers are adding ([`Growth`]), a new node
//!    for pods of a growing controller may be a larger type with room for the next
//!    replicas, when that lowers the expected price per pod and consolidation would
//!    not take the saving by itself (see [`growth`]).

mod growth;
mod patterns;
mod simplex;
pub use growth::{Growth, OwnerKey};
mod launch;
mod packer;
mod risk;
mod tail;

use launch::*;
use packer::*;
pub use risk::RiskModel;

use crate::engine::{karpenter_order, max_capacity_usable, node_for, Engine, Policy};
use crate::prep::Prepared;
use crate::Reason;
use crate::{NewNode, Plan, Strategy, Unschedulable};
use nodepack_model::{labels, CapacityType, Money, Pod, Requirements, Resources, Toleration};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// nodepack's strategy (the [`Builtin::Nodepack`](crate::Builtin) one is its default;
/// set `growth` for replicas expected soon).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct NodepackStrategy {
    /// The spot risk model.
    pub risk: RiskModel,
    /// Replicas expected soon, for sizing new nodes (see [`Growth`]; empty: none).
    pub growth: Growth,
    /// Leave new nodes' launch alternatives empty, for callers that need only the
    /// plan's nodes and cost (consolidation's repacking target): ranking them is a
    /// large share of a big solve.
    pub cost_only: bool,
    /// Skip the pattern LP (the greedy packer alone): consolidation's quick target.
    pub(crate) greedy_only: bool,
}

/// Spot pools already used in this plan, for spreading: (type, zone) -> nodes.
type Spread = BTreeMap<(String, String), u32>;

#[derive(Clone)]
struct Packed {
    pool: usize,
    pt: u32,
    reqs: Requirements,
    pods: Vec<usize>,
    requested: Resources,
}

impl Strategy for NodepackStrategy {
    fn name(&self) -> &'static str {
        "nodepack"
    }

    fn solve_prepared(&self, prep: &Prepared) -> Plan {
        let problem = &prep.problem;
        let prep = prep.clone();
        let mut eng = Engine::new(
            &prep,
            Policy {
                existing_best_fit: true,
                growth_factor: Some(4.0),
            },
        );
        let order = karpenter_order(problem.pending);
        let mut reasons: BTreeMap<usize, Reason> = BTreeMap::new();
        // Which pods are plain. A pool with minValues takes its pods through the engine,
        // whose claims keep the launch options minValues needs (the packer launches
        // one chosen type).
        let min_values = problem
            .nodepools
            .iter()
            .any(|p| !p.requirements.min_values.is_empty());
        let plain: Vec<bool> = (0..problem.pending.len())
            .map(|pi| {
                let pod = &problem.pending[pi];
                !min_values
                    && eng.pod_is_free(pi)
                    && !pod.has_preferences()
                    && !eng.topo.referenced_by_affinity(pod)
            })
            .collect();
        // 1. Existing nodes, best fit, nothing relaxed.
        if !problem.nodes.is_empty() {
            for &pi in &order {
                let view = eng.base_view(pi);
                // A pod that fits no existing node goes on to the next phases.
                let _ = eng.place(pi, &view, false, false);
            }
        }
        // 2. Constrained pods through the engine.
        let constrained: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&pi| !plain[pi] && eng.placed[pi].is_none())
            .collect();
        for (pi, r) in eng.run_queue(&constrained, true) {
            reasons.insert(pi, r);
        }
        // 3a. Plain pods into the room left in claims, without outgrowing their cheapest
        // type.
        // The type each claim launches: its cheapest option.
        let cheapest_of =
            |eng: &Engine| -> Vec<Option<u32>> { eng.claims.iter().map(|c| c.cheapest).collect() };
        let mut cheapest = cheapest_of(&eng);
        let targets: Vec<Option<Resources>> = cheapest
            .iter()
            .map(|o| o.map(|o| prep.pool_types[o as usize].usable.clone()))
            .collect();
        let mut rest = Vec::new();
        let candidates: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&pi| plain[pi] && eng.placed[pi].is_none())
            .collect();
        let free_of = |eng: &Engine, c: usize| -> [u64; 3] {
            targets[c].as_ref().map_or([0; 3], |t| {
                let r = &eng.claims[c].requested;
                [
                    t.cpu.0.saturating_sub(r.cpu.0),
                    t.memory.0.saturating_sub(r.memory.0),
                    t.pods.saturating_sub(r.pods),
                ]
            })
        };
        let mut room = Room::new((0..targets.len()).map(|c| free_of(&eng, c)).collect());
        // Per term (numbered as met): whether each of its keys narrows a claim that
        // leaves the key open, and whether it narrows each claim (0 not asked yet, 1
        // narrows, 2 does not). A claim's answers are forgotten when it takes a pod (its
        // requirements may narrow).
        let mut term_no: HashMap<Requirements, usize> = HashMap::new();
        let mut narrow_memo: Vec<(Vec<bool>, Vec<u8>)> = Vec::new();
        for pi in candidates {
            let pod = &problem.pending[pi];
            let req = &pod.requests;
            let term = eng.base_view(pi).term.clone();
            let tn = match term_no.get(&term) {
                Some(&tn) => tn,
                None => {
                    let open = term
                        .keys
                        .values()
                        .map(|vs| {
                            let any = nodepack_model::ValueSet::any();
                            any.intersect(vs) != any
                        })
                        .collect();
                    term_no.insert(term.clone(), narrow_memo.len());
                    narrow_memo.push((open, vec![0; eng.claims.len()]));
                    narrow_memo.len() - 1
                }
            };
            let need = [req.cpu.0, req.memory.0, req.pods];
            let mut done = false;
            let mut hit = None;
            for c in room.candidates(need) {
                let Some(t) = &targets[c] else { continue };
                // (A claim the pod's term is known to narrow is passed over before its
                // fit is tested: most claims are passed over for this.)
                if narrow_memo[tn].1[c] == 1 || !req.fits_with(&eng.claims[c].requested, t) {
                    continue;
                }
                // Only where the pod narrows nothing (an on-demand-only pod would turn
                // a spot claim on-demand).
                let (narrows_open, answers) = &mut narrow_memo[tn];
                let known = &mut answers[c];
                if *known == 0 {
                    let narrows = term
                        .keys
                        .iter()
                        .zip(&*narrows_open)
                        .any(|((k, vs), &open)| match eng.claims[c].reqs.get_ref(k) {
                            Some(cur) => cur.intersect(vs) != *cur,
                            None => open,
                        });
                    *known = if narrows { 1 } else { 2 };
                }
                if *known == 2 && eng.try_claim(pi, c) {
                    done = true;
                    hit = Some(c);
                    break;
                }
            }
            if let Some(c) = hit {
                room.set(c, free_of(&eng, c));
                for (_, answers) in narrow_memo.iter_mut() {
                    answers[c] = 0;
                }
            }
            if !done {
                rest.push(pi);
            }
        }
        // Claims the growth policy kept small are merged where one node costs less.
        if eng.merge_claims() > 0 {
            cheapest = cheapest_of(&eng);
        }
        // Count the claims' real capacity against pool limits (the engine reserved the
        // largest option of each claim, as Karpenter does; nodepack launches the
        // cheapest option, so it reserves only that).
        eng.limits = crate::prep::LimitTracker::new(&prep);
        for (c, o) in cheapest.iter().enumerate() {
            // Filling room never changes a claim's cheapest type.
            if let (Some(o), false) = (o, eng.claims[c].pods.is_empty()) {
                eng.limits
                    .add(eng.claims[c].pool, &prep.pool_types[*o as usize].capacity);
            }
        }
        // 3b. Pack the rest.
        let (packed, failed) = self.pack(&prep, &mut eng, &rest);
        reasons.extend(failed);
        // Assemble.
        let mut spread = Spread::new();
        let mut nodes: Vec<NewNode> = Vec::new();
        let mut unschedulable: Vec<Unschedulable> = Vec::new();
        for c in 0..eng.claims.len() {
            let cl = &eng.claims[c];
            if cl.pods.is_empty() {
                continue;
            }
            match self.launch(
                &prep,
                &cl.reqs,
                eng.fitting_options(c),
                cl.pods.len(),
                &spread,
            ) {
                Some((o, off, alts)) => {
                    let draft = growth::Draft {
                        pool: cl.pool,
                        reqs: &cl.reqs,
                        pods: &cl.pods,
                        requested: &cl.requested,
                        pt: o,
                        offering: &off,
                    };
                    let (o, off, alts, expected) = self
                        .grow(&prep, &mut eng.limits, &draft)
                        .unwrap_or((o, off, alts, 0));
                    if off.capacity_type == CapacityType::Spot {
                        *spread
                            .entry((prep.pool_types[o as usize].name.clone(), off.zone.clone()))
                            .or_insert(0) += 1;
                    }
                    nodes.push(NewNode {
                        expected_replicas: expected,
                        ..eng.claim_node(c, o, &off, alts)
                    });
                }
                None => {
                    for &p in &cl.pods {
                        reasons.insert(
                            p,
                            Reason::Offerings(format!(
                                "no offering left for the claim's requirements ({})",
                                cl.reqs.get(labels::ZONE)
                            )),
                        );
                    }
                }
            }
        }
        let mut order_out: Vec<usize> = eng.order.clone();
        for (i, pk) in packed.into_iter().enumerate() {
            let name = format!("{}-p{i}", problem.nodepools[pk.pool].name);
            match self.launch(&prep, &pk.reqs, &[pk.pt], pk.pods.len(), &spread) {
                Some((o, off, _)) => {
                    let draft = growth::Draft {
                        pool: pk.pool,
                        reqs: &pk.reqs,
                        pods: &pk.pods,
                        requested: &pk.requested,
                        pt: o,
                        offering: &off,
                    };
                    let (o, off, alts, expected) = match self.grow(&prep, &mut eng.limits, &draft) {
                        Some(g) => g,
                        None => (o, off, self.alternatives(&prep, &pk), 0),
                    };
                    if off.capacity_type == CapacityType::Spot {
                        *spread
                            .entry((prep.pool_types[o as usize].name.clone(), off.zone.clone()))
                            .or_insert(0) += 1;
                    }
                    order_out.extend(pk.pods.iter().copied());
                    nodes.push(node_for(
                        &prep,
                        &name,
                        o,
                        &off,
                        alts,
                        pk.pods
                            .iter()
                            .map(|&p| problem.pending[p].id.clone())
                            .collect(),
                        &pk.requested,
                    ));
                    if let Some(n) = nodes.last_mut() {
                        n.expected_replicas = expected;
                    }
                }
                None => {
                    for &p in &pk.pods {
                        reasons.insert(
                            p,
                            Reason::Offerings("no offering in a zone all its pods allow".into()),
                        );
                    }
                }
            }
        }
        let placed: BTreeSet<usize> = order_out.iter().copied().collect();
        // Pods already listed unschedulable (by id: a reason may name a pod twice).
        let mut listed: std::collections::HashSet<&nodepack_model::PodId> =
            unschedulable.iter().map(|u| &u.pod).collect();
        let mut more = Vec::new();
        for (pi, r) in reasons {
            if !placed.contains(&pi) {
                listed.insert(&problem.pending[pi].id);
                more.push(Unschedulable {
                    pod: problem.pending[pi].id.clone(),
                    reason: r,
                });
            }
        }
        for pi in 0..problem.pending.len() {
            if !placed.contains(&pi) && listed.insert(&problem.pending[pi].id) {
                more.push(Unschedulable {
                    pod: problem.pending[pi].id.clone(),
                    reason: Reason::NotPlaced,
                });
            }
        }
        drop(listed);
        unschedulable.extend(more);
        unschedulable.sort_by(|a, b| a.pod.cmp(&b.pod));
        Plan {
            strategy: self.name().into(),
            existing: eng.bindings(),
            nodes,
            unschedulable,
            cost_per_hour: Money::ZERO,
            order: order_out
                .iter()
                .map(|&p| problem.pending[p].id.clone())
                .collect(),
        }
        .finish()
    }
}

impl NodepackStrategy {
    /// Other types of the pool that hold the node's pods, cheapest first.
    fn alternatives(&self, prep: &Prepared, pk: &Packed) -> Vec<String> {
        if self.cost_only {
            return Vec::new();
        }
        let info = &prep.pools[pk.pool];
        let masks = prep.offer_masks(&pk.reqs);
        let prices = prep.min_prices(masks);
        let compatible = prep.compatible_set(pk.pool, &pk.reqs);
        let ok = |i: usize| {
            let k = i - info.start;
            compatible[k / 64] & (1u64 << (k % 64)) != 0
        };
        let fit = prep.fit_test(&pk.requested);
        // The cheapest `keep` by (price, name, index): the pairs are walked by price and
        // index, up to the `keep`-th one taken and any of its price after it (a name may
        // break their tie), then sorted.
        let keep = crate::karpenter::MAX_INSTANCE_TYPES - 1;
        let mut alts: Vec<(i64, &str, usize)> = Vec::new();
        for &i in prep.by_price(masks).iter() {
            let i = i as usize;
            let Some(pr) = prices[i] else { continue };
            if alts.len() >= keep && alts[keep - 1].0 < pr {
                break;
            }
            if (info.start..info.end).contains(&i) && i as u32 != pk.pt && fit.fits(i) && ok(i) {
                alts.push((pr, prep.pool_types[i].name.as_str(), i));
            }
        }
        alts.sort_unstable();
        alts.truncate(keep);
        // A new vector of the list's length: collecting in place would keep the buffer
        // of every candidate type (tens of kilobytes per node of a large plan).
        let mut out = Vec::with_capacity(alts.len());
        out.extend(alts.iter().map(|&(_, n, _)| n.to_string()));
        out
    }

    /// The pools that could take `pod` (node requirement term `term`) on a new node,
    /// in weight order, strict PreferNoSchedule first; or why none could.
    fn pools_for(
        &self,
        prep: &Prepared,
        eng: &mut Engine,
        pod: &Pod,
        term: &Requirements,
    ) -> Result<Vec<usize>, Reason> {
        let problem = prep.problem;
        let mut pools = Vec::new();
        let mut why = Vec::new();
        let fit = prep.fit_test(&pod.requests);
        for strict in [true, false] {
            for &pool in &prep.pool_order {
                if pools.contains(&pool) {
                    continue;
                }
                match eng.cache.get(prep, pool, term, &pod.tolerations, strict) {
                    Ok(list) if list.iter().rev().any(|&o| fit.fits(o as usize)) => {
                        pools.push(pool)
                    }
                    Ok(list) => {
                        if strict {
                            let big = max_capacity_usable(prep, list);
                            why.push(Reason::Resources(format!(
                                "node pool {}: no instance type has room: {}",
                                problem.nodepools[pool].name,
                                pod.requests
                                    .shortfall(&big)
                                    .map(|s| s.to_string())
                                    .unwrap_or_default()
                            )));
                        }
                    }
                    Err(e) => {
                        if strict {
                            why.push(e.clone())
                        }
                    }
                }
            }
        }
        if pools.is_empty() {
            return Err(match why.len() {
                0 => Reason::NoNodePool,
                1 => why.remove(0),
                _ => Reason::Pools(why),
            });
        }
        Ok(pools)
    }

    /// Pack plain pods onto new nodes, pool by pool in weight order.
    fn pack(
        &self,
        prep: &Prepared,
        eng: &mut Engine,
        pods: &[usize],
    ) -> (Vec<Packed>, BTreeMap<usize, Reason>) {
        let problem = prep.problem;
        let mut failed: BTreeMap<usize, Reason> = BTreeMap::new();
        let mut out = Vec::new();
        // Candidate pools per pod, in weight order; strict PreferNoSchedule first.
        let mut todo: Vec<(usize, Vec<usize>)> = Vec::new();
        // The pools depend on the pod's requests, term and tolerations only: pods of one
        // shape share them.
        type Key<'k> = (&'k Resources, Requirements, &'k [Toleration]);
        let mut memo: HashMap<Key, Result<Vec<usize>, Reason>> = HashMap::new();
        // (Like pods are adjacent: a pod with the previous one's requests, node rules
        // and tolerations has its key, and its answer.)
        let mut last: Option<(&Pod, Result<Vec<usize>, Reason>)> = None;
        for &pi in pods {
            let pod = &problem.pending[pi];
            let found = match &last {
                Some((prev, r))
                    if packer::same_node_rules(prev, pod)
                        && prev.tolerations == pod.tolerations =>
                {
                    r.clone()
                }
                _ => {
                    let key: Key = (
                        &pod.requests,
                        eng.base_view(pi).term.clone(),
                        &pod.tolerations,
                    );
                    match memo.get(&key) {
                        Some(r) => r.clone(),
                        None => {
                            let r = self.pools_for(prep, eng, pod, &key.1);
                            memo.insert(key, r.clone());
                            r
                        }
                    }
                }
            };
            last = Some((pod, found.clone()));
            match found {
                Ok(pools) => todo.push((pi, pools)),
                Err(reason) => {
                    failed.insert(pi, reason);
                }
            }
        }
        for &pool in &prep.pool_order {
            let mine: Vec<usize> = todo
                .iter()
                .filter(|(_, ps)| ps.first() == Some(&pool))
                .map(|(pi, _)| *pi)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let left = self.pack_pool(prep, eng, pool, &mine, &mut out);
            let left: BTreeSet<usize> = left.into_iter().collect();
            for (pi, ps) in todo.iter_mut() {
                if ps.first() == Some(&pool) {
                    ps.remove(0);
                    if left.contains(pi) && ps.is_empty() {
                        failed.insert(
                            *pi,
                            Reason::Limits(format!(
                                "node pool {}: limits reached",
                                problem.nodepools[pool].name
                            )),
                        );
                    }
                    if !left.contains(pi) {
                        ps.clear();
                    }
                }
            }
        }
        (out, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};
    use proptest::{prop_assert, prop_assert_eq, proptest};

    /// A request exactly the usable capacity of the one pair no earlier group fits still
    /// gets that pair's column: the greedy packer skips numbering a group's pairs only
    /// when its request is over the largest capacity of the pairs not yet numbered.
    #[test]
    fn a_request_equal_to_a_pending_pairs_capacity_gets_its_column() {
        use nodepack_testkit as tk;
        let catalog = tk::catalog_of(vec![
            tk::instance_type("m", "amd64", 2, 4, 0, 0.05),
            tk::instance_type("m", "amd64", 8, 4, 0, 0.05),
        ]);
        let pools = vec![nodepack_model::NodePool::new("p")];
        let usable = |pods: &[nodepack_model::Pod], name: &str| -> Resources {
            let prep = Prepared::new(crate::Problem::new(pods, &[], &pools, &catalog));
            let t = prep.pool_types.iter().find(|t| t.name == name).unwrap();
            t.usable.clone()
        };
        let (small, large) = (usable(&[], "m.2x"), usable(&[], "m.8x"));
        // The large pod fits the large type only, with no room left for the other; the
        // other requests the small type's usable CPU and memory exactly.
        let mut big = tk::pod("big", 0, 0);
        big.requests = Resources::new(
            Millicores(large.cpu.0 - 100),
            Bytes(large.memory.0 - small.memory.0 / 2),
        );
        let mut exact = tk::pod("exact", 0, 0);
        exact.requests = Resources::new(small.cpu, small.memory);
        let pending = vec![big, exact];
        let plan = crate::solve(
            "nodepack",
            &crate::Problem::new(&pending, &[], &pools, &catalog),
        )
        .unwrap();
        assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
        let mut types: Vec<&str> = plan
            .nodes
            .iter()
            .map(|n| n.instance_type.as_str())
            .collect();
        types.sort();
        assert_eq!(types, vec!["m.2x", "m.8x"]);
    }

    /// A request's largest share of any resource of a capacity, by resource name: the
    /// reference [`crate::prep::FitTest::share`] must agree with.
    fn share_by_name(req: &Resources, cap: &Resources) -> f64 {
        use crate::prep::ratio;
        let mut s = ratio(req.cpu.0, cap.cpu.0)
            .max(ratio(req.memory.0, cap.memory.0))
            .max(ratio(req.ephemeral_storage.0, cap.ephemeral_storage.0))
            .max(ratio(req.pods, cap.pods));
        for (n, v) in &req.extended {
            s = s.max(ratio(*v, cap.extended(n)));
        }
        s
    }

    /// [`NodepackStrategy::alternatives`] by filtering every pair of the pool and
    /// sorting: the reference its walk by price must agree with.
    fn alternatives_by_sort(prep: &Prepared, pk: &Packed) -> Vec<String> {
        let info = &prep.pools[pk.pool];
        let prices = prep.min_prices(prep.offer_masks(&pk.reqs));
        let compatible = prep.compatible_set(pk.pool, &pk.reqs);
        let fit = prep.fit_test(&pk.requested);
        let mut alts: Vec<(i64, &str, usize)> = (info.start..info.end)
            .filter(|&i| {
                let k = i - info.start;
                i as u32 != pk.pt && fit.fits(i) && compatible[k / 64] & (1u64 << (k % 64)) != 0
            })
            .filter_map(|i| prices[i].map(|pr| (pr, prep.pool_types[i].name.as_str(), i)))
            .collect();
        alts.sort_unstable();
        alts.truncate(crate::karpenter::MAX_INSTANCE_TYPES - 1);
        alts.iter().map(|a| a.1.to_string()).collect()
    }

    proptest! {
        /// Launch alternatives walked by price are the cheapest pairs by (price, name)
        /// that hold the node's pods, as filtering and sorting every pair gives: on a
        /// catalog of 96 types with many equal prices, any request size, any zone and
        /// capacity-type subset.
        #[test]
        fn alternatives_by_walk_and_by_sort_agree(
            cpu in 0u64..70_000,
            gib in 0u64..300,
            zones in 1usize..8,
            cts in 1usize..4,
            own in 0u32..96,
        ) {
            use nodepack_testkit as tk;
            let mut types = Vec::new();
            for f in 0..12 {
                for c in [1, 2, 4, 8, 16, 32, 48, 64] {
                    let ppc = if f % 3 == 0 { 0.04 } else { 0.05 };
                    types.push(tk::instance_type(&format!("f{f}"), "amd64", c, 1 + f % 4, 0, ppc));
                }
            }
            let catalog = tk::catalog_of(types);
            crate::prep::tests::with_catalog_prep(&catalog, |prep| {
                let mut reqs = Requirements::default();
                let zs: Vec<&str> = (0..3).filter(|z| zones & (1 << z) != 0).map(|z| tk::ZONES[z]).collect();
                reqs.add(labels::ZONE, nodepack_model::ValueSet::in_values(zs));
                let cs: Vec<&str> = [CapacityType::Spot, CapacityType::OnDemand]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| cts & (1 << i) != 0)
                    .map(|(_, c)| c.as_str())
                    .collect();
                reqs.add(labels::CAPACITY_TYPE, nodepack_model::ValueSet::in_values(cs));
                let pk = Packed {
                    pool: 0,
                    pt: own,
                    reqs,
                    pods: Vec::new(),
                    requested: Resources::new(Millicores(cpu), Bytes::from_gib(gib)).with_pods(3),
                };
                let walk = NodepackStrategy::default().alternatives(prep, &pk);
                let want = alternatives_by_sort(prep, &pk);
                prop_assert_eq!(&walk, &want);
                Ok(())
            })?;
        }

        /// The fit test's share of a pair (the group-building fast path) is the share of
        /// the pair's usable capacity computed by resource name, for requests with and
        /// without GPUs, and for a resource no pair has.
        #[test]
        fn fit_test_share_is_the_share_by_name(
            cpu in 0u64..200_000,
            mib in 0u64..2_000_000,
            gpus in 0u64..10,
            other in proptest::bool::ANY,
        ) {
            crate::prep::tests::with_testkit_prep(|prep| {
                let mut r = Resources::default();
                r.cpu = Millicores(cpu);
                r.memory = Bytes::from_mib(mib);
                r.pods = 1;
                let mut r = r.with_extended(nodepack_model::resources::NVIDIA_GPU, gpus);
                if other {
                    r = r.with_extended("example.com/fpga", 1);
                }
                let fit = prep.fit_test(&r);
                for (i, pt) in prep.pool_types.iter().enumerate() {
                    let (a, b) = (fit.share(i), share_by_name(&r, &pt.usable));
                    prop_assert!(a == b, "{i}: {a} vs {b}");
                }
                Ok(())
            })?;
        }
    }

    proptest! {
        /// Both ways of ranking options give the same list: any subset of the pairs,
        /// any limit, any offer masks (zone and capacity-type subsets).
        #[test]
        fn rank_by_walk_and_by_sort_agree(
            pick in proptest::collection::vec(proptest::bool::ANY, 64),
            limit in 0usize..12,
            zones in 0u64..16,
            cts in 0u8..8,
        ) {
            let (walk, sort) = crate::prep::tests::with_testkit_prep(|prep| {
                let options: Vec<u32> = (0..prep.pool_types.len() as u32)
                    .filter(|&o| pick[o as usize % 64])
                    .collect();
                let masks = (zones, cts);
                (
                    rank_by_walk(prep, masks, &options, limit),
                    rank_by_sort(prep, masks, &options, limit),
                )
            });
            prop_assert_eq!(&walk, &sort);
            if limit > 0 {
                prop_assert!(walk.len() <= limit);
            }
        }

        /// The blocks a pod skips hold no claim with room for it: the candidates are
        /// exactly the claims with enough of each resource free, in order, before and
        /// after a claim's room changes.
        #[test]
        fn room_candidates_are_the_claims_with_room(
            free in proptest::collection::vec(proptest::array::uniform3(0u64..8), 0..150),
            need in proptest::array::uniform3(0u64..8),
            change in (0usize..150, proptest::array::uniform3(0u64..8)),
        ) {
            let mut free = free;
            let mut room = Room::new(free.clone());
            let fits = |f: &[[u64; 3]]| -> Vec<usize> {
                (0..f.len()).filter(|&c| (0..3).all(|k| f[c][k] >= need[k])).collect()
            };
            prop_assert_eq!(room.candidates(need).collect::<Vec<_>>(), fits(&free));
            if !free.is_empty() {
                let c = change.0 % free.len();
                free[c] = change.1;
                room.set(c, change.1);
                prop_assert_eq!(room.candidates(need).collect::<Vec<_>>(), fits(&free));
            }
        }
    }

    proptest! {
        /// The greedy's group sets: `members` of a word-wise combination of bit sets
        /// lists exactly the indices the combination holds, ascending, and `Sigs`
        /// holds a group in a column's set iff the group lists the column (up to 300
        /// columns: several blocks of the transpose each way).
        #[test]
        fn bit_sets_list_their_members(
            a in proptest::collection::vec(proptest::bool::ANY, 0..200),
            b in proptest::collection::vec(proptest::bool::ANY, 200),
            cols in 1usize..300,
        ) {
            let n = a.len();
            let (sa, sb) = (bit_set(n, |i| a[i]), bit_set(n, |i| b[i]));
            let both: Vec<usize> = members(sa.len(), |w| sa[w] & !sb[w]).collect();
            let want: Vec<usize> = (0..n).filter(|&i| a[i] && !b[i]).collect();
            prop_assert_eq!(both, want);
            let groups: Vec<Group> = (0..n)
                .map(|i| Group {
                    pods: Vec::new(),
                    next: 0,
                    req: Resources::default(),
                    term: Default::default(),
                    term_id: 0,
                    bits: bit_set(cols, |c| (i + c) % 3 == 0 || a[i] && b[c % 200]),
                    fair: 0.0,
                })
                .collect();
            let sig = Sigs::new(cols, &groups);
            for c in 0..cols {
                let want: Vec<usize> = (0..n).filter(|&g| groups[g].has(c)).collect();
                let col = sig.of(c);
                prop_assert_eq!(members(sig.words, |w| col[w]).collect::<Vec<_>>(), want);
            }
        }
    }

    proptest! {
        /// `ColFits` keeps exactly the columns whose four plain capacities hold the
        /// request, with many columns of equal capacities, requests of zero and requests
        /// larger than every column.
        #[test]
        fn col_fits_keeps_the_columns_that_hold_a_request(
            caps in proptest::collection::vec((0u64..6, 0u64..6, 0u64..3, 0u64..4), 0..150),
            req in (0u64..7, 0u64..7, 0u64..4, 0u64..5),
            start in proptest::collection::vec(proptest::bool::ANY, 150),
        ) {
            let caps: Vec<[u64; 4]> = caps.iter().map(|c| [c.0, c.1, c.2, c.3]).collect();
            let mut r = Resources::new(Millicores(req.0), Bytes(req.1)).with_pods(req.3);
            r.ephemeral_storage = Bytes(req.2);
            let fits = ColFits::new(&caps);
            let mut bits = bit_set(caps.len(), |c| start[c]);
            fits.keep_fitting(&r, &mut bits);
            let want = bit_set(caps.len(), |c| start[c] && crate::prep::fits_caps(&r, &caps[c]));
            prop_assert_eq!(bits, want);
        }

        /// The fair-cost walk finds the least price times share over every pair that
        /// holds the request and every capacity rank its mask admits, as the full scan
        /// does: any prices (some ranks without one), masks, CPU or memory heavy
        /// requests, with GPUs or a resource no pair has.
        #[test]
        fn fair_walk_finds_the_least_fair_cost(
            prices in proptest::collection::vec((1u32..5_000, 0u8..8), 64),
            masks in proptest::collection::vec(0u8..8, 64),
            cpu in 0u64..70_000,
            mib in 0u64..300_000,
            gpus in 0u64..3,
            other in proptest::bool::ANY,
        ) {
            crate::prep::tests::with_testkit_prep(|prep| {
                let n = prep.pool_types.len();
                // Rank k has a price unless bit k of the second number is set.
                let table: Vec<[f64; 3]> = (0..n)
                    .map(|o| {
                        let (p, none) = prices[o % 64];
                        std::array::from_fn(|k| {
                            if none & (1 << k) != 0 {
                                f64::INFINITY
                            } else {
                                p as f64 * (1.0 + k as f64 / 7.0)
                            }
                        })
                    })
                    .collect();
                let mask: Vec<u8> = (0..n).map(|o| masks[(o * 7) % 64]).collect();
                let mut r = Resources::new(Millicores(cpu), Bytes::from_mib(mib))
                    .with_pods(1)
                    .with_extended(nodepack_model::resources::NVIDIA_GPU, gpus);
                if other {
                    r = r.with_extended("example.com/fpga", 1);
                }
                let fit = prep.fit_test(&r);
                let mut want = f64::INFINITY;
                for o in 0..n {
                    if !fit.fits(o) {
                        continue;
                    }
                    for (k, price) in table[o].iter().enumerate() {
                        if mask[o] & (1 << k) != 0 {
                            want = want.min(price * fit.share(o));
                        }
                    }
                }
                let got = FairWalk::new(prep, &table).least(&fit, &r, &mask, &table);
                prop_assert!(got == want || got.is_nan() && want.is_nan(), "{got} vs {want}");
                Ok(())
            })?;
        }
    }

    proptest! {
        /// The slice sums built from per-word sums scale a room as the sum built group
        /// by group does, and stay so after steps take pods of some groups (their words
        /// forgotten): any set of up to 200 groups of CPU, memory, GPU and an extended
        /// resource only some ask for.
        #[test]
        fn word_sums_agree_with_the_sum_built_group_by_group(
            shapes in proptest::collection::vec((1u64..64_000, 1u64..256, 0u64..3, proptest::bool::ANY, 1usize..40), 1..200),
            sets in proptest::collection::vec(proptest::collection::vec(proptest::bool::ANY, 200), 1..6),
            takes in proptest::collection::vec((0usize..200, 1usize..10), 0..20),
        ) {
            let gpu = nodepack_model::resources::NVIDIA_GPU;
            let mut groups: Vec<Group> = shapes
                .iter()
                .map(|&(cpu, gib, gpus, fpga, pods)| {
                    let mut req = Resources::new(Millicores(cpu), Bytes::from_gib(gib))
                        .with_pods(1)
                        .with_extended(gpu, gpus);
                    if fpga {
                        req = req.with_extended("example.com/fpga", 1);
                    }
                    Group {
                        pods: (0..pods).collect(),
                        next: 0,
                        req,
                        term: Default::default(),
                        term_id: 0,
                        bits: Vec::new(),
                        fair: 0.0,
                    }
                })
                .collect();
            let n = groups.len();
            let cap = Resources::new(Millicores(96_000), Bytes::from_gib(384))
                .with_pods(110)
                .with_extended(gpu, 8)
                .with_extended("example.com/fpga", 2);
            let mut sums = WordSums::new(n.div_ceil(64));
            for round in 0..=takes.len() {
                for pick in &sets {
                    let set = bit_set(n, |g| pick[g] && groups[g].remaining() > 0);
                    let fast = sums.sum(&set, &groups);
                    let slow = SliceSum::new(
                        members(set.len(), |w| set[w])
                            .map(|g| (&groups[g].req, groups[g].remaining() as u64)),
                    );
                    prop_assert_eq!(fast.scale(&cap), slow.scale(&cap));
                    prop_assert_eq!((fast.parts, fast.most), (slow.parts, slow.most));
                }
                if let Some(&(g, k)) = takes.get(round) {
                    let g = g % n;
                    let gr = &mut groups[g];
                    gr.next = (gr.next + k).min(gr.pods.len());
                    sums.forget(g);
                }
            }
        }
    }

    proptest! {
        /// A node's requirements with its groups' terms, each distinct term taken once,
        /// are those with every group's term taken in turn: terms of In and NotIn zone
        /// sets, capacity types and a Gt bound, repeated in any order.
        #[test]
        fn each_term_once_is_every_term_in_turn(
            kinds in proptest::collection::vec((0usize..8, 0u8..8, 1u8..8), 1..6),
            order in proptest::collection::vec(0usize..6, 1..12),
        ) {
            use nodepack_model::requirements::{Operator, ValueSet};
            let zones = ["a", "b", "c"];
            let pick = |m: u8| -> Vec<&str> {
                zones.iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, z)| *z).collect()
            };
            let terms: Vec<Requirements> = kinds
                .iter()
                .map(|&(kind, a, b)| {
                    let mut r = Requirements::default();
                    if kind & 1 != 0 {
                        r.add(labels::ZONE, nodepack_model::ValueSet::in_values(pick(a)));
                    }
                    if kind & 2 != 0 {
                        let out: Vec<String> = pick(b).iter().map(|z| z.to_string()).collect();
                        r.add(labels::ZONE, ValueSet::from_operator(Operator::NotIn, &out).unwrap());
                    }
                    if kind & 4 != 0 {
                        r.add(labels::CAPACITY_TYPE, nodepack_model::ValueSet::in_values([["spot", "on-demand"][usize::from(a % 2)]]));
                        r.add("example.com/gen", ValueSet::from_operator(Operator::Gt, &[b.to_string()]).unwrap());
                    }
                    r
                })
                .collect();
            let groups: Vec<Group> = order
                .iter()
                .map(|&i| Group {
                    pods: Vec::new(),
                    next: 0,
                    req: Resources::default(),
                    term: std::sync::Arc::new(terms[i % terms.len()].clone()),
                    term_id: i % terms.len(),
                    bits: Vec::new(),
                    fair: 0.0,
                })
                .collect();
            let base = terms[0].clone();
            let naive = groups.iter().fold(base.clone(), |r, g| r.intersect(&g.term));
            prop_assert_eq!(with_terms(base, groups.iter()), naive);
        }
    }

    /// Plain pods take room left in the engine's claims only where they narrow nothing:
    /// on-demand-only pods stay off the zone-spread pods' spot claims (they would turn
    /// them on-demand) while pods without node rules, interleaved with them, join those
    /// claims (each term's answers per claim are kept apart).
    #[test]
    fn plain_pods_join_claims_only_where_they_narrow_nothing() {
        use nodepack_testkit as tk;
        let catalog = tk::catalog();
        let mut pending: Vec<Pod> = tk::pods("web", 3, 1500, 1024)
            .into_iter()
            .map(|p| tk::spread(p, labels::ZONE, 1))
            .collect();
        for i in 0..4 {
            let api = tk::pod(&format!("api-{i}"), 200, 256);
            pending.push(tk::select(api, labels::CAPACITY_TYPE, "on-demand"));
            pending.push(tk::pod(&format!("free-{i}"), 200, 256));
        }
        let pools = vec![nodepack_model::NodePool::new("p")];
        let problem = crate::Problem::new(&pending, &[], &pools, &catalog);
        let plan = crate::solve("nodepack", &problem).unwrap();
        assert!(crate::validate(&problem, &plan).is_empty());
        let has = |n: &NewNode, app: &str| n.pods.iter().any(|p| p.name.starts_with(app));
        let mut free_with_web = 0;
        for n in &plan.nodes {
            let spot = n.capacity_type == CapacityType::Spot;
            assert!(!has(n, "web") || spot, "{n:?}");
            assert!(!has(n, "api") || !spot, "{n:?}");
            if has(n, "web") {
                free_with_web += n.pods.iter().filter(|p| p.name.starts_with("free")).count();
            }
        }
        assert_eq!(free_with_web, 4, "{plan:?}");
    }

    proptest! {
        /// Taking `k` pods' requests off a free room in place leaves what the built
        /// difference leaves (extended resources compared by value).
        #[test]
        fn taking_scaled_requests_in_place_is_the_built_difference(
            free in (0u64..100_000, 0u64..64, 0u64..4, 0u64..50, 0u64..3),
            req in (0u64..8_000, 0u64..8, 0u64..2, 0u64..3, proptest::bool::ANY),
            k in 0usize..20,
        ) {
            let gpu = nodepack_model::resources::NVIDIA_GPU;
            let mut f = Resources::new(Millicores(free.0), Bytes::from_gib(free.1))
                .with_pods(free.3)
                .with_extended(gpu, free.2);
            f.ephemeral_storage = Bytes::from_gib(free.4);
            let mut r = Resources::new(Millicores(req.0), Bytes::from_gib(req.1))
                .with_pods(1)
                .with_extended(gpu, req.2);
            r.ephemeral_storage = Bytes::from_gib(req.3);
            if req.4 {
                r.extended.insert("example.com/fpga".into(), 1);
            }
            let built = f.saturating_sub(&scaled(&r, k));
            let mut inplace = f.clone();
            take_scaled(&mut inplace, &r, k);
            prop_assert_eq!(inplace, built);
        }
    }

    #[test]
    fn price_key_orders_as_total_cmp() {
        let xs = [
            -f64::INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            0.5,
            3.0,
            1e12,
            f64::INFINITY,
        ];
        let mut checked = 0;
        for a in xs {
            for b in xs {
                assert_eq!(
                    price_key(a).cmp(&price_key(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn scaled_sum_fits_agrees_with_building_the_sum() {
        let a = Resources::new(Millicores(1500), Bytes::from_gib(3))
            .with_pods(1)
            .with_extended("nvidia.com/gpu", 1);
        let b = Resources::new(Millicores(500), Bytes::from_gib(1)).with_pods(1);
        let cap = Resources::new(Millicores(8000), Bytes::from_gib(16))
            .with_pods(10)
            .with_extended("nvidia.com/gpu", 4);
        let mut both = 0;
        for ka in 0..8u64 {
            for kb in 0..8u64 {
                let built = scaled(&a, ka as usize).saturating_add(&scaled(&b, kb as usize));
                let fast = scaled_sum_fits(&[(&a, ka), (&b, kb)], &cap);
                assert_eq!(fast, built.fits(&cap), "{ka} x a + {kb} x b");
                both += fast as u32;
            }
        }
        // Some sums fit and some do not (GPUs, pods and cpu each bind somewhere).
        assert!(both > 0 && both < 64);
    }

    /// `greedy_only` skips the pattern LP: on pods of four shapes that the greedy packs
    /// worse than the LP's patterns, its (valid) plan costs more ($0.880 against
    /// $0.845 an hour).
    #[test]
    fn greedy_only_packs_without_the_pattern_lp() {
        use nodepack_testkit as tk;
        let catalog = tk::catalog();
        let mut pending = tk::pods("a", 13, 1700, 2500);
        pending.extend(tk::pods("b", 11, 2300, 5200));
        pending.extend(tk::pods("c", 9, 900, 7000));
        pending.extend(tk::pods("d", 17, 600, 900));
        let pools = [nodepack_model::NodePool::new("default")];
        let problem = crate::Problem::new(&pending, &[], &pools, &catalog);
        let full = NodepackStrategy::default().solve(&problem);
        let quick = NodepackStrategy {
            greedy_only: true,
            ..NodepackStrategy::default()
        }
        .solve(&problem);
        assert!(full.unschedulable.is_empty() && quick.unschedulable.is_empty());
        assert!(crate::validate(&problem, &quick).is_empty());
        assert!(quick.cost_per_hour > full.cost_per_hour);
    }

    /// `cost_only` plans the same nodes at the same cost, without ranking alternatives.
    #[test]
    fn cost_only_keeps_the_plan_and_drops_alternatives() {
        use nodepack_testkit as tk;
        let catalog = tk::catalog();
        let mut pending = tk::pods("web", 30, 700, 1500);
        pending.extend(tk::pods("db", 7, 3100, 12_000));
        let pools = [nodepack_model::NodePool::new("default")];
        let problem = crate::Problem::new(&pending, &[], &pools, &catalog);
        let full = NodepackStrategy::default().solve(&problem);
        let quick = NodepackStrategy {
            cost_only: true,
            ..NodepackStrategy::default()
        }
        .solve(&problem);
        assert!(full.nodes.iter().any(|n| !n.alternatives.is_empty()));
        assert!(quick.nodes.iter().all(|n| n.alternatives.is_empty()));
        assert_eq!(full.cost_per_hour, quick.cost_per_hour);
        let shape = |p: &crate::Plan| -> Vec<(String, String, Vec<String>)> {
            p.nodes
                .iter()
                .map(|n| {
                    let pods = n.pods.iter().map(|id| id.to_string()).collect();
                    (n.instance_type.clone(), n.zone.clone(), pods)
                })
                .collect()
        };
        assert_eq!(shape(&full), shape(&quick));
        assert!(full.unschedulable.is_empty() && quick.unschedulable.is_empty());
    }
}
