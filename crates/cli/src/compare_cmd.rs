//! `nodepack compare SCENARIO`: every strategy on one scenario, side by side.

use crate::input::read_text;
use crate::solve_cmd::{load, plan_out, run_strategy};
use crate::{Failure, Output};
use nodepack_formats::read_scenario;
use nodepack_solver::STRATEGIES;
use std::path::Path;

/// Arguments of `nodepack compare`.
#[derive(clap::Args)]
pub struct Args {
    /// A scenario file: a simulation scenario (scenarios/sim/, replayed over time) or a
    /// provisioning scenario (scenarios/examples/, one solve).
    scenario: String,
    /// Strategies to compare, comma separated (default: every strategy the scenario
    /// kind has: nodepack, karpenter, cluster-autoscaler, static for simulations).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// Seeds to replay (simulation scenarios): the scenario's seed and the next K-1.
    /// They vary the simulation's draws (boot times, capacity failures, interruptions);
    /// a generated workload stays the one the scenario's own seed generates.
    /// With K >= 2 the output adds each metric's mean with its 95% confidence interval
    /// and the paired differences between strategies (same seeds).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Karpenter NodePool YAML replacing the scenario's own pools (simulation
    /// scenarios), e.g. a set from scenarios/nodepools/.
    #[arg(long, value_name = "FILE")]
    nodepools: Option<String>,
    /// Dollars an hour of one pod's pending time is worth (simulation scenarios):
    /// nodepack's launch hedge launches only the spares that save more pending time, at
    /// this value, than they are billed. Default: the scenario's
    /// `hedge: {pending_value}`, else 2.
    #[arg(long, value_name = "USD")]
    pending_value: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Also write a self-contained HTML report with charts to this file (simulation
    /// scenarios).
    #[arg(long, value_name = "FILE.html")]
    report: Option<String>,
}

/// Run the command.
pub fn run(mut a: Args) -> Result<(), Failure> {
    let text = read_text(&a.scenario)?;
    if nodepack_formats::sim_scenario::is_sim_scenario(&a.scenario, &text) {
        if a.strategies.is_empty() {
            a.strategies = nodepack_sim::AUTOSCALERS
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        return crate::sim_cmd::compare(
            &a.scenario,
            a.nodepools.as_deref(),
            a.pending_value,
            &a.strategies,
            a.seeds,
            a.output,
            a.report.as_deref(),
        );
    }
    if a.nodepools.is_some() {
        return Err(Failure::input(anyhow::anyhow!(
            "--nodepools: {} is a provisioning scenario; give its pools in the scenario file",
            a.scenario
        )));
    }
    if a.pending_value.is_some() {
        return Err(Failure::input(anyhow::anyhow!(
            "--pending-value: {} is a provisioning scenario (one solve, no launches to hedge); the value of pending time is for simulation scenarios (scenarios/sim/)",
            a.scenario
        )));
    }
    if a.report.is_some() {
        return Err(Failure::input(anyhow::anyhow!(
            "--report: {} is a provisioning scenario (one solve, no time series); reports are for simulation scenarios (scenarios/sim/)",
            a.scenario
        )));
    }
    if a.strategies.is_empty() {
        a.strategies = STRATEGIES.iter().map(|s| s.to_string()).collect();
    }
    let (sc, w) = read_scenario(&a.scenario, &text).map_err(Failure::input)?;
    crate::input::warn(&w);
    let dir = Path::new(&a.scenario).parent().unwrap_or(Path::new("."));
    let rel = |p: &str| -> String {
        if p == nodepack_formats::DEFAULT_CATALOG {
            p.to_string()
        } else {
            dir.join(p).display().to_string()
        }
    };
    let pods: Vec<String> = sc.pods.iter().map(|p| rel(p)).collect();
    let l = load(
        &pods,
        &rel(&sc.nodepools),
        sc.nodes.as_deref().map(rel).as_deref(),
        sc.catalog.as_deref().map(rel).as_deref(),
    )?;
    for s in &a.strategies {
        if !STRATEGIES.contains(&s.as_str()) {
            return Err(Failure::input(anyhow::anyhow!(
                "--strategies: unknown strategy {s:?} (expected {})",
                STRATEGIES.join(", ")
            )));
        }
    }
    let problem = l.problem();
    let mut results = Vec::new();
    for s in &a.strategies {
        results.push(run_strategy(&problem, s)?);
    }
    match a.output {
        Output::Json => {
            let outs: Vec<_> = results
                .iter()
                .map(|r| plan_out(r, l.pending.len()))
                .collect();
            crate::emit(
                serde_json::to_string_pretty(&serde_json::json!({
                    "scenario": sc.name,
                    "purpose": sc.purpose,
                    "plans": outs,
                }))
                .map_err(Failure::internal)?,
            );
        }
        Output::Table | Output::Csv => {
            if a.output == Output::Table {
                crate::emit(format!("scenario {}: {}", sc.name, sc.purpose));
                crate::emit(format!(
                    "{} pending pods, {} existing nodes, {} node pools, catalog {} ({} types)",
                    l.pending.len(),
                    l.nodes.len(),
                    l.pools.len(),
                    l.catalog.name,
                    l.catalog.instance_types.len()
                ));
            }
            let mut t = crate::tabular::Grid::new(&[
                "strategy",
                "$/hour",
                "lower bound $/h",
                "cost / LB",
                "new nodes",
                "spot nodes",
                "on existing",
                "unschedulable",
                "solve ms",
            ]);
            for r in &results {
                let (p, lb, ms) = (&r.plan, &r.lower_bound, r.solve_ms);
                t.row([
                    p.strategy.clone(),
                    format!("{:.4}", p.cost_per_hour.usd()),
                    format!("{:.4}", lb.usd()),
                    if lb.0 > 0 {
                        format!("{:.3}", p.cost_per_hour.0 as f64 / lb.0 as f64)
                    } else {
                        "-".into()
                    },
                    p.nodes.len().to_string(),
                    p.nodes
                        .iter()
                        .filter(|n| n.capacity_type == nodepack_model::CapacityType::Spot)
                        .count()
                        .to_string(),
                    p.existing.len().to_string(),
                    p.unschedulable.len().to_string(),
                    format!("{ms:.1}"),
                ]);
            }
            t.emit(a.output)?;
            if let ([ra, rb, ..], Output::Table) = (results.as_slice(), a.output) {
                let (a, b) = (&ra.plan, &rb.plan);
                if b.cost_per_hour.0 > 0 {
                    crate::emit(format!(
                        "{} costs {:+.1}% vs {}",
                        a.strategy,
                        (a.cost_per_hour.0 as f64 / b.cost_per_hour.0 as f64 - 1.0) * 100.0,
                        b.strategy
                    ));
                }
            }
        }
    }
    Ok(())
}
