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

use super::{secs, Imported, MAX_TIME_S};
use crate::error::{Ctx, FormatError};
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

/// What the report counts when a pod's name was taken by another object's pod.
pub(super) const RENAMED: &str =
    "pod name taken by another object's live pod: renamed <name>-<kind>";

/// `name` in `ns`, or `name-<kind>` (then `-2`, `-3`, ...) when a live pod of another
/// object holds it; the id returned is marked taken.
fn unique_id(taken: &mut HashSet<String>, ns: &str, name: &str, kind: &str) -> String {
    let mut candidate = name.to_string();
    let mut n = 1u64;
    while !taken.insert(format!("{ns}/{candidate}")) {
        n += 1;
        candidate = if n == 2 {
            format!("{name}-{}", kind.to_ascii_lowercase())
        } else {
            format!("{name}-{}-{n}", kind.to_ascii_lowercase())
        };
    }
    candidate
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
    match root.get("version") {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) => out
            .report
            .assumptions
            .push(format!("version = {v}: read as a version 2 trace")),
        None => out
            .report
            .assumptions
            .push("no version field: read as a version 2 trace".into()),
    }
    let runs = lifecycles(root.get("pod_lifecycles"));
    let t0 = events
        .iter()
        .filter_map(|e| e.get("ts").and_then(Value::as_f64))
        .fold(f64::INFINITY, f64::min);
    // Seconds from the first event; `None` beyond the trace reader's ceiling.
    let rel = |t: f64| secs(t - t0);
    let mut owned: BTreeMap<(String, String), Owned> = BTreeMap::new();
    // Bare pods by `namespace/name`: the id they were written under.
    let mut bare: BTreeMap<String, String> = BTreeMap::new();
    // Every pod id written that may still be live: a second object whose pods would take
    // an id already used (a Deployment and a StatefulSet both named `web` both make
    // `web-0`) gets its pods renamed and the renaming counted.
    let mut taken: HashSet<String> = HashSet::new();
    for (i, ev) in events.iter().enumerate() {
        let ectx = ctx.field(&format!("events[{i}]"));
        let ts = ev.get("ts").and_then(Value::as_f64);
        let now = ts.and_then(rel);
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
                let Some(now) = now else {
                    match ts {
                        None => out.report.skip("event without a numeric ts", || {
                            format!(
                                "{}.ts = {}",
                                ectx.path,
                                ev.get("ts").unwrap_or(&Value::Null)
                            )
                        }),
                        Some(ts) => out.report.skip("ts out of range", || {
                            format!(
                                "{}.ts = {ts} ({} s after the first event; at most {MAX_TIME_S} s)",
                                ectx.path,
                                ts - t0
                            )
                        }),
                    }
                    continue;
                };
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
                    let (mut ok, mut first_err) = (0usize, None);
                    for (k, (s, e)) in runs.iter().enumerate() {
                        let pname = unique_id(&mut taken, ns, &format!("{name}-run-{k}"), kind);
                        let pod = from_template(template, ns, &pname);
                        let run_for = match e.map(|e| secs(e - s)) {
                            Some(None) => {
                                first_err.get_or_insert_with(|| {
                                    (
                                        "recorded run out of range".to_string(),
                                        format!(
                                            "{}: run {k} of {ns}/{name}: {s} to {e:?}",
                                            octx.path
                                        ),
                                    )
                                });
                                continue;
                            }
                            Some(Some(r)) => Some(r),
                            None => None,
                        };
                        let Some(start) = rel(*s) else {
                            first_err.get_or_insert_with(|| {
                                (
                                    "recorded run out of range".to_string(),
                                    format!("{}: run {k} of {ns}/{name} starts at {s}", octx.path),
                                )
                            });
                            continue;
                        };
                        match out.try_arrive(&octx, start, pod, run_for) {
                            Ok(()) => ok += 1,
                            Err(e) => {
                                first_err.get_or_insert_with(|| {
                                    (format!("pod rejected: {}", e.message), e.to_string())
                                });
                            }
                        }
                    }
                    match (ok, first_err) {
                        (_, None) => out.report.converted += 1,
                        (0, Some((reason, example))) => out.report.skip(reason, || example),
                        (_, Some(_)) => {
                            out.report
                                .adjust("recorded runs that could not be read dropped");
                            out.report.converted += 1;
                        }
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
                        if bare.contains_key(&key.1) {
                            out.report.adjust("update of a running pod ignored");
                            out.report.converted += 1;
                            continue;
                        }
                        let pname = unique_id(&mut taken, ns, name, kind);
                        let pod = from_template(template, ns, &pname);
                        if out.arrive(&octx, now, pod, None).is_ok() {
                            out.report.converted += 1;
                            if pname != name {
                                out.report.adjust(RENAMED);
                            }
                            bare.insert(key.1.clone(), format!("{ns}/{pname}"));
                        } else {
                            taken.remove(&format!("{ns}/{pname}"));
                        }
                    }
                    ("Pod", true) => {
                        if let Some(id) = bare.remove(&key.1) {
                            taken.remove(&id);
                            out.delete(now, &id);
                        }
                        out.report.converted += 1;
                    }
                    (_, true) => {
                        if let Some(o) = owned.remove(&key) {
                            for p in o.pods {
                                let id = format!("{ns}/{p}");
                                taken.remove(&id);
                                out.delete(now, &id);
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
                                let id = format!("{ns}/{p}");
                                taken.remove(&id);
                                out.delete(now, &id);
                            }
                        }
                        o.template = tstr;
                        let mut failed = false;
                        while o.pods.len() > want {
                            if let Some(p) = o.pods.pop() {
                                let id = format!("{ns}/{p}");
                                taken.remove(&id);
                                out.delete(now, &id);
                            }
                        }
                        while o.pods.len() < want && !failed {
                            let plain = format!("{name}-{}", o.next);
                            o.next += 1;
                            let pname = unique_id(&mut taken, ns, &plain, kind);
                            let pod = from_template(template, ns, &pname);
                            if out.arrive(&octx, now, pod, None).is_ok() {
                                if pname != plain {
                                    out.report.adjust(RENAMED);
                                }
                                o.pods.push(pname);
                            } else {
                                taken.remove(&format!("{ns}/{pname}"));
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
