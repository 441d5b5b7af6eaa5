//! The NodePool advisor: which change to a cluster's NodePools saves how much, proven by
//! replays.
//!
//! Starting from the NodePools as written, the advisor makes candidate edits, one change
//! at a time: widen (allow spot or on-demand, allow arm64 or amd64, allow more instance
//! categories, lower the generation floor, lift a size cap), narrow (cap the instance
//! size, drop metal sizes), disruption (the other consolidation policy, consolidateAfter
//! 0s, 30s, 5m or 1h, budgets of 1 node or 30%) and expiry (`Never`, or 720h where it is
//! `Never`; not tried when no node could reach either value within the replay). Each candidate is the NodePool file with only the lines of its change
//! edited, and every candidate is replayed from that text.
//!
//! The search spends a budget counted in replays. It goes in three steps:
//! 1. **Screen.** The current NodePools are replayed on every seed, and each single
//!    change on the first seed only.
//! 2. **Confirm.** A race: the changes that did better on something are replayed on the
//!    next seed, round after round, as long as they still do better on the mean of
//!    their seeds so far. Better means a cost lower by 0.5%, a p99 pending lower by 5%
//!    (and by a second), evictions per node-hour lower by 5%, or pods given a place.
//!    Budget left over is not spent.
//! 3. **Combine.** Greedily, starting from the change that saves most and adding the
//!    next one that saves (beyond the noise: its paired interval below zero). A combination is kept when it costs less than the best so far.
//!
//! Every replay of a seed shares its random draws with the other replays of that seed
//! (common random numbers), so each candidate is reported as a paired difference from
//! the current NodePools, with a 95% interval over the seeds. The search itself draws
//! nothing at random: the same input gives the same report.
//!
//! # Safety
//! - **Never replayed.** A candidate that leaves a pod with no NodePool and instance type
//!   that could hold it, where the current NodePools have one, is never replayed. This is
//!   checked on every distinct pod of the workload, with limits aside.
//! - **Never recommended.** Among the candidates replayed, only those that leave the
//!   fewest pods without a place can be recommended. So where some change schedules pods
//!   that the current NodePools cannot (arm64-only pods with an amd64-only pool), no
//!   change that leaves them pending is recommended.
//! - **Pending at the end.** A candidate is not recommended either if, on some seed, it
//!   leaves more pods pending at the end of the replay than the current NodePools do. A
//!   margin is allowed for pods that arrive just before the end: 2 pods or 0.5% of them.
//! - **Requirements pods ask for.** The changes only widen requirements, or add a cap or
//!   a `NotIn`. A pod that asks for arm64 or for a GPU therefore keeps what it asks for,
//!   or the change is refused by the first check above.
//!
//! The advisor is a state machine:
//! - [`Advisor::next_batch`] gives a [`Plan`] of replays.
//! - Running that plan anywhere, with [`crate::sweep::run_batch`], gives the records.
//! - [`Advisor::feed`] takes those records back.
//! - [`Advisor::report`] gives the result.
//!
//! [`advise`] is the local loop on threads. The Python package runs the same plans as Ray
//! tasks.

use crate::load::PoolsSource;
use crate::sweep::{Plan, Record, Run};
use crate::{Files, LabError, Recorded, Recording};
use nodepack_formats::docs::load_documents;
use nodepack_formats::read_sim_scenario;
use nodepack_formats::sim_scenario::ManifestSource;
use nodepack_model::{labels, Catalog, Millis, NodePool, Pod};
use nodepack_sim::metrics::Summary;
use nodepack_sim::stats::Interval;
use nodepack_solver::{Builtin, Solver};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The most replays a search may spend.
pub const MAX_BUDGET: usize = 100_000;
/// The most seeds a search replays each candidate on.
pub const MAX_ADVISE_SEEDS: u64 = 100;
/// The most distinct pods checked for a place under each candidate (beyond, the first
/// ones are checked and the report says so).
pub const MAX_CHECKED_PODS: usize = 20_000;

/// What counts as doing better on the first seed, worth the other seeds: a cost lower
/// by 0.5%, a p99 pending lower by 5% (and at least a second), evictions per node-hour
/// lower by 5%.
const SCREEN_COST: f64 = 0.005;
const SCREEN_P99: f64 = 0.05;
const SCREEN_EVICTIONS: f64 = 0.05;

/// The note of a change to a NodePool no pod can use.
const IDLE: &str = "no pod of the workload can use this NodePool, before or after the change";

/// Where a bare trace's stand-in scenario lives among a plan's files.
const TRACE_SCENARIO: &str = "nodepack-advise-trace.json";

/// The instance categories of general-purpose compute that "allow more categories" adds
/// (those in the catalog).
const GENERAL_CATEGORIES: &[&str] = &["c", "m", "r", "t", "i", "d", "x", "z"];
/// The consolidateAfter values tried.
const CONSOLIDATE_AFTER: &[&str] = &["0s", "30s", "5m", "1h"];
/// The budgets tried.
const BUDGETS: &[&str] = &["1", "30%"];

/// The workload to advise on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Workload {
    /// A simulation scenario file.
    Scenario(String),
    /// A trace file, replayed with the catalog named (default: the embedded AWS one) up
    /// to `horizon` (default: an hour after its last event).
    Trace {
        /// The trace file.
        path: String,
        /// The catalog: `aws/us-east-1` or a file.
        catalog: Option<String>,
        /// The replay's length.
        horizon: Option<Millis>,
    },
}

/// What to advise on and how much to spend.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// The workload.
    pub workload: Workload,
    /// The NodePool file to improve (for a scenario, default: its own, which must then be
    /// a file).
    pub nodepools: Option<String>,
    /// The autoscaler the cluster runs.
    pub strategy: String,
    /// Seeds per candidate: the scenario's seed (1 for a trace) and the next ones.
    pub seeds: u64,
    /// Replays to spend, the current NodePools' included.
    pub budget: usize,
}

impl Request {
    /// Advice on `workload` for `strategy`, with 5 seeds and a budget of 60 replays.
    pub fn new(workload: Workload, strategy: &str) -> Self {
        Request {
            workload,
            nodepools: None,
            strategy: strategy.to_string(),
            seeds: 5,
            budget: 60,
        }
    }

    /// The NodePool file to improve.
    pub fn nodepools(mut self, path: &str) -> Self {
        self.nodepools = Some(path.to_string());
        self
    }

    /// Seeds per candidate.
    pub fn seeds(mut self, n: u64) -> Self {
        self.seeds = n;
        self
    }

    /// Replays to spend.
    pub fn budget(mut self, n: usize) -> Self {
        self.budget = n;
        self
    }
}

/// One change to one NodePool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Edit {
    /// The NodePool.
    pub nodepool: String,
    /// What kind of change: `add-spot`, `add-on-demand`, `add-arm64`, `add-amd64`,
    /// `add-categories`, `lower-generation`, `lift-size-cap`, `cap-size`, `drop-metal`,
    /// `consolidation-policy`, `consolidate-after`, `budget`, `expire-after`.
    pub kind: String,
    /// The field it changes (two changes of one field do not combine).
    pub field: String,
    /// In words, e.g. `default: capacity-type In [on-demand] -> [on-demand, spot]`.
    pub description: String,
}

#[derive(Clone, Debug)]
enum Change {
    /// Set (or add) the requirement on `key`, keeping its other fields.
    Requirement {
        key: String,
        operator: String,
        values: Vec<String>,
    },
    /// Remove the requirements on these keys.
    RemoveRequirements(Vec<String>),
    /// Set a field (a path under the manifest).
    Set(Vec<&'static str>, Value),
}

/// Mean values of a candidate over its seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Cost, dollars.
    pub cost_usd: f64,
    /// 99th percentile of pod pending time, seconds.
    pub pending_p99_s: f64,
    /// Pod evictions per node-hour.
    pub evictions_per_node_hour: f64,
    /// Share of the cost spent on spot capacity (0 to 1).
    pub spot_share: f64,
    /// Pods pending at the end of the replay, never bound.
    pub pods_unschedulable: f64,
}

/// The runs of `runs` on the seeds `base` has too, each beside the base's run on the
/// same seed (common random numbers): what every paired comparison reads.
fn paired<'a>(
    runs: &'a BTreeMap<u64, Summary>,
    base: &'a BTreeMap<u64, Summary>,
) -> impl Iterator<Item = (u64, &'a Summary, &'a Summary)> + 'a {
    runs.iter()
        .filter_map(move |(s, r)| base.get(s).map(|b| (*s, r, b)))
}

fn metrics_of(s: &Summary) -> Metrics {
    let cost = s.cost.usd();
    Metrics {
        cost_usd: cost,
        pending_p99_s: s.pending.p99.secs_f64(),
        evictions_per_node_hour: s.evictions_per_node_hour,
        spot_share: if cost > 0.0 {
            s.cost_spot.usd() / cost
        } else {
            0.0
        },
        pods_unschedulable: s.pods_unschedulable as f64,
    }
}

/// Paired differences from the current NodePools (candidate minus current, per seed),
/// with 95% intervals over the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Differences {
    /// Cost, dollars.
    pub cost_usd: Interval,
    /// Cost, relative to the current NodePools' (-0.25 is a quarter less).
    pub cost_relative: Interval,
    /// p99 pending, seconds.
    pub pending_p99_s: Interval,
    /// Evictions per node-hour.
    pub evictions_per_node_hour: Interval,
    /// Spot share of the cost.
    pub spot_share: Interval,
}

/// Where a candidate ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Status {
    /// The NodePools as written.
    Current,
    /// Replayed on every seed.
    Evaluated,
    /// Replayed on some seeds only: it stopped doing better, or the budget ran out.
    Screened,
    /// Not replayed: the budget ran out first.
    NotRun,
    /// Never replayed: unsafe, or it changes nothing the workload uses.
    Rejected,
}

/// A candidate: the NodePools with some edits, and what its replays gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Candidate {
    /// `current`, `e1`, `e2`, ... (single edits), `c1`, ... (combinations).
    pub id: String,
    /// Its edits (none for the current NodePools).
    pub edits: Vec<Edit>,
    /// Where it ended.
    pub status: Status,
    /// Why it was rejected or not recommended, when it was.
    pub note: Option<String>,
    /// Pods of the workload (with repeats) that no NodePool and instance type can hold.
    pub pods_without_place: u64,
    /// Seeds replayed.
    pub seeds: Vec<u64>,
    /// Means over those seeds.
    pub mean: Option<Metrics>,
    /// Paired differences from the current NodePools.
    pub difference: Option<Differences>,
    /// On the Pareto front of (cost, p99 pending, evictions per node-hour) among the
    /// candidates replayed on every seed.
    pub pareto: bool,
    /// Recommended: on the front, safe, better than the current NodePools on some
    /// measure by more than the noise (its 95% interval excludes zero) and worse on none.
    pub recommended: bool,
    /// A trade-off: as recommended, except that it is worse on some measure beyond the
    /// noise (e.g. cheaper but slower to schedule).
    pub trade_off: bool,
    /// The NodePool file's unified diff (empty for the current NodePools).
    pub diff: String,
    /// The edited NodePool file.
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    runs: BTreeMap<u64, Summary>,
    /// Its single edits (indices).
    #[serde(skip)]
    parts: Vec<usize>,
}

impl Candidate {
    /// A candidate not yet checked nor replayed.
    fn new(id: String, edits: Vec<Edit>, status: Status, parts: Vec<usize>) -> Candidate {
        Candidate {
            id,
            edits,
            status,
            note: None,
            pods_without_place: 0,
            seeds: vec![],
            mean: None,
            difference: None,
            pareto: false,
            recommended: false,
            trade_off: false,
            diff: String::new(),
            text: String::new(),
            runs: BTreeMap::new(),
            parts,
        }
    }
}

/// The advisor's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The workload's name.
    pub workload: String,
    /// The NodePool file the edits apply to.
    pub nodepools_file: String,
    /// The autoscaler.
    pub strategy: String,
    /// Seeds replayed for a full evaluation.
    pub seeds: Vec<u64>,
    /// Replays allowed.
    pub budget: usize,
    /// Replays spent.
    pub replays: usize,
    /// Every candidate, the current NodePools first.
    pub candidates: Vec<Candidate>,
    /// Ids of the recommended candidates, the cheapest first.
    pub recommended: Vec<String>,
    /// Ids of the trade-offs on the front, the cheapest first.
    pub trade_offs: Vec<String>,
    /// Remarks on the search.
    pub notes: Vec<String>,
}

impl Report {
    /// The candidate `id`.
    pub fn candidate(&self, id: &str) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.id == id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Start,
    Confirm,
    Race(usize),
    Combine,
    Done,
}

/// The search, one batch of replays at a time.
#[derive(Debug)]
pub struct Advisor {
    name: String,
    scenario: String,
    pools_path: String,
    pools_text: String,
    docs: Vec<Value>,
    files: BTreeMap<String, String>,
    strategy: String,
    seeds: Vec<u64>,
    budget: usize,
    used: usize,
    stage: Stage,
    candidates: Vec<Candidate>,
    /// Single edits with their changes (candidate i + 1 is single edit i).
    singles: Vec<(Edit, Change)>,
    /// Pod shapes with their counts, for the check of places.
    shapes: Vec<(Pod, u64)>,
    pools: Vec<NodePool>,
    catalog: Arc<Catalog>,
    /// The greedy combination: the best candidate so far and the single edits left.
    best: Option<usize>,
    queue: Vec<usize>,
    in_flight: BTreeMap<String, (usize, u64)>,
    notes: Vec<String>,
    baseline_without_place: BTreeSet<usize>,
    /// The current NodePools that some pod of the workload can use.
    used_pools: BTreeSet<String>,
    combos: usize,
    /// Single edits still in the race to every seed, and the budget kept for combining.
    racing: Vec<usize>,
    reserve: usize,
}

fn requirements(doc: &Value) -> Vec<Value> {
    doc.pointer("/spec/template/spec/requirements")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn requirement<'a>(reqs: &'a [Value], key: &str) -> Option<(&'a str, Vec<String>)> {
    reqs.iter()
        .find(|r| r.get("key").and_then(Value::as_str) == Some(key))
        .map(|r| {
            let op = r.get("operator").and_then(Value::as_str).unwrap_or("");
            let vals = r
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            (op, vals)
        })
}

fn short(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn apply(doc: &mut Value, change: &Change) {
    match change {
        Change::Requirement {
            key,
            operator,
            values,
        } => {
            let reqs = ensure(
                doc,
                &["spec", "template", "spec", "requirements"],
                Value::Array(vec![]),
            );
            let Value::Array(list) = reqs else { return };
            let item = list
                .iter_mut()
                .find(|r| r.get("key").and_then(Value::as_str) == Some(key.as_str()));
            let vals = Value::Array(values.iter().cloned().map(Value::String).collect());
            match item {
                Some(Value::Object(m)) => {
                    m.insert("operator".into(), Value::String(operator.clone()));
                    m.insert("values".into(), vals);
                }
                _ => {
                    list.push(serde_json::json!({"key": key, "operator": operator, "values": vals}))
                }
            }
        }
        Change::RemoveRequirements(keys) => {
            if let Some(Value::Array(list)) = doc.pointer_mut("/spec/template/spec/requirements") {
                list.retain(|r| {
                    !r.get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| keys.iter().any(|x| x == k))
                });
            }
        }
        Change::Set(path, v) => {
            if let Some((last, parents)) = path.split_last() {
                let parent = ensure(doc, parents, Value::Object(Default::default()));
                if let Value::Object(m) = parent {
                    m.insert(last.to_string(), v.clone());
                }
            }
        }
    }
}

/// The value at `path`, made (as `leaf` at the end, objects on the way) if missing.
fn ensure<'a>(doc: &'a mut Value, path: &[&str], leaf: Value) -> &'a mut Value {
    let mut cur = doc;
    for (i, p) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else {
            unreachable!()
        };
        let default = if i + 1 == path.len() {
            leaf.clone()
        } else {
            Value::Object(Default::default())
        };
        cur = m.entry(p.to_string()).or_insert(default);
    }
    cur
}

fn pow2_at_least(n: u64) -> u64 {
    n.max(1).next_power_of_two()
}

/// The single edits of one NodePool (its manifest `doc`, its model `pool`).
fn edits_of(
    doc: &Value,
    pool: &NodePool,
    catalog: &Catalog,
    biggest_cpu_m: Option<u64>,
    horizon: Millis,
) -> Vec<(Edit, Change)> {
    let name = pool.name.clone();
    let reqs = requirements(doc);
    let mut out = Vec::new();
    let mut push = |kind: &str, field: &str, description: String, change: Change| {
        out.push((
            Edit {
                nodepool: name.clone(),
                kind: kind.to_string(),
                field: field.to_string(),
                description: format!("{name}: {description}"),
            },
            change,
        ));
    };
    let widen = |key: &str, add: &str| -> Option<(String, Change)> {
        let (op, vals) = requirement(&reqs, key)?;
        if op != "In" || vals.iter().any(|v| v == add) {
            return None;
        }
        let mut new = vals.clone();
        new.push(add.to_string());
        Some((
            format!(
                "{} In [{}] -> [{}]",
                short(key),
                vals.join(", "),
                new.join(", ")
            ),
            Change::Requirement {
                key: key.to_string(),
                operator: "In".into(),
                values: new,
            },
        ))
    };
    // Widen.
    for (kind, key, value) in [
        ("add-spot", labels::CAPACITY_TYPE, "spot"),
        ("add-on-demand", labels::CAPACITY_TYPE, "on-demand"),
        ("add-arm64", labels::ARCH, "arm64"),
        ("add-amd64", labels::ARCH, "amd64"),
    ] {
        if let Some((d, c)) = widen(key, value) {
            push(kind, short(key), d, c);
        }
    }
    let in_catalog = |key: &str, v: &str| {
        catalog
            .instance_types
            .iter()
            .any(|t| t.labels.get(key).map(String::as_str) == Some(v))
    };
    if let Some(("In", cats)) = requirement(&reqs, labels::INSTANCE_CATEGORY) {
        if cats
            .iter()
            .all(|c| GENERAL_CATEGORIES.contains(&c.as_str()))
        {
            let mut new = cats.clone();
            for c in GENERAL_CATEGORIES {
                if !new.iter().any(|x| x == c) && in_catalog(labels::INSTANCE_CATEGORY, c) {
                    new.push(c.to_string());
                }
            }
            if new.len() > cats.len() {
                push(
                    "add-categories",
                    "instance-category",
                    format!(
                        "instance-category In [{}] -> [{}]",
                        cats.join(", "),
                        new.join(", ")
                    ),
                    Change::Requirement {
                        key: labels::INSTANCE_CATEGORY.into(),
                        operator: "In".into(),
                        values: new,
                    },
                );
            }
        }
    }
    if let Some(("Gt", g)) = requirement(&reqs, labels::INSTANCE_GENERATION) {
        if let Some(n) = g.first().and_then(|g| g.parse::<u32>().ok()) {
            if n > 2 {
                push(
                    "lower-generation",
                    "instance-generation",
                    format!("instance-generation Gt {n} -> Gt 2"),
                    Change::Requirement {
                        key: labels::INSTANCE_GENERATION.into(),
                        operator: "Gt".into(),
                        values: vec!["2".into()],
                    },
                );
            }
        }
    }
    let caps: Vec<String> = [
        labels::INSTANCE_CPU,
        labels::INSTANCE_MEMORY,
        labels::INSTANCE_SIZE,
    ]
    .iter()
    .filter(|k| {
        requirement(&reqs, k).is_some_and(|(op, vals)| {
            matches!(op, "Lt" | "In")
                || (op == "NotIn" && vals.iter().any(|v| !v.starts_with("metal")))
        })
    })
    .map(|k| k.to_string())
    .collect();
    if !caps.is_empty() {
        push(
            "lift-size-cap",
            "size",
            format!(
                "remove the requirements on {}",
                caps.iter().map(|k| short(k)).collect::<Vec<_>>().join(", ")
            ),
            Change::RemoveRequirements(caps),
        );
    }
    // Narrow.
    let types: Vec<_> = catalog
        .instance_types
        .iter()
        .filter(|t| pool.requirements.compatible(&t.requirements()))
        .collect();
    let max_cpu = types
        .iter()
        .filter_map(|t| {
            t.label(labels::INSTANCE_CPU)
                .and_then(|c| c.parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0);
    if requirement(&reqs, labels::INSTANCE_CPU).is_none() {
        if let Some(big) = biggest_cpu_m {
            let cap = pow2_at_least((2 * big).div_ceil(1000)).max(16);
            if cap < max_cpu {
                push(
                    "cap-size",
                    "instance-cpu",
                    format!("add instance-cpu Lt {} (at most {cap} vCPU)", cap + 1),
                    Change::Requirement {
                        key: labels::INSTANCE_CPU.into(),
                        operator: "Lt".into(),
                        values: vec![(cap + 1).to_string()],
                    },
                );
            }
        }
    }
    if requirement(&reqs, labels::INSTANCE_SIZE).is_none() {
        let metal: BTreeSet<&str> = types
            .iter()
            .filter_map(|t| t.label(labels::INSTANCE_SIZE))
            .filter(|s| s.starts_with("metal"))
            .collect();
        if !metal.is_empty() {
            let metal: Vec<String> = metal.into_iter().map(str::to_string).collect();
            push(
                "drop-metal",
                "instance-size",
                format!("add instance-size NotIn [{}]", metal.join(", ")),
                Change::Requirement {
                    key: labels::INSTANCE_SIZE.into(),
                    operator: "NotIn".into(),
                    values: metal,
                },
            );
        }
    }
    // Disruption.
    let policy = doc
        .pointer("/spec/disruption/consolidationPolicy")
        .and_then(Value::as_str)
        .unwrap_or("WhenEmptyOrUnderutilized");
    let other = if policy == "WhenEmpty" {
        "WhenEmptyOrUnderutilized"
    } else {
        "WhenEmpty"
    };
    push(
        "consolidation-policy",
        "consolidationPolicy",
        format!("consolidationPolicy {policy} -> {other}"),
        Change::Set(
            vec!["spec", "disruption", "consolidationPolicy"],
            Value::String(other.into()),
        ),
    );
    let current_after = doc
        .pointer("/spec/disruption/consolidateAfter")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
        .unwrap_or_else(|| "0s".into());
    for v in CONSOLIDATE_AFTER {
        let same = pool
            .disruption
            .consolidate_after
            .is_some_and(|m| Some(m) == duration(v));
        if !same {
            push(
                "consolidate-after",
                "consolidateAfter",
                format!("consolidateAfter {current_after} -> {v}"),
                Change::Set(
                    vec!["spec", "disruption", "consolidateAfter"],
                    Value::String(v.to_string()),
                ),
            );
        }
    }
    let current_budgets = doc.pointer("/spec/disruption/budgets").cloned();
    for b in BUDGETS {
        let new = serde_json::json!([{ "nodes": b }]);
        if current_budgets.as_ref() != Some(&new) {
            push(
                "budget",
                "budgets",
                format!(
                    "budgets {} -> [{{nodes: {b}}}]",
                    current_budgets
                        .as_ref()
                        .map(crate::yamlpatch::flow)
                        .unwrap_or_else(|| "[{nodes: 10%}] (default)".into())
                ),
                Change::Set(vec!["spec", "disruption", "budgets"], new),
            );
        }
    }
    // Expiry (not tried when no node can reach either value within the replay).
    let reach = |e: Option<Millis>| e.is_some_and(|e| e < horizon);
    let expire = doc
        .pointer("/spec/template/spec/expireAfter")
        .and_then(Value::as_str);
    let to = if expire == Some("Never") {
        "720h"
    } else {
        "Never"
    };
    if !reach(pool.expire_after) && !reach(duration(to)) {
        return out;
    }
    push(
        "expire-after",
        "expireAfter",
        format!("expireAfter {} -> {to}", expire.unwrap_or("720h (default)")),
        Change::Set(
            vec!["spec", "template", "spec", "expireAfter"],
            Value::String(to.into()),
        ),
    );
    out
}

/// A few Go durations (those tried above).
fn duration(s: &str) -> Option<Millis> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "s" => Some(Millis(n * 1000)),
        "m" => Some(Millis(n * 60_000)),
        "h" => Some(Millis(n * 3_600_000)),
        _ => None,
    }
}

/// The distinct pods of a trace (by what decides where they fit), with their counts.
fn shapes_of(trace: &[nodepack_sim::config::TraceEvent]) -> (Vec<(Pod, u64)>, bool) {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<(Pod, u64)> = Vec::new();
    let mut capped = false;
    for e in trace {
        if let nodepack_sim::config::TraceKind::Arrive { pod, .. } = &e.kind {
            let key = format!(
                "{:?}|{:?}|{:?}|{:?}",
                pod.requests, pod.node_selector, pod.node_affinity_required, pod.tolerations
            );
            match index.get(&key) {
                Some(&i) => out[i].1 += 1,
                None if out.len() < MAX_CHECKED_PODS => {
                    index.insert(key, out.len());
                    let mut p = pod.as_ref().clone();
                    // Alone, a pod's spread and affinity to others constrain nothing.
                    p.topology_spread.clear();
                    p.pod_affinity.clear();
                    p.pod_anti_affinity.clear();
                    out.push((p, 1));
                }
                None => capped = true,
            }
        }
    }
    (out, capped)
}

/// The shapes (indices) that no NodePool of `pools` can hold, limits aside.
fn without_place(
    pools: &[NodePool],
    catalog: &Arc<Catalog>,
    shapes: &[(Pod, u64)],
) -> BTreeSet<usize> {
    let mut pools = pools.to_vec();
    for p in &mut pools {
        p.limits = Default::default();
    }
    let solver = Solver::new(pools, catalog.clone());
    shapes
        .iter()
        .enumerate()
        .filter(|(_, (pod, _))| {
            solver
                .solve(&Builtin::Karpenter, std::slice::from_ref(pod), &[])
                .map_or(true, |plan| !plan.unschedulable.is_empty())
        })
        .map(|(i, _)| i)
        .collect()
}

fn diff_text(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let patch = diffy::DiffOptions::new()
        .set_original_filename(format!("a/{path}"))
        .set_modified_filename(format!("b/{path}"))
        .create_patch(old, new);
    patch.to_string()
}

impl Advisor {
    /// Read the workload and NodePools (through `files`, keeping what was read for the
    /// replays) and make the candidates.
    pub fn new(files: &dyn Files, request: &Request) -> Result<Advisor, LabError> {
        crate::check_autoscalers(std::slice::from_ref(&request.strategy))?;
        if !(1..=MAX_ADVISE_SEEDS).contains(&request.seeds) {
            return Err(LabError::Input(format!(
                "seeds {}: needs 1 to {MAX_ADVISE_SEEDS}",
                request.seeds
            )));
        }
        let k = request.seeds as usize;
        if request.budget <= k || request.budget > MAX_BUDGET {
            return Err(LabError::Input(format!(
                "budget {}: needs more than the {k} replays of the current NodePools (one per seed) and at most {MAX_BUDGET}",
                request.budget
            )));
        }
        let recorded = Recorded::default();
        let rec = Recording {
            inner: files,
            into: &recorded,
        };
        let (scenario, pools_path, first_seed, synthetic) = match &request.workload {
            Workload::Scenario(path) => {
                let (sc, _) = read_sim_scenario(path, &rec.read(path)?)?;
                let pools = match (&request.nodepools, &sc.nodepools) {
                    (Some(p), _) => p.clone(),
                    (None, ManifestSource::Path(p)) => {
                        let dir = Path::new(path).parent().unwrap_or(Path::new("."));
                        dir.join(p).display().to_string()
                    }
                    (None, ManifestSource::Inline(_)) => {
                        return Err(LabError::Input(format!(
                            "{path}: nodepools: the advisor edits a NodePool file, and this scenario writes its NodePools inline; give them as a file (nodepools: FILE, or --nodepools FILE)"
                        )))
                    }
                };
                (path.clone(), pools, sc.settings.seed, None)
            }
            Workload::Trace {
                path,
                catalog,
                horizon,
            } => {
                let Some(pools) = request.nodepools.clone() else {
                    return Err(LabError::Input(format!(
                        "{path}: a trace needs a NodePool file (--nodepools FILE)"
                    )));
                };
                // Loaded once for its horizon; then replayed as a scenario naming it.
                let (loaded, _) = crate::load_trace(
                    &rec,
                    path,
                    path,
                    &pools,
                    catalog.as_deref(),
                    *horizon,
                    1,
                    None,
                )?;
                let name = Path::new(path)
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| path.clone());
                let text = serde_json::json!({
                    "name": name,
                    "purpose": "trace replay",
                    "catalog": catalog.clone().unwrap_or_else(|| nodepack_formats::DEFAULT_CATALOG.to_string()),
                    "nodepools": pools,
                    "horizon": loaded.settings.horizon.0 / 1000,
                    "seed": 1,
                    "workload": {"trace": path},
                })
                .to_string();
                (TRACE_SCENARIO.to_string(), pools, 1, Some(text))
            }
        };
        let over: BTreeMap<String, String> = synthetic
            .iter()
            .map(|t| (scenario.clone(), t.clone()))
            .collect();
        let reader = crate::Overlay::new(over.clone(), &rec);
        let mut adv = Self::build(&reader, request, scenario, pools_path, first_seed)?;
        adv.files = recorded.texts();
        adv.files.extend(over);
        Ok(adv)
    }

    fn build(
        files: &dyn Files,
        request: &Request,
        scenario: String,
        pools_path: String,
        first_seed: u64,
    ) -> Result<Advisor, LabError> {
        let mut notes = Vec::new();
        let pools_text = files.read(&pools_path)?;
        let (loaded, _) = crate::sweep::load_with(
            files,
            &scenario,
            Some(PoolsSource::File(&pools_path)),
            &[],
            Some(first_seed),
        )?;
        let docs: Vec<Value> = load_documents(&pools_path, &pools_text)?
            .into_iter()
            .map(|d| d.value)
            .collect();
        let catalog = Arc::new(loaded.catalog.clone());
        let (shapes, capped) = shapes_of(&loaded.trace);
        if capped {
            notes.push(format!(
                "the workload has more than {MAX_CHECKED_PODS} distinct pods: the check that every pod keeps a place covers the first {MAX_CHECKED_PODS}"
            ));
        }
        let baseline_without_place = without_place(&loaded.pools, &catalog, &shapes);
        let seeds: Vec<u64> = (0..request.seeds).map(|i| first_seed + i).collect();
        let horizon = loaded.settings.horizon;
        let mut adv = Advisor {
            name: loaded.name.clone(),
            scenario,
            pools_path,
            pools_text: pools_text.clone(),
            docs,
            files: BTreeMap::new(),
            strategy: request.strategy.clone(),
            seeds,
            budget: request.budget,
            used: 0,
            stage: Stage::Start,
            candidates: Vec::new(),
            singles: Vec::new(),
            shapes,
            pools: loaded.pools.clone(),
            catalog,
            best: None,
            queue: Vec::new(),
            in_flight: BTreeMap::new(),
            notes,
            baseline_without_place,
            used_pools: BTreeSet::new(),
            combos: 0,
            racing: Vec::new(),
            reserve: 0,
        };
        let count = |set: &BTreeSet<usize>| set.iter().map(|&i| adv.shapes[i].1).sum::<u64>();
        let current_without = count(&adv.baseline_without_place);
        let mut current = Candidate::new("current".into(), vec![], Status::Current, vec![]);
        current.pods_without_place = current_without;
        current.text = pools_text;
        adv.candidates.push(current);
        // Which pods each current NodePool can hold.
        let alone: BTreeMap<String, BTreeSet<usize>> = adv
            .pools
            .iter()
            .map(|p| {
                let out = without_place(std::slice::from_ref(p), &adv.catalog, &adv.shapes);
                (p.name.clone(), out)
            })
            .collect();
        adv.used_pools = alone
            .iter()
            .filter(|(_, out)| out.len() < adv.shapes.len())
            .map(|(name, _)| name.clone())
            .collect();
        // Single edits, NodePool by NodePool in file order.
        let mut singles = Vec::new();
        for doc in &adv.docs {
            if doc.get("kind").and_then(Value::as_str) != Some("NodePool") {
                continue;
            }
            let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let Some(pool) = adv.pools.iter().find(|p| p.name == name) else {
                continue;
            };
            // The biggest pod this pool holds now (for a size cap that leaves room).
            let out = &alone[&pool.name];
            let biggest = (0..adv.shapes.len())
                .filter(|i| !out.contains(i))
                .map(|i| adv.shapes[i].0.requests.cpu.0)
                .max();
            singles.extend(edits_of(doc, pool, &adv.catalog, biggest, horizon));
        }
        // Changes of a NodePool that no pod can use, before or after, change nothing:
        // they are left out, with a note.
        adv.singles = singles;
        let mut kept = Vec::new();
        let mut idle: BTreeMap<String, usize> = BTreeMap::new();
        for n in 0..adv.singles.len() {
            let c = adv.make(String::new(), vec![n]);
            if c.note.as_deref() == Some(IDLE) {
                *idle.entry(adv.singles[n].0.nodepool.clone()).or_default() += 1;
            } else {
                kept.push((adv.singles[n].clone(), c));
            }
        }
        for (pool, n) in idle {
            adv.notes.push(format!(
                "NodePool {pool}: no pod of the workload can use it, so its {n} candidate changes were left out"
            ));
        }
        adv.singles = kept.iter().map(|(s, _)| s.clone()).collect();
        for (n, (_, mut c)) in kept.into_iter().enumerate() {
            c.id = format!("e{}", n + 1);
            c.parts = vec![n];
            adv.candidates.push(c);
        }
        Ok(adv)
    }

    /// A candidate with these edits, checked (rejected when unsafe or idle).
    fn make(&self, id: String, parts: Vec<usize>) -> Candidate {
        let edits: Vec<&(Edit, Change)> = parts.iter().map(|&i| &self.singles[i]).collect();
        let mut docs = self.docs.clone();
        for (e, ch) in &edits {
            if let Some(doc) = docs.iter_mut().find(|d| {
                d.get("kind").and_then(Value::as_str) == Some("NodePool")
                    && d.pointer("/metadata/name").and_then(Value::as_str)
                        == Some(e.nodepool.as_str())
            }) {
                apply(doc, ch);
            }
        }
        let mut c = Candidate::new(
            id,
            edits.iter().map(|(e, _)| e.clone()).collect(),
            Status::NotRun,
            parts,
        );
        let reject = |c: &mut Candidate, why: String| {
            c.status = Status::Rejected;
            c.note = Some(why);
        };
        let text =
            match crate::yamlpatch::patch(&self.pools_path, &self.pools_text, &self.docs, &docs) {
                Ok(t) => t,
                Err(e) => {
                    reject(&mut c, e);
                    return c;
                }
            };
        let mut warnings = Vec::new();
        let pools = match crate::nodepools(&self.pools_path, &text, &mut warnings) {
            Ok(p) => p,
            Err(e) => {
                reject(&mut c, format!("the edited NodePools do not read: {e}"));
                return c;
            }
        };
        c.diff = diff_text(&self.pools_path, &self.pools_text, &text);
        c.text = text;
        let without = without_place(&pools, &self.catalog, &self.shapes);
        c.pods_without_place = without.iter().map(|&i| self.shapes[i].1).sum();
        if let Some(&lost) = without.difference(&self.baseline_without_place).next() {
            let n: u64 = without
                .difference(&self.baseline_without_place)
                .map(|&i| self.shapes[i].1)
                .sum();
            reject(
                &mut c,
                format!(
                    "unsafe: leaves {n} pods with no NodePool and instance type that can hold them (e.g. {})",
                    self.shapes[lost].0.id
                ),
            );
            return c;
        }
        // An edit of a NodePool no pod can use, before or after, changes nothing.
        for (e, _) in edits {
            let before = self.pools.iter().find(|p| p.name == e.nodepool);
            let after = pools.iter().find(|p| p.name == e.nodepool);
            let used_before = before.is_some_and(|p| self.used_pools.contains(&p.name));
            let used_after = || {
                after.is_some_and(|p| {
                    without_place(std::slice::from_ref(p), &self.catalog, &self.shapes).len()
                        < self.shapes.len()
                })
            };
            if !used_before && !used_after() {
                reject(&mut c, IDLE.to_string());
                return c;
            }
        }
        c
    }

    fn remaining(&self) -> usize {
        self.budget.saturating_sub(self.used)
    }

    fn batch(&mut self, jobs: Vec<(usize, u64)>) -> Option<Plan> {
        if jobs.is_empty() {
            return None;
        }
        let mut files = self.files.clone();
        let mut runs = Vec::new();
        for (ci, seed) in jobs {
            let c = &self.candidates[ci];
            let path = format!("{}#{}", self.pools_path, c.id);
            files.insert(path.clone(), c.text.clone());
            let id = format!("{}__s{seed}", c.id);
            self.in_flight.insert(id.clone(), (ci, seed));
            runs.push(Run {
                id,
                scenario: self.scenario.clone(),
                nodepools: path,
                settings: vec![],
                strategy: self.strategy.clone(),
                seed,
            });
        }
        self.used += runs.len();
        Some(Plan {
            name: format!("advise-{}", self.name),
            runs,
            files,
        })
    }

    /// The next replays to run, as a plan (its files hold every text they read); `None`
    /// when the search is over, and also while the records of the last batch have not
    /// been fed back (each batch depends on the results of the one before).
    pub fn next_batch(&mut self) -> Option<Plan> {
        if !self.in_flight.is_empty() {
            return None;
        }
        loop {
            match self.stage {
                Stage::Start => {
                    self.stage = Stage::Confirm;
                    let mut jobs: Vec<(usize, u64)> = self.seeds.iter().map(|&s| (0, s)).collect();
                    let room = self.budget - jobs.len();
                    let live: Vec<usize> = (1..self.candidates.len())
                        .filter(|&i| self.candidates[i].status == Status::NotRun)
                        .collect();
                    if live.len() > room {
                        self.notes.push(format!(
                            "the budget covers {room} of the {} single changes; the rest were not replayed",
                            live.len()
                        ));
                    }
                    jobs.extend(live.iter().take(room).map(|&i| (i, self.seeds[0])));
                    return self.batch(jobs);
                }
                Stage::Confirm => {
                    // A race: each round adds the next seed to the changes still doing
                    // better on the mean of their seeds so far.
                    self.stage = Stage::Race(1);
                    self.racing = self.promising(1..self.candidates.len());
                    let k = self.seeds.len();
                    let savers = self
                        .racing
                        .iter()
                        .filter(|&&i| self.screen_cost_diff(i) < 0.0)
                        .count();
                    self.reserve = k * savers.saturating_sub(1).min(2);
                }
                Stage::Race(round) => {
                    if round >= self.seeds.len() || self.racing.is_empty() {
                        self.stage = Stage::Combine;
                        continue;
                    }
                    self.stage = Stage::Race(round + 1);
                    if round > 1 {
                        self.racing = self.promising(self.racing.clone());
                    }
                    let room = self.remaining().saturating_sub(self.reserve);
                    let n = self.racing.len().min(room.max(1).min(self.remaining()));
                    if n < self.racing.len() {
                        self.notes.push(format!(
                            "the budget took {n} of the {} changes still doing better to seed {}",
                            self.racing.len(),
                            self.seeds[round]
                        ));
                        self.racing.truncate(n);
                    }
                    let seed = self.seeds[round];
                    let jobs: Vec<(usize, u64)> = self.racing.iter().map(|&i| (i, seed)).collect();
                    if let Some(p) = self.batch(jobs) {
                        return Some(p);
                    }
                }
                Stage::Combine => {
                    if self.best.is_none() {
                        let helpful = self.helpful();
                        let Some((&first, rest)) = helpful.split_first() else {
                            self.stage = Stage::Done;
                            continue;
                        };
                        self.best = Some(first);
                        self.queue = rest.to_vec();
                    }
                    let k = self.seeds.len();
                    loop {
                        if self.remaining() < k || self.queue.is_empty() {
                            self.stage = Stage::Done;
                            break;
                        }
                        let next = self.queue.remove(0);
                        let best = self.best.unwrap_or(0);
                        let fields: BTreeSet<(String, String)> = self.candidates[best]
                            .edits
                            .iter()
                            .map(|e| (e.nodepool.clone(), e.field.clone()))
                            .collect();
                        let e = &self.singles[next - 1].0;
                        if fields.contains(&(e.nodepool.clone(), e.field.clone())) {
                            continue;
                        }
                        let mut parts = self.candidates[best].parts.clone();
                        parts.push(next - 1);
                        self.combos += 1;
                        let id = format!("c{}", self.combos);
                        let c = self.make(id, parts);
                        let rejected = c.status == Status::Rejected;
                        self.candidates.push(c);
                        if rejected {
                            continue;
                        }
                        let ci = self.candidates.len() - 1;
                        let jobs = self.seeds.iter().map(|&s| (ci, s)).collect();
                        return self.batch(jobs);
                    }
                }
                Stage::Done => return None,
            }
        }
    }

    /// The records of a batch's runs (by run id).
    pub fn feed(&mut self, records: Vec<(String, Record)>) -> Result<(), LabError> {
        for (id, rec) in records {
            let Some((ci, seed)) = self.in_flight.remove(&id) else {
                return Err(LabError::Input(format!(
                    "{id}: not a replay this advisor asked for"
                )));
            };
            self.candidates[ci].runs.insert(seed, rec.summary);
        }
        if !self.in_flight.is_empty() {
            return Err(LabError::Input(format!(
                "{} replays of the batch have no record (e.g. {})",
                self.in_flight.len(),
                self.in_flight
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or("")
            )));
        }
        // A combination just replayed: keep it if it costs less than the best so far.
        if self.stage == Stage::Combine {
            if let (Some(best), Some(last)) = (self.best, self.candidates.len().checked_sub(1)) {
                if last != best
                    && self.candidates[last].parts.len() > 1
                    && self.candidates[last].runs.len() == self.seeds.len()
                    && self.full_mean_cost(last) < self.full_mean_cost(best)
                    && self.candidates[last].pods_without_place
                        <= self.candidates[best].pods_without_place
                    && self.pending_ok(last).is_ok()
                {
                    self.best = Some(last);
                }
            }
        }
        Ok(())
    }

    fn screen_cost_diff(&self, i: usize) -> f64 {
        let s0 = self.seeds[0];
        match (
            self.candidates[i].runs.get(&s0),
            self.candidates[0].runs.get(&s0),
        ) {
            (Some(c), Some(b)) => c.cost.usd() - b.cost.usd(),
            _ => f64::INFINITY,
        }
    }

    /// Single edits screened on the first seed that did better on something, most
    /// promising first.
    fn promising(&self, among: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let base_without = self.candidates[0].pods_without_place;
        let mut out: Vec<(u64, f64, f64, usize)> = Vec::new();
        for i in among {
            let c = &self.candidates[i];
            // Means over the seeds the candidate has, the current NodePools' on the same.
            let pairs: Vec<(Metrics, Metrics)> = paired(&c.runs, &self.candidates[0].runs)
                .map(|(_, r, b)| (metrics_of(r), metrics_of(b)))
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len() as f64;
            let mean = |f: fn(&Metrics) -> f64, side: usize| {
                pairs
                    .iter()
                    .map(|p| f(if side == 0 { &p.0 } else { &p.1 }))
                    .sum::<f64>()
                    / n
            };
            let (cost, base_cost) = (mean(|m| m.cost_usd, 0), mean(|m| m.cost_usd, 1));
            let (p99, base_p99) = (mean(|m| m.pending_p99_s, 0), mean(|m| m.pending_p99_s, 1));
            let (ev, base_ev) = (
                mean(|m| m.evictions_per_node_hour, 0),
                mean(|m| m.evictions_per_node_hour, 1),
            );
            let better = c.pods_without_place < base_without
                || cost < base_cost * (1.0 - SCREEN_COST)
                || p99 < base_p99 - (base_p99 * SCREEN_P99).max(1.0)
                || ev < base_ev * (1.0 - SCREEN_EVICTIONS);
            if better {
                out.push((c.pods_without_place, cost - base_cost, p99, i));
            }
        }
        out.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });
        out.into_iter().map(|x| x.3).collect()
    }

    fn full_mean_cost(&self, i: usize) -> f64 {
        let r = &self.candidates[i].runs;
        if r.is_empty() {
            return f64::INFINITY;
        }
        r.values().map(|s| s.cost.usd()).sum::<f64>() / r.len() as f64
    }

    /// Single edits replayed on every seed that save money (or give pods a place), the
    /// best first: where the greedy combination starts and what it adds.
    fn helpful(&self) -> Vec<usize> {
        let k = self.seeds.len();
        let base_without = self.candidates[0].pods_without_place;
        // A saving beyond the noise: the paired differences' 95% interval below zero
        // (with one seed, any saving).
        let saves = |i: usize| {
            let d: Vec<f64> = paired(&self.candidates[i].runs, &self.candidates[0].runs)
                .map(|(_, r, b)| r.cost.usd() - b.cost.usd())
                .collect();
            Interval::of(&d).is_some_and(|x| x.ci95_high < 0.0)
        };
        let mut out: Vec<(u64, f64, usize)> = (1..=self.singles.len())
            .filter(|&i| self.candidates[i].runs.len() == k && self.pending_ok(i).is_ok())
            .map(|i| {
                (
                    self.candidates[i].pods_without_place,
                    self.full_mean_cost(i),
                    i,
                )
            })
            .filter(|&(w, _, i)| w < base_without || saves(i))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        out.into_iter().map(|x| x.2).collect()
    }

    /// Does candidate `i` leave no more pods pending at the end than the current
    /// NodePools, seed by seed (with a margin for pods that arrive just before the end)?
    fn pending_ok(&self, i: usize) -> Result<(), String> {
        for (seed, s, b) in paired(&self.candidates[i].runs, &self.candidates[0].runs) {
            let margin = (b.pods_total / 200).max(2);
            if s.pods_unschedulable > b.pods_unschedulable + margin {
                return Err(format!(
                    "leaves more pods pending at the end of the replay (seed {seed}: {} against {})",
                    s.pods_unschedulable, b.pods_unschedulable
                ));
            }
        }
        Ok(())
    }

    /// Replays spent so far.
    pub fn replays(&self) -> usize {
        self.used
    }

    /// The report of what was replayed so far (the final one once [`Advisor::next_batch`]
    /// gives `None`).
    pub fn report(&self) -> Report {
        let k = self.seeds.len();
        let mut cands = self.candidates.clone();
        let base_runs = &self.candidates[0].runs;
        for c in cands.iter_mut() {
            c.seeds = c.runs.keys().copied().collect();
            if c.runs.is_empty() {
                continue;
            }
            let ms: Vec<Metrics> = c.runs.values().map(metrics_of).collect();
            let mean = |f: fn(&Metrics) -> f64| ms.iter().map(f).sum::<f64>() / ms.len() as f64;
            c.mean = Some(Metrics {
                cost_usd: mean(|m| m.cost_usd),
                pending_p99_s: mean(|m| m.pending_p99_s),
                evictions_per_node_hour: mean(|m| m.evictions_per_node_hour),
                spot_share: mean(|m| m.spot_share),
                pods_unschedulable: mean(|m| m.pods_unschedulable),
            });
            if c.status != Status::Current {
                c.status = if c.runs.len() == k {
                    Status::Evaluated
                } else {
                    Status::Screened
                };
                let pairs: Vec<(Metrics, Metrics)> = paired(&c.runs, base_runs)
                    .map(|(_, r, b)| (metrics_of(r), metrics_of(b)))
                    .collect();
                let d = |f: &dyn Fn(&Metrics, &Metrics) -> f64| {
                    Interval::of(&pairs.iter().map(|(a, b)| f(a, b)).collect::<Vec<_>>())
                };
                if let (Some(cost), Some(rel), Some(p99), Some(ev), Some(spot)) = (
                    d(&|a, b| a.cost_usd - b.cost_usd),
                    d(&|a, b| {
                        if b.cost_usd > 0.0 {
                            a.cost_usd / b.cost_usd - 1.0
                        } else {
                            0.0
                        }
                    }),
                    d(&|a, b| a.pending_p99_s - b.pending_p99_s),
                    d(&|a, b| a.evictions_per_node_hour - b.evictions_per_node_hour),
                    d(&|a, b| a.spot_share - b.spot_share),
                ) {
                    c.difference = Some(Differences {
                        cost_usd: cost,
                        cost_relative: rel,
                        pending_p99_s: p99,
                        evictions_per_node_hour: ev,
                        spot_share: spot,
                    });
                }
            }
        }
        // The Pareto front among the candidates replayed on every seed.
        let full: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].runs.len() == k && cands[i].mean.is_some())
            .collect();
        let floor = full
            .iter()
            .map(|&i| cands[i].pods_without_place)
            .min()
            .unwrap_or(0);
        let point = |i: usize| {
            let m = cands[i].mean.unwrap_or_default();
            [m.cost_usd, m.pending_p99_s, m.evictions_per_node_hour]
        };
        let front: Vec<bool> = full
            .iter()
            .map(|&i| {
                let p = point(i);
                let dominated = full.iter().any(|&j| {
                    let q = point(j);
                    j != i
                        && cands[j].pods_without_place <= cands[i].pods_without_place
                        && q.iter().zip(&p).all(|(a, b)| a <= b)
                        && q.iter().zip(&p).any(|(a, b)| a < b)
                });
                !dominated && cands[i].pods_without_place == floor
            })
            .collect();
        for (&i, on) in full.iter().zip(front) {
            cands[i].pareto = on;
        }
        let mut recommended = Vec::new();
        let mut trade_offs = Vec::new();
        for &i in &full {
            if i == 0 || !cands[i].pareto {
                continue;
            }
            if let Err(why) = self.pending_ok(i) {
                cands[i].note = Some(why);
                continue;
            }
            let fewer_without = cands[i].pods_without_place < cands[0].pods_without_place;
            // A change that gives pods a place runs them and pays for them (and, on
            // spot, sees them evicted): it is recommended for that alone.
            let (better, worse) = match cands[i].difference {
                Some(d) => {
                    let ds = [d.cost_usd, d.pending_p99_s, d.evictions_per_node_hour];
                    let judged = if fewer_without { &ds[1..] } else { &ds[..] };
                    (
                        ds.iter().any(|x| x.ci95_high < 0.0),
                        judged.iter().any(|x| x.ci95_low > 0.0),
                    )
                }
                None => (false, false),
            };
            if fewer_without || (better && !worse) {
                cands[i].recommended = true;
                recommended.push(i);
            } else if better || fewer_without {
                cands[i].trade_off = true;
                trade_offs.push(i);
            } else {
                cands[i].note = Some(
                    "on the front, but no better than the current NodePools beyond the noise"
                        .into(),
                );
            }
        }
        let by_cost = |v: &mut Vec<usize>| {
            v.sort_by(|&a, &b| {
                let cost = |i: usize| cands[i].mean.unwrap_or_default().cost_usd;
                cost(a).total_cmp(&cost(b)).then(a.cmp(&b))
            })
        };
        by_cost(&mut recommended);
        by_cost(&mut trade_offs);
        Report {
            workload: self.name.clone(),
            nodepools_file: self.pools_path.clone(),
            strategy: self.strategy.clone(),
            seeds: self.seeds.clone(),
            budget: self.budget,
            replays: self.used,
            recommended: recommended.iter().map(|&i| cands[i].id.clone()).collect(),
            trade_offs: trade_offs.iter().map(|&i| cands[i].id.clone()).collect(),
            candidates: cands,
            notes: self.notes.clone(),
        }
    }
}

fn signed(x: f64, digits: usize) -> String {
    format!("{x:+.digits$}")
}

/// An interval as text: `+1.2 [+0.3, +2.1]` (the mean alone for one seed), scaled.
pub fn interval(i: &Interval, scale: f64, digits: usize, unit: &str) -> String {
    if i.n < 2 {
        return format!("{}{unit}", signed(i.mean * scale, digits));
    }
    format!(
        "{}{unit} [{}, {}]",
        signed(i.mean * scale, digits),
        signed(i.ci95_low * scale, digits),
        signed(i.ci95_high * scale, digits)
    )
}

fn status(c: &Candidate) -> String {
    let s = match c.status {
        Status::Current => "current",
        Status::Evaluated => "evaluated",
        Status::Screened => "screened",
        Status::NotRun => "not run (budget)",
        Status::Rejected => "rejected",
    };
    let mut out = s.to_string();
    if c.recommended {
        out = "RECOMMENDED".into();
    } else if c.trade_off {
        out = "trade-off".into();
    } else if c.pareto && c.status != Status::Current {
        out.push_str(", on the front");
    }
    out
}

/// A candidate's edits in words.
pub fn change(c: &Candidate) -> String {
    if c.edits.is_empty() {
        return "(the NodePools as written)".into();
    }
    c.edits
        .iter()
        .map(|e| e.description.clone())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The candidates as a table, the current NodePools first: headers, then rows.
pub fn table(r: &Report) -> (Vec<String>, Vec<Vec<String>>) {
    let headers: Vec<String> = [
        "id",
        "change",
        "seeds",
        "cost $",
        "cost change (95% CI)",
        "p99 pending s",
        "p99 change s (95% CI)",
        "evictions/node-h change",
        "spot share change",
        "pods without a place",
        "status",
        "note",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    let mut rows = Vec::new();
    for c in &r.candidates {
        let m = c.mean;
        let d = c.difference;
        rows.push(vec![
            c.id.clone(),
            change(c),
            c.seeds.len().to_string(),
            m.map_or(String::new(), |m| format!("{:.2}", m.cost_usd)),
            d.map_or(String::new(), |d| {
                format!(
                    "{} ({})",
                    interval(&d.cost_relative, 100.0, 1, "%"),
                    interval(&d.cost_usd, 1.0, 2, " $")
                )
            }),
            m.map_or(String::new(), |m| format!("{:.1}", m.pending_p99_s)),
            d.map_or(String::new(), |d| interval(&d.pending_p99_s, 1.0, 1, "")),
            d.map_or(String::new(), |d| {
                interval(&d.evictions_per_node_hour, 1.0, 3, "")
            }),
            d.map_or(String::new(), |d| interval(&d.spot_share, 100.0, 1, " pts")),
            c.pods_without_place.to_string(),
            status(c),
            c.note.clone().unwrap_or_default(),
        ]);
    }
    (headers, rows)
}

/// The advisor's page: the Pareto chart, the table and the diffs of the recommended
/// changes and trade-offs, as one self-contained HTML document (`command` is shown as
/// what produced it).
pub fn html(r: &Report, command: &str) -> Result<String, LabError> {
    use nodepack_report::{AdviceInput, Point, PointKind};
    let (headers, rows) = table(r);
    let points = r
        .candidates
        .iter()
        .filter(|c| c.seeds.len() == r.seeds.len())
        .filter_map(|c| {
            c.mean.map(|m| Point {
                label: c.id.clone(),
                cost: m.cost_usd,
                p99: m.pending_p99_s,
                evictions: m.evictions_per_node_hour,
                kind: if c.status == Status::Current {
                    PointKind::Current
                } else if c.recommended {
                    PointKind::Recommended
                } else if c.trade_off {
                    PointKind::TradeOff
                } else if c.pareto {
                    PointKind::Front
                } else {
                    PointKind::Other
                },
            })
        })
        .collect();
    let diffs = r
        .recommended
        .iter()
        .map(|id| (id, "recommended"))
        .chain(r.trade_offs.iter().map(|id| (id, "trade-off")))
        .filter_map(|(id, what)| r.candidate(id).map(|c| (c, what)))
        .map(|(c, what)| (format!("{} ({what}): {}", c.id, change(c)), c.diff.clone()))
        .collect();
    nodepack_report::advice_html(&AdviceInput {
        title: r.workload.clone(),
        meta: vec![
            format!(
                "NodePool file {}, strategy {}, seeds {:?}, {} of {} replays spent",
                r.nodepools_file, r.strategy, r.seeds, r.replays, r.budget
            ),
            format!("produced by {command}"),
        ],
        headers,
        rows,
        points,
        diffs,
        notes: r.notes.clone(),
    })
    .map_err(|e| LabError::Input(e.to_string()))
}

/// Run the advisor on `workers` local threads; `progress(done, budget)` after each batch.
pub fn advise(
    files: &dyn Files,
    request: &Request,
    workers: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, LabError> {
    let mut adv = Advisor::new(files, request)?;
    while let Some(plan) = adv.next_batch() {
        let records = crate::sweep::run_all(&plan, workers)?;
        adv.feed(records)?;
        progress(adv.replays(), request.budget);
    }
    Ok(adv.report())
}
