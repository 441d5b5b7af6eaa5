//! Replay a week of work (see `week_generator`) with one autoscaler on the embedded AWS
//! catalog and print the summary with wall time and peak memory. Usage:
//! `cargo run --release -p nodepack-benches --bin week -- [PODS_PER_MINUTE] [STRATEGY]
//! [spot-to-spot]` (the last turns Karpenter's `SpotToSpotConsolidation` gate on).
//! Peak memory is read from /proc/self/status (VmHWM) on Linux.
use nodepack_benches::{peak_rss_mib, sim_pool, timed_replay, week_generator};
use nodepack_model::Millis;
use nodepack_sim::config::Settings;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_minute: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let strategy = args.get(2).cloned().unwrap_or_else(|| "nodepack".into());
    let mut settings = Settings::new(Millis::from_mins(7 * 24 * 60), 1);
    settings.lb_samples = 24;
    settings.spot_to_spot_consolidation = args.get(3).is_some_and(|a| a == "spot-to-spot");
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![sim_pool()];
    let t = Instant::now();
    let trace = nodepack_sim::generate(&week_generator(per_minute), settings.horizon, 1);
    let gen = t.elapsed();
    let (r, pods, wall) =
        timed_replay(&settings, &pools, catalog, &trace, &strategy).expect("strategy");
    let s = &r.summary;
    println!(
        "{strategy}: {pods} pods over 7 days, generated in {:.2} s, replayed in {wall:.2} s ({} events, {:.0} events/s), cost ${:.2}, lower bound ${:.2}, pending p99 {:.1} s, unschedulable {}, peak RSS {:.0} MiB",
        gen.as_secs_f64(),
        s.events,
        s.events as f64 / wall,
        s.cost.usd(),
        s.lower_bound.usd(),
        s.pending.p99.secs_f64(),
        s.pods_unschedulable,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
