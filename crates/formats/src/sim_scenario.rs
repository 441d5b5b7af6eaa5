//! Simulation scenario files: what `nodepack replay` and `nodepack compare` run.
//!
//! ```yaml
//! name: web-diurnal
//! purpose: A web tier following a daily cycle.
//! catalog: aws/us-east-1             # or a catalog file
//! nodepools: nodepools.yaml          # a path, or an inline list of NodePool manifests
//! pdbs: budgets.yaml                 # optional: PodDisruptionBudgets, path or inline list
//! horizon: 48h                       # Go duration, or seconds
//! seed: 1
//! cloud: {ice_rate: 0.02}            # the cloud model (every field optional)
//! feature_gates: {spot_to_spot_consolidation: false}   # Karpenter's; off by default
//! hedge: {pending_value: 2}          # $ an hour of a pod's pending time (nodepack's spares)
//! workload:
//!   trace: web.jsonl                 # a trace file, or:
//!   generate: {services: [...], jobs: [...]}
//! ```
//! Paths are relative to the scenario file.

use crate::docs::{load_documents, typed};
use crate::error::{unique_name, Ctx, FormatError, Warning};
use nodepack_model::Millis;
use nodepack_sim::config::{
    check_pending_value, CloudConfig, Generator, Settings, MAX_LB_SAMPLES, MAX_REPLICAS,
};
use serde::Deserialize;
use serde_json::Value;

/// Where the workload comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkloadSource {
    /// A trace file (path relative to the scenario).
    Trace(String),
    /// A generator.
    Generate(Generator),
}

/// Where manifests (node pools, disruption budgets) come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ManifestSource {
    /// A file (path relative to the scenario).
    Path(String),
    /// Inline manifests, as the text of a JSON `List` to give to
    /// [`crate::read_nodepools`] or [`crate::read_workload`].
    Inline(String),
}

impl ManifestSource {
    fn from_value(ctx: &Ctx, v: &Value, what: &str) -> Result<Self, FormatError> {
        match v {
            Value::String(p) => Ok(ManifestSource::Path(p.clone())),
            Value::Array(items) => Ok(ManifestSource::Inline(
                serde_json::json!({"kind": "List", "items": items}).to_string(),
            )),
            v => Err(ctx.error_json(
                v,
                format!("expected a file path or a list of {what} manifests"),
            )),
        }
    }
}

/// A simulation scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct SimScenario {
    /// Name.
    pub name: String,
    /// One line saying what it shows.
    pub purpose: String,
    /// Catalog: `aws/us-east-1` or a path.
    pub catalog: Option<String>,
    /// Node pools.
    pub nodepools: ManifestSource,
    /// Pod disruption budgets (besides those of generated services).
    pub pdbs: Option<ManifestSource>,
    /// Horizon, seed, cloud model.
    pub settings: Settings,
    /// The workload.
    pub workload: WorkloadSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    purpose: String,
    #[serde(default)]
    catalog: Option<String>,
    nodepools: Value,
    #[serde(default)]
    pdbs: Option<Value>,
    horizon: Value,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    cloud: Option<Value>,
    #[serde(default)]
    lb_samples: Option<u32>,
    #[serde(default)]
    series_points: Option<u32>,
    #[serde(default)]
    feature_gates: Option<FeatureGates>,
    #[serde(default)]
    hedge: Option<Hedge>,
    workload: RawWorkload,
}

/// nodepack's launch hedge, as a scenario sets it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hedge {
    /// Dollars an hour of one pod's pending time is worth.
    #[serde(default)]
    pending_value: Option<f64>,
}

/// Karpenter feature gates a scenario sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureGates {
    #[serde(default)]
    spot_to_spot_consolidation: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    #[serde(default)]
    trace: Option<String>,
    #[serde(default)]
    generate: Option<Value>,
}

/// Does this text look like a simulation scenario (it has a `workload`)?
pub fn is_sim_scenario(file: &str, text: &str) -> bool {
    load_documents(file, text)
        .ok()
        .and_then(|d| d.first().map(|d| d.value.get("workload").is_some()))
        .unwrap_or(false)
}

/// A horizon: a Go duration (`48h`, `90m`) or a number of seconds.
fn horizon(ctx: &Ctx, v: &Value) -> Result<Millis, FormatError> {
    let h = match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Millis::from_secs_f64),
        Value::String(s) => crate::nodepool::duration(ctx, s)?,
        _ => None,
    };
    match h {
        Some(h) if h.0 > 0 && h <= Millis::from_mins(60 * 24 * 366) => Ok(h),
        _ => Err(ctx.error_json(
            v,
            "expected a positive duration of at most a year (e.g. 48h, or seconds)",
        )),
    }
}

/// A generator's counts and durations within their ceilings (`MAX_REPLICAS` pods per
/// service or burst; times finite, non-negative and within a year; a diurnal period of
/// more than zero hours and a trough no higher than the peak).
fn check_generator(ctx: &Ctx, g: &Generator) -> Result<(), FormatError> {
    const YEAR: Millis = Millis(366 * 86_400_000);
    let max = MAX_REPLICAS;
    let time = |v: Millis, lo: Millis| (lo..=YEAR).contains(&v);
    let secs = |v: Millis| v.secs_f64().to_string();
    let count = |c: u32| c <= max;
    let mut names = std::collections::BTreeMap::new();
    for (i, s) in g.services.iter().enumerate() {
        let sctx = ctx.field("services").index(i);
        unique_name(&mut names, &sctx, "services", &s.name, i)?;
        if s.replicas == 0 && s.diurnal.is_none() && s.steps.is_empty() {
            return Err(sctx.error(Some(&s.name), "needs replicas, diurnal or steps"));
        }
        if !count(s.replicas) {
            return Err(sctx
                .field("replicas")
                .error(Some(&s.replicas.to_string()), format!("at most {max}")));
        }
        if let Some(d) = &s.diurnal {
            let dctx = sctx.field("diurnal");
            if !(d.min <= d.max && count(d.max)) {
                return Err(dctx.error(
                    Some(&format!("min {} max {}", d.min, d.max)),
                    format!("needs min <= max <= {max}"),
                ));
            }
            if !time(d.period, Millis(1)) {
                return Err(dctx.field("period_h").error(
                    Some(&(d.period.0 as f64 / 3_600_000.0).to_string()),
                    "needs 0 < period_h <= a year",
                ));
            }
            if !time(d.step, Millis::from_secs(1)) {
                return Err(dctx
                    .field("step_s")
                    .error(Some(&secs(d.step)), "needs 1 <= step_s <= a year"));
            }
        }
        for (k, (at, n)) in s.steps.iter().enumerate() {
            if !(time(*at, Millis(0)) && count(*n)) {
                return Err(sctx.field("steps").index(k).error(
                    Some(&format!("[{}, {n}]", secs(*at))),
                    format!("needs [seconds from 0 to a year, replicas up to {max}]"),
                ));
            }
        }
    }
    let mut names = std::collections::BTreeMap::new();
    for (i, j) in g.jobs.iter().enumerate() {
        let jctx = ctx.field("jobs").index(i);
        unique_name(&mut names, &jctx, "jobs", &j.name, i)?;
        let (lo, hi) = j.run;
        if !(time(lo, Millis(0)) && time(hi, lo) && time(j.every, Millis::from_secs(1))) {
            return Err(jctx.error(
                Some(&j.name),
                "needs 1 <= every_s and 0 <= run_s[0] <= run_s[1], each at most a year",
            ));
        }
        if !time(j.start, Millis(0)) {
            return Err(jctx
                .field("start_s")
                .error(Some(&secs(j.start)), "needs 0 <= start_s <= a year"));
        }
        if !count(j.count) {
            return Err(jctx
                .field("count")
                .error(Some(&j.count.to_string()), format!("at most {max}")));
        }
    }
    Ok(())
}

/// Read a simulation scenario.
pub fn read_sim_scenario(
    file: &str,
    text: &str,
) -> Result<(SimScenario, Vec<Warning>), FormatError> {
    let docs = load_documents(file, text)?;
    let [doc] = docs.as_slice() else {
        return Err(Ctx::file(file).error(
            None,
            format!(
                "a scenario file holds exactly one document, found {}",
                docs.len()
            ),
        ));
    };
    let ctx = &doc.ctx;
    let (raw, mut warnings): (Raw, _) = typed(ctx, &doc.value)?;
    let mut settings = Settings::new(horizon(&ctx.field("horizon"), &raw.horizon)?, raw.seed);
    if let Some(c) = &raw.cloud {
        let (cloud, w): (CloudConfig, _) = typed(&ctx.field("cloud"), c)?;
        warnings.extend(w);
        cloud
            .validate()
            .map_err(|m| ctx.field("cloud").error(None, m.to_string()))?;
        settings.cloud = cloud;
    }
    if let Some(n) = raw.lb_samples {
        if !(1..=MAX_LB_SAMPLES).contains(&n) {
            return Err(ctx.field("lb_samples").error(
                Some(&n.to_string()),
                format!("must be between 1 and {MAX_LB_SAMPLES} (one LP each)"),
            ));
        }
        settings.lb_samples = n;
    }
    if let Some(g) = &raw.feature_gates {
        settings.spot_to_spot_consolidation = g.spot_to_spot_consolidation;
    }
    if let Some(v) = raw.hedge.as_ref().and_then(|h| h.pending_value) {
        settings.pending_value = check_pending_value(v).map_err(|m| {
            ctx.field("hedge")
                .field("pending_value")
                .error(Some(&v.to_string()), m)
        })?;
    }
    if let Some(n) = raw.series_points {
        if !(1..=100_000).contains(&n) {
            return Err(ctx
                .field("series_points")
                .error(Some(&n.to_string()), "must be between 1 and 100000"));
        }
        settings.series_points = n;
    }
    let nodepools =
        ManifestSource::from_value(&ctx.field("nodepools"), &raw.nodepools, "NodePool")?;
    let pdbs = raw
        .pdbs
        .as_ref()
        .map(|v| ManifestSource::from_value(&ctx.field("pdbs"), v, "PodDisruptionBudget"))
        .transpose()?;
    let wctx = ctx.field("workload");
    let workload = match (raw.workload.trace, raw.workload.generate) {
        (Some(t), None) => WorkloadSource::Trace(t),
        (None, Some(g)) => {
            let (g, w): (Generator, _) = typed(&wctx.field("generate"), &g)?;
            warnings.extend(w);
            check_generator(&wctx.field("generate"), &g)?;
            WorkloadSource::Generate(g)
        }
        _ => {
            return Err(wctx.error(None, "needs exactly one of trace or generate"));
        }
    };
    Ok((
        SimScenario {
            name: raw.name,
            purpose: raw.purpose,
            catalog: raw.catalog,
            nodepools,
            pdbs,
            settings,
            workload,
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "name: a\npurpose: b\nnodepools: p.yaml\nhorizon: 2h\nseed: 3\ncloud: {ice_rate: 0.1}\nworkload:\n  generate:\n    services: [{name: web, cpu_m: 500, memory_mi: 512, replicas: 3}]\n";

    /// Regression: out-of-range settings were accepted (a huge boot time wrapped so
    /// nodes were ready at once; negative billing minimum or start times; a zero
    /// diurnal period; min > max; counts in the billions ran for minutes or aborted).
    fn refused(scenario: &str, path: &str) {
        let e = read_sim_scenario("s.yaml", scenario).unwrap_err();
        assert!(
            e.path.starts_with(path) || e.message.contains(path),
            "{scenario}: {e}"
        );
    }

    #[test]
    fn out_of_range_settings_are_refused_naming_the_field() {
        let base = |cloud: &str, generate: &str| {
            format!("name: a\npurpose: b\nnodepools: p.yaml\nhorizon: 2h\n{cloud}workload:\n  generate: {generate}\n")
        };
        let svc = "{services: [{name: web, cpu_m: 500, memory_mi: 512, replicas: 3}]}";
        for (cloud, field) in [
            (
                "cloud: {boot_max_s: 1e15, boot_tail_max_s: 1e15}\n",
                "cloud.boot_max_s",
            ),
            (
                "cloud: {billing_minimum_s: -1}\n",
                "cloud.billing_minimum_s",
            ),
            ("cloud: {pod_start_s: -1}\n", "cloud.pod_start_s"),
            (
                "cloud: {unavailable_for_s: -5}\n",
                "cloud.unavailable_for_s",
            ),
            ("cloud: {notice_s: 100000}\n", "cloud.notice_s"),
            ("lb_samples: 4294967295\n", "lb_samples"),
            ("hedge: {pending_value: -1}\n", "hedge.pending_value"),
            ("hedge: {pending_value: 1e12}\n", "hedge.pending_value"),
            ("hedge: {pending_value: 2, spares: 3}\n", "spares"),
        ] {
            refused(&base(cloud, svc), field);
        }
        for (generate, field) in [
            ("{services: [{name: w, cpu_m: 1, memory_mi: 1, replicas: 2147483647}]}", "workload.generate.services[0].replicas"),
            ("{services: [{name: w, cpu_m: 1, memory_mi: 1, diurnal: {min: 1, max: 5, period_h: 0}}]}", "workload.generate.services[0].diurnal.period_h"),
            ("{services: [{name: w, cpu_m: 1, memory_mi: 1, diurnal: {min: 9, max: 5}}]}", "workload.generate.services[0].diurnal"),
            ("{services: [{name: w, cpu_m: 1, memory_mi: 1, replicas: 1}, {name: w, cpu_m: 1, memory_mi: 1, replicas: 1}]}", "workload.generate.services[1].name"),
            ("{jobs: [{name: j, cpu_m: 1, memory_mi: 1, every_s: 60, count: 4000000000, run_s: [1, 2]}]}", "workload.generate.jobs[0]"),
            ("{jobs: [{name: j, cpu_m: 1, memory_mi: 1, every_s: 60, start_s: -10, count: 1, run_s: [1, 2]}]}", "workload.generate.jobs[0].start_s"),
        ] {
            refused(&base("", generate), field);
        }
    }

    #[test]
    fn reads_settings_and_generator() {
        let (s, w) = read_sim_scenario("s.yaml", OK).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.settings.horizon, Millis::from_mins(120));
        assert_eq!(s.settings.seed, 3);
        assert_eq!(s.settings.cloud.ice_rate, 0.1);
        assert_eq!(s.nodepools, ManifestSource::Path("p.yaml".into()));
        assert!(matches!(s.workload, WorkloadSource::Generate(ref g) if g.services.len() == 1));
        assert!(is_sim_scenario("s.yaml", OK));
        assert!(!is_sim_scenario("s.yaml", "name: a\npods: [x]\n"));
        // The value of pending time: the hedge's default unless the scenario sets one.
        assert_eq!(
            s.settings.pending_value,
            nodepack_sim::autoscaler::hedge::PENDING_VALUE
        );
        let t = OK.replace("seed: 3", "seed: 3\nhedge: {pending_value: 4.5}");
        let (s, _) = read_sim_scenario("s.yaml", &t).unwrap();
        assert_eq!(s.settings.pending_value, 4.5);
    }

    #[test]
    fn errors_name_field_and_value() {
        let e = read_sim_scenario("s.yaml", &OK.replace("2h", "2 weeks")).unwrap_err();
        assert_eq!(e.path, "horizon");
        let e =
            read_sim_scenario("s.yaml", &OK.replace("ice_rate: 0.1", "ice_rate: 3")).unwrap_err();
        assert!(e.to_string().contains("cloud.ice_rate"), "{e}");
        let e = read_sim_scenario("s.yaml", &OK.replace("cpu_m: 500", "cpu_m: lots")).unwrap_err();
        assert!(
            e.path.starts_with("workload.generate.services[0]"),
            "{}",
            e.path
        );
        let e = read_sim_scenario("s.yaml", &OK.replace("replicas: 3", "priority: 1")).unwrap_err();
        assert!(e.message.contains("replicas"), "{e}");
        let e = read_sim_scenario("s.yaml", &OK.replace("seed: 3", "seed: 3\ncolour: red"))
            .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn disruption_budgets_by_path_or_inline() {
        let t = OK.replace("nodepools: p.yaml", "nodepools: p.yaml\npdbs: b.yaml");
        let (s, _) = read_sim_scenario("s.yaml", &t).unwrap();
        assert_eq!(s.pdbs, Some(ManifestSource::Path("b.yaml".into())));
        let t = OK.replace(
            "nodepools: p.yaml",
            "nodepools: p.yaml\npdbs:\n  - {kind: PodDisruptionBudget, metadata: {name: w}, spec: {maxUnavailable: 1, selector: {}}}",
        );
        let (s, _) = read_sim_scenario("s.yaml", &t).unwrap();
        let Some(ManifestSource::Inline(text)) = s.pdbs else {
            panic!()
        };
        let w = crate::read_workload("s.yaml", &text).unwrap();
        assert_eq!(w.pdbs[0].name, "w");
        let e = read_sim_scenario(
            "s.yaml",
            &OK.replace("nodepools: p.yaml", "nodepools: p.yaml\npdbs: 3"),
        )
        .unwrap_err();
        assert_eq!(e.path, "pdbs");
        // A generated service's budget.
        let t = OK.replace("replicas: 3}", "replicas: 3, max_unavailable: 25%}");
        let (s, _) = read_sim_scenario("s.yaml", &t).unwrap();
        let WorkloadSource::Generate(g) = s.workload else {
            panic!()
        };
        let b = nodepack_sim::budgets(&g);
        assert_eq!(
            b[0].max_unavailable,
            Some(nodepack_model::IntOrPercent::Percent(25))
        );
    }

    #[test]
    fn inline_nodepools_become_a_list() {
        let t = OK.replace(
            "nodepools: p.yaml",
            "nodepools:\n  - {apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: x}, spec: {template: {spec: {requirements: []}}}}",
        );
        let (s, _) = read_sim_scenario("s.yaml", &t).unwrap();
        let ManifestSource::Inline(text) = s.nodepools else {
            panic!()
        };
        let (pools, _) = crate::read_nodepools("s.yaml", &text).unwrap();
        assert_eq!(pools[0].name, "x");
    }
}
