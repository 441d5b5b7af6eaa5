//! Google cluster-data 2019 (trace format v3) `instance_events`, as the JSON Lines the
//! published download and a BigQuery export give: one event per line with `time`
//! (microseconds from the trace start, as a number or a string), `type` (the event type,
//! as its number or its name), `collection_id`, `instance_index`, `priority` and
//! `resource_request: {cpus, memory}` in normalized units.
//!
//! An instance (task) becomes a pod on `SUBMIT` and is deleted on `FINISH`, `KILL`,
//! `FAIL` or `LOST`; a later `SUBMIT` of the same instance is a new pod (a retry).
//! `QUEUE`, `ENABLE`, `SCHEDULE`, `EVICT` and the `UPDATE_*` events do not change the
//! workload a provisioner sees and are counted as converted without an event. Time 0
//! means "before the trace started"; the largest int64 means "after it ended" (no
//! deletion). The trace normalizes CPU and memory to its largest machine, whose real
//! size Google does not publish: the scale is an explicit, reported assumption
//! ([`GoogleScale`]).

use super::{amount, pod_object, secs, Amount, Imported, MAX_TIME_S};
use crate::error::{Ctx, FormatError};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What one normalized unit of the Google 2019 trace is taken to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoogleScale {
    /// Millicores per 1.0 of `resource_request.cpus`.
    pub cpu_millis: f64,
    /// MiB per 1.0 of `resource_request.memory`.
    pub memory_mib: f64,
}

impl Default for GoogleScale {
    /// 1.0 = 96 vCPUs and 384 GiB, the size of an m5.24xlarge in the embedded AWS
    /// catalog: an assumption (Google does not publish the real size), stated in every
    /// import report and changed with `--google-cpu-millis` / `--google-memory-mib`.
    fn default() -> Self {
        GoogleScale {
            cpu_millis: 96_000.0,
            memory_mib: 393_216.0,
        }
    }
}

/// Event types of trace format v3, by number.
const TYPES: [&str; 11] = [
    "SUBMIT",
    "QUEUE",
    "ENABLE",
    "SCHEDULE",
    "EVICT",
    "FAIL",
    "FINISH",
    "KILL",
    "LOST",
    "UPDATE_PENDING",
    "UPDATE_RUNNING",
];

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn event_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(s) => TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(s))
            .copied()
            .or_else(|| s.parse::<usize>().ok().and_then(|i| TYPES.get(i).copied())),
        Value::Number(n) => n.as_u64().and_then(|i| TYPES.get(i as usize).copied()),
        _ => None,
    }
}

pub(super) fn import(ctx: &Ctx, text: &str, scale: &GoogleScale) -> Result<Imported, FormatError> {
    let mut out = Imported::new("google-2019");
    out.report.assumptions.push(format!(
        "resource_request 1.0 cpus = {} millicores, 1.0 memory = {} MiB (Google does not publish machine sizes; --google-cpu-millis / --google-memory-mib)",
        scale.cpu_millis, scale.memory_mib
    ));
    // Live pods by (collection, index): the pod name; and retries so far.
    let mut live: HashMap<(String, String), String> = HashMap::new();
    let mut tries: HashMap<(String, String), u64> = HashMap::new();
    let mut any = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let lctx = ctx.field(&format!("line {}", i + 1));
        out.report.rows += 1;
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                if !any {
                    return Err(lctx.error(None, format!("not JSON Lines: {e}")));
                }
                out.report
                    .skip("not a JSON object", || format!("{}: {e}", lctx.path));
                continue;
            }
        };
        any = true;
        let Some(t) = v.get("type").and_then(event_type) else {
            out.report.skip("missing or unknown type", || {
                format!(
                    "{}.type = {}",
                    lctx.path,
                    v.get("type").unwrap_or(&Value::Null)
                )
            });
            continue;
        };
        let Some(time) = v.get("time").and_then(number) else {
            out.report.skip("missing or bad time", || {
                format!(
                    "{}.time = {}",
                    lctx.path,
                    v.get("time").unwrap_or(&Value::Null)
                )
            });
            continue;
        };
        let id = |k: &str| match v.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (Some(coll), Some(index)) = (id("collection_id"), id("instance_index")) else {
            out.report
                .skip("missing collection_id or instance_index", || {
                    lctx.path.clone()
                });
            continue;
        };
        // The largest int64 is "after the trace ended".
        if time >= 9.2e18 {
            out.report.converted += 1;
            continue;
        }
        let Some(at) = secs(time / 1e6) else {
            out.report.skip("time out of range", || {
                format!(
                    "{}.time = {time} (microseconds: at least 0, at most {} s)",
                    lctx.path, MAX_TIME_S
                )
            });
            continue;
        };
        let key = (coll.clone(), index.clone());
        match t {
            "SUBMIT" => {
                if live.contains_key(&key) {
                    out.report.adjust("SUBMIT of a live instance ignored");
                    out.report.converted += 1;
                    continue;
                }
                let cpus = v.pointer("/resource_request/cpus").and_then(number);
                let mem = v.pointer("/resource_request/memory").and_then(number);
                let (Some(cpus), Some(mem)) = (cpus, mem) else {
                    out.report
                        .skip("SUBMIT without resource_request", || lctx.path.clone());
                    continue;
                };
                let sized = amount(
                    "resource_request.cpus",
                    cpus * scale.cpu_millis,
                    Amount::Millicores,
                )
                .and_then(|c| {
                    amount(
                        "resource_request.memory",
                        mem * scale.memory_mib,
                        Amount::Mib,
                    )
                    .map(|m| (c, m))
                });
                let (milli, mib) = match sized {
                    Ok((c, m)) => (c.max(1), m.max(1)),
                    Err((reason, detail)) => {
                        out.report.skip(reason, || {
                            format!(
                                "{}: {detail} (cpus = {cpus}, memory = {mem} in normalized units)",
                                lctx.path
                            )
                        });
                        continue;
                    }
                };
                let n = tries.entry(key.clone()).or_insert(0);
                *n += 1;
                let name = if *n == 1 {
                    format!("c{coll}-{index}")
                } else {
                    format!("c{coll}-{index}-try{n}")
                };
                let priority = v.get("priority").and_then(number).unwrap_or(0.0);
                let pod = pod_object(
                    "google",
                    &name,
                    json!({"app": format!("c{coll}"), "google.com/scheduling-class":
                        v.get("scheduling_class").and_then(number).unwrap_or(0.0).to_string()}),
                    json!({"cpu": format!("{milli}m"), "memory": format!("{mib}Mi")}),
                    Some(("priority", json!(priority.round() as i64))),
                );
                if out.arrive(&lctx, at, pod, None).is_ok() {
                    out.report.converted += 1;
                    live.insert(key, name);
                }
            }
            "FINISH" | "KILL" | "FAIL" | "LOST" => {
                match live.remove(&key) {
                    Some(name) => out.delete(at, &format!("google/{name}")),
                    None => out
                        .report
                        .adjust("end of an instance not submitted in the file"),
                }
                out.report.converted += 1;
            }
            _ => out.report.converted += 1,
        }
    }
    Ok(out)
}
