//! `nodepack matrix`: every scenario x every NodePool set x the strategies over K seeds,
//! as one Markdown page of means with 95% intervals and paired differences (the page
//! `docs/results.md` is this command's output), or as JSON.

use crate::sim_cmd::{check_strategies, load_scenario, replay_all};
use crate::Failure;
use nodepack_sim::metrics::Summary;
use nodepack_sim::stats::{Interval, Paired, Statistics};
use std::path::Path;

/// Output of `nodepack matrix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatrixOutput {
    /// A Markdown page.
    Markdown,
    /// JSON: per scenario and set, the runs' statistics.
    Json,
}

/// Arguments of `nodepack matrix`.
#[derive(clap::Args)]
pub struct Args {
    /// Simulation scenario files.
    #[arg(long, num_args = 1.., required = true)]
    scenarios: Vec<String>,
    /// NodePool set files; each replaces every scenario's own pools in turn.
    #[arg(long, num_args = 1.., required = true)]
    nodepools: Vec<String>,
    /// Strategies, comma separated; the first is compared with each other one.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "nodepack,karpenter,cluster-autoscaler"
    )]
    strategies: Vec<String>,
    /// Seeds per cell: each scenario's seed and the next K-1 (at least 2). They vary the
    /// simulation's draws; a generated workload stays the one the scenario's seed
    /// generates.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MatrixOutput::Markdown)]
    output: MatrixOutput,
}

/// One cell: a scenario with a NodePool set.
struct Cell {
    scenario: String,
    set: String,
    stats: Statistics,
}

/// The file stem of a path (`scenarios/sim/web-diurnal.yaml` -> `web-diurnal`).
fn stem(p: &str) -> String {
    Path::new(p)
        .file_stem()
        .map_or_else(|| p.to_string(), |s| s.to_string_lossy().into_owned())
}

/// Run the command.
pub fn run(a: Args) -> Result<(), Failure> {
    check_strategies(&a.strategies)?;
    if !(2..=nodepack_sim::stats::MAX_SEEDS).contains(&a.seeds) {
        return Err(Failure::input(anyhow::anyhow!(
            "--seeds: {} is outside 2..={} (intervals need two seeds or more)",
            a.seeds,
            nodepack_sim::stats::MAX_SEEDS
        )));
    }
    let mut cells = Vec::new();
    for sc in &a.scenarios {
        for set in &a.nodepools {
            let l = load_scenario(sc, None, Some(set))?;
            let seeds: Vec<u64> = (0..a.seeds).map(|i| l.settings.seed + i).collect();
            let runs: Vec<Summary> = replay_all(&l, &a.strategies, &seeds)
                .into_iter()
                .map(|r| r.summary)
                .collect();
            cells.push(Cell {
                scenario: stem(sc),
                set: stem(set),
                stats: Statistics::of(&runs),
            });
        }
    }
    match a.output {
        MatrixOutput::Json => {
            let v: Vec<serde_json::Value> = cells
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "scenario": c.scenario,
                        "nodepools": c.set,
                        "statistics": c.stats,
                    })
                })
                .collect();
            crate::emit(serde_json::to_string_pretty(&v).map_err(Failure::internal)?);
        }
        MatrixOutput::Markdown => markdown(&a, &cells),
    }
    Ok(())
}

fn rel(p: Option<&Paired>, metric: &str) -> String {
    let Some(m) = p.and_then(|p| p.metrics.get(metric)) else {
        return "-".into();
    };
    match &m.relative {
        Some(r) => format!(
            "{:+.1}% [{:+.1}, {:+.1}]{}",
            r.mean * 100.0,
            r.ci95_low * 100.0,
            r.ci95_high * 100.0,
            if r.excludes_zero() { "" } else { " (n.s.)" }
        ),
        None => format!(
            "{:+.2} [{:+.2}, {:+.2}]",
            m.diff.mean, m.diff.ci95_low, m.diff.ci95_high
        ),
    }
}

fn ci(i: Option<&Interval>, d: usize) -> String {
    i.map_or("-".into(), |i| {
        format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            i.mean,
            i.ci95_low,
            i.ci95_high,
            d = d
        )
    })
}

fn paired<'c>(c: &'c Cell, a: &str, b: &str) -> Option<&'c Paired> {
    c.stats
        .paired
        .iter()
        .find(|p| p.strategy == a && p.against == b)
}

fn markdown(a: &Args, cells: &[Cell]) {
    let first = a.strategies[0].as_str();
    let others = &a.strategies[1..];
    crate::emit(format!(
        "Seeds per cell: {}. Strategies: {}. Cells: {} scenarios x {} NodePool sets.\n",
        a.seeds,
        a.strategies.join(", "),
        a.scenarios.len(),
        a.nodepools.len()
    ));
    crate::emit(format!(
        "## {first} against each baseline: cost and p99 pending, paired relative difference [95% CI]\n"
    ));
    crate::emit(
        "Negative is better for the first strategy. \"(n.s.)\": the interval contains 0, the seeds do not resolve a difference.\n",
    );
    let mut head = String::from("| scenario | NodePool set |");
    let mut rule = String::from("|---|---|");
    for o in others {
        head.push_str(&format!(" cost vs {o} | p99 vs {o} |"));
        rule.push_str("---|---|");
    }
    crate::emit(head);
    crate::emit(rule);
    for c in cells {
        let mut row = format!("| {} | {} |", c.scenario, c.set);
        for o in others {
            let p = paired(c, first, o);
            row.push_str(&format!(
                " {} | {} |",
                rel(p, "cost_usd"),
                rel(p, "pending_p99_s")
            ));
        }
        crate::emit(row);
    }
    crate::emit("\n## Every cell: means [95% CI]\n");
    crate::emit("Costs in dollars over the scenario's horizon. \"unplaced\" counts pods never bound: unschedulable at the horizon plus deleted before binding.\n");
    crate::emit("| scenario | NodePool set | strategy | cost $ | on-demand $ | p99 pending s | evictions / node-hour | nodes launched | unplaced |");
    crate::emit("|---|---|---|---|---|---|---|---|---|");
    for c in cells {
        for (s, m) in &a
            .strategies
            .iter()
            .filter_map(|s| c.stats.strategies.get(s).map(|m| (s, m)))
            .collect::<Vec<_>>()
        {
            let unplaced = m.get("pods_unschedulable").map_or(0.0, |i| i.mean)
                + m.get("deleted_before_binding").map_or(0.0, |i| i.mean);
            crate::emit(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                c.scenario,
                c.set,
                s,
                ci(m.get("cost_usd"), 2),
                ci(m.get("cost_on_demand_usd"), 2),
                ci(m.get("pending_p99_s"), 1),
                ci(m.get("evictions_per_node_hour"), 3),
                ci(m.get("nodes_launched"), 0),
                unplaced
            ));
        }
    }
}
