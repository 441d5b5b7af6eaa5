//! The library's front door, timed: the embedded catalog parsed once, a solve through
//! the free function (pairs derived per call) against a shared `Solver`, and eight
//! problems solved sequentially against eight threads on one `Solver`.
//! `cargo run --release -p nodepack-benches --example front_door -- [PODS]`
use nodepack_benches::*;
use nodepack_solver::{Builtin, Problem, Solver};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let t = Instant::now();
    let catalog = nodepack_formats::aws_us_east_1();
    let first = t.elapsed();
    let t = Instant::now();
    let again = nodepack_formats::aws_us_east_1();
    println!(
        "aws_us_east_1(): first call {first:?}, later calls {:?} ({} types)",
        t.elapsed(),
        again.instance_types.len()
    );
    let pools = vec![real_pool()];
    let problems: Vec<_> = (0..8).map(|k| mixed_pods(n, 7 + k)).collect();
    let t = Instant::now();
    let solver = Solver::new(pools.clone(), catalog.clone());
    println!("Solver::new: {:?}", t.elapsed());
    for s in Builtin::ALL {
        let t = Instant::now();
        for pods in &problems {
            let p = Problem::new(pods, &[], &pools, catalog);
            std::hint::black_box(nodepack_solver::solve(s.as_str(), &p).unwrap());
        }
        let free = t.elapsed() / 8;
        let t = Instant::now();
        let seq: Vec<_> = problems
            .iter()
            .map(|pods| solver.solve(&s, pods, &[]).unwrap())
            .collect();
        let shared = t.elapsed() / 8;
        let t = Instant::now();
        let par: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = problems
                .iter()
                .map(|pods| sc.spawn(|| solver.solve(&s, pods, &[]).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let threads = t.elapsed();
        assert_eq!(seq, par, "{s}: threads changed a plan");
        println!(
            "{s}, {n} mixed pods: solve() {free:?} per problem, Solver::solve {shared:?} per problem, 8 problems on 8 threads {threads:?} (same plans)"
        );
    }
}
