//! Property tests over random pods, pools and catalogs: every plan of both strategies is
//! valid (so every pod is placed or reported, nothing over capacity, every constraint
//! held), costs at least the lower bound, and is the same when solved twice; the same
//! for `nodepack` sizing nodes for a random growth forecast.

use nodepack_model::pod::Owner;
use nodepack_model::Money;
use nodepack_solver::{lower_bound, solve, validate, Problem, Strategy, STRATEGIES};
use nodepack_solver::{Growth, NodepackStrategy};
use nodepack_testkit as tk;
use proptest::prelude::*;
use std::sync::Arc;

fn catalog_with_price_jitter(seed: u64) -> nodepack_model::Catalog {
    let mut c = tk::catalog();
    for (i, t) in c.instance_types.iter_mut().enumerate() {
        for (j, o) in t.offerings.iter_mut().enumerate() {
            // A deterministic +-20% jitter per offering.
            let h =
                (seed ^ (i as u64 * 7919 + j as u64 * 104_729)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let f = 0.8 + (h >> 40) as f64 / (1u64 << 24) as f64 * 0.4;
            o.price = Money((o.price.0 as f64 * f) as i64);
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plans_are_valid_bounded_and_deterministic(
        pods in tk::arb_pods(40),
        pools in tk::arb_pools(),
        seed in any::<u64>(),
        tolerate in any::<bool>(),
    ) {
        let catalog = catalog_with_price_jitter(seed);
        let mut pods = pods;
        if tolerate {
            for p in pods.iter_mut() {
                p.tolerations.push(tk::toleration("dedicated", "a"));
            }
        }
        let problem = Problem::new(&pods, &[], &pools, &catalog);
        for s in STRATEGIES {
            let plan = solve(s, &problem).unwrap();
            let errs = validate(&problem, &plan);
            prop_assert!(errs.is_empty(), "{}: {:#?}", s, errs);
            let placed = plan.existing.len() + plan.nodes.iter().map(|n| n.pods.len()).sum::<usize>();
            prop_assert_eq!(placed + plan.unschedulable.len(), pods.len());
            let lb = lower_bound(&problem, &plan).unwrap();
            prop_assert!(plan.cost_per_hour >= lb, "{}: cost {} < lower bound {}", s, plan.cost_per_hour, lb);
            let again = solve(s, &problem).unwrap();
            prop_assert_eq!(&plan, &again);
        }
    }

    #[test]
    fn plans_sized_for_growth_are_valid_and_deterministic(
        pods in tk::arb_pods(30),
        pools in tk::arb_pools(),
        expected in proptest::collection::vec(0u32..40, 3),
    ) {
        // Cheap prices, so that nodes grow (consolidation would not take such savings).
        let mut catalog = tk::catalog();
        for o in catalog.instance_types.iter_mut().flat_map(|t| t.offerings.iter_mut()) {
            o.price = Money(o.price.0 / 20);
        }
        // Three ReplicaSets own the pods in turn; each expects some replicas.
        let mut pods = pods;
        for (i, p) in pods.iter_mut().enumerate() {
            p.owner = Some(Arc::new(Owner { kind: "ReplicaSet".into(), name: format!("rs{}", i % 3) }));
        }
        let mut growth = Growth::default();
        for (i, e) in expected.iter().enumerate() {
            growth.expected.insert(("default".into(), "ReplicaSet".into(), format!("rs{i}")), *e);
        }
        let mut np = NodepackStrategy::default();
        np.growth = growth;
        let problem = Problem::new(&pods, &[], &pools, &catalog);
        let plan = np.solve(&problem);
        let errs = validate(&problem, &plan);
        prop_assert!(errs.is_empty(), "{:#?}", errs);
        let placed = plan.nodes.iter().map(|n| n.pods.len()).sum::<usize>();
        prop_assert_eq!(placed + plan.unschedulable.len(), pods.len());
        // Growth never leaves a pod unscheduled that the plain plan places.
        let plain = solve("nodepack", &problem).unwrap();
        prop_assert_eq!(plan.unschedulable.len(), plain.unschedulable.len());
        prop_assert!(plan.cost_per_hour >= lower_bound(&problem, &plan).unwrap());
        prop_assert_eq!(&plan, &np.solve(&problem));
    }
}
