//! Alibaba cluster-trace-gpu-v2023 (`openb_pod_list_*.csv`): one pod per row.
//!
//! Columns: `name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase,
//! creation_time, deletion_time, scheduled_time` (times in seconds from the trace
//! start). Each row becomes a pod arriving at `creation_time` and deleted at
//! `deletion_time`, whatever its recorded phase: the replay decides where and whether
//! it runs. Only the first five columns are required: without the times (the upstream
//! `openb_pod_list_multigpu50.csv` variant) every pod arrives at 0 in file order and
//! runs to the end, and the report says so. Kubernetes counts GPUs in whole devices, so a GPU share (`gpu_milli` below
//! 1000 on one GPU) asks for one GPU, and the share is kept as a label. `gpu_spec` (the
//! GPU models the pod accepts) becomes a requirement on
//! `karpenter.k8s.aws/instance-gpu-name` for the models AWS offers (T4, V100, A10 as
//! A10G); models AWS has no equivalent of are dropped from the list, and when none is
//! left the pod accepts any GPU. Every such adjustment is counted in the report. GPU
//! pods tolerate the `nvidia.com/gpu` taint, as Kubernetes' ExtendedResourceToleration
//! admission plugin makes them.

use super::{amount, pod_object, secs, Amount, Imported, MAX_TIME_S};
use crate::error::{Ctx, FormatError};
use nodepack_model::labels::INSTANCE_GPU_NAME;
use serde_json::{json, Value};

const COLUMNS: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];

/// The AWS GPU name (`karpenter.k8s.aws/instance-gpu-name`) of an Alibaba GPU model.
fn aws_gpu(model: &str) -> Option<&'static str> {
    match model {
        "T4" => Some("t4"),
        "V100M16" | "V100M32" => Some("v100"),
        "A10" => Some("a10g"),
        "A100" => Some("a100"),
        _ => None,
    }
}

pub(super) fn import(ctx: &Ctx, text: &str) -> Result<Imported, FormatError> {
    let mut out = Imported::new("alibaba-gpu-2023");
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rd
        .headers()
        .map_err(|e| ctx.field("header").error(None, format!("not CSV: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let idx: Vec<Option<usize>> = COLUMNS.iter().map(|c| col(c)).collect();
    // The first five columns are required; the upstream variant
    // openb_pod_list_multigpu50.csv has only those (no times).
    if let Some(c) = COLUMNS[..5].iter().zip(&idx).find(|(_, i)| i.is_none()) {
        return Err(ctx.field("header").error(
            Some(&headers.iter().collect::<Vec<_>>().join(",")),
            format!(
                "missing column {:?} (an openb_pod_list CSV has {}; the first five are required)",
                c.0,
                COLUMNS.join(", ")
            ),
        ));
    }
    let timed = idx[8].is_some() && idx[9].is_some();
    if !timed {
        out.report.assumptions.push(
            "no creation_time/deletion_time columns: every pod arrives at 0, in file order, and runs to the end".into(),
        );
    }
    out.report.assumptions.push(
        "GPU shares (gpu_milli < 1000) ask for one whole GPU; the share is kept in the label alibaba.com/gpu-milli".into(),
    );
    // A name is one pod: a second row of the same name is skipped and counted.
    let mut names: std::collections::HashSet<String> = Default::default();
    for (i, rec) in rd.records().enumerate() {
        // Line numbers count the header as line 1.
        let line = i + 2;
        let rctx = ctx.field(&format!("line {line}"));
        out.report.rows += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.report
                    .skip("not a CSV row", || format!("{}: {e}", rctx.path));
                continue;
            }
        };
        let get = |k: usize| idx[k].and_then(|i| rec.get(i)).unwrap_or("").trim();
        // A column's value as a number, or (reason, detail) naming that column.
        let num = |k: usize| -> Result<f64, (String, String)> {
            let v = get(k);
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    (
                        format!("bad number in {}", COLUMNS[k]),
                        format!("{} = {v:?}", COLUMNS[k]),
                    )
                })
        };
        let name = get(0);
        if name.is_empty() {
            out.report
                .skip("empty name", || format!("{}: name = \"\"", rctx.path));
            continue;
        }
        if !names.insert(name.to_string()) {
            out.report.skip("duplicate name: a name is one pod", || {
                format!("{}: name = {name:?}", rctx.path)
            });
            continue;
        }
        let parsed = (|| -> Result<_, (String, String)> {
            let (created, deleted) = if timed {
                (num(8)?, Some(num(9)?))
            } else {
                (0.0, None)
            };
            let cpu = amount(COLUMNS[1], num(1)?, Amount::Millicores)?;
            let mem = amount(COLUMNS[2], num(2)?, Amount::Mib)?;
            let gpus = amount(COLUMNS[3], num(3)?, Amount::Devices)?;
            let gpu_milli = amount(COLUMNS[4], num(4)?, Amount::Devices)?;
            Ok((cpu, mem, gpus, gpu_milli, created, deleted))
        })();
        let (cpu, mem, gpus, gpu_milli, created, deleted) = match parsed {
            Ok(v) => v,
            Err((reason, detail)) => {
                out.report
                    .skip(reason, || format!("{}: {detail}", rctx.path));
                continue;
            }
        };
        let end = match deleted.map(secs) {
            None => None,
            Some(Some(e)) => Some(e),
            Some(None) => {
                out.report.skip("time out of range", || {
                    format!(
                        "{}: deletion_time = {} (at most {MAX_TIME_S} s)",
                        rctx.path,
                        deleted.unwrap_or_default()
                    )
                });
                continue;
            }
        };
        let Some(at) = secs(created) else {
            out.report.skip("time out of range", || {
                format!(
                    "{}: creation_time = {created} (at most {MAX_TIME_S} s)",
                    rctx.path
                )
            });
            continue;
        };
        if end.is_some_and(|e| e < at) {
            out.report.skip("deletion_time before creation_time", || {
                format!(
                    "{}: creation_time = {created}, deletion_time = {}",
                    rctx.path,
                    deleted.unwrap_or_default()
                )
            });
            continue;
        }
        let mut requests = json!({
            "cpu": format!("{cpu}m"),
            "memory": format!("{mem}Mi"),
        });
        let mut labels = json!({"app": "openb", "alibaba.com/qos": get(6)});
        if gpus > 0 {
            requests["nvidia.com/gpu"] = json!(gpus.to_string());
            if gpus == 1 && gpu_milli > 0 && gpu_milli < 1000 {
                out.report
                    .adjust("GPU share below one GPU asks for a whole GPU");
                labels["alibaba.com/gpu-milli"] = json!(gpu_milli.to_string());
            }
        }
        let mut affinity = None;
        let spec = get(5);
        if !spec.is_empty() && gpus > 0 {
            let mut names: Vec<&str> = spec.split('|').filter_map(aws_gpu).collect();
            names.sort_unstable();
            names.dedup();
            let unknown = spec.split('|').any(|m| aws_gpu(m).is_none());
            if names.is_empty() {
                out.report
                    .adjust("gpu_spec has no AWS equivalent: any GPU accepted");
            } else {
                if unknown {
                    out.report
                        .adjust("gpu_spec models without an AWS equivalent dropped");
                }
                affinity = Some(
                    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{
                        "key": INSTANCE_GPU_NAME, "operator": "In", "values": names}]}]}}}),
                );
            }
        }
        let mut pod: Value = pod_object(
            "openb",
            name,
            labels,
            requests,
            affinity.map(|a| ("affinity", a)),
        );
        if gpus > 0 {
            // What Kubernetes' ExtendedResourceToleration admission plugin adds to a pod
            // that requests an extended resource, so GPU pods land on tainted GPU pools.
            pod["spec"]["tolerations"] = json!([
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ]);
        }
        if out.arrive(&rctx, at, pod, None).is_ok() {
            out.report.converted += 1;
            if let Some(end) = end {
                out.delete(end, &format!("openb/{name}"));
            }
        }
    }
    Ok(out)
}
