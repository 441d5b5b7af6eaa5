use super::*;
use crate::{solve, Problem};
use nodepack_model::{labels, Catalog, NodePool, Operator, Pod};
use nodepack_testkit as tk;

fn run(pods: &[Pod], pools: &[NodePool], catalog: &Catalog, strategy: &str) -> (Plan, Explanation) {
    let problem = Problem::new(pods, &[], pools, catalog);
    let plan = solve(strategy, &problem).unwrap();
    let prep = Prepared::new(problem);
    let e = explain(&prep, &plan);
    (plan, e)
}

#[test]
fn every_new_node_is_explained_against_real_alternatives() {
    let catalog = tk::catalog();
    let pools = vec![tk::pool("default", &[])];
    let pods = tk::pods("web", 6, 1500, 3000);
    for strategy in ["nodepack", "karpenter"] {
        let (plan, e) = run(&pods, &pools, &catalog, strategy);
        assert_eq!(e.nodes.len(), plan.nodes.len(), "{strategy}");
        for (n, x) in plan.nodes.iter().zip(&e.nodes) {
            assert_eq!(
                (
                    &x.chosen.instance_type,
                    &x.chosen.zone,
                    x.chosen.capacity_type,
                    x.chosen.price
                ),
                (&n.instance_type, &n.zone, n.capacity_type, n.price)
            );
            assert_eq!(x.pods, n.pods.len());
            let t = x.next_type.as_ref().expect("another type holds the pods");
            assert_ne!(t.instance_type, n.instance_type);
            assert!(t.price >= n.price);
            let o = x
                .other_capacity_type
                .as_ref()
                .expect("the other capacity type");
            assert_ne!(o.capacity_type, n.capacity_type);
            // Every cheaper offering has a reason, and "too small" ones really are.
            for p in &x.cheaper {
                assert!(p.offering.price < n.price);
                if p.reason.to_string().starts_with("too small: cpu") {
                    let it = catalog
                        .instance_types
                        .iter()
                        .find(|t| t.name == p.offering.instance_type)
                        .unwrap();
                    let need: u64 = 1500 * x.pods as u64;
                    assert!(it.allocatable().cpu.0 < need, "{}: {}", it.name, p.reason);
                }
            }
            assert!(x.cheaper_by_reason.values().sum::<u32>() as usize >= x.cheaper.len());
            assert!(x.summary.contains(&n.instance_type), "{}", x.summary);
        }
    }
}

#[test]
fn a_pod_too_big_for_every_type_is_explained_per_pool_and_type() {
    let catalog = tk::catalog();
    let pools = vec![tk::pool("default", &[])];
    let pods = vec![tk::pod("huge", 200_000, 1024)];
    let (plan, e) = run(&pods, &pools, &catalog, "nodepack");
    assert_eq!(plan.unschedulable.len(), 1);
    let u = &e.unschedulable[0];
    assert_eq!(u.pod, pods[0].id);
    let v = &u.pools[0];
    assert_eq!(v.types_that_fit, 0);
    let (n, examples) = &v.types_by_reason["too small: cpu"];
    assert_eq!(*n as usize, catalog.instance_types.len());
    assert_eq!(examples.len(), 3);
}

#[test]
fn taints_and_requirements_rule_out_pools_and_types_by_name() {
    let catalog = tk::catalog();
    let mut gpu = tk::pool("gpu", &[]);
    gpu.taints.push(tk::taint("nvidia.com/gpu", "true"));
    gpu.weight = 10;
    let arm = tk::pool("arm", &[(labels::ARCH, Operator::In, &["arm64"])]);
    let mut p = tk::pod("x86-only", 500, 512);
    p.node_selector.insert(labels::ARCH.into(), "amd64".into());
    let mut q = tk::pod("ppc", 500, 512);
    q.node_selector
        .insert(labels::INSTANCE_FAMILY.into(), "p9".into());
    let (_, e) = run(&[p, q], &[gpu, arm], &catalog, "karpenter");
    assert_eq!(e.unschedulable.len(), 2, "{e:#?}");
    for u in &e.unschedulable {
        // The heavier pool first.
        assert_eq!(u.pools[0].nodepool, "gpu");
        assert!(u.pools[0].pool_reason.as_deref().unwrap().contains("taint"));
    }
    let x86 = e
        .unschedulable
        .iter()
        .find(|u| u.pod.name == "x86-only")
        .unwrap();
    assert!(
        x86.pools[1]
            .pool_reason
            .as_deref()
            .unwrap()
            .contains(labels::ARCH),
        "{:?}",
        x86.pools[1]
    );
    let ppc = e
        .unschedulable
        .iter()
        .find(|u| u.pod.name == "ppc")
        .unwrap();
    let key = format!("requirement {}", labels::INSTANCE_FAMILY);
    assert!(
        ppc.pools[1].types_by_reason.contains_key(&key),
        "{:?}",
        ppc.pools[1]
    );
    assert_eq!(ppc.pools[1].types_that_fit, 0);
}
