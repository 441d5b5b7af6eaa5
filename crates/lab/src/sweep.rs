//! Sweeps: a grid of scenarios, node pool sets, settings, seeds and strategies, each
//! cell one replay, written as one row of a result table.
//!
//! ```yaml
//! name: shipped
//! scenarios: [../sim/karpenter-basic.yaml, ../sim/spot-mix.yaml]   # relative to this file
//! nodepools: [scenario, ../nodepools/spot-first.yaml]   # `scenario`: each one's own
//! strategies: [nodepack, karpenter, cluster-autoscaler]
//! seeds: 5                  # the scenario's seed and the next 4; or a list [1, 7, 9]
//! settings:                 # every combination of these values
//!   cloud.boot_max_s: [60, 120]                  # a field of the scenario file
//!   nodepool.spec.disruption.consolidateAfter: [30s, 10m]   # of every NodePool
//! ```
//!
//! A sweep is first made a [`Plan`]: its runs, each named by its coordinates, and the
//! texts of every file they read, so that a run can be replayed anywhere ([`run_batch`]). A
//! run's result is a [`Record`] (its row and its summary), kept in `OUT/runs/ID.json`;
//! a sweep started again skips the runs whose record exists. [`finish`] writes
//! `results.csv`, `results.parquet` and `statistics.json` (paired differences of the
//! strategies over the seeds of each scenario, node pool set and setting).

use crate::load::PoolsSource;
use crate::table::{flatten_summary, write_csv, write_parquet, Cell, Row};
use crate::{Files, LabError, Recorded, Recording};
use nodepack_formats::docs::load_documents;
use nodepack_formats::read_sim_scenario;
use nodepack_sim::metrics::Summary;
use nodepack_sim::stats::{Statistics, MAX_SEEDS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The most runs a sweep may have.
pub const MAX_RUNS: usize = 100_000;

/// The node pool set that means "the scenario's own".
pub const OWN_POOLS: &str = "scenario";

/// Seeds: a count from each scenario's own seed, or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    /// The scenario's seed and the next `n - 1`.
    Count(u64),
    /// These seeds.
    List(Vec<u64>),
}

/// A sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Spec {
    /// Its name.
    pub name: String,
    /// Simulation scenario files (relative to the sweep file).
    pub scenarios: Vec<String>,
    /// NodePool sets: `scenario` for each scenario's own, or NodePool files.
    #[serde(default = "own_pools")]
    pub nodepools: Vec<String>,
    /// Autoscalers.
    pub strategies: Vec<String>,
    /// Seeds.
    pub seeds: Seeds,
    /// Settings to vary: a path in the scenario file (`cloud.boot_max_s`, `horizon`) or,
    /// after `nodepool.`, in every NodePool manifest, with the values to try.
    #[serde(default)]
    pub settings: BTreeMap<String, Vec<Value>>,
}

fn own_pools() -> Vec<String> {
    vec![OWN_POOLS.to_string()]
}

/// One replay of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Run {
    /// A name made of its coordinates, unique in the sweep (the record's file name).
    pub id: String,
    /// The scenario file.
    pub scenario: String,
    /// The node pool set (`scenario` or a file).
    pub nodepools: String,
    /// The settings changed, in key order.
    pub settings: Vec<(String, Value)>,
    /// The autoscaler.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
}

/// A sweep made concrete: its runs and every file they read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// The sweep's name.
    pub name: String,
    /// The runs, in grid order (scenario, node pools, settings, seed, strategy).
    pub runs: Vec<Run>,
    /// Path to text of every file a run reads.
    pub files: BTreeMap<String, String>,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its row: the coordinates, then every summary field.
    pub row: Row,
    /// Its summary.
    pub summary: Summary,
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| path.to_string())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `a/b/../c` as `a/c`, without looking at the disk.
fn normalize(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match (c, out.last()) {
            (Component::CurDir, _) => {}
            (Component::ParentDir, Some(Component::Normal(_))) => {
                out.pop();
            }
            (c, _) => out.push(c),
        }
    }
    out.iter().collect()
}

/// Read a sweep file (`label` names it in messages).
pub fn read_spec(label: &str, text: &str) -> Result<Spec, LabError> {
    let docs = load_documents(label, text)?;
    let [doc] = docs.as_slice() else {
        return Err(LabError::Input(format!(
            "{label}: a sweep file holds exactly one document, found {}",
            docs.len()
        )));
    };
    let (spec, _unknown): (Spec, _) = nodepack_formats::docs::typed(&doc.ctx, &doc.value)?;
    let ctx = doc.ctx.clone();
    let need = |field: &str, empty: bool| {
        if empty {
            Err(ctx.field(field).error(None, "needs at least one entry"))
        } else {
            Ok(())
        }
    };
    need("scenarios", spec.scenarios.is_empty())?;
    need("nodepools", spec.nodepools.is_empty())?;
    need("strategies", spec.strategies.is_empty())?;
    for (i, s) in spec.strategies.iter().enumerate() {
        if !nodepack_sim::AUTOSCALERS.contains(&s.as_str()) {
            return Err(ctx
                .field("strategies")
                .index(i)
                .error(
                    Some(s),
                    format!(
                        "not an autoscaler (one of {})",
                        nodepack_sim::AUTOSCALERS.join(", ")
                    ),
                )
                .into());
        }
    }
    let n_seeds = match &spec.seeds {
        Seeds::Count(n) => *n,
        Seeds::List(l) => l.len() as u64,
    };
    if !(1..=MAX_SEEDS).contains(&n_seeds) {
        return Err(ctx
            .field("seeds")
            .error(
                Some(&n_seeds.to_string()),
                format!("needs 1 to {MAX_SEEDS} seeds"),
            )
            .into());
    }
    for (k, vs) in &spec.settings {
        if vs.is_empty() {
            return Err(ctx
                .field("settings")
                .field(k)
                .error(None, "needs at least one value")
                .into());
        }
        if k.is_empty() || k.split('.').any(str::is_empty) || k == "nodepool" {
            return Err(ctx
                .field("settings")
                .error(Some(k), "not a field path (e.g. cloud.boot_max_s)")
                .into());
        }
    }
    let total = spec
        .settings
        .values()
        .map(|v| v.len())
        .chain([
            spec.scenarios.len(),
            spec.nodepools.len(),
            spec.strategies.len(),
            n_seeds as usize,
        ])
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_RUNS);
    if total.is_none() {
        return Err(ctx
            .error(None, format!("the grid has more than {MAX_RUNS} runs"))
            .into());
    }
    Ok(spec)
}

/// Every combination of the settings' values, keys in order.
fn combinations(settings: &BTreeMap<String, Vec<Value>>) -> Vec<Vec<(String, Value)>> {
    let mut out: Vec<Vec<(String, Value)>> = vec![vec![]];
    for (k, vs) in settings {
        out = out
            .into_iter()
            .flat_map(|c| {
                vs.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((k.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

/// Make a sweep a plan: paths relative to `base` (the sweep file's directory) are
/// resolved, every file a run reads is read through `files` and kept, and each scenario
/// is loaded once with each node pool set to check it (a broken one fails here, naming
/// the file, not in the middle of the sweep).
pub fn plan(spec: &Spec, base: &Path, files: &dyn Files) -> Result<Plan, LabError> {
    let recorded = Recorded::default();
    let rec = Recording {
        inner: files,
        into: &recorded,
    };
    let rel = |p: &str| normalize(&base.join(p)).display().to_string();
    let combos = combinations(&spec.settings);
    let mut runs = Vec::new();
    let mut ids = BTreeSet::new();
    for sc in &spec.scenarios {
        let sc_path = rel(sc);
        // The scenario's own seed, where counted seeds start (the file is only parsed:
        // each pool set and setting is loaded in full below).
        let own_seed = read_sim_scenario(&sc_path, &rec.read(&sc_path)?)?
            .0
            .settings
            .seed;
        let seeds: Vec<u64> = match &spec.seeds {
            Seeds::Count(n) => (0..*n).map(|i| own_seed + i).collect(),
            Seeds::List(l) => l.clone(),
        };
        for pools in &spec.nodepools {
            let pools_path = (pools != OWN_POOLS).then(|| rel(pools));
            for combo in &combos {
                // Load with these pools and settings: a typo fails before any run.
                let source = pools_path.as_deref().map(PoolsSource::File);
                load_with(&rec, &sc_path, source, combo, Some(seeds[0]))?;
                for &seed in &seeds {
                    for strategy in &spec.strategies {
                        let set: Vec<String> = combo
                            .iter()
                            .map(|(k, v)| format!("{k}={}", value_text(v)))
                            .collect();
                        let mut id = safe(&format!(
                            "{}__{}__{}__{strategy}__s{seed}",
                            stem(sc),
                            if pools == OWN_POOLS {
                                OWN_POOLS.to_string()
                            } else {
                                stem(pools)
                            },
                            if set.is_empty() {
                                "default".to_string()
                            } else {
                                set.join(",")
                            },
                        ));
                        if !ids.insert(id.clone()) {
                            id = format!("{id}__{}", runs.len());
                            ids.insert(id.clone());
                        }
                        runs.push(Run {
                            id,
                            scenario: sc_path.clone(),
                            nodepools: pools_path.clone().unwrap_or_else(|| OWN_POOLS.into()),
                            settings: combo.clone(),
                            strategy: strategy.clone(),
                            seed,
                        });
                    }
                }
            }
        }
    }
    Ok(Plan {
        name: spec.name.clone(),
        runs,
        files: recorded.texts(),
    })
}

/// Set `value` at the dotted `path` of `doc`, making objects on the way.
fn set_path(doc: &mut Value, path: &str, value: &Value) {
    let mut cur = doc;
    for part in path.split('.') {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else { return };
        cur = m.entry(part.to_string()).or_insert(Value::Null);
    }
    *cur = value.clone();
}

/// Load the scenario file `scenario` (read through `files`) with `settings` applied:
/// keys are dotted paths in the scenario file (`cloud.boot_max_s`, `horizon`), or, after
/// `nodepool.`, in every NodePool manifest (`nodepool.spec.disruption.consolidateAfter`).
/// The changed files are read as usual, so a bad value is refused naming its field.
/// `pools` replaces the scenario's node pools; `seed` its seed. Returns the warnings too.
pub fn load_with(
    files: &dyn Files,
    scenario: &str,
    pools: Option<PoolsSource>,
    settings: &[(String, Value)],
    seed: Option<u64>,
) -> Result<(crate::Loaded, Vec<String>), LabError> {
    let (sc_set, pool_set): (Vec<_>, Vec<_>) = settings
        .iter()
        .partition(|(k, _)| !k.starts_with("nodepool."));
    let text = files.read(scenario)?;
    // The scenario file, with its settings changed (then read as usual, so that a bad
    // value is refused naming the field).
    let (label, text) = if sc_set.is_empty() {
        (scenario.to_string(), text)
    } else {
        let docs = load_documents(scenario, &text)?;
        let mut doc = docs.into_iter().next().map(|d| d.value).unwrap_or_default();
        for (k, v) in &sc_set {
            set_path(&mut doc, k, v);
        }
        let label = format!("{scenario} (with {})", describe(&sc_set));
        (label, doc.to_string())
    };
    let pools_text = if pool_set.is_empty() {
        None
    } else {
        let (ptext, plabel) = match pools {
            Some(PoolsSource::File(p)) => (files.read(p)?, p.to_string()),
            Some(PoolsSource::Text { label, text }) => (text.to_string(), label.to_string()),
            None => {
                // The scenario's own pools: a path relative to it, or inline manifests.
                let (sc, _) = read_sim_scenario(&label, &text)?;
                match sc.nodepools {
                    nodepack_formats::sim_scenario::ManifestSource::Path(p) => {
                        let dir = Path::new(scenario).parent().unwrap_or(Path::new("."));
                        let p = dir.join(p).display().to_string();
                        (files.read(&p)?, p)
                    }
                    nodepack_formats::sim_scenario::ManifestSource::Inline(t) => {
                        (t, format!("{scenario} (nodepools)"))
                    }
                }
            }
        };
        let mut items = Vec::new();
        for d in load_documents(&plabel, &ptext)? {
            let mut v = d.value;
            if v.get("kind").and_then(Value::as_str) == Some("NodePool") {
                for (k, val) in &pool_set {
                    set_path(&mut v, &k["nodepool.".len()..], val);
                }
            }
            items.push(v);
        }
        let list = serde_json::json!({"kind": "List", "items": items}).to_string();
        Some((format!("{plabel} (with {})", describe(&pool_set)), list))
    };
    let pools = match &pools_text {
        Some((l, t)) => Some(PoolsSource::Text { label: l, text: t }),
        None => pools,
    };
    crate::load::load_scenario_text(files, scenario, &label, &text, seed, pools)
}

fn describe(set: &[&(String, Value)]) -> String {
    set.iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Replay the runs `ids` of a plan one after another (reading only the plan's files):
/// each id with its record.
pub fn run_batch(plan: &Plan, ids: &[String]) -> Result<Vec<(String, Record)>, LabError> {
    let files = Recorded::new(plan.files.clone());
    ids.iter()
        .map(|id| {
            let run = plan
                .runs
                .iter()
                .find(|r| &r.id == id)
                .ok_or_else(|| LabError::Input(format!("{id}: not a run of this plan")))?;
            Ok((id.clone(), run_with(&files, run)?))
        })
        .collect()
}

fn run_with(files: &Recorded, run: &Run) -> Result<Record, LabError> {
    let pools = (run.nodepools != OWN_POOLS).then_some(PoolsSource::File(&run.nodepools));
    let (loaded, _) = load_with(files, &run.scenario, pools, &run.settings, Some(run.seed))?;
    let runs = crate::replay_all(
        &loaded,
        std::slice::from_ref(&run.strategy),
        &[run.seed],
        &|| {},
    );
    let Some(r) = runs.into_iter().next() else {
        return Err(LabError::Input(format!(
            "{}: unknown strategy {:?}",
            run.id, run.strategy
        )));
    };
    let mut summary = r.summary;
    summary.wall_seconds = 0.0;
    let mut row = vec![
        ("run_id".to_string(), Cell::Text(run.id.clone())),
        ("scenario".to_string(), Cell::Text(loaded.name.clone())),
        (
            "scenario_file".to_string(),
            Cell::Text(run.scenario.clone()),
        ),
        ("nodepools".to_string(), Cell::Text(run.nodepools.clone())),
    ];
    for (k, v) in &run.settings {
        let cell = match v {
            Value::Number(n) if n.is_i64() => Cell::Int(n.as_i64().unwrap_or_default()),
            Value::Number(n) => Cell::Float(n.as_f64().unwrap_or_default()),
            v => Cell::Text(value_text(v)),
        };
        row.push((k.replace('.', "_"), cell));
    }
    row.push(("strategy".to_string(), Cell::Text(run.strategy.clone())));
    row.push(("seed".to_string(), Cell::Int(run.seed as i64)));
    row.extend(flatten_summary(&summary));
    Ok(Record {
        row: Row(row),
        summary,
    })
}

fn record_path(out: &Path, id: &str) -> std::path::PathBuf {
    out.join("runs").join(format!("{id}.json"))
}

fn io(path: &Path, e: impl std::fmt::Display) -> LabError {
    LabError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Keep a run's record under `out` (written whole, then renamed into place, so that an
/// interrupted sweep never leaves half a record).
pub fn store(out: &Path, id: &str, record: &Record) -> Result<(), LabError> {
    let dir = out.join("runs");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let path = record_path(out, id);
    let tmp = dir.join(format!(".{id}.json.tmp"));
    let text = serde_json::to_string(record).map_err(|e| io(&path, e))?;
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
}

/// The runs of `plan` with no record under `out` yet.
pub fn pending<'p>(plan: &'p Plan, out: &Path) -> Vec<&'p Run> {
    plan.runs
        .iter()
        .filter(|r| !record_path(out, &r.id).is_file())
        .collect()
}

/// Replay `runs` on `workers` threads, handing each record to `keep` as it finishes;
/// the first error stops the workers.
fn on_threads(
    files: &Recorded,
    runs: &[&Run],
    workers: usize,
    keep: &(dyn Fn(usize, Record) -> Result<(), LabError> + Sync),
) -> Result<(), LabError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let first_error: std::sync::Mutex<Option<LabError>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, runs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(r) = runs.get(i) else { break };
                if let Err(e) = run_with(files, r).and_then(|rec| keep(i, rec)) {
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(e);
                    }
                    break;
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Replay the pending runs of `plan` on `workers` threads, keeping each record under
/// `out` as it finishes; `done` is called after each run. Returns how many ran.
pub fn run_local(
    plan: &Plan,
    out: &Path,
    workers: usize,
    done: &(dyn Fn() + Sync),
) -> Result<usize, LabError> {
    let todo = pending(plan, out);
    let files = Recorded::new(plan.files.clone());
    on_threads(&files, &todo, workers, &|i, rec| {
        store(out, &todo[i].id, &rec)?;
        done();
        Ok(())
    })?;
    Ok(todo.len())
}

/// Replay every run of `plan` on `workers` threads, keeping the records in memory: each
/// run's id with its record, in the plan's order.
pub fn run_all(plan: &Plan, workers: usize) -> Result<Vec<(String, Record)>, LabError> {
    let files = Recorded::new(plan.files.clone());
    let runs: Vec<&Run> = plan.runs.iter().collect();
    let slots: Vec<std::sync::Mutex<Option<Record>>> =
        runs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    on_threads(&files, &runs, workers, &|i, rec| {
        if let Ok(mut s) = slots[i].lock() {
            *s = Some(rec);
        }
        Ok(())
    })?;
    runs.iter()
        .zip(slots)
        .map(|(r, s)| {
            s.into_inner()
                .ok()
                .flatten()
                .map(|rec| (r.id.clone(), rec))
                .ok_or_else(|| LabError::Input(format!("{}: no record", r.id)))
        })
        .collect()
}

/// What [`finish`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outputs {
    /// `results.csv`.
    pub csv: String,
    /// `results.parquet`.
    pub parquet: String,
    /// `statistics.json`.
    pub statistics: String,
    /// Rows written.
    pub rows: usize,
}

/// Write the result tables of `plan` from the records under `out` (every run must have
/// one) and the paired statistics of each group of runs that differ only in strategy
/// and seed.
pub fn finish(plan: &Plan, out: &Path) -> Result<Outputs, LabError> {
    let mut records = Vec::with_capacity(plan.runs.len());
    for r in &plan.runs {
        let path = record_path(out, &r.id);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let rec: Record = serde_json::from_str(&text).map_err(|e| io(&path, e))?;
        records.push(rec);
    }
    let rows: Vec<Row> = records.iter().map(|r| r.row.clone()).collect();
    let csv = out.join("results.csv").display().to_string();
    let parquet = out.join("results.parquet").display().to_string();
    write_csv(&csv, &rows)?;
    write_parquet(&parquet, &rows)?;
    // Groups: same scenario, node pools and settings.
    let mut groups: BTreeMap<(String, String, String), Vec<Summary>> = BTreeMap::new();
    let mut order = Vec::new();
    for (r, rec) in plan.runs.iter().zip(&records) {
        let key = (
            r.scenario.clone(),
            r.nodepools.clone(),
            serde_json::to_string(&r.settings).unwrap_or_default(),
        );
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(rec.summary.clone());
    }
    let stats: Vec<Value> = order
        .iter()
        .map(|k| {
            let runs = &groups[k];
            let seeds: BTreeSet<u64> = runs.iter().map(|s| s.seed).collect();
            serde_json::json!({
                "scenario": k.0,
                "nodepools": k.1,
                "settings": serde_json::from_str::<Value>(&k.2).unwrap_or_default(),
                "statistics": (seeds.len() >= 2).then(|| Statistics::of(runs)),
            })
        })
        .collect();
    let statistics = out.join("statistics.json").display().to_string();
    let doc = serde_json::json!({"name": plan.name, "groups": stats});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| io(out, e))?;
    std::fs::write(&statistics, text).map_err(|e| io(Path::new(&statistics), e))?;
    Ok(Outputs {
        csv,
        parquet,
        statistics,
        rows: rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/sim");
        let spec = format!(
            "name: t\nscenarios: [{root}/karpenter-basic.yaml]\nnodepools: [scenario]\nstrategies: [nodepack, karpenter]\nseeds: 2\nsettings:\n  horizon: [2h]\n  nodepool.spec.disruption.consolidateAfter: [30s, 5m]\n"
        );
        (dir, spec)
    }

    #[test]
    fn a_grid_runs_resumes_and_writes_its_tables() {
        let (dir, text) = sample();
        let spec = read_spec("t.yaml", &text).unwrap();
        let plan = plan(&spec, Path::new("/"), &crate::Disk).unwrap();
        assert_eq!(plan.runs.len(), 2 * 2 * 2);
        let ids: BTreeSet<&String> = plan.runs.iter().map(|r| &r.id).collect();
        assert_eq!(ids.len(), plan.runs.len(), "ids are unique");
        // Half the runs, as if interrupted; then the rest.
        let half = Plan {
            runs: plan.runs[..4].to_vec(),
            ..plan.clone()
        };
        assert_eq!(run_local(&half, dir.path(), 2, &|| {}).unwrap(), 4);
        assert_eq!(pending(&plan, dir.path()).len(), 4);
        assert_eq!(run_local(&plan, dir.path(), 2, &|| {}).unwrap(), 4);
        assert_eq!(run_local(&plan, dir.path(), 2, &|| {}).unwrap(), 0);
        let out = finish(&plan, dir.path()).unwrap();
        assert_eq!(out.rows, 8);
        let csv = std::fs::read_to_string(&out.csv).unwrap();
        assert!(csv.starts_with("run_id,scenario,scenario_file,nodepools,horizon,nodepool_spec_disruption_consolidateAfter,strategy,seed,"), "{csv}");
        // A run replayed alone gives its stored row.
        let again = run_batch(&plan, &[plan.runs[5].id.clone()])
            .unwrap()
            .remove(0)
            .1;
        let stored: Record = serde_json::from_str(
            &std::fs::read_to_string(record_path(dir.path(), &plan.runs[5].id)).unwrap(),
        )
        .unwrap();
        assert_eq!(again, stored);
        // The setting took effect: a 2-hour horizon.
        assert_eq!(
            stored.summary.sim_time,
            nodepack_model::Millis::from_mins(120)
        );
    }

    #[test]
    fn bad_sweeps_name_the_field() {
        let (_dir, text) = sample();
        for (from, to, what) in [
            (
                "strategies: [nodepack, karpenter]",
                "strategies: [nodepack, karpentr]",
                "strategies[1]",
            ),
            ("seeds: 2", "seeds: 0", "seeds"),
            ("seeds: 2", "seeds: 2\nextra: 1", "extra"),
        ] {
            let e = read_spec("t.yaml", &text.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(e.contains(what), "{to}: {e}");
        }
        // A setting that is not valid fails while planning, naming the field and value.
        let bad = text.replace("horizon: [2h]", "cloud.boot_min_s: [-5]");
        let spec = read_spec("t.yaml", &bad).unwrap();
        let e = plan(&spec, Path::new("/"), &crate::Disk)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cloud.boot_min_s") && e.contains("-5"), "{e}");
    }
}
