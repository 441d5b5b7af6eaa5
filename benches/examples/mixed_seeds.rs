//! Cost over the LP lower bound of `nodepack` on the mixed AWS workload without topology
//! (the issue-3 quality target's workload) over several sizes and seeds, to show how far
//! the one figure of the quality table generalizes.
//!
//! `cargo run --release -p nodepack-benches --example mixed_seeds`
#![forbid(unsafe_code)]

use nodepack_benches::{mixed_plain_pods, nodepack_over_bound, real_pool};

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
        let r = nodepack_over_bound(&mixed_plain_pods(n, seed), &pools, aws);
        println!(
            "| {n} | {seed} | {:.2} | {:.2} | {:.4} | {} |",
            r.cost.usd(),
            r.bound.usd(),
            r.ratio,
            if r.valid { "yes" } else { "NO" }
        );
    }
}
