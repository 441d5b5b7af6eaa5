//! `nodepack replay` and the simulation side of `nodepack compare`: load a scenario (or
//! a trace and node pools), replay it with one or several autoscalers, print summaries.

use crate::input::{catalog, nodepools, nodepools_in, read_text, warn};
use crate::{Failure, Output};
use nodepack_formats::sim_scenario::ManifestSource;
use nodepack_formats::{read_sim_scenario, read_trace, read_workload, WorkloadSource};
use nodepack_model::{Catalog, Millis, NodePool, PodDisruptionBudget};
use nodepack_sim::config::{Settings, TraceEvent};
use nodepack_sim::metrics::Summary;
use nodepack_sim::stats::{Interval, Statistics};
use nodepack_sim::{SimInput, SimResult, AUTOSCALERS};
use nodepack_solver::internals::PoolCatalog;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Everything a replay reads.
pub struct SimLoaded {
    /// Scenario name.
    pub name: String,
    /// Its purpose.
    pub purpose: String,
    /// Settings.
    pub settings: Settings,
    /// Node pools.
    pub pools: Vec<NodePool>,
    /// Catalog.
    pub catalog: Catalog,
    /// The trace, sorted.
    pub trace: Vec<TraceEvent>,
    /// Pod disruption budgets.
    pub pdbs: Vec<PodDisruptionBudget>,
}

/// The PodDisruptionBudgets of a manifest text (other objects are reported and ignored).
fn read_pdbs(label: &str, text: &str) -> Result<Vec<PodDisruptionBudget>, Failure> {
    let w = read_workload(label, text).map_err(Failure::input)?;
    warn(&w.warnings);
    let others = w.pending.len() + w.bound.len() + w.daemonsets.len() + w.nodes.len();
    if others > 0 {
        say!("warning: {label}: {others} objects other than PodDisruptionBudgets ignored");
    }
    Ok(w.pdbs)
}

fn manifest_text(
    src: &ManifestSource,
    rel: &dyn Fn(&str) -> String,
    label: String,
) -> Result<(String, String), Failure> {
    Ok(match src {
        ManifestSource::Path(p) => {
            let p = rel(p);
            (read_text(&p)?, p)
        }
        ManifestSource::Inline(text) => (text.clone(), label),
    })
}

fn read_trace_file(path: &str) -> Result<Vec<TraceEvent>, Failure> {
    let text = read_text(path)?;
    let (t, w) = read_trace(path, &text).map_err(Failure::input)?;
    warn(&w);
    Ok(t)
}

/// Load a simulation scenario file; `pools_file` replaces its node pools.
pub fn load_scenario(
    path: &str,
    seed: Option<u64>,
    pools_file: Option<&str>,
) -> Result<SimLoaded, Failure> {
    let text = read_text(path)?;
    let (sc, w) = read_sim_scenario(path, &text).map_err(Failure::input)?;
    warn(&w);
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    let rel = |p: &str| dir.join(p).display().to_string();
    let catalog = match sc.catalog.as_deref() {
        None | Some(nodepack_formats::DEFAULT_CATALOG) => catalog(None)?,
        Some(p) => catalog(Some(&rel(p)))?,
    };
    let pools = match pools_file {
        Some(f) => nodepools(f)?,
        None => {
            let (text, label) = manifest_text(&sc.nodepools, &rel, format!("{path} (nodepools)"))?;
            nodepools_in(&label, &text)?
        }
    };
    let mut pdbs = match &sc.pdbs {
        Some(src) => {
            let (text, label) = manifest_text(src, &rel, format!("{path} (pdbs)"))?;
            read_pdbs(&label, &text)?
        }
        None => Vec::new(),
    };
    if let WorkloadSource::Generate(g) = &sc.workload {
        pdbs.extend(nodepack_sim::budgets(g));
    }
    let mut settings = sc.settings;
    if let Some(s) = seed {
        settings.seed = s;
    }
    let trace = match &sc.workload {
        WorkloadSource::Trace(p) => read_trace_file(&rel(p))?,
        WorkloadSource::Generate(g) => nodepack_sim::generate(g, settings.horizon, settings.seed),
    };
    tracing::info!(
        scenario = %sc.name,
        events = trace.len(),
        pools = pools.len(),
        seed = settings.seed,
        "scenario loaded"
    );
    Ok(SimLoaded {
        name: sc.name,
        purpose: sc.purpose,
        settings,
        pools,
        catalog,
        trace,
        pdbs,
    })
}

/// The longest replay: a year, as for scenario files.
const MAX_HORIZON: Millis = Millis(366 * 86_400_000);

/// `--horizon`: a Go duration from a second to a year (`Never` is not a horizon).
fn horizon_flag(h: &str) -> Result<Millis, Failure> {
    let ctx = nodepack_formats::internals::Ctx::file("--horizon");
    match nodepack_formats::nodepool::duration(&ctx, h).map_err(Failure::input)? {
        Some(d) if d >= Millis(1000) && d <= MAX_HORIZON => Ok(d),
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
    let catalog = catalog(cat)?;
    let pools = nodepools(pools)?;
    let pdbs = match pdbs {
        Some(p) => read_pdbs(p, &read_text(p)?)?,
        None => Vec::new(),
    };
    let trace_ev = read_trace_file(trace)?;
    // Default horizon: an hour after the last event.
    let last = trace_ev.last().map_or(Millis(0), |e| e.at);
    let horizon = horizon.unwrap_or(last + Millis::from_mins(60));
    if horizon > MAX_HORIZON {
        let s = last.0 / 1000;
        let hint = if s > 1_000_000_000 {
            " (it looks like a Unix timestamp: trace times are seconds from the trace's start)"
        } else {
            ""
        };
        return Err(Failure::input(anyhow::anyhow!(
            "{trace}: the last event is at {s} s{hint}; a replay covers at most a year (366 days)"
        )));
    }
    Ok(SimLoaded {
        name: if trace == "-" {
            "standard input".into()
        } else {
            trace.to_string()
        },
        purpose: "trace replay".into(),
        settings: Settings::new(horizon, seed),
        pools,
        catalog,
        trace: trace_ev,
        pdbs,
    })
}

/// Check autoscaler names.
pub fn check_strategies(names: &[String]) -> Result<(), Failure> {
    for s in names {
        if !AUTOSCALERS.contains(&s.as_str()) {
            return Err(Failure::input(anyhow::anyhow!(
                "unknown strategy {s:?} (expected one of {})",
                AUTOSCALERS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Replay with each (strategy, seed), two at a time on separate threads; results in the
/// order asked.
pub fn replay_all(l: &SimLoaded, strategies: &[String], seeds: &[u64]) -> Vec<SimResult> {
    let pairs = Arc::new(PoolCatalog::new(&l.pools, &l.catalog));
    let jobs: Vec<(String, u64)> = seeds
        .iter()
        .flat_map(|&s| strategies.iter().map(move |n| (n.clone(), s)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, jobs.len().max(1));
    let progress = crate::progress::Progress::bar(
        crate::quiet(),
        jobs.len() as u64,
        format!("replaying {}", l.name),
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<SimResult>>> =
        std::sync::Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((name, seed)) = jobs.get(i) else {
                    break;
                };
                let mut settings = l.settings.clone();
                settings.seed = *seed;
                let input = SimInput {
                    settings: &settings,
                    nodepools: &l.pools,
                    catalog: &l.catalog,
                    trace: &l.trace,
                    pdbs: &l.pdbs,
                };
                let Some(mut a) = nodepack_sim::by_name(name) else {
                    continue;
                };
                let t = Instant::now();
                tracing::debug!(strategy = %name, seed, "replay started");
                let mut r = nodepack_sim::run_with_pairs(input, a.as_mut(), pairs.clone());
                r.summary.wall_seconds = t.elapsed().as_secs_f64();
                tracing::info!(
                    strategy = %name,
                    seed,
                    cost_usd = r.summary.cost.usd(),
                    events = r.summary.events,
                    wall_seconds = r.summary.wall_seconds,
                    "replay done"
                );
                progress.inc();
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
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
            let mut doc = serde_json::json!({
                "scenario": l.name,
                "purpose": l.purpose,
                "horizon_seconds": l.settings.horizon.secs_f64(),
                "nodepools": l.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                "runs": runs,
            });
            if let Some(s) = &stats {
                doc["statistics"] = serde_json::to_value(s).map_err(Failure::internal)?;
            }
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
    /// Seed (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
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
    let l = match (&a.scenario, &a.trace) {
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
    let runs = replay_all(&l, std::slice::from_ref(&a.strategy), &[l.settings.seed]);
    finish(&l, &runs, a.output, a.report.as_deref())
}

/// `nodepack compare` on a simulation scenario.
pub fn compare(
    path: &str,
    pools_file: Option<&str>,
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
    let l = load_scenario(path, None, pools_file)?;
    let base = l.settings.seed;
    let seeds: Vec<u64> = (0..seeds).map(|i| base + i).collect();
    let runs = replay_all(&l, strategies, &seeds);
    finish(&l, &runs, output, report)
}
