//! Replay a week of work (see `week_generator`) with one autoscaler on the embedded AWS
//! catalog and print the summary with wall time and peak memory. Usage:
//! `cargo run --release -p nodepack-benches --bin week -- [PODS_PER_MINUTE] [STRATEGY]`.
//! Peak memory is read from /proc/self/status (VmHWM) on Linux.
use nodepack_benches::{sim_pool, week_generator};
use nodepack_model::Millis;
use nodepack_sim::config::{Settings, TraceKind};
use std::time::Instant;

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_minute: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let strategy = args.get(2).cloned().unwrap_or_else(|| "nodepack".into());
    let mut settings = Settings::new(Millis::from_mins(7 * 24 * 60), 1);
    settings.lb_samples = 24;
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![sim_pool()];
    let t = Instant::now();
    let trace = nodepack_sim::generate::generate(&week_generator(per_minute), settings.horizon, 1);
    let pods = trace
        .iter()
        .filter(|e| matches!(e.kind, TraceKind::Arrive { .. }))
        .count();
    let gen = t.elapsed();
    let input = nodepack_sim::SimInput {
        settings: &settings,
        nodepools: &pools,
        catalog: &catalog,
        trace: &trace,
        pdbs: &[],
    };
    let mut a = nodepack_sim::by_name(&strategy).expect("strategy");
    let t = Instant::now();
    let r = nodepack_sim::run(input, a.as_mut());
    let wall = t.elapsed().as_secs_f64();
    let s = &r.summary;
    println!(
        "{strategy}: {pods} pods over 7 days, generated in {:.2} s, replayed in {wall:.2} s ({} events, {:.0} events/s), cost ${:.2}, lower bound ${:.2}, pending p99 {:.1} s, unschedulable {}, peak RSS {:.0} MiB",
        gen.as_secs_f64(),
        s.events,
        s.events as f64 / wall,
        s.cost_usd,
        s.lower_bound_usd,
        s.pending_seconds.p99,
        s.pods_unschedulable,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
