//! Unit tests of the consolidation strategies on small hand-built clusters.

use super::*;
use nodepack_model::nodepool::{Budget, BudgetNodes, ConsolidationPolicy};
use nodepack_model::{IntOrPercent, Node, Requirements};
use nodepack_testkit as tk;

/// A ready node of `ty` in pool `pool` (index 0 of `pools`), zone test-1a.
pub(crate) fn node(
    pools: &[NodePool],
    catalog: &Catalog,
    name: &str,
    ty: &str,
    ct: CapacityType,
) -> Node {
    let pairs = PoolCatalog::new(pools, catalog);
    let pt = pairs
        .pool_types
        .iter()
        .find(|p| p.name == ty)
        .expect("type in pool");
    let it = catalog.get(ty).unwrap();
    let o = it
        .offerings
        .iter()
        .find(|o| o.zone == tk::ZONES[0] && o.capacity_type == ct)
        .unwrap();
    let pool = &pools[pt.pool];
    Node::new(
        name,
        ty,
        &o.zone,
        ct,
        o.price,
        it.allocatable()
            .checked_sub(&pool.daemonset_overhead)
            .unwrap(),
    )
    .in_pool(&pool.name)
    .with_labels(crate::engine::node_labels(pt, pool, o, name))
    .with_taints(pool.taints.clone())
}

pub(crate) fn existing(node: Node, pods: Vec<Pod>) -> ExistingNode {
    ExistingNode::new(node, pods.into_iter().map(Arc::new).collect())
}

fn pools() -> Vec<NodePool> {
    let mut p = tk::pool("default", &[]);
    p.disruption.consolidate_after = Some(Millis::from_secs(30));
    p.disruption.budgets = vec![];
    vec![p]
}

fn problem<'a>(
    nodes: &'a [ExistingNode],
    pools: &'a [NodePool],
    catalog: &'a Catalog,
    pdbs: &'a [PodDisruptionBudget],
) -> ConsolidationProblem<'a> {
    ConsolidationProblem {
        now: Millis::from_mins(10),
        nodes,
        status: &[],
        nodepools: pools,
        catalog,
        pdbs,
        pairs: None,
        pdb_allowed: None,
        spot_to_spot: false,
    }
}

fn both() -> Vec<Box<dyn Consolidator>> {
    CONSOLIDATORS
        .iter()
        .map(|n| consolidator(n).unwrap())
        .collect()
}

/// Two m6i.8x on-demand nodes, each a quarter used: one can take the other's pods.
fn two_quarter_full(catalog: &Catalog, pools: &[NodePool]) -> Vec<ExistingNode> {
    (0..2)
        .map(|k| {
            existing(
                node(
                    pools,
                    catalog,
                    &format!("n{k}"),
                    "m6i.8x",
                    CapacityType::OnDemand,
                ),
                tk::pods(&format!("a{k}"), 4, 500, 1024),
            )
        })
        .collect()
}

/// Karpenter disruption test: "can delete multiple empty nodes".
#[test]
fn empty_nodes_go_after_consolidate_after() {
    let (catalog, pools) = (tk::catalog(), pools());
    let nodes = vec![
        existing(
            node(&pools, &catalog, "empty", "m6i.2x", CapacityType::OnDemand),
            vec![],
        ),
        existing(
            node(&pools, &catalog, "busy", "m6i.2x", CapacityType::OnDemand),
            tk::pods("a", 3, 500, 1024),
        ),
    ];
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert_eq!(plan.moves[0].reason, Reason::Empty, "{}", c.name());
        assert_eq!(plan.moves[0].nodes, vec!["empty".to_string()]);
        assert_eq!(plan.moves[0].evictions, 0);
        // Changed 10 s ago: consolidateAfter (30 s) has not elapsed.
        let status = [
            NodeStatus {
                last_change: Millis::from_mins(10) - Millis::from_secs(10),
                deleting: false,
            },
            NodeStatus::default(),
        ];
        let mut p = problem(&nodes, &pools, &catalog, &[]);
        p.status = &status;
        let plan = c.consolidate(&p);
        assert!(
            plan.moves
                .iter()
                .all(|m| !m.nodes.contains(&"empty".to_string())),
            "{}: {:?}",
            c.name(),
            plan.moves
        );
    }
}

/// Karpenter disruption test: "can delete nodes"; "should choose delete when pods fit on existing nodes".
#[test]
fn underused_node_is_deleted_and_pods_move() {
    let (catalog, pools) = (tk::catalog(), pools());
    let nodes = two_quarter_full(&catalog, &pools);
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert_eq!(plan.moves.len(), 1, "{}: {:?}", c.name(), plan.moves);
        let m = &plan.moves[0];
        assert_eq!(m.reason, Reason::Underutilized);
        assert_eq!(m.evictions as usize, 4 * m.nodes.len());
        assert_eq!(m.pods.len(), m.evictions as usize);
        assert!(m
            .pods
            .iter()
            .all(|pm| m.nodes.contains(&pm.from) && pm.to != pm.from));
        assert!(plan.cost_after < plan.cost_before);
        if c.name() == "nodepack" {
            // Deleting one node costs 4 evictions; replacing both would cost 8.
            assert_eq!(m.kind(), "delete");
            assert_eq!(m.savings_per_hour, nodes[0].node.price);
        } else {
            // Karpenter's multi-node pass comes first: both on-demand nodes for one
            // cheaper spot node.
            assert_eq!((m.kind(), m.nodes.len()), ("replace", 2));
        }
    }
}

/// Regression: after a scale-in, the nodes that lost pods were not candidates yet
/// (changed within consolidateAfter), so nodepack moved the pods of the full, settled
/// nodes into their holes, evicting many more pods than waiting would have. nodepack
/// now moves no pods while an unsettled node would be a cheaper candidate than every
/// settled one; Karpenter's rules do.
#[test]
fn nodepack_waits_for_recently_changed_nodes_to_settle() {
    let (catalog, pools) = (tk::catalog(), pools());
    let nodes = vec![
        existing(
            node(&pools, &catalog, "full", "m6i.8x", CapacityType::OnDemand),
            tk::pods("a", 8, 500, 1024),
        ),
        existing(
            node(&pools, &catalog, "holed", "m6i.8x", CapacityType::OnDemand),
            tk::pods("b", 1, 500, 1024),
        ),
    ];
    let now = Millis::from_mins(10);
    let status = [
        NodeStatus::default(),
        NodeStatus {
            last_change: now - Millis::from_secs(10),
            deleting: false,
        },
    ];
    let mut p = problem(&nodes, &pools, &catalog, &[]);
    p.status = &status;
    let np = consolidator("nodepack").unwrap();
    assert!(np.consolidate(&p).moves.is_empty());
    // Karpenter moves the full node's pods (its only candidate) at once.
    let plan = consolidator("karpenter").unwrap().consolidate(&p);
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert!(plan.moves[0].nodes.contains(&"full".to_string()));
    // Once settled, nodepack moves the one pod of the holed node.
    let status = [NodeStatus::default(), NodeStatus::default()];
    p.status = &status;
    let plan = np.consolidate(&p);
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert_eq!(plan.moves[0].nodes, vec!["holed".to_string()]);
    assert_eq!(plan.moves[0].evictions, 1);
    // A recently changed node that would be a dearer candidate (more pods) does not
    // hold the cheaper settled one back: churn elsewhere never starves consolidation.
    let status = [
        NodeStatus {
            last_change: now - Millis::from_secs(10),
            deleting: false,
        },
        NodeStatus::default(),
    ];
    p.status = &status;
    let plan = np.consolidate(&p);
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert_eq!(plan.moves[0].nodes, vec!["holed".to_string()]);
}

/// Regression (web-diurnal with headroom: 248 one-pod moves over two days against 31):
/// a scale-in deleted the newest replica and left its node empty but not settled; the
/// next pass moved the pod of an older, dearer node into that room and deleted it, one
/// eviction per step where waiting removes the empty node for none. nodepack now plans
/// no pods onto a node emptied within `consolidateAfter`; moves into other room go on.
#[test]
fn nodepack_moves_no_pods_into_a_node_about_to_go_empty() {
    let (catalog, pools) = (tk::catalog(), pools());
    let one = |name: &str, ty: &str, pods: Vec<Pod>| {
        existing(
            node(&pools, &catalog, name, ty, CapacityType::OnDemand),
            pods,
        )
    };
    let mut nodes = vec![
        one("dear", "m6i.4x", tk::pods("a", 1, 500, 1024)),
        one("emptied", "m6i.2x", vec![]),
    ];
    assert!(nodes[0].node.price > nodes[1].node.price);
    let now = Millis::from_mins(10);
    let mut status = vec![
        NodeStatus::default(),
        NodeStatus {
            last_change: now - Millis::from_secs(10),
            deleting: false,
        },
    ];
    let np = consolidator("nodepack").unwrap();
    let plan = |nodes: &[ExistingNode], status: &[NodeStatus]| {
        let mut p = problem(nodes, &pools, &catalog, &[]);
        p.status = status;
        np.consolidate(&p).moves
    };
    let into_emptied = |moves: &[Move]| {
        moves
            .iter()
            .any(|m| m.pods.iter().any(|pm| pm.to == "emptied"))
    };
    let moves = plan(&nodes, &status);
    assert!(!into_emptied(&moves), "{moves:?}");
    // Settled, the empty node goes, at no eviction.
    let settled = [NodeStatus::default(), NodeStatus::default()];
    let moves = plan(&nodes, &settled);
    assert_eq!(moves[0].reason, Reason::Empty);
    assert_eq!(moves[0].nodes, vec!["emptied".to_string()]);
    // Room on a node with pods still takes the dear node's pod.
    nodes.push(one("roomy", "m6i.4x", tk::pods("b", 1, 500, 1024)));
    status.push(NodeStatus::default());
    let moves = plan(&nodes, &status);
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].reason, Reason::Underutilized);
    assert_eq!(moves[0].pods[0].to, "roomy");
}

/// Karpenter disruption test: "can delete nodes, considers karpenter.sh/do-not-disrupt set to true on pods"; "can delete nodes, considers PDB".
#[test]
fn do_not_disrupt_and_pod_budgets_are_honoured() {
    let (catalog, pools) = (tk::catalog(), pools());
    let mut nodes = two_quarter_full(&catalog, &pools);
    nodes[0].node.do_not_disrupt = true;
    let mut pod = (*nodes[1].pods[0]).clone();
    pod.do_not_disrupt = true;
    nodes[1].pods[0] = Arc::new(pod);
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert!(plan.moves.is_empty(), "{}: {:?}", c.name(), plan.moves);
    }
    // A budget that allows no eviction of the `a0` and `a1` pods.
    let nodes = two_quarter_full(&catalog, &pools);
    let mut pdb = PodDisruptionBudget::new("default", "all", Requirements::new());
    pdb.min_available = Some(IntOrPercent::Percent(100));
    for c in both() {
        let pdbs = [pdb.clone()];
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &pdbs));
        assert!(plan.moves.is_empty(), "{}: {:?}", c.name(), plan.moves);
    }
}

/// Karpenter disruption test: "should block disruption when budget is 0%".
#[test]
fn node_budgets_limit_and_schedule() {
    let (catalog, mut pools) = (tk::catalog(), pools());
    // No underutilized disruption on weekdays 9:00-17:00; time zero is a Monday.
    let mut budget = Budget::new(BudgetNodes::Count(0));
    budget.schedule = Some("0 9 * * mon-fri".into());
    budget.duration = Some(Millis::from_mins(8 * 60));
    budget.reasons = vec!["Underutilized".into()];
    pools[0].disruption.budgets = vec![budget];
    let nodes = two_quarter_full(&catalog, &pools);
    for c in both() {
        let mut p = problem(&nodes, &pools, &catalog, &[]);
        p.now = Millis::from_mins(10 * 60);
        assert!(c.consolidate(&p).moves.is_empty(), "{}", c.name());
        p.now = Millis::from_mins(18 * 60);
        assert_eq!(c.consolidate(&p).moves.len(), 1, "{}", c.name());
    }
    // A node already being deleted uses the only disruption a budget of 1 allows.
    pools[0].disruption.budgets = vec![Budget::new(BudgetNodes::Count(1))];
    let mut nodes = two_quarter_full(&catalog, &pools);
    nodes.push(existing(
        node(
            &pools,
            &catalog,
            "leaving",
            "m6i.2x",
            CapacityType::OnDemand,
        ),
        vec![],
    ));
    let status = [
        NodeStatus::default(),
        NodeStatus::default(),
        NodeStatus {
            last_change: Millis(0),
            deleting: true,
        },
    ];
    for c in both() {
        let mut p = problem(&nodes, &pools, &catalog, &[]);
        p.status = &status;
        assert!(c.consolidate(&p).moves.is_empty(), "{}", c.name());
    }
}

/// Karpenter's `computeConsolidation`: when every candidate is spot and the
/// replacement's requirements allow spot, the move takes the spot-to-spot path, refused
/// while `SpotToSpotConsolidation` is off, whatever capacity type the replacement's
/// cheapest option has. Here the small types have no spot offering, so the cheapest
/// replacement of a large spot node is a small on-demand node; the baseline took it.
#[test]
fn karpenter_never_replaces_spot_nodes_with_the_spot_to_spot_gate_off() {
    use nodepack_model::Millicores;
    let mut catalog = tk::catalog();
    for it in catalog.instance_types.iter_mut() {
        if it.capacity.cpu < Millicores::from_cores(16) {
            it.offerings
                .retain(|o| o.capacity_type == CapacityType::OnDemand);
        }
    }
    let pools = pools();
    let nodes = vec![existing(
        node(&pools, &catalog, "big", "c6i.32x", CapacityType::Spot),
        tk::pods("small", 1, 1000, 1024),
    )];
    let p = problem(&nodes, &pools, &catalog, &[]);
    let plan = consolidator("karpenter").unwrap().consolidate(&p);
    assert!(plan.moves.is_empty(), "{:?}", plan.moves);
}

/// Karpenter's single-node consolidation (`SingleNodeConsolidation.ComputeCommands`)
/// walks every candidate, by savings ratio and interleaved across pools, and skips only
/// pools whose budget is spent: a budget of one node does not limit it to the first.
#[test]
fn karpenter_single_node_tries_every_candidate_within_the_budget() {
    let (catalog, mut pools) = (tk::catalog(), pools());
    pools[0].disruption.budgets = vec![Budget::new(BudgetNodes::Count(1))];
    // `a`: the cheapest type per CPU, its one pod too large for any cheaper type or for
    // `b` (first in the order: most price per disruption); `b`: a small node whose pod
    // fits on `a`.
    let nodes = vec![
        existing(
            node(&pools, &catalog, "a", "c6g.8x", CapacityType::OnDemand),
            tk::pods("big", 1, 28_000, 4096),
        ),
        existing(
            node(&pools, &catalog, "b", "m6i.2x", CapacityType::OnDemand),
            tk::pods("small", 1, 500, 512),
        ),
    ];
    let p = problem(&nodes, &pools, &catalog, &[]);
    let plan = consolidator("karpenter").unwrap().consolidate(&p);
    assert_eq!(plan.moves.len(), 1);
    assert_eq!(plan.moves[0].nodes, vec!["b".to_string()]);
}

/// Karpenter disruption test: "should fire an event for ConsolidationDisabled when the NodePool has consolidation set to WhenEmpty".
#[test]
fn when_empty_pools_only_lose_empty_nodes() {
    let (catalog, mut pools) = (tk::catalog(), pools());
    pools[0].disruption.consolidation_policy = ConsolidationPolicy::WhenEmpty;
    let nodes = two_quarter_full(&catalog, &pools);
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert!(plan.moves.is_empty(), "{}", c.name());
    }
}

/// Karpenter disruption test: "should choose replace when pods need a new cheaper node".
#[test]
fn on_demand_is_replaced_by_pinned_spot() {
    let (catalog, pools) = (tk::catalog(), pools());
    // One busy on-demand node: its pods need a node of their own.
    let nodes = vec![existing(
        node(&pools, &catalog, "od", "m6i.4x", CapacityType::OnDemand),
        tk::pods("a", 6, 500, 2048),
    )];
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert_eq!(plan.moves.len(), 1, "{}", c.name());
        let m = &plan.moves[0];
        assert_eq!(m.kind(), "replace");
        assert_eq!(m.replacements.len(), 1);
        assert_eq!(m.replacements[0].capacity_type, CapacityType::Spot);
        assert!(m.spot_only, "{}", c.name());
        assert!(m.replacements[0].price < nodes[0].node.price);
        assert!(m.pods.iter().all(|pm| pm.to == m.replacements[0].name));
    }
}

/// Karpenter disruption test: "cannot replace spot with spot if the spotToSpotConsolidation is disabled"; "cannot replace spot with spot if less than minimum InstanceTypes flexibility"; "cannot replace spot with spot if it is part of the 15 cheapest instance types.".
#[test]
fn karpenter_spot_to_spot_needs_fifteen_cheaper_types() {
    // Twenty families of general-purpose types at slightly different prices.
    let mut catalog = Catalog::new(
        "wide",
        (0..20)
            .flat_map(|f| {
                [2, 4, 8, 16, 32].map(|cpu| {
                    tk::instance_type(
                        &format!("m{f}x"),
                        "amd64",
                        cpu,
                        4,
                        0,
                        0.04 + 0.001 * f as f64,
                    )
                })
            })
            .collect(),
    );
    catalog.sort();
    let pools = self::pools();
    // A big spot node with a few small pods: plenty of cheaper types.
    let big = vec![existing(
        node(&pools, &catalog, "big", "m0x.32x", CapacityType::Spot),
        tk::pods("a", 2, 250, 256),
    )];
    // Spot -> spot is behind the SpotToSpotConsolidation feature gate, off by default
    // (Karpenter docs, Disruption, "Spot consolidation"): nothing moves without it.
    let off = karpenter::KarpenterConsolidation.consolidate(&problem(&big, &pools, &catalog, &[]));
    assert!(off.moves.is_empty(), "{:?}", off.moves);
    let gated = |p: ConsolidationProblem<'_>| {
        karpenter::KarpenterConsolidation.consolidate(&ConsolidationProblem {
            spot_to_spot: true,
            ..p
        })
    };
    let plan = gated(problem(&big, &pools, &catalog, &[]));
    assert_eq!(plan.moves.len(), 1);
    let r = &plan.moves[0].replacements[0];
    assert_eq!(r.capacity_type, CapacityType::Spot);
    assert_eq!(r.alternatives.len(), karpenter::MIN_SPOT_TO_SPOT_TYPES - 1);
    // The small catalog: Karpenter drops spot types dearer than the cheapest on-demand
    // one, which leaves fewer than 15, so it keeps the spot node.
    let (catalog, pools) = (tk::catalog(), self::pools());
    let big = vec![existing(
        node(&pools, &catalog, "big", "m6i.32x", CapacityType::Spot),
        tk::pods("a", 2, 250, 256),
    )];
    let plan = gated(problem(&big, &pools, &catalog, &[]));
    assert!(plan.moves.is_empty(), "{:?}", plan.moves);
    let small = vec![existing(
        node(&pools, &catalog, "small", "m6i.4x", CapacityType::Spot),
        tk::pods("a", 2, 1000, 2048),
    )];
    let plan = gated(problem(&small, &pools, &catalog, &[]));
    assert!(plan.moves.is_empty(), "{:?}", plan.moves);
}

/// Karpenter disruption test: "should REJECT a move when EstimatedSavings excludes spot offerings for an on-demand-only NodePool (its converse: a pool allowing spot pins the replacement to spot)".
/// Karpenter's disruption controller (computeConsolidation): a replacement for
/// on-demand nodes that may be spot or on-demand is pinned to spot, "if spot capacity is
/// insufficient we don't replace the node with a more expensive on-demand node. Instead
/// the launch should fail". Here the cheaper types have no spot offering, so the
/// on-demand node stays (the baseline used to replace it on-demand to on-demand).
#[test]
fn karpenter_on_demand_replacement_is_spot_only() {
    let mut catalog = tk::catalog();
    for t in &mut catalog.instance_types {
        if t.name != "m6i.32x" {
            t.offerings
                .retain(|o| o.capacity_type == CapacityType::OnDemand);
        }
    }
    let pools = self::pools();
    let nodes = vec![existing(
        node(&pools, &catalog, "big", "m6i.32x", CapacityType::OnDemand),
        tk::pods("a", 2, 1000, 2048),
    )];
    let plan =
        karpenter::KarpenterConsolidation.consolidate(&problem(&nodes, &pools, &catalog, &[]));
    assert!(plan.moves.is_empty(), "{:?}", plan.moves);
    // With spot offerings among the cheaper types, it is replaced by spot only.
    let catalog = tk::catalog();
    let nodes = vec![existing(
        node(&pools, &catalog, "big", "m6i.32x", CapacityType::OnDemand),
        tk::pods("a", 2, 1000, 2048),
    )];
    let plan =
        karpenter::KarpenterConsolidation.consolidate(&problem(&nodes, &pools, &catalog, &[]));
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert!(plan.moves[0].spot_only);
    assert_eq!(
        plan.moves[0].replacements[0].capacity_type,
        CapacityType::Spot
    );
}

/// Karpenter's consolidation simulation schedules the evicted pods with its provisioning
/// scheduler, which places a pod on the first existing node that fits in its node order
/// (initialized first, then by name), not on the fullest. nodepack takes the fullest.
#[test]
fn karpenter_consolidation_places_pods_first_fit_by_node_name() {
    let (catalog, pools) = (tk::catalog(), pools());
    let nodes = vec![
        // The candidate: one small pod on a big on-demand node.
        existing(
            node(
                &pools,
                &catalog,
                "z-candidate",
                "m6i.32x",
                CapacityType::OnDemand,
            ),
            tk::pods("moved", 1, 500, 512),
        ),
        // Two nodes with room: "a-roomy" first by name, "b-full" fuller.
        existing(
            node(
                &pools,
                &catalog,
                "a-roomy",
                "m6i.8x",
                CapacityType::OnDemand,
            ),
            tk::pods("a", 1, 1000, 1024),
        ),
        existing(
            node(&pools, &catalog, "b-full", "m6i.8x", CapacityType::OnDemand),
            tk::pods("b", 6, 1000, 1024),
        ),
    ];
    let p = problem(&nodes, &pools, &catalog, &[]);
    let fleet = Fleet::new(&p);
    let target = |solver: &str| {
        let out = fleet
            .simulate(&[0], solver)
            .expect("the pod fits elsewhere");
        assert!(out.new_nodes.is_empty());
        nodes[out.to_existing[0].2].node.name.clone()
    };
    assert_eq!(target("karpenter"), "a-roomy");
    assert_eq!(target("nodepack"), "b-full");
}

/// Karpenter disruption test: "won't replace on-demand node if on-demand replacement is more expensive (a replacement is one node)".
#[test]
fn never_one_node_to_two() {
    let (catalog, pools) = (tk::catalog(), pools());
    // Pods that need two smaller nodes could be cheaper than one big on-demand node,
    // but a replacement is never more nodes than it removes.
    let mut pods = tk::pods("a", 2, 7000, 1024);
    for p in &mut pods {
        p.pod_anti_affinity =
            tk::anti(p.clone(), nodepack_model::pod::HOSTNAME_KEY).pod_anti_affinity;
    }
    let nodes = vec![existing(
        node(&pools, &catalog, "two", "c6i.16x", CapacityType::OnDemand),
        pods,
    )];
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert!(
            plan.moves
                .iter()
                .all(|m| m.replacements.len() <= m.nodes.len()),
            "{}: {:?}",
            c.name(),
            plan.moves
        );
    }
}

/// Karpenter disruption test: "should delete drifted nodes".
#[test]
fn expired_and_drifted_nodes() {
    let (catalog, mut pools) = (tk::catalog(), pools());
    pools[0].expire_after = Some(Millis::from_mins(5));
    let nodes = vec![existing(
        node(&pools, &catalog, "old", "m6i.4x", CapacityType::OnDemand),
        tk::pods("a", 6, 500, 2048),
    )];
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        assert_eq!(plan.moves[0].reason, Reason::Expired, "{}", c.name());
    }
    // The pool now only allows arm64: the amd64 node drifted and is replaced.
    let mut pools = self::pools();
    let node0 = node(&pools, &catalog, "x86", "m6i.4x", CapacityType::OnDemand);
    pools[0].requirements = pools[0]
        .requirements
        .clone()
        .with(labels::ARCH, nodepack_model::Operator::In, &["arm64"])
        .unwrap();
    let nodes = vec![existing(node0, tk::pods("a", 6, 500, 2048))];
    let plan =
        karpenter::KarpenterConsolidation.consolidate(&problem(&nodes, &pools, &catalog, &[]));
    assert_eq!(plan.moves[0].reason, Reason::Drifted);
    assert_eq!(
        plan.moves[0].replacements[0].labels[labels::ARCH],
        "arm64".to_string()
    );
}

#[test]
fn nodepack_merges_many_small_nodes_and_waits_when_not_worth_it() {
    let (catalog, pools) = (tk::catalog(), pools());
    // Eight 2-core spot nodes, each with one 1-core pod: a few bigger nodes are cheaper.
    let nodes: Vec<ExistingNode> = (0..8)
        .map(|k| {
            existing(
                node(
                    &pools,
                    &catalog,
                    &format!("s{k}"),
                    "c6i.2x",
                    CapacityType::Spot,
                ),
                vec![tk::pod(&format!("p{k}"), 1000, 1024)],
            )
        })
        .collect();
    let c = nodepack::NodepackConsolidation::default();
    let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
    assert!(!plan.moves.is_empty());
    assert!(plan.cost_after < plan.cost_before);
    let removed: usize = plan.moves.iter().map(|m| m.nodes.len()).sum();
    let added: usize = plan.moves.iter().map(|m| m.replacements.len()).sum();
    assert!(removed > added, "{removed} removed, {added} added");
    // With evictions priced high, no move pays for itself.
    let dear = nodepack::NodepackConsolidation {
        eviction_usd: 100.0,
        ..c
    };
    assert!(dear
        .consolidate(&problem(&nodes, &pools, &catalog, &[]))
        .moves
        .is_empty());
}

/// nodepack's pass measures the fleet against the greedy packer's repacking (the
/// pattern LP is left out of the target).
#[test]
fn nodepack_targets_the_greedy_repacking() {
    let (catalog, pools) = (tk::catalog(), pools());
    let mut pods = tk::pods("a", 13, 1700, 2500);
    pods.extend(tk::pods("b", 11, 2300, 5200));
    pods.extend(tk::pods("c", 9, 900, 7000));
    pods.extend(tk::pods("d", 17, 600, 900));
    let nodes: Vec<ExistingNode> = pods
        .chunks(7)
        .enumerate()
        .map(|(k, ps)| {
            let n = node(
                &pools,
                &catalog,
                &format!("m{k}"),
                "m6i.8x",
                CapacityType::OnDemand,
            );
            existing(n, ps.to_vec())
        })
        .collect();
    let p = problem(&nodes, &pools, &catalog, &[]);
    let plan = nodepack::NodepackConsolidation::default().consolidate(&p);
    let fleet = Fleet::new(&p);
    assert_eq!(plan.repack_cost, Some(greedy_repack_cost(&fleet)));
    // (The full solver packs these pods differently: the test tells the two apart.)
    assert_ne!(plan.repack_cost, repack_cost(&fleet, "nodepack"));
    assert!(plan.repack_cost < Some(plan.cost_before));
}

/// Karpenter disruption test: "should not consolidate if the action becomes invalid during the node TTL wait".
#[test]
fn revalidation_drops_moves_the_cluster_outgrew() {
    let (catalog, pools) = (tk::catalog(), pools());
    let nodes = two_quarter_full(&catalog, &pools);
    for c in both() {
        let plan = c.consolidate(&problem(&nodes, &pools, &catalog, &[]));
        let m = &plan.moves[0];
        assert!(c
            .revalidate(&problem(&nodes, &pools, &catalog, &[]), m)
            .is_some());
        // Meanwhile the other node filled up: the pods no longer fit there.
        let mut grown = nodes.clone();
        let other = grown
            .iter()
            .position(|e| e.node.name != m.nodes[0])
            .unwrap();
        grown[other]
            .pods
            .extend(tk::pods("big", 12, 2000, 4096).into_iter().map(Arc::new));
        let status = [NodeStatus::default(), NodeStatus::default()];
        let mut p = problem(&grown, &pools, &catalog, &[]);
        p.status = &status;
        let again = c.revalidate(&p, m);
        assert!(
            again
                .as_ref()
                .is_none_or(|a| !a.replacements.is_empty() || a.nodes != m.nodes),
            "{}: {again:?}",
            c.name()
        );
    }
}

/// The share of what free room leaves used equals the share of the used resources built
/// by subtraction (free room above allocatable counts as nothing used).
#[test]
fn used_share_matches_share_of_the_difference() {
    use nodepack_model::{Bytes, Millicores};
    let alloc = Resources::new(Millicores(3920), Bytes::from_mib(14_000));
    let mut checked = 0;
    for cpu in [0, 1, 1500, 3920, 5000] {
        for mib in [0, 700, 14_000, 20_000] {
            let free = Resources::new(Millicores(cpu), Bytes::from_mib(mib));
            let built = super::share(&alloc.saturating_sub(&free), &alloc);
            assert_eq!(super::used_share(&free, &alloc), built, "{cpu}m {mib}Mi");
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
    assert_eq!(
        super::used_share(&Resources::default(), &Resources::default()),
        0
    );
}

/// A ceiling only saves work: for a caller that takes no outcome with two or more new
/// nodes nor one new node priced at the ceiling or more, `simulate_below` answers what
/// `simulate_with` answers once those outcomes are refused (pools without limits).
#[test]
fn a_price_ceiling_refuses_only_what_the_caller_would() {
    use proptest::prelude::*;
    let (catalog, pools) = (tk::catalog(), pools());
    let types = [
        "c6i.2x", "c6i.8x", "m6i.4x", "m6i.16x", "r6i.8x", "c6g.16x", "m6g.32x",
    ];
    // Pods (cpu, memory, zone selected: none or one of the first two zones).
    let node_strategy = (
        0..types.len(),
        prop::collection::vec((1u64..40, 1u64..64, 0usize..4), 0..6),
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    // Cases where the ceiling refused what the plain path had solved for.
    let shortcut = std::cell::Cell::new(0);
    runner
        .run(
            &(prop::collection::vec(node_strategy, 1..5), 0u64..4),
            |(spec, ceiling_scale)| {
                let nodes: Vec<ExistingNode> = spec
                    .iter()
                    .enumerate()
                    .map(|(k, (t, pods))| {
                        let n = node(
                            &pools,
                            &catalog,
                            &format!("n{k}"),
                            types[*t],
                            CapacityType::OnDemand,
                        );
                        let pods = pods
                            .iter()
                            .enumerate()
                            .map(|(j, (c, m, z))| {
                                let mut q = tk::pod(&format!("p{k}-{j}"), c * 250, m * 256);
                                if *z < 2 {
                                    q.node_selector
                                        .insert(labels::ZONE.into(), tk::ZONES[*z].into());
                                }
                                q
                            })
                            .collect();
                        existing(n, pods)
                    })
                    .collect();
                let p = problem(&nodes, &pools, &catalog, &[]);
                for removed in [vec![0], (0..nodes.len().min(2)).collect::<Vec<_>>()] {
                    let price: Money = removed.iter().map(|&i| nodes[i].node.price).sum();
                    // Ceilings below, at and above the removed nodes' price.
                    let ceiling = Money(price.0 / 2 * (ceiling_scale as i64 + 1));
                    let plain = Fleet::new(&p).simulate_with(&removed, "karpenter", true);
                    let taken = plain.clone().filter(|o| {
                        o.new_nodes.is_empty()
                            || (o.new_nodes.len() == 1 && o.new_nodes[0].price < ceiling)
                    });
                    let below =
                        Fleet::new(&p).simulate_below(&removed, "karpenter", true, Some(ceiling));
                    if below.is_none() && plain.is_some() {
                        shortcut.set(shortcut.get() + 1);
                    }
                    let below = below.filter(|o| {
                        o.new_nodes.is_empty()
                            || (o.new_nodes.len() == 1 && o.new_nodes[0].price < ceiling)
                    });
                    let key = |o: &Option<Outcome>| {
                        o.as_ref().map(|o| {
                            (
                                o.new_nodes
                                    .iter()
                                    .map(|n| (n.instance_type.clone(), n.price))
                                    .collect::<Vec<_>>(),
                                o.to_existing
                                    .iter()
                                    .map(|(q, from, to)| (q.id.clone(), *from, *to))
                                    .collect::<Vec<_>>(),
                                o.to_new.len(),
                            )
                        })
                    };
                    prop_assert_eq!(key(&taken), key(&below));
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(shortcut.get() > 0, "the ceiling never refused anything");
}
