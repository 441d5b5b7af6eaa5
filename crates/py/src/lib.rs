//! `nodepack._native`: the Rust side of the Python package. Each function takes texts
//! (label, text) or paths and returns JSON text; the Python side (`python/src/nodepack`)
//! turns inputs into texts and results into dataclasses and tables. Every function
//! releases the GIL while it works, so Python threads run alongside.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use nodepack_lab::{advise, sweep, Disk, LabError, Loaded, Overlay, PoolsSource};
use nodepack_sim::internals::{NodeLife, PodPhase};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::Path;

create_exception!(
    _native,
    NodepackError,
    PyException,
    "Something nodepack could not do."
);
create_exception!(
    _native,
    InputError,
    NodepackError,
    "Bad input: `file`, `field` and `value` say where and what (None when unknown)."
);

/// A label and a text.
type Text = (String, String);

/// An error on its way to Python, built without the GIL.
struct Failure {
    message: String,
    file: Option<String>,
    field: Option<String>,
    value: Option<String>,
    input: bool,
}

impl From<LabError> for Failure {
    fn from(e: LabError) -> Self {
        let message = e.to_string();
        match e {
            LabError::Format(f) => Failure {
                message,
                file: Some(f.file),
                field: (!f.path.is_empty()).then_some(f.path),
                value: f.value,
                input: true,
            },
            LabError::Io { path, .. } => Failure {
                message,
                file: Some(path),
                field: None,
                value: None,
                input: true,
            },
            _ => Failure {
                message,
                file: None,
                field: None,
                value: None,
                input: true,
            },
        }
    }
}

impl From<nodepack_formats::FormatError> for Failure {
    fn from(e: nodepack_formats::FormatError) -> Self {
        LabError::Format(e).into()
    }
}

impl Failure {
    fn input(message: String) -> Self {
        Failure {
            message,
            file: None,
            field: None,
            value: None,
            input: true,
        }
    }

    fn internal(message: String) -> Self {
        Failure {
            input: false,
            ..Failure::input(message)
        }
    }

    fn into_py(self, py: Python<'_>) -> PyErr {
        let err = if self.input {
            InputError::new_err(self.message)
        } else {
            NodepackError::new_err(self.message)
        };
        let v = err.value(py);
        // Setting plain attributes on a fresh exception cannot fail in practice; if it
        // did, the message still names what it names.
        let _ = v.setattr("file", self.file);
        let _ = v.setattr("field", self.field);
        let _ = v.setattr("value", self.value);
        err
    }
}

/// Run `f` without the GIL and turn its failure into a Python exception.
fn work<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Failure> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| e.into_py(py))
}

fn to_json(v: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(v).map_err(|e| Failure::internal(e.to_string()))
}

/// The catalog `name` (`aws/us-east-1`, the embedded one, or a catalog file) as JSON.
#[pyfunction]
#[pyo3(signature = (name=None))]
fn catalog(py: Python<'_>, name: Option<String>) -> PyResult<String> {
    work(py, || {
        let mut w = Vec::new();
        let c = nodepack_lab::catalog(&Disk, name.as_deref(), &mut w)?;
        to_json(&json!({"catalog": c, "warnings": w}))
    })
}

/// The problem of `manifests` with the pools of `nodepools` and the catalog `catalog`.
fn problem(
    manifests: &[Text],
    nodepools: &Text,
    catalog: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<nodepack_lab::ProblemInput, Failure> {
    let c = nodepack_lab::catalog(&Disk, catalog, warnings)?;
    let pools = nodepack_lab::nodepools(&nodepools.0, &nodepools.1, warnings)?;
    let p = nodepack_lab::load_problem(manifests, pools, c, warnings)?;
    warnings.extend(p.notes.iter().map(|n| n.to_string()));
    Ok(p)
}

/// Solve: plan new nodes for the pending pods of `manifests` (JSON: the plan, the lower
/// bound of the pending pods, the warnings and, if asked, the plan's explanation).
#[pyfunction]
#[pyo3(signature = (manifests, nodepools, strategy, catalog=None, explain=false))]
fn solve(
    py: Python<'_>,
    manifests: Vec<Text>,
    nodepools: Text,
    strategy: String,
    catalog: Option<String>,
    explain: bool,
) -> PyResult<String> {
    work(py, || {
        let mut w = Vec::new();
        let p = problem(&manifests, &nodepools, catalog.as_deref(), &mut w)?;
        let prep = nodepack_solver::internals::Prepared::new(p.problem());
        let plan = nodepack_solver::solve_prepared(&strategy, &prep)
            .map_err(|e| Failure::input(e.to_string()))?;
        let violations: Vec<String> = nodepack_solver::validate(&p.problem(), &plan)
            .iter()
            .map(|v| v.to_string())
            .collect();
        if !violations.is_empty() {
            return Err(Failure::internal(format!(
                "the plan breaks a rule: {}",
                violations.join("; ")
            )));
        }
        let bound = nodepack_solver::lower_bound_pending(&p.problem())
            .map(|b| b.cost_per_hour.usd())
            .ok();
        let explanation = explain.then(|| nodepack_solver::internals::explain(&prep, &plan));
        to_json(&json!({
            "plan": plan,
            "lower_bound_usd": bound,
            "explanation": explanation,
            "warnings": w,
        }))
    })
}

/// The fractional lower bound of the pending pods' cost per hour, dollars.
#[pyfunction]
#[pyo3(signature = (manifests, nodepools, catalog=None))]
fn lower_bound(
    py: Python<'_>,
    manifests: Vec<Text>,
    nodepools: Text,
    catalog: Option<String>,
) -> PyResult<f64> {
    work(py, || {
        let mut w = Vec::new();
        let p = problem(&manifests, &nodepools, catalog.as_deref(), &mut w)?;
        nodepack_solver::lower_bound_pending(&p.problem())
            .map(|b| b.cost_per_hour.usd())
            .map_err(|e| Failure::internal(e.to_string()))
    })
}

/// What a replay or a comparison reads: a scenario (a path, or a text whose relative
/// paths are relative to the working directory) or a trace with node pools.
#[allow(clippy::too_many_arguments)]
fn load(
    scenario: Option<String>,
    scenario_text: Option<Text>,
    trace: Option<String>,
    nodepools: Option<Text>,
    seed: Option<u64>,
    horizon: Option<String>,
    catalog: Option<String>,
    pdbs: Option<String>,
) -> Result<(Loaded, Vec<String>), Failure> {
    if let Some(t) = trace {
        let Some((label, text)) = nodepools else {
            return Err(Failure::input(format!(
                "{t}: a trace replay needs nodepools"
            )));
        };
        let horizon = match horizon {
            Some(h) => {
                let ctx = nodepack_formats::internals::Ctx::file("horizon");
                nodepack_formats::nodepool::duration(&ctx, &h)?
            }
            None => None,
        };
        let files = Overlay::new([(label.clone(), text)].into(), &Disk);
        return Ok(nodepack_lab::load_trace(
            &files,
            &t,
            &t,
            &label,
            catalog.as_deref(),
            horizon,
            seed.unwrap_or(1),
            pdbs.as_deref(),
        )?);
    }
    if catalog.is_some() || pdbs.is_some() {
        return Err(Failure::input(
            "catalog and pdbs apply to trace replays; a scenario names its own".into(),
        ));
    }
    let mut texts = std::collections::BTreeMap::new();
    let path = match (scenario, scenario_text) {
        (Some(p), _) => p,
        (None, Some((label, text))) => {
            texts.insert(label.clone(), text);
            label
        }
        (None, None) => return Err(Failure::input("give a scenario or a trace".into())),
    };
    let pools = nodepools
        .as_ref()
        .map(|(label, text)| PoolsSource::Text { label, text });
    let settings: Vec<(String, Value)> = horizon
        .map(|h| ("horizon".to_string(), Value::String(h)))
        .into_iter()
        .collect();
    let files = Overlay::new(texts, &Disk);
    Ok(sweep::load_with(&files, &path, pools, &settings, seed)?)
}

fn secs(m: nodepack_model::Millis) -> f64 {
    m.secs_f64()
}

/// Replay one strategy (JSON: the document `nodepack replay --output json` prints, the
/// time series, and the nodes and pods of the replay).
#[pyfunction]
#[pyo3(signature = (scenario=None, scenario_text=None, trace=None, nodepools=None, strategy="nodepack".to_string(), seed=None, horizon=None, catalog=None, pdbs=None))]
#[allow(clippy::too_many_arguments)]
fn replay(
    py: Python<'_>,
    scenario: Option<String>,
    scenario_text: Option<Text>,
    trace: Option<String>,
    nodepools: Option<Text>,
    strategy: String,
    seed: Option<u64>,
    horizon: Option<String>,
    catalog: Option<String>,
    pdbs: Option<String>,
) -> PyResult<String> {
    work(py, || {
        let (l, w) = load(
            scenario,
            scenario_text,
            trace,
            nodepools,
            seed,
            horizon,
            catalog,
            pdbs,
        )?;
        nodepack_lab::check_autoscalers(std::slice::from_ref(&strategy))?;
        let Some(mut a) = nodepack_sim::by_name(&strategy) else {
            return Err(Failure::internal(format!(
                "autoscaler {strategy:?} is listed but cannot be built"
            )));
        };
        let input = nodepack_sim::SimInput {
            settings: &l.settings,
            nodepools: &l.pools,
            catalog: &l.catalog,
            trace: &l.trace,
            pdbs: &l.pdbs,
        };
        let start = std::time::Instant::now();
        let (mut r, cluster) = nodepack_sim::internals::run_debug(input, a.as_mut());
        r.summary.wall_seconds = start.elapsed().as_secs_f64();
        let horizon = l.settings.horizon;
        let nodes: Vec<Value> = cluster
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "name": n.node.name,
                    "nodepool": n.node.nodepool,
                    "instance_type": n.node.instance_type,
                    "zone": n.node.zone,
                    "capacity_type": n.node.capacity_type,
                    "price_per_hour_usd": n.offering.price.usd(),
                    "launched_s": secs(n.launched),
                    "ready_s": n.ready_at.map(secs),
                    "ended_s": n.ended.map(secs),
                    "hours": secs(n.ended.unwrap_or(horizon).saturating_sub(n.launched)) / 3600.0,
                    "running_at_end": n.life != NodeLife::Terminated,
                    "held": n.spare,
                })
            })
            .collect();
        let pods: Vec<Value> = cluster
            .pods
            .iter()
            .map(|p| {
                json!({
                    "pod": p.pod.id.to_string(),
                    "created_s": secs(p.arrived),
                    "first_bound_s": p.first_bound.map(secs),
                    "first_running_s": p.first_running.map(secs),
                    "pending_s": p.first_bound.map(|b| secs(b.saturating_sub(p.arrived))),
                    "deleted_s": p.deleted_at.map(secs),
                    "node": p.node.map(|i| cluster.nodes[i].node.name.clone()),
                    "phase": phase(p.phase),
                    "restarts": p.restarts,
                    "reason": p.reason,
                })
            })
            .collect();
        let doc = nodepack_lab::replay_document(&l, std::slice::from_ref(&r.summary));
        to_json(&json!({
            "document": doc,
            "series": r.series,
            "nodes": nodes,
            "pods": pods,
            "warnings": w,
        }))
    })
}

fn phase(p: PodPhase) -> &'static str {
    match p {
        PodPhase::Pending => "pending",
        PodPhase::Bound => "bound",
        PodPhase::Running => "running",
        PodPhase::Completed => "completed",
        PodPhase::Deleted => "deleted",
    }
}

/// Replay several strategies over `seeds` seeds from the scenario's own (JSON: the
/// document `nodepack compare --output json` prints).
#[pyfunction]
#[pyo3(signature = (strategies, seeds, scenario=None, scenario_text=None, trace=None, nodepools=None, horizon=None))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    strategies: Vec<String>,
    seeds: u64,
    scenario: Option<String>,
    scenario_text: Option<Text>,
    trace: Option<String>,
    nodepools: Option<Text>,
    horizon: Option<String>,
) -> PyResult<String> {
    work(py, || {
        if !(1..=nodepack_sim::stats::MAX_SEEDS).contains(&seeds) {
            return Err(Failure::input(format!(
                "seeds: {seeds} is outside 1..={}",
                nodepack_sim::stats::MAX_SEEDS
            )));
        }
        nodepack_lab::check_autoscalers(&strategies)?;
        let (l, w) = load(
            scenario,
            scenario_text,
            trace,
            nodepools,
            None,
            horizon,
            None,
            None,
        )?;
        let base = l.settings.seed;
        let list: Vec<u64> = (0..seeds).map(|i| base + i).collect();
        let runs = nodepack_lab::replay_all(&l, &strategies, &list, &|| {});
        let summaries: Vec<_> = runs.into_iter().map(|r| r.summary).collect();
        let mut doc = nodepack_lab::replay_document(&l, &summaries);
        doc["warnings"] = json!(w);
        to_json(&doc)
    })
}

fn plan_of(plan_json: &str) -> Result<sweep::Plan, Failure> {
    serde_json::from_str(plan_json).map_err(|e| Failure::input(format!("sweep plan: {e}")))
}

/// Make a sweep file's text a plan (JSON), its paths relative to `base_dir`.
#[pyfunction]
fn sweep_plan(py: Python<'_>, label: String, text: String, base_dir: String) -> PyResult<String> {
    work(py, || {
        let spec = sweep::read_spec(&label, &text)?;
        let plan = sweep::plan(&spec, Path::new(&base_dir), &Disk)?;
        to_json(&plan)
    })
}

/// The ids of the runs of a plan with no record under `out`.
#[pyfunction]
fn sweep_pending(py: Python<'_>, plan: String, out: String) -> PyResult<Vec<String>> {
    work(py, || {
        let plan = plan_of(&plan)?;
        Ok(sweep::pending(&plan, Path::new(&out))
            .iter()
            .map(|r| r.id.clone())
            .collect())
    })
}

/// Replay the runs `ids` of a plan one after another: (id, record JSON) for each.
#[pyfunction]
fn sweep_run_batch(
    py: Python<'_>,
    plan: String,
    ids: Vec<String>,
) -> PyResult<Vec<(String, String)>> {
    work(py, || {
        let plan = plan_of(&plan)?;
        sweep::run_batch(&plan, &ids)?
            .into_iter()
            .map(|(id, rec)| Ok((id, to_json(&rec)?)))
            .collect()
    })
}

/// Keep a run's record (JSON, from `sweep_run_batch`) under `out`.
#[pyfunction]
fn sweep_store(py: Python<'_>, out: String, id: String, record: String) -> PyResult<()> {
    work(py, || {
        let rec: sweep::Record = serde_json::from_str(&record)
            .map_err(|e| Failure::input(format!("{id}: record: {e}")))?;
        Ok(sweep::store(Path::new(&out), &id, &rec)?)
    })
}

/// Replay the pending runs of a plan on `workers` threads (the CLI's engine); returns
/// how many ran.
#[pyfunction]
fn sweep_local(py: Python<'_>, plan: String, out: String, workers: usize) -> PyResult<usize> {
    work(py, || {
        let plan = plan_of(&plan)?;
        Ok(sweep::run_local(
            &plan,
            Path::new(&out),
            workers.max(1),
            &|| {},
        )?)
    })
}

/// Write a plan's result tables and statistics from its records (JSON: the paths).
#[pyfunction]
fn sweep_finish(py: Python<'_>, plan: String, out: String) -> PyResult<String> {
    work(py, || {
        let plan = plan_of(&plan)?;
        to_json(&sweep::finish(&plan, Path::new(&out))?)
    })
}

/// The NodePool advisor's search, one batch of replays at a time (the Ray engine runs
/// each batch's plan with `sweep_run_batch`; the local engine on threads here).
#[pyclass(module = "nodepack._native")]
struct Advising {
    inner: std::sync::Mutex<advise::Advisor>,
}

impl Advising {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut advise::Advisor) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut a = self
            .inner
            .lock()
            .map_err(|_| Failure::internal("the advisor's state was poisoned by a panic".into()))?;
        f(&mut a)
    }
}

#[pymethods]
impl Advising {
    /// The next batch of replays as a plan (JSON), or None when the search is over.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<String>> {
        work(py, || {
            self.with(|a| a.next_batch().map(|p| to_json(&p)).transpose())
        })
    }

    /// Replay a plan from `next_batch` on `workers` local threads: (id, record JSON).
    fn run_local(
        &self,
        py: Python<'_>,
        plan: String,
        workers: usize,
    ) -> PyResult<Vec<(String, String)>> {
        work(py, || {
            let plan = plan_of(&plan)?;
            sweep::run_all(&plan, workers.max(1))?
                .into_iter()
                .map(|(id, rec)| Ok((id, to_json(&rec)?)))
                .collect()
        })
    }

    /// Hand back the records of a batch: (id, record JSON) for each of its runs.
    fn feed(&self, py: Python<'_>, records: Vec<(String, String)>) -> PyResult<()> {
        work(py, || {
            let recs = records
                .into_iter()
                .map(|(id, r)| {
                    let rec: sweep::Record = serde_json::from_str(&r)
                        .map_err(|e| Failure::input(format!("{id}: record: {e}")))?;
                    Ok((id, rec))
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            self.with(|a| Ok(a.feed(recs)?))
        })
    }

    /// Replays spent so far.
    fn replays(&self, py: Python<'_>) -> PyResult<usize> {
        work(py, || self.with(|a| Ok(a.replays())))
    }

    /// The report (JSON) and its HTML page (`command` shown as what produced it).
    fn report(&self, py: Python<'_>, command: String) -> PyResult<(String, String)> {
        work(py, || {
            self.with(|a| {
                let r = a.report();
                Ok((to_json(&r)?, advise::html(&r, &command)?))
            })
        })
    }
}

/// Start the advisor on a scenario file, or on a trace file with a NodePool file.
#[pyfunction]
#[pyo3(signature = (scenario, trace, nodepools, catalog, horizon, strategy, seeds, budget))]
fn advise_start(
    py: Python<'_>,
    scenario: Option<String>,
    trace: Option<String>,
    nodepools: Option<String>,
    catalog: Option<String>,
    horizon: Option<String>,
    strategy: String,
    seeds: u64,
    budget: usize,
) -> PyResult<Advising> {
    work(py, || {
        let workload = match (scenario, trace) {
            (Some(s), None) => advise::Workload::Scenario(s),
            (None, Some(t)) => advise::Workload::Trace {
                path: t,
                catalog,
                horizon: match horizon {
                    None => None,
                    Some(h) => {
                        let ctx = nodepack_formats::internals::Ctx::file("horizon");
                        match nodepack_formats::nodepool::duration(&ctx, &h)? {
                            Some(d) if d >= nodepack_model::Millis(1000) && d <= nodepack_lab::MAX_TRACE_HORIZON => Some(d),
                            _ => {
                                return Err(Failure::input(format!(
                                    "horizon: {h:?} is not a duration from 1s to a year (366 days), e.g. 48h"
                                )))
                            }
                        }
                    }
                },
            },
            _ => {
                return Err(Failure::input(
                    "give a scenario file, or a trace file with a NodePool file".into(),
                ))
            }
        };
        let mut request = advise::Request::new(workload, &strategy)
            .seeds(seeds)
            .budget(budget);
        if let Some(p) = &nodepools {
            request = request.nodepools(p);
        }
        let a = advise::Advisor::new(&Disk, &request)?;
        Ok(Advising {
            inner: std::sync::Mutex::new(a),
        })
    })
}

/// The strategies the solver has and the autoscalers the simulator has.
#[pyfunction]
fn names() -> (Vec<String>, Vec<String>) {
    (
        nodepack_solver::STRATEGIES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        nodepack_sim::AUTOSCALERS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NodepackError", m.py().get_type::<NodepackError>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    for f in [
        wrap_pyfunction!(catalog, m)?,
        wrap_pyfunction!(solve, m)?,
        wrap_pyfunction!(lower_bound, m)?,
        wrap_pyfunction!(replay, m)?,
        wrap_pyfunction!(compare, m)?,
        wrap_pyfunction!(sweep_plan, m)?,
        wrap_pyfunction!(sweep_pending, m)?,
        wrap_pyfunction!(sweep_run_batch, m)?,
        wrap_pyfunction!(sweep_store, m)?,
        wrap_pyfunction!(sweep_local, m)?,
        wrap_pyfunction!(sweep_finish, m)?,
        wrap_pyfunction!(names, m)?,
        wrap_pyfunction!(advise_start, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add_class::<Advising>()?;
    Ok(())
}
