//! Loading what a replay reads: a scenario and the files it names, or a trace with node
//! pools; and replaying it for several strategies and seeds on threads.

use crate::{Files, LabError};
use nodepack_formats::sim_scenario::ManifestSource;
use nodepack_formats::{
    aws_us_east_1, read_catalog, read_nodepools, read_sim_scenario, read_trace, read_workload,
    Warning, WorkloadSource, DEFAULT_CATALOG,
};
use nodepack_model::{Catalog, Millis, NodePool, PodDisruptionBudget};
use nodepack_sim::config::{Settings, TraceEvent};
use nodepack_sim::{SimInput, SimResult};
use nodepack_solver::internals::PoolCatalog;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Everything a replay reads.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Loaded {
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

/// Node pools to replay a scenario with instead of its own.
#[derive(Clone, Copy, Debug)]
pub enum PoolsSource<'a> {
    /// A NodePool manifest file.
    File(&'a str),
    /// NodePool manifest text, with the label that names it in messages.
    Text {
        /// The label (e.g. a file name).
        label: &'a str,
        /// The manifests.
        text: &'a str,
    },
}

/// The longest replay of a bare trace: a year, as for scenario files.
pub const MAX_TRACE_HORIZON: Millis = Millis(366 * 86_400_000);

fn say(warnings: &mut Vec<String>, ws: Vec<Warning>) {
    warnings.extend(ws.iter().map(|w| w.to_string()));
}

/// The catalog named `name`: the embedded `aws/us-east-1` (also when `None`) or a file.
pub fn catalog(
    files: &dyn Files,
    name: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Catalog, LabError> {
    match name {
        None | Some(DEFAULT_CATALOG) => Ok(aws_us_east_1().clone()),
        Some(path) => {
            let (c, w) = read_catalog(path, &files.read(path)?)?;
            say(warnings, w);
            Ok(c)
        }
    }
}

/// Node pools from manifest text (`label` names it in messages); at least one.
pub fn nodepools(
    label: &str,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<NodePool>, LabError> {
    let (pools, w) = read_nodepools(label, text)?;
    say(warnings, w);
    if pools.is_empty() {
        return Err(LabError::Input(format!("{label}: no NodePool found")));
    }
    Ok(pools)
}

/// The PodDisruptionBudgets of a manifest text (other objects are reported and ignored).
pub fn pdbs_in(
    label: &str,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<PodDisruptionBudget>, LabError> {
    let w = read_workload(label, text)?;
    say(warnings, w.warnings);
    let others = w.pending.len() + w.bound.len() + w.daemonsets.len() + w.nodes.len();
    if others > 0 {
        warnings.push(format!(
            "{label}: {others} objects other than PodDisruptionBudgets ignored"
        ));
    }
    Ok(w.pdbs)
}

fn trace_file(
    files: &dyn Files,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<TraceEvent>, LabError> {
    let (t, w) = read_trace(path, &files.read(path)?)?;
    say(warnings, w);
    Ok(t)
}

/// Load a simulation scenario file and the files it names (paths relative to it);
/// `seed` replaces its seed and `pools` its node pools. Returns the warnings too.
pub fn load_scenario(
    files: &dyn Files,
    path: &str,
    seed: Option<u64>,
    pools: Option<PoolsSource>,
) -> Result<(Loaded, Vec<String>), LabError> {
    let text = files.read(path)?;
    load_scenario_text(files, path, path, &text, seed, pools)
}

/// [`load_scenario`] of a scenario's text (called `label` in messages) whose relative
/// paths are relative to `path`.
pub(crate) fn load_scenario_text(
    files: &dyn Files,
    path: &str,
    label: &str,
    text: &str,
    seed: Option<u64>,
    pools: Option<PoolsSource>,
) -> Result<(Loaded, Vec<String>), LabError> {
    let mut warnings = Vec::new();
    let (sc, w) = read_sim_scenario(label, text)?;
    say(&mut warnings, w);
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    let rel = |p: &str| dir.join(p).display().to_string();
    let manifest = |src: &ManifestSource, label: String| -> Result<(String, String), LabError> {
        Ok(match src {
            ManifestSource::Path(p) => {
                let p = rel(p);
                (files.read(&p)?, p)
            }
            ManifestSource::Inline(text) => (text.clone(), label),
        })
    };
    let catalog = match sc.catalog.as_deref() {
        None | Some(DEFAULT_CATALOG) => catalog(files, None, &mut warnings)?,
        Some(p) => catalog(files, Some(&rel(p)), &mut warnings)?,
    };
    let pools = match pools {
        Some(PoolsSource::File(f)) => nodepools(f, &files.read(f)?, &mut warnings)?,
        Some(PoolsSource::Text { label, text }) => nodepools(label, text, &mut warnings)?,
        None => {
            let (text, label) = manifest(&sc.nodepools, format!("{label} (nodepools)"))?;
            nodepools(&label, &text, &mut warnings)?
        }
    };
    let mut pdbs = match &sc.pdbs {
        Some(src) => {
            let (text, label) = manifest(src, format!("{label} (pdbs)"))?;
            pdbs_in(&label, &text, &mut warnings)?
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
        WorkloadSource::Trace(p) => trace_file(files, &rel(p), &mut warnings)?,
        WorkloadSource::Generate(g) => nodepack_sim::generate(g, settings.horizon, settings.seed),
    };
    let loaded = Loaded {
        name: sc.name,
        purpose: sc.purpose,
        settings,
        pools,
        catalog,
        trace,
        pdbs,
    };
    Ok((loaded, warnings))
}

/// Load a bare trace with node pools from files: the catalog by name (see [`catalog`]),
/// a horizon (default: an hour after the last event, at most a year), a seed and
/// optional PodDisruptionBudget manifests. `name` is what reports call it.
pub fn load_trace(
    files: &dyn Files,
    trace: &str,
    name: &str,
    pools_file: &str,
    catalog_name: Option<&str>,
    horizon: Option<Millis>,
    seed: u64,
    pdbs_file: Option<&str>,
) -> Result<(Loaded, Vec<String>), LabError> {
    let mut warnings = Vec::new();
    let catalog = catalog(files, catalog_name, &mut warnings)?;
    let pools = nodepools(pools_file, &files.read(pools_file)?, &mut warnings)?;
    let pdbs = match pdbs_file {
        Some(p) => pdbs_in(p, &files.read(p)?, &mut warnings)?,
        None => Vec::new(),
    };
    let events = trace_file(files, trace, &mut warnings)?;
    let last = events.last().map_or(Millis(0), |e| e.at);
    let horizon = horizon.unwrap_or(last + Millis::from_mins(60));
    if horizon > MAX_TRACE_HORIZON {
        let s = last.0 / 1000;
        let hint = if s > 1_000_000_000 {
            " (it looks like a Unix timestamp: trace times are seconds from the trace's start)"
        } else {
            ""
        };
        return Err(LabError::Input(format!(
            "{name}: the last event is at {s} s{hint}; a replay covers at most a year (366 days)"
        )));
    }
    let loaded = Loaded {
        name: name.to_string(),
        purpose: "trace replay".into(),
        settings: Settings::new(horizon, seed),
        pools,
        catalog,
        trace: events,
        pdbs,
    };
    Ok((loaded, warnings))
}

/// Refuse a name that is not an autoscaler ([`nodepack_sim::AUTOSCALERS`]), naming it.
pub fn check_autoscalers(names: &[String]) -> Result<(), LabError> {
    for s in names {
        if !nodepack_sim::AUTOSCALERS.contains(&s.as_str()) {
            return Err(LabError::Input(format!(
                "unknown strategy {s:?} (expected one of {})",
                nodepack_sim::AUTOSCALERS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Replay `loaded` with each (strategy, seed) on as many threads as the machine has;
/// results in the order asked (seeds outer, strategies inner), each with its wall time.
/// `done` is called after each replay (for progress). Strategy names must be known
/// autoscalers ([`nodepack_sim::AUTOSCALERS`]); unknown ones are left out.
pub fn replay_all(
    loaded: &Loaded,
    strategies: &[String],
    seeds: &[u64],
    done: &(dyn Fn() + Sync),
) -> Vec<SimResult> {
    let pairs = Arc::new(PoolCatalog::new(&loaded.pools, &loaded.catalog));
    let jobs: Vec<(String, u64)> = seeds
        .iter()
        .flat_map(|&s| strategies.iter().map(move |n| (n.clone(), s)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, jobs.len().max(1));
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
                let mut settings = loaded.settings.clone();
                settings.seed = *seed;
                let input = SimInput {
                    settings: &settings,
                    nodepools: &loaded.pools,
                    catalog: &loaded.catalog,
                    trace: &loaded.trace,
                    pdbs: &loaded.pdbs,
                };
                let Some(mut a) = nodepack_sim::by_name(name) else {
                    continue;
                };
                let t = Instant::now();
                let mut r = nodepack_sim::run_with_pairs(input, a.as_mut(), pairs.clone());
                r.summary.wall_seconds = t.elapsed().as_secs_f64();
                done();
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

/// The JSON document of replays of `loaded` (what `nodepack replay` and `compare` print
/// with `--output json`): the scenario, its horizon and pools, every run's summary and,
/// over two seeds or more, the statistics (means with intervals, paired differences).
pub fn replay_document(
    loaded: &Loaded,
    runs: &[nodepack_sim::metrics::Summary],
) -> serde_json::Value {
    let seeds: std::collections::BTreeSet<u64> = runs.iter().map(|r| r.seed).collect();
    let mut doc = serde_json::json!({
        "scenario": loaded.name,
        "purpose": loaded.purpose,
        "horizon_seconds": loaded.settings.horizon.secs_f64(),
        "nodepools": loaded.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        "runs": runs,
    });
    if seeds.len() >= 2 {
        doc["statistics"] =
            serde_json::to_value(nodepack_sim::stats::Statistics::of(runs)).unwrap_or_default();
    }
    doc
}
