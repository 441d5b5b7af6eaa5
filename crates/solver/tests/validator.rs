//! The validator rejects broken plans: each test breaks a valid plan in one way.

use nodepack_model::pod::{HOSTNAME_KEY, ZONE_KEY};
use nodepack_model::{labels, Catalog, Money, NodePool, Pod};
use nodepack_solver::{solve, validate, Plan, Problem, Unschedulable};
use nodepack_testkit as tk;

fn setup(pods: Vec<Pod>) -> (Vec<Pod>, Vec<NodePool>, Catalog) {
    (pods, vec![tk::pool("default", &[])], tk::catalog())
}

fn plan_for(pods: &[Pod], pools: &[NodePool], cat: &Catalog) -> Plan {
    let p = Problem::new(pods, &[], pools, cat);
    let plan = solve("karpenter", &p).unwrap();
    assert!(validate(&p, &plan).is_empty());
    plan
}

fn errors(pods: &[Pod], pools: &[NodePool], cat: &Catalog, plan: &Plan) -> String {
    let p = Problem::new(pods, &[], pools, cat);
    validate(&p, plan)
        .iter()
        .map(|v| format!("{:?}: {v}", v.rule))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dropped_and_duplicated_pods() {
    let (pods, pools, cat) = setup(tk::pods("a", 3, 500, 512));
    let mut plan = plan_for(&pods, &pools, &cat);
    let gone = plan.nodes[0].pods.pop().unwrap();
    plan.order.retain(|p| *p != gone);
    assert!(errors(&pods, &pools, &cat, &plan).contains("Unaccounted: pod"));
    assert!(errors(&pods, &pools, &cat, &plan).contains("neither placed nor reported"));
    let not_placed = nodepack_solver::Reason::NotPlaced;
    plan.unschedulable
        .push(Unschedulable::new(gone.clone(), not_placed.clone()));
    plan.unschedulable
        .push(Unschedulable::new(gone, not_placed));
    assert!(errors(&pods, &pools, &cat, &plan).contains("appears 2 times"));
}

#[test]
fn over_capacity_and_wrong_price() {
    let (pods, pools, cat) = setup(tk::pods("a", 3, 1000, 1024));
    let mut plan = plan_for(&pods, &pools, &cat);
    let small = cat
        .instance_types
        .iter()
        .find(|t| t.name == "c6g.2x")
        .unwrap();
    plan.nodes[0].instance_type = small.name.clone();
    plan.nodes[0].labels = small.labels.clone();
    let e = errors(&pods, &pools, &cat, &plan);
    assert!(e.contains("over capacity"), "{e}");
    assert!(e.contains("price"), "{e}");
}

#[test]
fn topology_violations() {
    let pods: Vec<Pod> = tk::pods("db", 2, 250, 256)
        .into_iter()
        .map(|p| tk::anti(p, HOSTNAME_KEY))
        .collect();
    let (pods, pools, cat) = setup(pods);
    let mut plan = plan_for(&pods, &pools, &cat);
    assert_eq!(plan.nodes.len(), 2);
    let moved = plan.nodes.pop().unwrap();
    plan.nodes[0].pods.extend(moved.pods);
    assert!(errors(&pods, &pools, &cat, &plan).contains("anti-affinity"));

    let pods: Vec<Pod> = tk::pods("web", 3, 250, 256)
        .into_iter()
        .map(|p| tk::spread(p, ZONE_KEY, 1))
        .collect();
    let (pods, pools, cat) = setup(pods);
    let mut plan = plan_for(&pods, &pools, &cat);
    let zone = plan.nodes[0].zone.clone();
    for n in plan.nodes.iter_mut() {
        n.zone = zone.clone();
        n.labels.insert(labels::ZONE.into(), zone.clone());
    }
    assert!(errors(&pods, &pools, &cat, &plan).contains("topology spread"));
}

#[test]
fn taints_selectors_and_limits() {
    let mut pool = tk::pool("default", &[]);
    let mut pods = tk::pods("a", 2, 1000, 1024);
    pods[0]
        .node_selector
        .insert(labels::ARCH.into(), "arm64".into());
    let cat = tk::catalog();
    let mut plan = plan_for(&pods, std::slice::from_ref(&pool), &cat);
    pool.taints.push(tk::taint("dedicated", "x"));
    pool.limits.cpu = Some(nodepack_model::Millicores(1));
    let n = &mut plan.nodes[0];
    n.labels.insert(labels::ARCH.into(), "amd64".into());
    n.price = Money(1);
    let e = errors(&pods, &[pool], &cat, &plan);
    assert!(e.contains("taint"), "{e}");
    assert!(e.contains("limit"), "{e}");
    assert!(
        e.contains("label kubernetes.io/arch") || e.contains("selector"),
        "{e}"
    );
}
