//! Cost over the LP lower bound of `nodepack` on the mixed AWS workload without topology
//! (the issue-3 quality target's workload) over several sizes and seeds, to show how far
//! the one figure of the quality table generalizes.
//!
//! `cargo run --release -p nodepack-benches --example mixed_seeds`
#![forbid(unsafe_code)]

use nodepack_benches::{mixed_plain_pods, real_pool};
use nodepack_solver::{lower_bound, solve, validate, Problem};

fn main() {
    let aws = nodepack_formats::aws_us_east_1();
    let pools = vec![real_pool()];
    println!("| pods | seed | $/h | lower bound $/h | cost / LB | valid |");
    println!("|---|---|---|---|---|---|");
    for (n, seed) in [
        (5000, 7),
        (5000, 1),
        (5000, 2),
        (5000, 3),
        (2000, 4),
        (1000, 5),
        (20_000, 6),
    ] {
        let pods = mixed_plain_pods(n, seed);
        let problem = Problem::new(&pods, &[], &pools, aws);
        let plan = solve("nodepack", &problem).expect("known strategy");
        let lb = lower_bound(&problem, &plan).unwrap();
        println!(
            "| {n} | {seed} | {:.2} | {:.2} | {:.4} | {} |",
            plan.cost_per_hour.usd(),
            lb.usd(),
            plan.cost_per_hour.0 as f64 / lb.0.max(1) as f64,
            if validate(&problem, &plan).is_empty() && plan.unschedulable.is_empty() {
                "yes"
            } else {
                "NO"
            }
        );
    }
}
