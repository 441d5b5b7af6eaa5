//! `nodepack solve`: plan new nodes for pending pods.

use crate::input::{catalog, nodepools, read_text, warn_lines};
use crate::{Failure, Output};
use nodepack_model::CapacityType;
use nodepack_solver::Explanation;
use nodepack_solver::{lower_bound, Plan, Problem, STRATEGIES};
use serde::Serialize;
use std::time::Instant;

/// Arguments of `nodepack solve`.
#[derive(clap::Args)]
pub struct Args {
    /// Workload manifests (Pod, Deployment, ReplicaSet, StatefulSet, Job, DaemonSet,
    /// List; YAML or JSON, e.g. `kubectl get pods -A -o json`). Pods with `spec.nodeName`
    /// are running on that node.
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pods: Vec<String>,
    /// Karpenter NodePool (and EC2NodeClass) YAML.
    #[arg(long, value_name = "FILE")]
    nodepools: String,
    /// Existing nodes (`kubectl get nodes -o json`).
    #[arg(long, value_name = "FILE")]
    nodes: Option<String>,
    /// `aws/us-east-1` (embedded, the default) or a catalog file.
    #[arg(long)]
    catalog: Option<String>,
    /// Strategy: nodepack (default) or karpenter; `all` runs both.
    #[arg(long, default_value = "nodepack")]
    strategy: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Explain the plan: why each new node's instance type and capacity type won over
    /// the next cheapest alternative, and what ruled out each pool and type for every
    /// unschedulable pod.
    #[arg(long)]
    pub explain: bool,
}

/// A loaded problem: owned data the solver borrows.
pub type Loaded = nodepack_lab::ProblemInput;

/// Read the inputs of `solve` (shared with other commands).
pub fn load(
    pods: &[String],
    pools: &str,
    nodes: Option<&str>,
    cat: Option<&str>,
) -> Result<Loaded, Failure> {
    let catalog = catalog(cat)?;
    let mut texts = Vec::new();
    for f in pods.iter().map(String::as_str).chain(nodes) {
        texts.push((f.to_string(), read_text(f)?));
    }
    let mut w = Vec::new();
    let l = nodepack_lab::load_problem(&texts, nodepools(pools)?, catalog, &mut w)
        .map_err(crate::input::lab)?;
    warn_lines(&w);
    for n in &l.notes {
        match n {
            nodepack_solver::Note::PodOnMissingNode { pod, node } => say!(
                "warning: pod {pod} runs on node {node}, which is not in --nodes: it is not part of this plan"
            ),
            n => say!("warning: {n}"),
        }
    }
    Ok(l)
}

/// The JSON form of a new node (prices in dollars).
#[derive(Serialize)]
pub struct NodeOut<'a> {
    name: &'a str,
    nodepool: &'a str,
    instance_type: &'a str,
    zone: &'a str,
    capacity_type: CapacityType,
    price_per_hour: f64,
    pods: Vec<String>,
    alternatives: &'a [String],
}

#[derive(Serialize)]
struct Bind {
    pod: String,
    node: String,
}

#[derive(Serialize)]
struct Unsched {
    pod: String,
    reason: String,
}

/// The JSON form of a plan.
#[derive(Serialize)]
pub struct PlanOut<'a> {
    strategy: &'a str,
    nodes: Vec<NodeOut<'a>>,
    existing: Vec<Bind>,
    unschedulable: Vec<Unsched>,
    pods_pending: usize,
    cost_per_hour: f64,
    lower_bound_per_hour: f64,
    cost_over_lower_bound: Option<f64>,
    solve_ms: f64,
    lower_bound_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
}

impl<'a> NodeOut<'a> {
    /// The JSON form of `n`.
    pub fn of(n: &'a nodepack_solver::NewNode) -> Self {
        NodeOut {
            name: &n.name,
            nodepool: &n.nodepool,
            instance_type: &n.instance_type,
            zone: &n.zone,
            capacity_type: n.capacity_type,
            price_per_hour: n.price.usd(),
            pods: n.pods.iter().map(|p| p.to_string()).collect(),
            alternatives: &n.alternatives,
        }
    }
}

/// Render a plan as its JSON form.
pub fn plan_out(solved: &Solved, pending: usize) -> PlanOut<'_> {
    let (plan, lb) = (&solved.plan, solved.lower_bound);
    let (solve_ms, lb_ms) = (solved.solve_ms, solved.lower_bound_ms);
    PlanOut {
        strategy: &plan.strategy,
        nodes: plan.nodes.iter().map(NodeOut::of).collect(),
        existing: plan
            .existing
            .iter()
            .map(|b| Bind {
                pod: b.pod.to_string(),
                node: b.node.clone(),
            })
            .collect(),
        unschedulable: plan
            .unschedulable
            .iter()
            .map(|u| Unsched {
                pod: u.pod.to_string(),
                reason: u.reason.to_string(),
            })
            .collect(),
        pods_pending: pending,
        cost_per_hour: plan.cost_per_hour.usd(),
        lower_bound_per_hour: lb.usd(),
        cost_over_lower_bound: (lb.0 > 0).then(|| plan.cost_per_hour.0 as f64 / lb.0 as f64),
        solve_ms,
        lower_bound_ms: lb_ms,
        explanation: solved.explanation.as_ref(),
    }
}

/// The nodes of plans (and their unschedulable pods) as one grid.
fn grid(outs: &[PlanOut]) -> crate::tabular::Grid {
    let mut t = crate::tabular::Grid::new(&[
        "strategy",
        "node",
        "pool",
        "type",
        "zone",
        "capacity",
        "$/h",
        "pods",
        "unschedulable reason",
    ]);
    for out in outs {
        for n in &out.nodes {
            t.row([
                out.strategy.to_string(),
                n.name.to_string(),
                n.nodepool.to_string(),
                n.instance_type.to_string(),
                n.zone.to_string(),
                n.capacity_type.to_string(),
                format!("{:.4}", n.price_per_hour),
                n.pods.len().to_string(),
                String::new(),
            ]);
        }
        for u in &out.unschedulable {
            t.row([
                out.strategy.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                u.pod.to_string(),
                u.reason.to_string(),
            ]);
        }
    }
    t
}

fn table(out: &PlanOut) {
    crate::emit(format!(
        "strategy {}: {} new nodes, ${:.4}/h (lower bound ${:.4}/h{}), {} pods on existing nodes, {} unschedulable, solved in {:.1} ms",
        out.strategy,
        out.nodes.len(),
        out.cost_per_hour,
        out.lower_bound_per_hour,
        out.cost_over_lower_bound.map_or(String::new(), |r| format!(", ratio {r:.3}")),
        out.existing.len(),
        out.unschedulable.len(),
        out.solve_ms
    ));
    let mut g = grid(std::slice::from_ref(out));
    // The table shows one strategy and its unschedulable pods below it.
    g.rows.retain(|r| !r[1].is_empty());
    for r in &mut g.rows {
        r.remove(8);
        r.remove(0);
    }
    g.headers.remove(8);
    g.headers.remove(0);
    crate::emit(g.table());
    for u in &out.unschedulable {
        crate::emit(format!("unschedulable {}: {}", u.pod, u.reason));
    }
}

/// One strategy's plan with its lower bound and timings.
pub struct Solved {
    /// The plan (validated).
    pub plan: Plan,
    /// Its lower bound.
    pub lower_bound: nodepack_model::Money,
    /// Wall time of the solve.
    pub solve_ms: f64,
    /// Wall time of the lower bound.
    pub lower_bound_ms: f64,
    /// The explanation, when asked for.
    pub explanation: Option<Explanation>,
}

/// Solve with one strategy, compute the lower bound, and validate the plan (an invalid
/// plan is an internal failure, never printed).
pub fn run_strategy(problem: &Problem, name: &str) -> Result<Solved, Failure> {
    let t0 = Instant::now();
    let plan = nodepack_solver::solve(name, problem).map_err(|e| match e {
        nodepack_solver::SolveError::UnknownStrategy(_) => Failure::internal(e),
        _ => Failure::input(e),
    })?;
    let solve_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    // The bound covers the pods the plan placed, so each has an option: a failure is
    // internal.
    let lb = lower_bound(problem, &plan)
        .map_err(|e| Failure::internal(anyhow::anyhow!("lower bound for {name}: {e}")))?;
    let lower_bound_ms = t1.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        strategy = name,
        pods = problem.pending.len(),
        new_nodes = plan.nodes.len(),
        cost_per_hour = plan.cost_per_hour.usd(),
        solve_ms,
        lower_bound_ms,
        "solved"
    );
    let problems = nodepack_solver::validate(problem, &plan);
    if !problems.is_empty() {
        return Err(Failure::internal(anyhow::anyhow!(
            "strategy {name} produced an invalid plan:\n  {}",
            problems
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        )));
    }
    Ok(Solved {
        plan,
        lower_bound: lb,
        solve_ms,
        lower_bound_ms,
        explanation: None,
    })
}

/// Run the command.
pub fn run(a: Args) -> Result<(), Failure> {
    let l = load(
        &a.pods,
        &a.nodepools,
        a.nodes.as_deref(),
        a.catalog.as_deref(),
    )?;
    let names: Vec<&str> = if a.strategy == "all" {
        STRATEGIES.to_vec()
    } else if STRATEGIES.contains(&a.strategy.as_str()) {
        vec![a.strategy.as_str()]
    } else {
        return Err(Failure::input(anyhow::anyhow!(
            "--strategy {:?}: unknown (expected one of {}, or all)",
            a.strategy,
            STRATEGIES.join(", ")
        )));
    };
    let problem = l.problem();
    let mut plans = Vec::new();
    for name in names {
        let mut s = run_strategy(&problem, name)?;
        if a.explain {
            let prep = nodepack_solver::internals::Prepared::new(problem);
            s.explanation = Some(nodepack_solver::internals::explain(&prep, &s.plan));
        }
        plans.push(s);
    }
    let outs: Vec<PlanOut> = plans.iter().map(|r| plan_out(r, l.pending.len())).collect();
    match a.output {
        Output::Json => {
            let v = if outs.len() == 1 {
                serde_json::to_string_pretty(&outs[0])
            } else {
                serde_json::to_string_pretty(&outs)
            };
            crate::emit(v.map_err(Failure::internal)?);
        }
        Output::Table => {
            for o in &outs {
                table(o);
                if let Some(e) = o.explanation {
                    for line in explain_lines(e) {
                        crate::emit(line);
                    }
                }
            }
        }
        Output::Csv if a.explain => explain_grid(&plans).emit(Output::Csv)?,
        Output::Csv => grid(&outs).emit(Output::Csv)?,
    }
    Ok(())
}

/// An explanation as lines for people.
fn explain_lines(e: &Explanation) -> Vec<String> {
    let mut out = vec![format!("why ({}):", e.strategy)];
    for n in &e.nodes {
        out.push(format!("  {}", n.summary));
        for p in &n.cheaper {
            out.push(format!("      passed over {p}"));
        }
    }
    for u in &e.unschedulable {
        out.push(format!("  pod {} cannot be scheduled: {}", u.pod, u.reason));
        for v in &u.pools {
            match &v.pool_reason {
                Some(r) => out.push(format!("      pool {}: {r}", v.nodepool)),
                None => {
                    let parts: Vec<String> = v
                        .types_by_reason
                        .iter()
                        .map(|(r, (n, ex))| format!("{n} types {r} (e.g. {})", ex.join(", ")))
                        .collect();
                    out.push(format!(
                        "      pool {}: {}{}",
                        v.nodepool,
                        parts.join("; "),
                        if v.types_that_fit > 0 {
                            format!(
                                "; {} types could hold the pod alone, so the reason above decided",
                                v.types_that_fit
                            )
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
    }
    out
}

/// Explanations as one grid (CSV): one row per node, passed-over offering, or pool
/// verdict of an unschedulable pod.
fn explain_grid(plans: &[Solved]) -> crate::tabular::Grid {
    let mut g = crate::tabular::Grid::new(&["strategy", "subject", "kind", "detail"]);
    for e in plans.iter().filter_map(|s| s.explanation.as_ref()) {
        for n in &e.nodes {
            g.row([
                e.strategy.clone(),
                n.node.clone(),
                "node".into(),
                n.summary.clone(),
            ]);
            for p in &n.cheaper {
                g.row([
                    e.strategy.clone(),
                    n.node.clone(),
                    "passed over".into(),
                    p.to_string(),
                ]);
            }
        }
        for u in &e.unschedulable {
            g.row([
                e.strategy.clone(),
                u.pod.to_string(),
                "unschedulable".into(),
                u.reason.clone(),
            ]);
            for v in &u.pools {
                let detail = match &v.pool_reason {
                    Some(r) => r.clone(),
                    None => v
                        .types_by_reason
                        .iter()
                        .map(|(r, (n, _))| format!("{n} types {r}"))
                        .chain(
                            (v.types_that_fit > 0)
                                .then(|| format!("{} types fit", v.types_that_fit)),
                        )
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                g.row([
                    e.strategy.clone(),
                    u.pod.to_string(),
                    format!("pool {}", v.nodepool),
                    detail,
                ]);
            }
        }
    }
    g
}
