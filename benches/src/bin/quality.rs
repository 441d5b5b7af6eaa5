//! Prints the quality table of benches/README.md: for each workload and strategy the
//! cost per hour, the LP lower bound, their ratio, nodes and unschedulable pods, and
//! whether the plan validates. Speed comes from `cargo bench`, not from here.
//!
//! `cargo run --release -p nodepack-benches --bin quality`
#![forbid(unsafe_code)]

use nodepack_benches::*;
use nodepack_model::{Catalog, NodePool, Pod};
use nodepack_solver::{lower_bound, solve, validate, Problem, STRATEGIES};

fn row(name: &str, pods: &[Pod], pools: &[NodePool], catalog: &Catalog) {
    let problem = Problem::new(pods, &[], pools, catalog);
    let mut costs = Vec::new();
    for s in STRATEGIES {
        let plan = solve(s, &problem).expect("known strategy");
        let lb = lower_bound(&problem, &plan).unwrap();
        let errs = validate(&problem, &plan);
        costs.push(plan.cost_per_hour.usd());
        println!(
            "| {name} | {} | {s} | {:.2} | {:.2} | {:.3} | {} | {} | {} |",
            pods.len(),
            plan.cost_per_hour.usd(),
            lb.usd(),
            if lb.0 > 0 {
                plan.cost_per_hour.0 as f64 / lb.0 as f64
            } else {
                f64::NAN
            },
            plan.nodes.len(),
            plan.unschedulable.len(),
            if errs.is_empty() {
                "yes".to_string()
            } else {
                format!("NO: {}", errs[0])
            },
        );
    }
    println!(
        "| {name} | | nodepack vs karpenter | {:+.1}% | | | | | |",
        (costs[0] / costs[1] - 1.0) * 100.0
    );
}

fn main() {
    println!("| workload | pods | strategy | $/h | lower bound $/h | cost / LB | nodes | unschedulable | valid |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let fake = karpenter_fake_catalog();
    let pool = vec![benchmark_pool()];
    for n in [1000, 5000, 10_000, 20_000] {
        row("karpenter diverse", &diverse_pods(n, 42), &pool, &fake);
    }
    row(
        "karpenter preference",
        &preference_pods(4000, 42),
        &pool,
        &fake,
    );
    row(
        "generic (no topology)",
        &generic_pods(5000, 42),
        &pool,
        &fake,
    );
    let aws = nodepack_formats::aws_us_east_1();
    let real = vec![real_pool()];
    for n in [5000, 50_000] {
        row("mixed, aws us-east-1", &mixed_pods(n, 7), &real, aws);
    }
    row(
        "mixed without topology, aws",
        &mixed_plain_pods(5000, 7),
        &real,
        aws,
    );
}
