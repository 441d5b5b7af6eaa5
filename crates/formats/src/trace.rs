//! Workload traces in nodepack's native format: JSON Lines, one event per line.
//!
//! ```text
//! {"at": 0, "pod": {"metadata": {"name": "web-0"}, "spec": {"containers": [...]}}, "runFor": null}
//! {"at": 12.5, "pod": {...}, "runFor": 600}
//! {"at": 3600, "delete": "default/web-0"}
//! ```
//! `at` and `runFor` are seconds; `pod` is a Kubernetes Pod object (`kind` may be left
//! out); `runFor: null` (or absent) means the pod runs until deleted; `delete` names a
//! pod as `namespace/name` (or `name` in `default`). Lines may come unsorted: they are
//! stably sorted by time. Blank lines and lines starting with `#` are skipped. Errors
//! name the line and the field.

use crate::docs::Document;
use crate::error::{Ctx, FormatError, Warning};
use nodepack_model::{LabelMap, Millis, PodId};
use nodepack_sim::config::{TraceEvent, TraceKind};
use serde_json::Value;
use std::collections::HashSet;

fn seconds(ctx: &Ctx, v: &Value) -> Result<Millis, FormatError> {
    match v.as_f64() {
        Some(s) if s >= 0.0 && s.is_finite() && s < 1e12 => Ok(Millis::from_secs_f64(s)),
        _ => Err(ctx.error_json(v, "expected a number of seconds, at least 0")),
    }
}

/// Read a trace. Returns the events sorted by time and the warnings.
pub fn read_trace(file: &str, text: &str) -> Result<(Vec<TraceEvent>, Vec<Warning>), FormatError> {
    let mut out = Vec::new();
    // The line of each event, for messages.
    let mut lines: Vec<usize> = Vec::new();
    let mut warnings = Vec::new();
    // Pods of one workload share their label maps (a big trace holds each once).
    let mut maps: HashSet<LabelMap> = HashSet::new();
    let mut intern = |m: &mut LabelMap| match maps.get(m) {
        Some(shared) => *m = shared.clone(),
        None => {
            maps.insert(m.clone());
        }
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let ctx = Ctx::file(file).field(&format!("line {}", i + 1));
        let v: Value = serde_json::from_str(line)
            .map_err(|e| ctx.error(None, format!("not a JSON object: {e}")))?;
        let Some(obj) = v.as_object() else {
            return Err(ctx.error_json(&v, "expected a JSON object"));
        };
        for k in obj.keys() {
            if !["at", "pod", "runFor", "delete"].contains(&k.as_str()) {
                warnings.push(ctx.field(k).warning("unknown field, ignored"));
            }
        }
        let at = seconds(
            &ctx.field("at"),
            obj.get("at")
                .ok_or_else(|| ctx.field("at").error(None, "missing"))?,
        )?;
        match (obj.get("pod"), obj.get("delete")) {
            (Some(pod), None) => {
                let run_for = match obj.get("runFor") {
                    None | Some(Value::Null) => None,
                    Some(r) => Some(seconds(&ctx.field("runFor"), r)?),
                };
                let mut value = pod.clone();
                if let Some(m) = value.as_object_mut() {
                    m.entry("kind").or_insert_with(|| "Pod".into());
                    m.entry("apiVersion").or_insert_with(|| "v1".into());
                }
                if value.get("kind").and_then(Value::as_str) != Some("Pod") {
                    return Err(ctx
                        .field("pod.kind")
                        .error_json(value.get("kind").unwrap_or(&Value::Null), "expected a Pod"));
                }
                let doc = Document {
                    ctx: ctx.field("pod"),
                    value,
                };
                let mut w = crate::kube::Workload::default();
                crate::kube::read_document(&doc, &mut w)?;
                warnings.extend(w.warnings);
                let pod = w
                    .pending
                    .pop()
                    .or_else(|| w.bound.pop().map(|(p, _)| p))
                    .ok_or_else(|| {
                        ctx.field("pod").error(
                            None,
                            "the pod holds no resources (finished or a daemonset pod)",
                        )
                    })?;
                // The pod is created when the event happens.
                let mut pod = pod;
                pod.created = at;
                intern(&mut pod.labels);
                intern(&mut pod.node_selector);
                out.push(TraceEvent {
                    at,
                    kind: TraceKind::Arrive {
                        pod: std::sync::Arc::new(pod),
                        run_for,
                    },
                });
                lines.push(i + 1);
            }
            (None, Some(d)) => {
                let s = d.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                    ctx.field("delete")
                        .error_json(d, "expected \"namespace/name\"")
                })?;
                let id = match s.split_once('/') {
                    Some((ns, name)) if !ns.is_empty() && !name.is_empty() => PodId::new(ns, name),
                    Some(_) => {
                        return Err(ctx
                            .field("delete")
                            .error(Some(s), "expected \"namespace/name\""))
                    }
                    None => PodId::new("default", s),
                };
                out.push(TraceEvent {
                    at,
                    kind: TraceKind::Delete(id),
                });
                lines.push(i + 1);
            }
            (Some(_), Some(_)) => {
                return Err(ctx.error(None, "a line has either \"pod\" or \"delete\", not both"))
            }
            (None, None) => return Err(ctx.error(None, "a line needs \"pod\" or \"delete\"")),
        }
    }
    // Time order, equal times in file order (as `sort_trace`), keeping each line number.
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by_key(|&k| out[k].at);
    let mut slots: Vec<Option<TraceEvent>> = out.into_iter().map(Some).collect();
    let out: Vec<TraceEvent> = order.iter().filter_map(|&k| slots[k].take()).collect();
    let lines: Vec<usize> = order.iter().map(|&k| lines[k]).collect();
    unique_live_names(file, &out, &lines)?;
    Ok((out, warnings))
}

/// A pod name is one pod at a time: an arrival while a pod of the same name is surely
/// still alive (not deleted before, and running until deleted or for longer than the gap)
/// is refused naming both lines. A name may come back after a delete, or after the run
/// time of its last pod (which may have completed by then).
fn unique_live_names(
    file: &str,
    events: &[TraceEvent],
    lines: &[usize],
) -> Result<(), FormatError> {
    let mut live: std::collections::HashMap<&PodId, (usize, Millis, Option<Millis>)> =
        Default::default();
    for (e, &line) in events.iter().zip(lines) {
        match &e.kind {
            TraceKind::Arrive { pod, run_for } => {
                if let Some(&(first, at, run)) = live.get(&pod.id) {
                    if run.is_none_or(|r| e.at < at + r) {
                        let ctx = Ctx::file(file).field(&format!("line {line}"));
                        return Err(ctx.field("pod.metadata.name").error(
                            Some(&pod.id.to_string()),
                            format!(
                                "pod {} arrives again while the pod of line {first} may still run: a name is one pod at a time (delete it first, or name the new pod otherwise)",
                                pod.id
                            ),
                        ));
                    }
                }
                live.insert(&pod.id, (line, e.at, *run_for));
            }
            TraceKind::Delete(id) => {
                live.remove(id);
            }
        }
    }
    Ok(())
}

/// Write a trace in the native format (the inverse of [`read_trace`] for what the model
/// keeps: requests, labels, selectors, tolerations, spread and priority).
pub fn write_trace_line(e: &TraceEvent) -> String {
    match &e.kind {
        TraceKind::Delete(id) => {
            serde_json::json!({"at": e.at.secs_f64(), "delete": id.to_string()}).to_string()
        }
        TraceKind::Arrive { pod, run_for } => serde_json::json!({
            "at": e.at.secs_f64(),
            "pod": crate::kube::pod_manifest(pod),
            "runFor": run_for.map(|r| r.secs_f64()),
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{"metadata":{"name":"a","namespace":"ns"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}]}}"#;

    /// Regression: a repeated pod name silently replaced the live pod in a replay and
    /// counted the old one as deleted. A name is one pod at a time.
    #[test]
    fn a_name_arriving_while_its_pod_lives_is_refused_naming_both_lines() {
        let arrive = |at: u32, run: &str| format!(r#"{{"at":{at},"pod":{POD}{run}}}"#);
        let text = [arrive(0, ""), arrive(60, "")].join("\n");
        let e = read_trace("t.jsonl", &text).unwrap_err();
        assert_eq!(e.path, "line 2.pod.metadata.name");
        assert!(e.message.contains("line 1"), "{e}");
        // In file order the second line comes first in time: still both lines named.
        let text = [arrive(60, ""), arrive(0, "")].join("\n");
        let e = read_trace("t.jsonl", &text).unwrap_err();
        assert!(
            e.path.starts_with("line 1") && e.message.contains("line 2"),
            "{e}"
        );
        // After a delete, or after the earlier pod's run time, the name may come back.
        let text = [
            arrive(0, ""),
            r#"{"at":30,"delete":"ns/a"}"#.into(),
            arrive(60, ""),
        ]
        .join("\n");
        assert!(read_trace("t.jsonl", &text).is_ok());
        let text = [arrive(0, r#","runFor":30"#), arrive(60, "")].join("\n");
        assert!(read_trace("t.jsonl", &text).is_ok());
        let text = [arrive(0, r#","runFor":300"#), arrive(60, "")].join("\n");
        assert!(read_trace("t.jsonl", &text).is_err());
    }

    #[test]
    fn reads_arrivals_and_deletes_and_sorts_stably() {
        let text = format!(
            "{{\"at\": 10, \"pod\": {POD}, \"runFor\": 60}}\n# comment\n\n{{\"at\": 5, \"delete\": \"ns/a\"}}\n{{\"at\": 5, \"delete\": \"b\"}}\n"
        );
        let (t, w) = read_trace("t.jsonl", &text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].kind, TraceKind::Delete(PodId::new("ns", "a")));
        assert_eq!(t[1].kind, TraceKind::Delete(PodId::new("default", "b")));
        match &t[2].kind {
            TraceKind::Arrive { pod, run_for } => {
                assert_eq!(pod.requests.cpu.0, 500);
                assert_eq!(*run_for, Some(Millis(60_000)));
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn pods_with_equal_labels_share_them_and_are_created_at_their_event() {
        let pod = |n: &str| {
            format!(
                r#"{{"metadata":{{"name":"{n}","labels":{{"app":"web"}}}},"spec":{{"nodeSelector":{{"k":"v"}},"containers":[{{"name":"c"}}]}}}}"#
            )
        };
        let text = format!(
            "{{\"at\": 1, \"pod\": {}}}\n{{\"at\": 2, \"pod\": {}}}\n",
            pod("a"),
            pod("b")
        );
        let (t, _) = read_trace("t.jsonl", &text).unwrap();
        let pods: Vec<&nodepack_model::Pod> = t
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::Arrive { pod, .. } => Some(&**pod),
                _ => None,
            })
            .collect();
        assert!(pods[0].labels.shares_with(&pods[1].labels));
        assert!(pods[0].node_selector.shares_with(&pods[1].node_selector));
        assert_eq!(pods[1].created, Millis(2000));
    }

    #[test]
    fn errors_name_the_line_field_and_value() {
        let e = read_trace("t.jsonl", "{\"at\": -1, \"delete\": \"x\"}").unwrap_err();
        assert_eq!(e.path, "line 1.at");
        assert_eq!(e.value.as_deref(), Some("-1"));
        let bad = POD.replace("500m", "5x");
        let e = read_trace("t.jsonl", &format!("\n{{\"at\": 1, \"pod\": {bad}}}")).unwrap_err();
        assert!(
            e.path.starts_with("line 2.pod.spec.containers[0]"),
            "{}",
            e.path
        );
        assert!(e.to_string().contains("5x"), "{e}");
        let e = read_trace("t.jsonl", "{\"at\": 1}").unwrap_err();
        assert!(e.message.contains("\"pod\" or \"delete\""));
        let e = read_trace("t.jsonl", "not json").unwrap_err();
        assert_eq!(e.path, "line 1");
        let (_, w) = read_trace("t.jsonl", "{\"at\": 1, \"delete\": \"x\", \"color\": 1}").unwrap();
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn written_lines_read_back() {
        let (t, _) = read_trace(
            "t.jsonl",
            &format!("{{\"at\": 3, \"pod\": {POD}, \"runFor\": 9}}"),
        )
        .unwrap();
        let line = write_trace_line(&t[0]);
        let (again, _) = read_trace("u.jsonl", &line).unwrap();
        assert_eq!(again, t);
    }
}
