//! `nodepack advise`: which NodePool change saves how much on this workload, proven by
//! replays with common random numbers; the recommended changes as diffs of the NodePool
//! file.

use crate::input::{lab, CliFiles};
use crate::tabular::Grid;
use crate::{Failure, Output};
use nodepack_lab::advise::{self, Report, Request, Workload};
use nodepack_lab::advise::{change, interval, table};

/// Arguments of `nodepack advise`.
#[derive(clap::Args)]
pub struct Args {
    /// A simulation scenario (scenarios/sim/); or give --trace and --nodepools.
    #[arg(required_unless_present = "trace", conflicts_with = "trace")]
    scenario: Option<String>,
    /// A trace file (native JSONL, see `nodepack import`) instead of a scenario.
    #[arg(long, value_name = "FILE", requires = "nodepools")]
    trace: Option<String>,
    /// The NodePool file to improve (for a scenario, default: the scenario's own file).
    #[arg(long, value_name = "FILE")]
    nodepools: Option<String>,
    /// Catalog of a trace replay: aws/us-east-1 (default) or a catalog file.
    #[arg(long, requires = "trace")]
    catalog: Option<String>,
    /// Length of a trace replay (default: an hour after its last event).
    #[arg(long, requires = "trace")]
    horizon: Option<String>,
    /// The autoscaler the cluster runs: karpenter or nodepack.
    #[arg(long, default_value = "karpenter")]
    strategy: String,
    /// Seeds each candidate is replayed on (the scenario's seed and the next ones).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Replays to spend in all, the current NodePools' included.
    #[arg(long, default_value_t = 60)]
    budget: usize,
    /// Replays at once (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Also write a self-contained HTML page (Pareto chart, table, diffs) to this file.
    #[arg(long, value_name = "FILE.html")]
    report: Option<String>,
}

/// The candidates' table as a grid.
fn grid(r: &Report) -> Grid {
    let (headers, rows) = table(r);
    let mut g = Grid::new(&headers);
    for row in rows {
        g.row(row);
    }
    g
}

/// Run `nodepack advise`.
pub fn run(a: Args) -> Result<(), Failure> {
    let workload = match (&a.scenario, &a.trace) {
        (Some(s), None) => Workload::Scenario(s.clone()),
        (None, Some(t)) => Workload::Trace {
            path: t.clone(),
            catalog: a.catalog.clone(),
            horizon: a
                .horizon
                .as_deref()
                .map(crate::sim_cmd::horizon_flag)
                .transpose()?,
        },
        _ => {
            return Err(Failure::input(anyhow::anyhow!(
                "give a scenario file, or --trace FILE with --nodepools FILE"
            )))
        }
    };
    if !matches!(a.strategy.as_str(), "karpenter" | "nodepack") {
        nodepack_lab::check_autoscalers(std::slice::from_ref(&a.strategy)).map_err(lab)?;
    }
    let workers = crate::input::workers(a.workers)?;
    let mut request = Request::new(workload, &a.strategy)
        .seeds(a.seeds)
        .budget(a.budget);
    if let Some(p) = &a.nodepools {
        request = request.nodepools(p);
    }
    let progress =
        crate::progress::Progress::bar(crate::quiet(), a.budget as u64, "advise".to_string());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let report = advise::advise(&CliFiles, &request, workers, &|n, _| {
        let before = done.swap(n, std::sync::atomic::Ordering::SeqCst);
        for _ in before..n {
            progress.inc();
        }
    })
    .map_err(lab)?;
    progress.finish();
    if let Some(path) = &a.report {
        let command: Vec<String> = std::env::args().collect();
        let html = advise::html(&report, &command.join(" ")).map_err(lab)?;
        std::fs::write(path, html)
            .map_err(|e| Failure::input(anyhow::anyhow!("--report: {path}: {e}")))?;
    }
    match a.output {
        Output::Json => {
            crate::emit(serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
        }
        Output::Csv => grid(&report).emit(Output::Csv)?,
        Output::Table => {
            crate::emit(format!(
                "{}: NodePool file {}, strategy {}, seeds {:?}; {} of {} replays",
                report.workload,
                report.nodepools_file,
                report.strategy,
                report.seeds,
                report.replays,
                report.budget
            ));
            grid(&report).emit(Output::Table)?;
            if report.recommended.is_empty() {
                crate::emit("No change is recommended: none did better than the NodePools as written beyond the noise of the seeds replayed.");
            }
            let listed = report
                .recommended
                .iter()
                .map(|id| (id, "Recommended"))
                .chain(report.trade_offs.iter().map(|id| (id, "Trade-off")));
            for (id, what) in listed {
                let Some(c) = report.candidate(id) else {
                    continue;
                };
                if let Some(d) = c.difference {
                    crate::emit(format!(
                        "\n{what} {}: {}\n  cost {} ({}), p99 pending {} s, evictions/node-h {}, over seeds {:?}\n{}",
                        c.id,
                        change(c),
                        interval(&d.cost_relative, 100.0, 1, "%"),
                        interval(&d.cost_usd, 1.0, 2, " $"),
                        interval(&d.pending_p99_s, 1.0, 1, ""),
                        interval(&d.evictions_per_node_hour, 1.0, 3, ""),
                        c.seeds,
                        c.diff.trim_end()
                    ));
                }
            }
            for n in &report.notes {
                crate::emit(format!("note: {n}"));
            }
        }
    }
    Ok(())
}
