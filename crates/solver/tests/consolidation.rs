//! Property tests of consolidation over random clusters: a random workload is
//! provisioned, some of its pods go away, and both strategies consolidate. Every move,
//! applied in order, must leave every pod placed on a node that holds it under all its
//! constraints (checked by the independent plan validator), must spare nodes and pods
//! marked `do-not-disrupt`, must stay within the node disruption budgets and the pod
//! disruption budgets, and must lower the price; passes are deterministic.

use nodepack_model::nodepool::{Budget, BudgetNodes};
use nodepack_model::{
    CapacityType, Catalog, IntOrPercent, Millis, Money, Node, NodePool, Pod, PodDisruptionBudget,
    Requirements,
};
use nodepack_solver::consolidate::{
    consolidator, ConsolidationProblem, Move, Reason, CONSOLIDATORS,
};
use nodepack_solver::{solve, validate, Binding, ExistingNode, NewNode, Plan, Problem};
use nodepack_testkit as tk;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

fn node_of(n: &NewNode, pools: &[NodePool], catalog: &Catalog) -> Node {
    let pool = pools.iter().find(|p| p.name == n.nodepool).unwrap();
    Node::new(
        &n.name,
        &n.instance_type,
        &n.zone,
        n.capacity_type,
        n.price,
        catalog
            .get(&n.instance_type)
            .unwrap()
            .allocatable()
            .saturating_sub(&pool.daemonset_overhead),
    )
    .in_pool(&n.nodepool)
    .with_labels(n.labels.clone())
    .with_taints(pool.taints.clone())
}

/// Provision `pods`, then keep those `keep` selects: a fragmented cluster.
fn cluster(
    pods: &[Pod],
    pools: &[NodePool],
    catalog: &Catalog,
    keep: &[bool],
) -> Vec<ExistingNode> {
    let problem = Problem::new(pods, &[], pools, catalog);
    let plan = solve("karpenter", &problem).unwrap();
    let by_id: BTreeMap<_, _> = pods.iter().enumerate().map(|(i, p)| (&p.id, i)).collect();
    plan.nodes
        .iter()
        .map(|n| {
            let kept = n
                .pods
                .iter()
                .map(|id| by_id[id])
                .filter(|&i| keep[i % keep.len()])
                .map(|i| Arc::new(pods[i].clone()))
                .collect();
            ExistingNode::new(node_of(n, pools, catalog), kept)
        })
        .collect()
}

/// Check one move against the cluster before it and return the cluster after it.
fn apply(
    m: &Move,
    nodes: &[ExistingNode],
    pools: &[NodePool],
    catalog: &Catalog,
) -> Result<Vec<ExistingNode>, String> {
    let removed: Vec<&ExistingNode> = m
        .nodes
        .iter()
        .map(|n| {
            nodes
                .iter()
                .find(|e| &e.node.name == n)
                .ok_or(format!("unknown node {n}"))
        })
        .collect::<Result<_, _>>()?;
    for e in &removed {
        if e.node.do_not_disrupt || e.pods.iter().any(|p| p.do_not_disrupt) {
            return Err(format!("{} is do-not-disrupt", e.node.name));
        }
    }
    let pending: Vec<Pod> = removed
        .iter()
        .flat_map(|e| e.pods.iter().map(|p| (**p).clone()))
        .collect();
    let stay: Vec<ExistingNode> = nodes
        .iter()
        .filter(|e| !m.nodes.contains(&e.node.name))
        .cloned()
        .collect();
    let mut plan = Plan::new("moves");
    plan.nodes = m
        .replacements
        .iter()
        .map(|r| {
            let mut n = r.clone();
            n.expected_replicas = 0;
            n.pods.clear();
            n
        })
        .collect();
    plan.order = m.pods.iter().map(|pm| pm.pod.clone()).collect();
    for pm in &m.pods {
        match plan.nodes.iter_mut().find(|n| n.name == pm.to) {
            Some(n) => n.pods.push(pm.pod.clone()),
            None => plan.existing.push(Binding::new(pm.pod.clone(), &pm.to)),
        }
    }
    let problem = Problem::new(&pending, &stay, pools, catalog);
    let errs = validate(&problem, &plan);
    if !errs.is_empty() {
        return Err(format!("{:?}", errs));
    }
    let mut after = stay;
    for r in &m.replacements {
        after.push(ExistingNode::new(node_of(r, pools, catalog), vec![]));
    }
    for pm in &m.pods {
        let pod = pending.iter().find(|p| p.id == pm.pod).unwrap().clone();
        let n = after.iter_mut().find(|e| e.node.name == pm.to).unwrap();
        n.pods.push(Arc::new(pod));
    }
    Ok(after)
}

fn all_pods(nodes: &[ExistingNode]) -> Vec<String> {
    let mut v: Vec<String> = nodes
        .iter()
        .flat_map(|e| e.pods.iter().map(|p| p.id.to_string()))
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn consolidation_keeps_every_pod_placed_within_budgets(
        pods in tk::arb_pods(40),
        pools in tk::arb_pools(),
        keep in prop::collection::vec(any::<bool>(), 1..8),
        dnd in prop::collection::vec(0u8..10, 1..8),
        budget in prop::option::of(0u32..4),
        pdb_max in prop::option::of(0u32..3),
    ) {
        let catalog = tk::catalog();
        let mut pods = pods;
        for (i, p) in pods.iter_mut().enumerate() {
            p.do_not_disrupt = dnd[i % dnd.len()] == 0;
        }
        let mut pools = pools;
        for p in &mut pools {
            p.disruption.consolidate_after = Some(Millis(0));
            if let Some(b) = budget {
                p.disruption.budgets = vec![Budget::new(BudgetNodes::Count(b))];
            }
        }
        let nodes = cluster(&pods, &pools, &catalog, &keep);
        let pdbs: Vec<PodDisruptionBudget> = pdb_max
            .map(|m| {
                let web = Requirements::from_labels(&[("app".to_string(), "web".to_string())].into());
                let mut pdb = PodDisruptionBudget::new("default", "web", web);
                pdb.max_unavailable = Some(IntOrPercent::Count(m));
                pdb
            })
            .into_iter()
            .collect();
        let problem = ConsolidationProblem {
            now: Millis::from_mins(10),
            nodes: &nodes,
            status: &[],
            nodepools: &pools,
            catalog: &catalog,
            pdbs: &pdbs,
            pairs: None,
        pdb_allowed: None,
        spot_to_spot: false,
        };
        for name in CONSOLIDATORS {
            let c = consolidator(name).unwrap();
            let plan = c.consolidate(&problem);
            prop_assert_eq!(&plan, &c.consolidate(&problem), "{} is not deterministic", name);
            let mut state = nodes.clone();
            let mut per_pool: BTreeMap<(String, Reason), u32> = BTreeMap::new();
            let mut pdb_evictions = 0u32;
            for m in &plan.moves {
                let before: Money = state.iter().map(|e| e.node.price).sum();
                pdb_evictions += m
                    .nodes
                    .iter()
                    .flat_map(|n| state.iter().find(|e| &e.node.name == n).unwrap().pods.iter())
                    .filter(|p| pdbs.iter().any(|b| b.covers(p)))
                    .count() as u32;
                for n in &m.nodes {
                    let pool = state.iter().find(|e| &e.node.name == n).unwrap().node.nodepool.clone().unwrap();
                    *per_pool.entry((pool, m.reason)).or_default() += 1;
                }
                state = match apply(m, &state, &pools, &catalog) {
                    Ok(s) => s,
                    Err(e) => return Err(TestCaseError::fail(format!("{name}: {e}: {m:?}"))),
                };
                let after: Money = state.iter().map(|e| e.node.price).sum();
                prop_assert!(after < before || m.reason == Reason::Drifted,
                    "{}: move did not lower the price ({} -> {})", name, before, after);
            }
            prop_assert_eq!(all_pods(&state), all_pods(&nodes), "{}: pods lost or duplicated", name);
            let total: Money = state.iter().map(|e| e.node.price).sum();
            prop_assert_eq!(total, plan.cost_after, "{}", name);
            if let Some(m) = pdb_max {
                prop_assert!(pdb_evictions <= m, "{}: {} evictions under maxUnavailable {}", name, pdb_evictions, m);
            }
            for ((pool, reason), used) in per_pool {
                let p = pools.iter().find(|p| p.name == pool).unwrap();
                let total = nodes.iter().filter(|e| e.node.nodepool.as_deref() == Some(&pool)).count() as u32;
                prop_assert!(used <= p.disruption.allowed(reason.as_str(), total, problem.now),
                    "{}: {} {:?} disruptions in {}", name, used, reason, pool);
            }
            let _ = CapacityType::Spot;
        }
    }
}
