//! SimKube traces (JSON, version 2): `{version, config, events: [{ts, applied_objs,
//! deleted_objs}], pod_lifecycles}`.
//!
//! Times are made relative to the first event. Deployments, ReplicaSets and
//! StatefulSets become `spec.replicas` pods from their template: a replica change adds
//! or deletes pods (the newest first), a template change replaces every pod at that
//! moment (a rolling update collapsed into one step), and a deleted object deletes its
//! pods. A Pod runs from when it is applied until it is deleted. A Job runs
//! `spec.parallelism` pods until deleted. Where SimKube recorded pod lifecycles for an
//! object (`trackLifecycle`), each recorded run becomes a pod arriving at its start and
//! running for its recorded length (or until the end when still running); that is the
//! only way a CronJob's pods appear. Other kinds are counted as skipped.

use super::{secs, Imported};
use crate::error::{Ctx, FormatError};
use nodepack_model::Millis;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Runs recorded for one object: `(start, end)` in trace seconds.
type Runs = Vec<(f64, Option<f64>)>;

/// What a replicated object has running now.
#[derive(Default)]
struct Owned {
    template: String,
    pods: Vec<String>,
    next: u64,
}

/// The kind of a SimKube object key such as `apps/v1.Deployment`.
fn short_kind(k: &str) -> &str {
    k.rsplit('.').next().unwrap_or(k)
}

fn lifecycles(v: Option<&Value>) -> BTreeMap<(String, String), Runs> {
    let mut out = BTreeMap::new();
    let Some(m) = v.and_then(Value::as_object) else {
        return out;
    };
    for (key, per_hash) in m {
        // The key is a JSON array `["v1.Pod", "namespace/name"]` written as a string.
        let Ok((kind, name)) = serde_json::from_str::<(String, String)>(key) else {
            continue;
        };
        let mut runs = Runs::new();
        // Hash order is arbitrary: sort the runs by start.
        for list in per_hash.as_object().into_iter().flat_map(|h| h.values()) {
            for l in list.as_array().into_iter().flatten() {
                if let Some(s) = l.get("Running").and_then(Value::as_f64) {
                    runs.push((s, None));
                } else if let Some([s, e]) = l
                    .get("Finished")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                {
                    if let (Some(s), Some(e)) = (s.as_f64(), e.as_f64()) {
                        runs.push((s, Some(e)));
                    }
                }
            }
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.insert((short_kind(&kind).to_string(), name), runs);
    }
    out
}

/// A pod object from a template (`spec.template` of a workload).
fn from_template(template: &Value, namespace: &str, name: &str) -> Value {
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = spec.as_object_mut() {
        m.remove("nodeName");
    }
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": spec})
}

pub(super) fn import(ctx: &Ctx, text: &str) -> Result<Imported, FormatError> {
    let mut out = Imported::new("simkube");
    let root: Value =
        serde_json::from_str(text).map_err(|e| ctx.error(None, format!("not JSON: {e}")))?;
    let events = root
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ctx.field("events")
                .error(None, "missing: a SimKube trace has an events list")
        })?;
    match root.get("version").and_then(Value::as_u64) {
        Some(2) => {}
        v => out
            .report
            .assumptions
            .push(format!("trace version {v:?} read as version 2")),
    }
    let runs = lifecycles(root.get("pod_lifecycles"));
    let t0 = events
        .iter()
        .filter_map(|e| e.get("ts").and_then(Value::as_f64))
        .fold(f64::INFINITY, f64::min);
    let rel = |t: f64| secs((t - t0).max(0.0)).unwrap_or(Millis(0));
    let mut owned: BTreeMap<(String, String), Owned> = BTreeMap::new();
    let mut bare: HashSet<String> = HashSet::new();
    for (i, ev) in events.iter().enumerate() {
        let ectx = ctx.field(&format!("events[{i}]"));
        let Some(ts) = ev.get("ts").and_then(Value::as_f64) else {
            out.report
                .skip("event without a numeric ts", || ectx.path.clone());
            continue;
        };
        let now = rel(ts);
        for (list, deleted) in [("applied_objs", false), ("deleted_objs", true)] {
            for (j, obj) in ev
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let octx = ectx.field(&format!("{list}[{j}]"));
                out.report.rows += 1;
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) else {
                    out.report
                        .skip("object without metadata.name", || octx.path.clone());
                    continue;
                };
                let key = (kind.to_string(), format!("{ns}/{name}"));
                let recorded = runs.get(&key).filter(|r| !r.is_empty());
                let template = match kind {
                    // A deleted object needs no template (SimKube keeps only its name).
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "Job" | "CronJob" if deleted => {
                        Some(obj)
                    }
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "Job" => {
                        obj.pointer("/spec/template")
                    }
                    "CronJob" => obj.pointer("/spec/jobTemplate/spec/template"),
                    "Pod" => Some(obj),
                    _ => {
                        out.report
                            .skip(format!("kind {kind:?} is not a workload"), || {
                                format!("{}: {ns}/{name}", octx.path)
                            });
                        continue;
                    }
                };
                let Some(template) = template else {
                    out.report
                        .skip(format!("{kind} without a pod template"), || {
                            format!("{}: {ns}/{name}", octx.path)
                        });
                    continue;
                };
                if let Some(runs) = recorded {
                    // Recorded runs say exactly when pods ran: use them, once.
                    if deleted || owned.contains_key(&key) {
                        out.report.converted += 1;
                        continue;
                    }
                    owned.insert(key.clone(), Owned::default());
                    let mut ok = false;
                    for (k, (s, e)) in runs.iter().enumerate() {
                        let pname = format!("{name}-run-{k}");
                        let pod = from_template(template, ns, &pname);
                        let run_for = e.map(|e| Millis::from_secs_f64((e - s).max(0.0)));
                        ok |= out.arrive(&octx, rel(*s), pod, run_for).is_ok();
                    }
                    if ok {
                        out.report.converted += 1;
                    }
                    continue;
                }
                match (kind, deleted) {
                    ("CronJob", _) => {
                        out.report
                            .skip("CronJob without recorded pod lifecycles", || {
                                format!("{}: {ns}/{name}", octx.path)
                            });
                    }
                    ("Pod", false) => {
                        if !bare.insert(key.1.clone()) {
                            out.report.adjust("update of a running pod ignored");
                            out.report.converted += 1;
                            continue;
                        }
                        let pod = from_template(template, ns, name);
                        if out.arrive(&octx, now, pod, None).is_ok() {
                            out.report.converted += 1;
                        } else {
                            bare.remove(&key.1);
                        }
                    }
                    ("Pod", true) => {
                        if bare.remove(&key.1) {
                            out.delete(now, &key.1);
                        }
                        out.report.converted += 1;
                    }
                    (_, true) => {
                        if let Some(o) = owned.remove(&key) {
                            for p in o.pods {
                                out.delete(now, &format!("{ns}/{p}"));
                            }
                        }
                        out.report.converted += 1;
                    }
                    (_, false) => {
                        let field = if kind == "Job" {
                            "parallelism"
                        } else {
                            "replicas"
                        };
                        let want = match obj.pointer(&format!("/spec/{field}")) {
                            None | Some(Value::Null) => 1,
                            Some(v) => match v.as_u64() {
                                Some(n) => n as usize,
                                None => {
                                    out.report.skip(format!("bad spec.{field}"), || {
                                        format!("{}.spec.{field} = {v}", octx.path)
                                    });
                                    continue;
                                }
                            },
                        };
                        let tstr = template.to_string();
                        let o = owned.entry(key.clone()).or_default();
                        if !o.pods.is_empty() && o.template != tstr {
                            out.report
                                .adjust("template change replaces every pod at once");
                            for p in std::mem::take(&mut o.pods) {
                                out.delete(now, &format!("{ns}/{p}"));
                            }
                        }
                        o.template = tstr;
                        let mut failed = false;
                        while o.pods.len() > want {
                            if let Some(p) = o.pods.pop() {
                                out.delete(now, &format!("{ns}/{p}"));
                            }
                        }
                        while o.pods.len() < want && !failed {
                            let pname = format!("{name}-{}", o.next);
                            o.next += 1;
                            let pod = from_template(template, ns, &pname);
                            if out.arrive(&octx, now, pod, None).is_ok() {
                                o.pods.push(pname);
                            } else {
                                failed = true;
                            }
                        }
                        if !failed {
                            out.report.converted += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}
