//! One `Solver` shared by many threads gives every thread the plan a sequential solve
//! gives: its shared memos are pure, so the order threads fill them in changes nothing.

use nodepack_model::pod::{HOSTNAME_KEY, ZONE_KEY};
use nodepack_model::Pod;
use nodepack_solver::{Builtin, Plan, Solver};
use nodepack_testkit as tk;
use std::sync::Arc;

/// Eight problems of different shapes: plain pods, zone spreads, hostname
/// anti-affinity, big pods, and mixes of them.
fn problems() -> Vec<Vec<Pod>> {
    (0..8u64)
        .map(|k| {
            (0..24 + 6 * k)
                .map(|i| {
                    let p = tk::pod(
                        &format!("p{k}-{i}"),
                        100 + (i * 37 + k * 211) % 3900,
                        128 + (i * 53 + k * 97) % 15_000,
                    );
                    let mut p = p;
                    p.labels.insert("app".into(), format!("a{}", i % (k + 1)));
                    match (k + i) % 4 {
                        0 => tk::spread(p, ZONE_KEY, 1),
                        1 if k % 2 == 0 => tk::anti(p, HOSTNAME_KEY),
                        _ => p,
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn eight_threads_on_one_solver_give_the_sequential_plans() {
    let pools = vec![tk::pool("default", &[])];
    let problems = problems();
    for strategy in Builtin::ALL {
        let sequential: Vec<Plan> = problems
            .iter()
            .map(|pods| {
                Solver::new(pools.clone(), tk::catalog())
                    .solve(&strategy, pods, &[])
                    .unwrap()
            })
            .collect();
        let shared = Arc::new(Solver::new(pools.clone(), tk::catalog()));
        let threaded: Vec<Plan> = std::thread::scope(|s| {
            let handles: Vec<_> = problems
                .iter()
                .map(|pods| {
                    let solver = Arc::clone(&shared);
                    s.spawn(move || solver.solve(&strategy, pods, &[]).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (a, b)) in sequential.iter().zip(&threaded).enumerate() {
            assert!(
                !a.nodes.is_empty(),
                "{strategy} problem {i} launched nothing"
            );
            assert_eq!(a, b, "{strategy} problem {i}");
            assert!(shared.validate(&problems[i], &[], b).is_empty());
        }
    }
}

#[test]
fn duplicate_pending_pods_are_an_error_not_a_plan() {
    let solver = Solver::new(vec![tk::pool("default", &[])], tk::catalog());
    let pods = vec![tk::pod("a", 100, 128), tk::pod("a", 200, 256)];
    let e = solver.solve(&Builtin::Karpenter, &pods, &[]).unwrap_err();
    assert!(
        matches!(e, nodepack_solver::SolveError::DuplicatePod(_)),
        "{e}"
    );
}
