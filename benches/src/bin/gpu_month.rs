//! Replay a generated GPU training trace (see `gpu_training_generator`) with one
//! autoscaler on the embedded AWS catalog, a general pool and a tainted GPU pool, and
//! print the summary with wall time and peak memory. Usage:
//! `cargo run --release -p nodepack-benches --bin gpu_month -- [DAYS] [STRATEGY] [CPU_LIMIT|none] [SEED]`
//! (defaults 31, nodepack, 3500, 1). The general pool's CPU limit (cores) leaves part of
//! the CPU pods pending for hours (a standing backlog); `none` lifts it.
//! Peak memory is read from /proc/self/status (VmHWM) on Linux.
use nodepack_benches::{gpu_pool, gpu_training_generator, peak_rss_mib, sim_pool, timed_replay};
use nodepack_model::{Millicores, Millis};
use nodepack_sim::config::Settings;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let days: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(31);
    let strategy = args.get(2).cloned().unwrap_or_else(|| "nodepack".into());
    let limit = args.get(3).map(String::as_str).unwrap_or("3500");
    let seed: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut settings = Settings::new(Millis::from_mins(days * 24 * 60), seed);
    settings.lb_samples = 24;
    let catalog = nodepack_formats::aws_us_east_1();
    let mut general = sim_pool();
    general.limits.cpu = match limit {
        "none" => None,
        n => Some(Millicores::from_cores(n.parse().unwrap_or(3500))),
    };
    let pools = vec![general, gpu_pool()];
    let t = Instant::now();
    let trace = nodepack_sim::generate(&gpu_training_generator(seed), settings.horizon, seed);
    let gen = t.elapsed();
    let Some((r, pods, wall)) = timed_replay(&settings, &pools, catalog, &trace, &strategy) else {
        eprintln!("unknown strategy {strategy}");
        std::process::exit(2);
    };
    let s = &r.summary;
    println!(
        "{strategy} limit={limit} seed={seed}: {pods} pods over {days} days, generated in {:.2} s, replayed in {wall:.2} s ({} events), cost ${:.2}, lower bound ${:.2}, nodes {}, pending p50 {:.0} s p99 {:.0} s, unschedulable {}, peak RSS {:.0} MiB",
        gen.as_secs_f64(),
        s.events,
        s.cost.usd(),
        s.lower_bound.usd(),
        s.nodes_launched,
        s.pending.p50.secs_f64(),
        s.pending.p99.secs_f64(),
        s.pods_unschedulable,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
