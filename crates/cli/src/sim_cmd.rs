//! `nodepack replay` and the simulation side of `nodepack compare`: load a scenario (or
//! a trace and node pools), replay it with one or several autoscalers, print summaries.

use crate::input::{lab, warn_lines, CliFiles};
use crate::{Failure, Output};
use nodepack_model::Millis;
use nodepack_sim::metrics::Summary;
use nodepack_sim::stats::{Interval, Statistics};
use nodepack_sim::SimResult;

/// Everything a replay reads.
pub type SimLoaded = nodepack_lab::Loaded;

/// Load a simulation scenario file; `pools_file` replaces its node pools.
pub fn load_scenario(
    path: &str,
    seed: Option<u64>,
    pools_file: Option<&str>,
) -> Result<SimLoaded, Failure> {
    let pools = pools_file.map(nodepack_lab::PoolsSource::File);
    let (l, w) = nodepack_lab::load_scenario(&CliFiles, path, seed, pools).map_err(lab)?;
    warn_lines(&w);
    tracing::info!(
        scenario = %l.name,
        events = l.trace.len(),
        pools = l.pools.len(),
        seed = l.settings.seed,
        "scenario loaded"
    );
    Ok(l)
}

/// `--horizon`: a Go duration from a second to a year (`Never` is not a horizon).
pub(crate) fn horizon_flag(h: &str) -> Result<Millis, Failure> {
    let ctx = nodepack_formats::internals::Ctx::file("--horizon");
    match nodepack_formats::nodepool::duration(&ctx, h).map_err(Failure::input)? {
        Some(d) if d >= Millis(1000) && d <= nodepack_lab::MAX_TRACE_HORIZON => Ok(d),
        _ => Err(Failure::input(anyhow::anyhow!(
            "--horizon: {h:?} is not a duration from 1s to a year (366 days), e.g. 48h"
        ))),
    }
}

/// Load a bare trace with node pools (`replay --trace`).
pub fn load_trace(
    trace: &str,
    pools: &str,
    cat: Option<&str>,
    horizon: Option<Millis>,
    seed: u64,
    pdbs: Option<&str>,
) -> Result<SimLoaded, Failure> {
    let name = if trace == "-" {
        "standard input"
    } else {
        trace
    };
    let (l, w) = nodepack_lab::load_trace(&CliFiles, trace, name, pools, cat, horizon, seed, pdbs)
        .map_err(lab)?;
    warn_lines(&w);
    Ok(l)
}

/// `--pending-value`: the value of an hour of one pod's pending time, from 0 to
/// [`nodepack_sim::config::MAX_PENDING_VALUE`] dollars, in place of the scenario's.
fn set_pending_value(l: &mut SimLoaded, v: Option<f64>) -> Result<(), Failure> {
    let Some(v) = v else { return Ok(()) };
    l.settings.pending_value = nodepack_sim::config::check_pending_value(v)
        .map_err(|m| Failure::input(anyhow::anyhow!("--pending-value: {v}: {m}")))?;
    Ok(())
}

/// Check autoscaler names.
pub fn check_strategies(names: &[String]) -> Result<(), Failure> {
    nodepack_lab::check_autoscalers(names).map_err(lab)
}

/// Replay with each (strategy, seed), two at a time on separate threads; results in the
/// order asked.
pub fn replay_all(l: &SimLoaded, strategies: &[String], seeds: &[u64]) -> Vec<SimResult> {
    let progress = crate::progress::Progress::bar(
        crate::quiet(),
        (strategies.len() * seeds.len()) as u64,
        format!("replaying {}", l.name),
    );
    let runs = nodepack_lab::replay_all(l, strategies, seeds, &|| progress.inc());
    for r in &runs {
        tracing::info!(
            strategy = %r.summary.strategy,
            seed = r.summary.seed,
            cost_usd = r.summary.cost.usd(),
            events = r.summary.events,
            wall_seconds = r.summary.wall_seconds,
            "replay done"
        );
    }
    runs
}

fn pct(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:+.1}%", (a / b - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

/// A relative difference with its interval, e.g. `-12.3% [-15.1, -9.6]`.
fn rel_ci(i: &Interval) -> String {
    format!(
        "{:+.1}% [{:+.1}, {:+.1}]",
        i.mean * 100.0,
        i.ci95_low * 100.0,
        i.ci95_high * 100.0
    )
}

/// A mean with its interval, e.g. `36.61 [35.90, 37.32]`.
fn mean_ci(i: &Interval, digits: usize) -> String {
    format!(
        "{:.d$} [{:.d$}, {:.d$}]",
        i.mean,
        i.ci95_low,
        i.ci95_high,
        d = digits
    )
}

/// The statistics lines of the table output (runs over two seeds or more).
fn print_statistics(stats: &Statistics) {
    crate::emit(format!(
        "over {} seeds, mean [95% confidence interval]:",
        stats.seeds
    ));
    for (s, m) in &stats.strategies {
        let get = |k: &str| m.get(k).map_or("-".to_string(), |i| mean_ci(i, 2));
        crate::emit(format!(
            "  {s}: cost ${}, p99 pending {} s, evictions per node-hour {}",
            get("cost_usd"),
            m.get("pending_p99_s").map_or("-".into(), |i| mean_ci(i, 1)),
            m.get("evictions_per_node_hour")
                .map_or("-".into(), |i| mean_ci(i, 3)),
        ));
    }
    crate::emit("paired differences (same seeds), relative [95% CI]:".to_string());
    for p in &stats.paired {
        let get = |k: &str| {
            p.metrics
                .get(k)
                .and_then(|m| m.relative.as_ref())
                .map_or("-".to_string(), rel_ci)
        };
        crate::emit(format!(
            "  {} vs {}: cost {}, p99 pending {}",
            p.strategy,
            p.against,
            get("cost_usd"),
            get("pending_p99_s")
        ));
    }
}

/// Print summaries.
pub fn print(l: &SimLoaded, runs: &[Summary], output: Output) -> Result<(), Failure> {
    let seeds: std::collections::BTreeSet<u64> = runs.iter().map(|r| r.seed).collect();
    let stats = (seeds.len() >= 2).then(|| Statistics::of(runs));
    match output {
        Output::Json => {
            let doc = nodepack_lab::replay_document(l, runs);
            crate::emit(serde_json::to_string_pretty(&doc).map_err(Failure::internal)?)
        }
        Output::Table | Output::Csv => {
            let table = output == Output::Table;
            if table {
                crate::emit(format!("scenario {}: {}", l.name, l.purpose));
                crate::emit(format!(
                "{} trace events over {:.1} h, {} node pools, {} disruption budgets, catalog {} ({} types)",
                l.trace.len(),
                l.settings.horizon.secs_f64() / 3600.0,
                l.pools.len(),
                l.pdbs.len(),
                l.catalog.name,
                l.catalog.instance_types.len()
            ));
            }
            let mut t = crate::tabular::Grid::new(&[
                "strategy",
                "seed",
                "cost $",
                "spot $",
                "on-demand $",
                "lower bound $",
                "pending p50 s",
                "pending p99 s",
                "unschedulable",
                "deleted unbound",
                "nodes launched",
                "interruptions",
                "evicted",
                "cpu util",
                "wall s",
            ]);
            for r in runs {
                t.row([
                    r.strategy.clone(),
                    r.seed.to_string(),
                    format!("{:.2}", r.cost.usd()),
                    format!("{:.2}", r.cost_spot.usd()),
                    format!("{:.2}", r.cost_on_demand.usd()),
                    format!("{:.2}", r.lower_bound.usd()),
                    format!("{:.1}", r.pending.p50.secs_f64()),
                    format!("{:.1}", r.pending.p99.secs_f64()),
                    r.pods_unschedulable.to_string(),
                    r.deleted_before_binding.to_string(),
                    r.nodes_launched.to_string(),
                    r.spot_interruptions.to_string(),
                    r.pods_evicted.to_string(),
                    format!("{:.0}%", r.cpu_utilization * 100.0),
                    format!("{:.2}", r.wall_seconds),
                ]);
            }
            t.emit(output)?;
            if !table {
                return Ok(());
            }
            // nodepack against each other strategy, per seed (over several seeds, the
            // statistics below say it with intervals).
            for r in runs
                .iter()
                .filter(|r| r.strategy == "nodepack" && stats.is_none())
            {
                for o in runs
                    .iter()
                    .filter(|o| o.seed == r.seed && o.strategy != "nodepack")
                {
                    crate::emit(format!(
                        "seed {}: nodepack costs {} vs {} (p99 pending {:.1} s vs {:.1} s)",
                        r.seed,
                        pct(r.cost.usd(), o.cost.usd()),
                        o.strategy,
                        r.pending.p99.secs_f64(),
                        o.pending.p99.secs_f64()
                    ));
                }
            }
            if let Some(s) = &stats {
                print_statistics(s);
            }
            for r in runs.iter().filter(|r| !r.unschedulable.is_empty()) {
                let u = &r.unschedulable[0];
                crate::emit(format!(
                    "{} (seed {}): {} pods never scheduled, e.g. {}: {}",
                    r.strategy, r.seed, r.pods_unschedulable, u.pod, u.reason
                ));
            }
        }
    }
    Ok(())
}

/// Arguments of `nodepack replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A simulation scenario file (see scenarios/sim/).
    #[arg(required_unless_present = "trace", conflicts_with = "trace")]
    scenario: Option<String>,
    /// A trace in nodepack's JSON Lines format (`-` for standard input).
    #[arg(long, requires = "nodepools")]
    trace: Option<String>,
    /// Karpenter NodePool YAML: the pools of a --trace replay, or instead of a
    /// scenario's own pools (e.g. a set from scenarios/nodepools/).
    #[arg(long)]
    nodepools: Option<String>,
    /// Catalog (with --trace): `aws/us-east-1` (embedded, default) or a file.
    #[arg(long)]
    catalog: Option<String>,
    /// Simulated time (with --trace), a Go duration; default: an hour after the last event.
    #[arg(long)]
    horizon: Option<String>,
    /// PodDisruptionBudget manifests (with --trace): drains respect them.
    #[arg(long, requires = "trace")]
    pdbs: Option<String>,
    /// Autoscaler.
    #[arg(long, default_value = "nodepack")]
    strategy: String,
    /// Seed (overrides the scenario's, and a generated workload is generated with it).
    #[arg(long)]
    seed: Option<u64>,
    /// Dollars an hour of one pod's pending time is worth: nodepack's launch hedge
    /// launches only the spares that save more pending time, at this value, than they
    /// are billed. Default: the scenario's `hedge: {pending_value}`, else 2.
    #[arg(long, value_name = "USD")]
    pending_value: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Also write a self-contained HTML report with charts to this file.
    #[arg(long, value_name = "FILE.html")]
    report: Option<String>,
}

/// Fail before any replay when the report file cannot be written (a probe that leaves
/// no file behind).
pub fn check_report_path(path: Option<&str>) -> Result<(), Failure> {
    let Some(path) = path else {
        return Ok(());
    };
    let existed = std::path::Path::new(path).exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Failure::input(anyhow::anyhow!("--report {path}: {e}")))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Write the HTML report of `runs` to `path`.
pub fn write_report(l: &SimLoaded, runs: &[SimResult], path: &str) -> Result<(), Failure> {
    let input = nodepack_report::ReportInput {
        scenario: l.name.clone(),
        purpose: l.purpose.clone(),
        horizon_seconds: l.settings.horizon.secs_f64(),
        catalog: format!(
            "{} ({} types)",
            l.catalog.name,
            l.catalog.instance_types.len()
        ),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        runs: runs
            .iter()
            .map(|r| nodepack_report::Run {
                summary: &r.summary,
                series: &r.series,
                pending_ms: &r.pending_ms,
            })
            .collect(),
    };
    let html = nodepack_report::html(&input).map_err(Failure::internal)?;
    std::fs::write(path, html)
        .map_err(|e| Failure::input(anyhow::anyhow!("--report {path}: {e}")))?;
    say!("report written to {path}");
    Ok(())
}

/// Print the summaries, then write the report if asked.
fn finish(
    l: &SimLoaded,
    runs: &[SimResult],
    output: Output,
    report: Option<&str>,
) -> Result<(), Failure> {
    let summaries: Vec<Summary> = runs.iter().map(|r| r.summary.clone()).collect();
    print(l, &summaries, output)?;
    match report {
        Some(path) => write_report(l, runs, path),
        None => Ok(()),
    }
}

/// Run `nodepack replay`.
pub fn replay(a: ReplayArgs) -> Result<(), Failure> {
    check_strategies(std::slice::from_ref(&a.strategy))?;
    check_report_path(a.report.as_deref())?;
    let mut l = match (&a.scenario, &a.trace) {
        (Some(s), _) => {
            // A scenario names its catalog and horizon: refuse the trace-only flags
            // rather than ignore them.
            for (flag, given) in [
                ("--catalog", a.catalog.is_some()),
                ("--horizon", a.horizon.is_some()),
            ] {
                if given {
                    return Err(Failure::input(anyhow::anyhow!(
                        "{flag} applies to --trace replays; {s} sets its own (edit the scenario, or replay its trace with --trace)"
                    )));
                }
            }
            load_scenario(s, a.seed, a.nodepools.as_deref())?
        }
        (None, Some(t)) => {
            let horizon = match &a.horizon {
                Some(h) => Some(horizon_flag(h)?),
                None => None,
            };
            load_trace(
                t,
                a.nodepools.as_deref().unwrap_or_default(),
                a.catalog.as_deref(),
                horizon,
                a.seed.unwrap_or(1),
                a.pdbs.as_deref(),
            )?
        }
        (None, None) => {
            return Err(Failure::input(anyhow::anyhow!(
                "give a scenario file or --trace FILE --nodepools FILE"
            )))
        }
    };
    set_pending_value(&mut l, a.pending_value)?;
    let runs = replay_all(&l, std::slice::from_ref(&a.strategy), &[l.settings.seed]);
    finish(&l, &runs, a.output, a.report.as_deref())
}

/// `nodepack compare` on a simulation scenario.
pub fn compare(
    path: &str,
    pools_file: Option<&str>,
    pending_value: Option<f64>,
    strategies: &[String],
    seeds: u64,
    output: Output,
    report: Option<&str>,
) -> Result<(), Failure> {
    check_strategies(strategies)?;
    if !(1..=nodepack_sim::stats::MAX_SEEDS).contains(&seeds) {
        return Err(Failure::input(anyhow::anyhow!(
            "--seeds: {seeds} is outside 1..={} (each seed replays every strategy)",
            nodepack_sim::stats::MAX_SEEDS
        )));
    }
    check_report_path(report)?;
    let mut l = load_scenario(path, None, pools_file)?;
    set_pending_value(&mut l, pending_value)?;
    let base = l.settings.seed;
    let seeds: Vec<u64> = (0..seeds).map(|i| base + i).collect();
    let runs = replay_all(&l, strategies, &seeds);
    finish(&l, &runs, output, report)
}
