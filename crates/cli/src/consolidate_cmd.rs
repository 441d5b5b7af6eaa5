//! `nodepack consolidate`: the consolidation moves a strategy would make on a cluster
//! snapshot, as a dry run (nothing is applied).

use crate::solve_cmd::load;
use crate::{Failure, Output};
use nodepack_model::Millis;
use nodepack_solver::consolidate::{
    consolidator, ConsolidationPlan, ConsolidationProblem, CONSOLIDATORS,
};
use std::time::Instant;

/// Arguments of `nodepack consolidate`.
#[derive(clap::Args)]
pub struct Args {
    /// The cluster's nodes (`kubectl get nodes -o json`).
    #[arg(long, value_name = "FILE")]
    nodes: String,
    /// The cluster's pods (`kubectl get pods -A -o json`, or manifests with
    /// `spec.nodeName`); PodDisruptionBudgets in these files are honoured.
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pods: Vec<String>,
    /// Karpenter NodePool (and EC2NodeClass) YAML.
    #[arg(long, value_name = "FILE")]
    nodepools: String,
    /// `aws/us-east-1` (embedded, the default) or a catalog file.
    #[arg(long)]
    catalog: Option<String>,
    /// Strategy: nodepack (default) or karpenter; `all` runs both.
    #[arg(long, default_value = "nodepack")]
    strategy: String,
    /// The time to judge `consolidateAfter` and `expireAfter` at, as seconds since the
    /// Unix epoch (default: now).
    #[arg(long, value_name = "SECONDS")]
    now: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// Run the command.
pub fn run(a: Args) -> Result<(), Failure> {
    let l = load(&a.pods, &a.nodepools, Some(&a.nodes), a.catalog.as_deref())?;
    if l.nodes.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no Node objects found (expected `kubectl get nodes -o json`)",
            a.nodes
        )));
    }
    if !l.pending.is_empty() {
        say!(
            "warning: {} pods are not bound to a node (no spec.nodeName): consolidation leaves them to provisioning",
            l.pending.len()
        );
    }
    let names: Vec<&str> = if a.strategy == "all" {
        CONSOLIDATORS.to_vec()
    } else if CONSOLIDATORS.contains(&a.strategy.as_str()) {
        vec![a.strategy.as_str()]
    } else {
        return Err(Failure::input(anyhow::anyhow!(
            "--strategy {:?}: unknown (expected one of {}, or all)",
            a.strategy,
            CONSOLIDATORS.join(", ")
        )));
    };
    let now = match a.now {
        Some(s) => Millis(s.saturating_mul(1000)),
        None => Millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        ),
    };
    let problem = ConsolidationProblem {
        now,
        nodes: &l.nodes,
        status: &[],
        nodepools: &l.pools,
        catalog: &l.catalog,
        pdbs: &l.pdbs,
        pairs: None,
        pdb_allowed: None,
        spot_to_spot: false,
    };
    let mut plans = Vec::new();
    for name in names {
        let c = consolidator(name).ok_or_else(|| Failure::internal(anyhow::anyhow!("{name}")))?;
        let t = Instant::now();
        let plan = c.consolidate(&problem);
        plans.push((plan, t.elapsed().as_secs_f64() * 1000.0));
    }
    match a.output {
        Output::Json => {
            let v: Vec<serde_json::Value> = plans
                .iter()
                .map(|(p, ms)| serde_json::to_value(PlanOut::of(p, *ms)))
                .collect::<Result<_, _>>()
                .map_err(Failure::internal)?;
            let text = if v.len() == 1 {
                serde_json::to_string_pretty(&v[0])
            } else {
                serde_json::to_string_pretty(&v)
            };
            crate::emit(text.map_err(Failure::internal)?);
        }
        Output::Table | Output::Csv => {
            let mut grid = None;
            for (p, ms) in &plans {
                table(p, *ms, a.output, &mut grid);
            }
            if let Some(g) = grid {
                g.emit(Output::Csv)?;
            }
        }
    }
    Ok(())
}

/// The JSON form of a consolidation plan: dollars per hour, as every other command.
#[derive(serde::Serialize)]
struct PlanOut<'a> {
    strategy: &'a str,
    moves: Vec<MoveOut<'a>>,
    cost_before_per_hour: f64,
    cost_after_per_hour: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    repack_cost_per_hour: Option<f64>,
    candidates: usize,
    solve_ms: f64,
}

#[derive(serde::Serialize)]
struct MoveOut<'a> {
    reason: &'static str,
    action: &'static str,
    nodes: &'a [String],
    replacements: Vec<crate::solve_cmd::NodeOut<'a>>,
    spot_only: bool,
    pods: Vec<PodOut<'a>>,
    savings_per_hour: f64,
    evictions: u32,
    disruption_cost: f64,
}

#[derive(serde::Serialize)]
struct PodOut<'a> {
    pod: String,
    from: &'a str,
    to: &'a str,
}

impl<'a> PlanOut<'a> {
    fn of(p: &'a ConsolidationPlan, ms: f64) -> Self {
        PlanOut {
            strategy: &p.strategy,
            moves: p
                .moves
                .iter()
                .map(|m| MoveOut {
                    reason: m.reason.as_str(),
                    action: m.kind(),
                    nodes: &m.nodes,
                    replacements: m
                        .replacements
                        .iter()
                        .map(crate::solve_cmd::NodeOut::of)
                        .collect(),
                    spot_only: m.spot_only,
                    pods: m
                        .pods
                        .iter()
                        .map(|pm| PodOut {
                            pod: pm.pod.to_string(),
                            from: &pm.from,
                            to: &pm.to,
                        })
                        .collect(),
                    savings_per_hour: m.savings_per_hour.usd(),
                    evictions: m.evictions,
                    // A sum of no costs is -0.0 in floating point; print 0.
                    disruption_cost: m.disruption_cost + 0.0,
                })
                .collect(),
            cost_before_per_hour: p.cost_before.usd(),
            cost_after_per_hour: p.cost_after.usd(),
            repack_cost_per_hour: p.repack_cost.map(|r| r.usd()),
            candidates: p.candidates,
            solve_ms: ms,
        }
    }
}

/// Print one plan as a table, or add its moves to the CSV grid `csv`.
fn table(p: &ConsolidationPlan, ms: f64, output: Output, csv: &mut Option<crate::tabular::Grid>) {
    let headers = [
        "strategy",
        "#",
        "reason",
        "action",
        "nodes",
        "replacement",
        "saves $/h",
        "evictions",
        "pods go to",
    ];
    if output == Output::Csv {
        csv.get_or_insert_with(|| crate::tabular::Grid::new(&headers));
    } else {
        crate::emit(format!(
        "strategy {}: {} moves, ${:.4}/h -> ${:.4}/h{}, {} candidates, {} evictions, computed in {:.1} ms (dry run: nothing applied)",
        p.strategy,
        p.moves.len(),
        p.cost_before.usd(),
        p.cost_after.usd(),
        p.repack_cost
            .map(|r| format!(" (packed from scratch: ${:.4}/h)", r.usd()))
            .unwrap_or_default(),
        p.candidates,
        p.moves.iter().map(|m| m.evictions).sum::<u32>(),
        ms
    ));
    }
    if p.moves.is_empty() {
        return;
    }
    let mut t = crate::tabular::Grid::new(&headers);
    for (k, m) in p.moves.iter().enumerate() {
        let repl: Vec<String> = m
            .replacements
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} ${:.4}/h{}",
                    r.instance_type,
                    r.capacity_type.as_str(),
                    r.zone,
                    r.price.usd(),
                    if m.spot_only { " (spot only)" } else { "" }
                )
            })
            .collect();
        let mut dest: Vec<(String, usize)> = Vec::new();
        for pm in &m.pods {
            match dest.iter_mut().find(|(d, _)| *d == pm.to) {
                Some((_, c)) => *c += 1,
                None => dest.push((pm.to.clone(), 1)),
            }
        }
        t.row(vec![
            p.strategy.clone(),
            (k + 1).to_string(),
            m.reason.as_str().to_string(),
            m.kind().to_string(),
            m.nodes.join("\n"),
            repl.join("\n"),
            format!("{:.4}", m.savings_per_hour.usd()),
            m.evictions.to_string(),
            dest.iter()
                .map(|(d, c)| format!("{d} ({c})"))
                .collect::<Vec<_>>()
                .join("\n"),
        ]);
    }
    match csv {
        Some(g) => g.rows.extend(t.rows),
        None => crate::emit(t.table()),
    }
}
