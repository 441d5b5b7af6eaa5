//! Importers: public trace formats converted to nodepack's native trace (JSON Lines, see
//! [`crate::trace`]).
//!
//! Every importer reads the whole input, converts each row or object it can, and counts
//! the ones it cannot with the reason, so nothing is dropped silently. Each pod it emits
//! is checked by the same reader `replay --trace` uses before it is written.

mod alibaba;
mod google;
mod kubectl;
mod simkube;

use crate::docs::Document;
use crate::error::{Ctx, FormatError};
use nodepack_model::Millis;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub use google::GoogleScale;

/// The formats `nodepack import` reads.
pub const FORMATS: [&str; 4] = ["alibaba-gpu-2023", "simkube", "google-2019", "kubectl"];

/// Options of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// How Google 2019's normalized resource units map to real ones.
    pub google: GoogleScale,
}

/// What an import did: rows read, converted, skipped (by reason) and adjusted (by note).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Input format.
    pub format: String,
    /// Rows (CSV lines, JSON objects, list items or trace objects) read.
    pub rows: u64,
    /// Rows converted into trace events.
    pub converted: u64,
    /// Rows that could not be converted, by reason.
    pub skipped: BTreeMap<String, Skipped>,
    /// Rows converted with an adjustment, by what was adjusted.
    pub adjusted: BTreeMap<String, u64>,
    /// Pod arrivals written.
    pub pods: u64,
    /// Deletions written.
    pub deletes: u64,
    /// Assumptions the conversion made (e.g. unit scales), stated once.
    pub assumptions: Vec<String>,
}

/// A reason rows were skipped, with how many and the first example.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Rows skipped for this reason.
    pub count: u64,
    /// The first one: where it was and what it said.
    pub example: String,
}

impl ImportReport {
    fn new(format: &str) -> Self {
        ImportReport {
            format: format.into(),
            ..Default::default()
        }
    }
    /// Count a skipped row.
    fn skip(&mut self, reason: impl Into<String>, example: impl FnOnce() -> String) {
        let e = self.skipped.entry(reason.into()).or_default();
        if e.count == 0 {
            e.example = example();
        }
        e.count += 1;
    }
    /// Count an adjustment of a converted row.
    fn adjust(&mut self, note: impl Into<String>) {
        *self.adjusted.entry(note.into()).or_default() += 1;
    }
    /// Rows skipped in all.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|s| s.count).sum()
    }
}

/// The result: trace lines in time order (stable) and the report.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// `(time, line)`; the line is a native trace event object.
    pub events: Vec<(Millis, Value)>,
    /// What happened.
    pub report: ImportReport,
}

impl Imported {
    fn new(format: &str) -> Self {
        Imported {
            events: Vec::new(),
            report: ImportReport::new(format),
        }
    }

    /// Add a pod arrival after checking that the native reader accepts the pod. A pod
    /// it rejects is counted as skipped with the reader's message (one row, one skip).
    fn arrive(
        &mut self,
        ctx: &Ctx,
        at: Millis,
        pod: Value,
        run_for: Option<Millis>,
    ) -> Result<(), ()> {
        self.try_arrive(ctx, at, pod, run_for).map_err(|e| {
            self.report
                .skip(format!("pod rejected: {}", e.message), || e.to_string());
        })
    }

    /// [`Imported::arrive`] without counting a rejection: the caller decides what the
    /// row it came from counts as.
    fn try_arrive(
        &mut self,
        ctx: &Ctx,
        at: Millis,
        pod: Value,
        run_for: Option<Millis>,
    ) -> Result<(), FormatError> {
        check_pod(ctx, &pod)?;
        self.report.pods += 1;
        self.events.push((
            at,
            serde_json::json!({
                "at": at.secs_f64(),
                "pod": pod,
                "runFor": run_for.map(|r| r.secs_f64()),
            }),
        ));
        Ok(())
    }

    /// Add a deletion of `namespace/name`.
    fn delete(&mut self, at: Millis, id: &str) {
        self.report.deletes += 1;
        self.events
            .push((at, serde_json::json!({"at": at.secs_f64(), "delete": id})));
    }

    /// Sort the events by time, stably, and return them as JSON Lines text.
    pub fn to_jsonl(&mut self) -> String {
        self.events.sort_by_key(|(t, _)| *t);
        let mut s = String::new();
        for (_, v) in &self.events {
            s.push_str(&v.to_string());
            s.push('\n');
        }
        s
    }
}

/// Check a pod object the way the trace reader will read it.
fn check_pod(ctx: &Ctx, pod: &Value) -> Result<(), FormatError> {
    let doc = Document {
        ctx: ctx.clone(),
        value: pod.clone(),
    };
    let mut w = crate::kube::Workload::default();
    crate::kube::read_document(&doc, &mut w)?;
    if w.pending.is_empty() && w.bound.is_empty() {
        return Err(ctx.error(
            None,
            "the pod holds no resources (finished or a daemonset pod)",
        ));
    }
    Ok(())
}

/// Convert `text` (the content of `file`) from `format` (one of [`FORMATS`]).
/// Errors are for input that is not in the format at all (no header, not JSON); a bad
/// row is counted in the report instead.
pub fn import(
    format: &str,
    file: &str,
    text: &str,
    opts: &ImportOptions,
) -> Result<Imported, FormatError> {
    let ctx = Ctx::file(file);
    match format {
        "alibaba-gpu-2023" => alibaba::import(&ctx, text),
        "simkube" => simkube::import(&ctx, text),
        "google-2019" => google::import(&ctx, text, &opts.google),
        "kubectl" => kubectl::import(&ctx, text),
        _ => Err(Ctx::file("--format").error(
            Some(format),
            format!(
                "unknown import format (expected one of {})",
                FORMATS.join(", ")
            ),
        )),
    }
}

/// Seconds (a JSON number or numeric string) to milliseconds; `None` when not a
/// finite number in `0..MAX_TIME_S`.
fn secs(v: f64) -> Option<Millis> {
    (v.is_finite() && (0.0..MAX_TIME_S).contains(&v)).then(|| Millis::from_secs_f64(v))
}

/// The latest time an importer writes, seconds from the trace start: the native trace
/// reader's ceiling. A row beyond it is skipped as "time out of range", never moved.
pub const MAX_TIME_S: f64 = 1e12;

/// Ceilings of what one imported pod may ask for: what the largest node nodepack models
/// can hold ([`crate::catalog::MAX_VCPU`], [`crate::catalog::MAX_MEMORY_MIB`],
/// [`crate::catalog::MAX_EXTENDED`]). A row asking for more is skipped as
/// "`column` out of range", never clamped.
#[derive(Clone, Copy)]
enum Amount {
    Millicores,
    Mib,
    Devices,
}

impl Amount {
    fn max(self) -> f64 {
        use crate::catalog::{MAX_EXTENDED, MAX_MEMORY_MIB, MAX_VCPU};
        match self {
            Amount::Millicores => (MAX_VCPU * 1000) as f64,
            Amount::Mib => MAX_MEMORY_MIB as f64,
            Amount::Devices => MAX_EXTENDED as f64,
        }
    }
    fn unit(self) -> &'static str {
        match self {
            Amount::Millicores => "millicores",
            Amount::Mib => "MiB",
            Amount::Devices => "devices",
        }
    }
}

/// `v` rounded to a whole amount, or why not: `(reason, detail)` naming the column.
fn amount(column: &str, v: f64, kind: Amount) -> Result<u64, (String, String)> {
    if !v.is_finite() || v < 0.0 {
        return Err((
            format!("bad number in {column}"),
            format!("{column} = {v} (expected a number at least 0)"),
        ));
    }
    let r = v.round();
    if r > kind.max() {
        return Err((
            format!("{column} out of range"),
            format!(
                "{column} = {v} {} (above {} {}, the largest node nodepack models)",
                kind.unit(),
                kind.max(),
                kind.unit()
            ),
        ));
    }
    Ok(r as u64)
}

/// A minimal pod object with one container and these requests.
fn pod_object(
    namespace: &str,
    name: &str,
    labels: Value,
    requests: Value,
    extra_spec: Option<(&str, Value)>,
) -> Value {
    let mut spec = serde_json::json!({
        "containers": [{"name": "main", "resources": {"requests": requests.clone(), "limits": limits_for(&requests)}}]
    });
    if let (Some((k, v)), Some(m)) = (extra_spec, spec.as_object_mut()) {
        m.insert(k.to_string(), v);
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    })
}

/// Extended resources (GPUs) must be given as limits too in Kubernetes.
fn limits_for(requests: &Value) -> Value {
    let mut l = serde_json::Map::new();
    if let Some(m) = requests.as_object() {
        for (k, v) in m {
            if k.contains('/') {
                l.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(l)
}

#[cfg(test)]
mod tests;

/// Import `text` as `format` and check what every import promises, for the fuzz targets
/// and the property tests: every row is converted or skipped (`rows = converted +
/// skipped`), the trace written reads back with the native reader, and it holds exactly
/// the arrivals and deletions the report counts. Input that is not in the format at all
/// is fine (an error is an answer); a broken promise is returned as text.
pub fn invariants(format: &str, text: &str) -> Result<(), String> {
    let Ok(mut imp) = import(format, "fuzz", text, &ImportOptions::default()) else {
        return Ok(());
    };
    let r = imp.report.clone();
    if r.rows != r.converted + r.skipped_total() {
        return Err(format!(
            "{format}: rows {} != converted {} + skipped {}: {r:?}",
            r.rows,
            r.converted,
            r.skipped_total()
        ));
    }
    let jsonl = imp.to_jsonl();
    let (events, _) = crate::read_trace("imported.jsonl", &jsonl)
        .map_err(|e| format!("{format}: the imported trace does not read back: {e}"))?;
    if events.len() as u64 != r.pods + r.deletes {
        return Err(format!(
            "{format}: {} events read back, report says {} pods + {} deletes",
            events.len(),
            r.pods,
            r.deletes
        ));
    }
    Ok(())
}
