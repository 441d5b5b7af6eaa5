//! A `kubectl get pods -A -o json` snapshot (a `List` of Pods, or a single Pod) as a
//! steady-state trace: every pod that holds resources arrives at time 0 and runs until
//! the end. Pods are made pending (`spec.nodeName` and `status` removed) so the replay
//! places them itself. Finished pods (Succeeded, Failed), DaemonSet pods (per-node
//! overhead, which the node pools' daemonsets model) and mirror pods of static pods are
//! counted as skipped.

use super::Imported;
use crate::error::{Ctx, FormatError};
use nodepack_model::Millis;
use serde_json::Value;

pub(super) fn import(ctx: &Ctx, text: &str) -> Result<Imported, FormatError> {
    let mut out = Imported::new("kubectl");
    let root: Value = serde_json::from_str(text).map_err(|e| {
        ctx.error(
            None,
            format!("not JSON (use kubectl get pods -A -o json): {e}"),
        )
    })?;
    let items: Vec<(Ctx, &Value)> = match root.get("kind").and_then(Value::as_str) {
        Some("Pod") => vec![(ctx.clone(), &root)],
        _ => match root.get("items").and_then(Value::as_array) {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (ctx.field("items").index(i), v))
                .collect(),
            None => {
                return Err(ctx.field("items").error(
                    None,
                    "missing: expected a List of Pods (kubectl get pods -A -o json)",
                ))
            }
        },
    };
    // A name is one pod: a second item of the same namespace/name is skipped and counted.
    let mut seen: std::collections::HashSet<(String, String)> = Default::default();
    for (ictx, item) in items {
        out.report.rows += 1;
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("Pod");
        let name = || {
            format!(
                "{}: {}/{}",
                ictx.path,
                item.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default"),
                item.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            )
        };
        if kind != "Pod" {
            out.report.skip(format!("kind {kind:?} is not a Pod"), name);
            continue;
        }
        let phase = item
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            out.report
                .skip(format!("pod {phase}: holds no resources"), name);
            continue;
        }
        let owners = item
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        if owners
            .into_iter()
            .flatten()
            .any(|o| o.get("kind").and_then(Value::as_str) == Some("DaemonSet"))
        {
            out.report
                .skip("DaemonSet pod: per-node overhead, not a workload", name);
            continue;
        }
        if item
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some()
        {
            out.report
                .skip("mirror pod of a static pod: not scheduled", name);
            continue;
        }
        let key = |p: &str, d: &str| {
            item.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or(d)
                .to_string()
        };
        if !seen.insert((
            key("/metadata/namespace", "default"),
            key("/metadata/name", ""),
        )) {
            out.report
                .skip("duplicate namespace/name: a name is one pod", name);
            continue;
        }
        let mut pod = item.clone();
        if let Some(m) = pod.as_object_mut() {
            m.remove("status");
        }
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            if spec.remove("nodeName").is_some() {
                out.report.adjust("bound pod made pending");
            }
        }
        if out.arrive(&ictx, Millis(0), pod, None).is_ok() {
            out.report.converted += 1;
        }
    }
    Ok(out)
}
