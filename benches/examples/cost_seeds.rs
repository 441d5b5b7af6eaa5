//! nodepack's cost over the LP lower bound on workloads of the real AWS catalog over
//! seeds 1-10: the mixed workload (2,000 and 5,000 pods), the mixed workload without
//! topology (2,000 pods) and plain pods of 20 to 100 distinct shapes (five pods a
//! shape), with the mean and a 95% interval over the seeds of each.
//!
//! `cargo run --release -p nodepack-benches --example cost_seeds`
#![forbid(unsafe_code)]

use nodepack_benches::{mixed_plain_pods, mixed_pods, nodepack_over_bound, real_pool, shaped_pods};

fn main() {
    let aws = nodepack_formats::aws_us_east_1();
    let pools = vec![real_pool()];
    type Workload = (&'static str, fn(u64) -> Vec<nodepack_model::Pod>);
    let workloads: [Workload; 8] = [
        ("mixed 2000", |s| mixed_pods(2000, s)),
        ("mixed 5000", |s| mixed_pods(5000, s)),
        ("mixed without topology 2000", |s| mixed_plain_pods(2000, s)),
        ("shapes 20 (100 pods)", |s| shaped_pods(100, 20, s)),
        ("shapes 35 (175 pods)", |s| shaped_pods(175, 35, s)),
        ("shapes 50 (250 pods)", |s| shaped_pods(250, 50, s)),
        ("shapes 75 (375 pods)", |s| shaped_pods(375, 75, s)),
        ("shapes 100 (500 pods)", |s| shaped_pods(500, 100, s)),
    ];
    println!("| workload | seeds | cost / LB, mean [95% interval] | min | max | valid |");
    println!("|---|---|---|---|---|---|");
    for (name, make) in workloads {
        let mut ratios = Vec::new();
        let mut valid = true;
        for seed in 1..=10u64 {
            let r = nodepack_over_bound(&make(seed), &pools, aws);
            valid &= r.valid;
            ratios.push(r.ratio);
        }
        let n = ratios.len() as f64;
        let mean = ratios.iter().sum::<f64>() / n;
        let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        // Student's t for 9 degrees of freedom.
        let half = 2.262 * sd / n.sqrt();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | 1-10 | {mean:.4} [{:.4}, {:.4}] | {min:.4} | {max:.4} | {} |",
            mean - half,
            mean + half,
            if valid { "yes" } else { "NO" }
        );
    }
}
