use super::*;
use crate::read_trace;
use nodepack_model::PodId;
use nodepack_sim::config::{TraceEvent, TraceKind};

const ALIBABA: &str = include_str!("../../tests/fixtures/import/alibaba-gpu-2023.csv");
const SIMKUBE: &str = include_str!("../../tests/fixtures/import/simkube.trace.json");
const GOOGLE: &str = include_str!("../../tests/fixtures/import/google-2019.jsonl");
const KUBECTL: &str = include_str!("../../tests/fixtures/import/kubectl-pods.json");

/// Import, then read the result back with the native trace reader.
fn run(format: &str, text: &str) -> (ImportReport, Vec<TraceEvent>) {
    let mut imp = import(format, "fixture", text, &ImportOptions::default()).unwrap();
    let jsonl = imp.to_jsonl();
    let (events, warnings) = read_trace("imported.jsonl", &jsonl).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = imp.report;
    assert_eq!(r.rows, r.converted + r.skipped_total(), "{r:#?}");
    assert_eq!(events.len() as u64, r.pods + r.deletes);
    (r, events)
}

fn arrivals(t: &[TraceEvent]) -> Vec<(f64, &nodepack_model::Pod, Option<f64>)> {
    t.iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Arrive { pod, run_for } => {
                Some((e.at.secs_f64(), &**pod, run_for.map(|r| r.secs_f64())))
            }
            _ => None,
        })
        .collect()
}

fn deletes(t: &[TraceEvent]) -> Vec<(f64, String)> {
    t.iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Delete(id) => Some((e.at.secs_f64(), id.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn alibaba_rows_become_pods_with_gpus_and_bad_rows_are_counted() {
    let (r, t) = run("alibaba-gpu-2023", ALIBABA);
    assert_eq!((r.rows, r.converted, r.pods, r.deletes), (7, 5, 5, 5));
    assert_eq!(r.skipped["bad number in cpu_milli"].count, 1);
    assert!(r.skipped["bad number in cpu_milli"]
        .example
        .contains("line 7"));
    assert_eq!(r.skipped["deletion_time before creation_time"].count, 1);
    assert_eq!(
        r.adjusted["GPU share below one GPU asks for a whole GPU"],
        1
    );
    assert_eq!(
        r.adjusted["gpu_spec models without an AWS equivalent dropped"],
        1
    );
    assert_eq!(
        r.adjusted["gpu_spec has no AWS equivalent: any GPU accepted"],
        1
    );
    let a = arrivals(&t);
    let c = a.iter().find(|(_, p, _)| p.id.name == "pod-c").unwrap();
    assert_eq!(c.0, 20.0);
    assert_eq!(c.1.requests.cpu.0, 4000);
    assert_eq!(c.1.requests.extended.get("nvidia.com/gpu"), Some(&2));
    assert_eq!(c.1.requests.memory.0, 8192 * 1024 * 1024);
    assert!(
        format!("{:?}", c.1.node_affinity_required).contains("v100"),
        "{:?}",
        c.1.node_affinity_required
    );
    assert!(deletes(&t).contains(&(600.0, "openb/pod-c".into())));
    assert_eq!(c.1.tolerations.len(), 1, "GPU pods tolerate the GPU taint");
    let e = a.iter().find(|(_, p, _)| p.id.name == "pod-e").unwrap();
    assert!(e.1.tolerations.is_empty());
}

#[test]
fn alibaba_without_times_is_a_steady_state_in_file_order() {
    let text = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\nb,1000,2048,1,500\na,2000,4096,0,0\n";
    let (r, t) = run("alibaba-gpu-2023", text);
    assert_eq!((r.rows, r.converted, r.pods, r.deletes), (2, 2, 2, 0));
    assert!(
        r.assumptions.iter().any(|a| a.contains("arrives at 0")),
        "{r:?}"
    );
    let names: Vec<(f64, &str)> = arrivals(&t)
        .iter()
        .map(|(at, p, _)| (*at, p.id.name.as_str()))
        .collect();
    assert_eq!(names, [(0.0, "b"), (0.0, "a")]);
    // Without the first five columns it is not an openb pod list.
    let e = import(
        "alibaba-gpu-2023",
        "x.csv",
        "name,cpu_milli\n",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e.message.contains("memory_mib"), "{e}");
}

#[test]
fn simkube_deployments_scale_and_lifecycles_become_runs() {
    let (r, t) = run("simkube", SIMKUBE);
    assert_eq!(
        (r.rows, r.converted, r.pods, r.deletes),
        (7, 6, 6, 3),
        "{r:#?}"
    );
    assert_eq!(r.skipped["kind \"ConfigMap\" is not a workload"].count, 1);
    let a = arrivals(&t);
    let names: Vec<(f64, &str, Option<f64>)> = a
        .iter()
        .map(|(at, p, rf)| (*at, p.id.name.as_str(), *rf))
        .collect();
    assert_eq!(
        names,
        vec![
            (0.0, "web-0", None),
            (0.0, "web-1", None),
            (60.0, "web-2", None),
            (61.0, "job-1-run-0", Some(30.0)),
            (120.0, "tick-run-0", Some(30.0)),
            (180.0, "tick-run-1", None),
        ]
    );
    assert_eq!(
        deletes(&t),
        vec![
            (120.0, "shop/web-2".into()),
            (120.0, "shop/web-1".into()),
            (300.0, "shop/web-0".into())
        ]
    );
}

#[test]
fn google_submits_become_pods_ends_delete_them_and_retries_are_new_pods() {
    let (r, t) = run("google-2019", GOOGLE);
    assert_eq!(
        (r.rows, r.converted, r.pods, r.deletes),
        (9, 7, 3, 2),
        "{r:#?}"
    );
    assert_eq!(r.skipped["SUBMIT without resource_request"].count, 1);
    assert_eq!(r.skipped["missing or unknown type"].count, 1);
    assert!(r.assumptions[0].contains("96000 millicores"));
    let a = arrivals(&t);
    assert_eq!(a[0].1.id, PodId::new("google", "c100-0"));
    assert_eq!(a[0].1.requests.cpu.0, 998);
    assert_eq!(a[0].1.priority, 200);
    assert_eq!(a[2].1.id.name, "c100-1-try2");
    assert_eq!(a[2].0, 720.0);
    assert_eq!(
        deletes(&t),
        vec![
            (700.0, "google/c100-0".into()),
            (710.0, "google/c100-1".into())
        ]
    );
}

#[test]
fn kubectl_snapshot_keeps_running_and_pending_pods_only() {
    let (r, t) = run("kubectl", KUBECTL);
    assert_eq!(
        (r.rows, r.converted, r.pods, r.deletes),
        (6, 2, 2, 0),
        "{r:#?}"
    );
    assert_eq!(r.adjusted["bound pod made pending"], 1);
    assert_eq!(r.skipped["pod Succeeded: holds no resources"].count, 1);
    assert_eq!(
        r.skipped["DaemonSet pod: per-node overhead, not a workload"].count,
        1
    );
    assert_eq!(
        r.skipped["mirror pod of a static pod: not scheduled"].count,
        1
    );
    let bad = r
        .skipped
        .iter()
        .find(|(k, _)| k.starts_with("pod rejected"))
        .unwrap();
    assert!(bad.1.example.contains("items[4]"), "{}", bad.1.example);
    assert!(bad.1.example.contains("lots"), "{}", bad.1.example);
    let names: Vec<&str> = arrivals(&t)
        .iter()
        .map(|(_, p, _)| p.id.name.as_str())
        .collect();
    assert_eq!(names, ["api-7d9c", "queued"]);
}

#[test]
fn input_in_the_wrong_format_is_an_error_naming_the_file() {
    for (f, text) in [
        ("alibaba-gpu-2023", "a,b\n1,2\n"),
        ("simkube", "{}"),
        ("google-2019", "time,type\n"),
        ("kubectl", "not json"),
    ] {
        let e = import(f, "in.txt", text, &ImportOptions::default()).unwrap_err();
        assert_eq!(e.file, "in.txt", "{f}: {e}");
    }
    let e = import("borg", "in.txt", "", &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("alibaba-gpu-2023"), "{e}");
}

/// Regression: a row or item given twice was written twice, and the replay then
/// replaced the live pod with its twin. A name is one pod: the second is skipped and
/// counted, and the trace reads back.
#[test]
fn duplicate_rows_and_items_are_skipped_and_counted() {
    let mut lines: Vec<&str> = ALIBABA.lines().collect();
    let first_row = lines[1];
    lines.push(first_row);
    let twice = lines.join("\n");
    let (r, _) = run("alibaba-gpu-2023", &twice);
    assert_eq!(
        r.skipped["duplicate name: a name is one pod"].count, 1,
        "{r:#?}"
    );
    let v: serde_json::Value = serde_json::from_str(KUBECTL).unwrap();
    let mut items = v["items"].as_array().unwrap().clone();
    items.push(items[0].clone());
    let mut doubled = v.clone();
    doubled["items"] = serde_json::Value::Array(items);
    let (r, _) = run("kubectl", &doubled.to_string());
    assert_eq!(
        r.skipped["duplicate namespace/name: a name is one pod"].count, 1,
        "{r:#?}"
    );
}

/// Regression (issue 22 item 10): absurd numbers were clamped to the largest integer
/// without a word, an empty name was "bad number in name", and an out-of-range time was
/// moved. Each is now skipped under a reason naming its column.
#[test]
fn alibaba_absurd_numbers_and_empty_names_are_skipped_naming_the_column() {
    let header = ALIBABA.lines().next().unwrap();
    let text = format!(
        "{header}\nbig,1e30,1024,0,0,,LS,Running,0,10,0\n,1000,1024,0,0,,LS,Running,0,10,0\n\
         late,1000,1024,0,0,,LS,Running,1e300,1e301,0\nfine,1000,1024,0,0,,LS,Running,0,10,0\n"
    );
    let (r, t) = run("alibaba-gpu-2023", &text);
    assert_eq!((r.rows, r.converted), (4, 1), "{r:#?}");
    let big = &r.skipped["cpu_milli out of range"];
    assert!(big.example.contains("line 2"), "{}", big.example);
    assert!(big.example.contains("largest node"), "{}", big.example);
    assert_eq!(r.skipped["empty name"].count, 1);
    assert!(!r.skipped.keys().any(|k| k.contains("in name")), "{r:#?}");
    assert!(r.skipped["time out of range"].example.contains("line 4"));
    assert_eq!(arrivals(&t).len(), 1);
}

/// Regression (issue 22 item 10): Google's `cpus: 1e300` became the largest integer and
/// a time beyond the ceiling was saturated.
#[test]
fn google_absurd_requests_and_times_are_skipped() {
    let text = r#"{"time":1000000,"type":"SUBMIT","collection_id":1,"instance_index":0,"resource_request":{"cpus":1e300,"memory":0.01}}
{"time":-5,"type":"SUBMIT","collection_id":1,"instance_index":1,"resource_request":{"cpus":0.01,"memory":0.01}}
{"time":1000000,"type":"SUBMIT","collection_id":1,"instance_index":2,"resource_request":{"cpus":0.01,"memory":0.01}}
"#;
    let (r, t) = run("google-2019", text);
    assert_eq!((r.rows, r.converted), (3, 1), "{r:#?}");
    assert!(r.skipped["resource_request.cpus out of range"]
        .example
        .contains("line 1"));
    assert!(r.skipped["time out of range"].example.contains("line 2"));
    assert_eq!(arrivals(&t).len(), 1);
}

fn simkube_trace(events: serde_json::Value, version: serde_json::Value) -> String {
    serde_json::json!({"version": version, "events": events}).to_string()
}

fn workload(kind: &str, name: &str, replicas: u64) -> serde_json::Value {
    serde_json::json!({"kind": kind, "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}}})
}

/// Regression (issue 22 items 2 and 10): a Deployment and a StatefulSet both named `web`
/// both wrote `web-0` (the replay then refused the trace); an event whose `ts` was out of
/// range was placed at 0; the report said "trace version Some(7)".
#[test]
fn simkube_name_clashes_are_renamed_and_bad_times_skipped() {
    let text = simkube_trace(
        serde_json::json!([
            {"ts": 1000, "applied_objs": [workload("Deployment", "web", 2), workload("StatefulSet", "web", 1)], "deleted_objs": []},
            {"ts": 1e300, "applied_objs": [workload("Deployment", "api", 1)], "deleted_objs": []},
            {"ts": 1060, "applied_objs": [], "deleted_objs": [workload("StatefulSet", "web", 0)]},
        ]),
        serde_json::json!(7),
    );
    let (r, t) = run("simkube", &text);
    assert_eq!((r.rows, r.converted), (4, 3), "{r:#?}");
    let ts = &r.skipped["ts out of range"];
    assert!(ts.example.contains("events[1].ts"), "{}", ts.example);
    assert!(
        r.assumptions
            .iter()
            .any(|a| a == "version = 7: read as a version 2 trace"),
        "{:?}",
        r.assumptions
    );
    assert!(!r.assumptions.iter().any(|a| a.contains("Some(")));
    let names: Vec<&str> = arrivals(&t)
        .iter()
        .map(|(_, p, _)| p.id.name.as_str())
        .collect();
    assert_eq!(names, ["web-0", "web-1", "web-0-statefulset"]);
    assert_eq!(r.adjusted[super::simkube::RENAMED], 1);
    // The StatefulSet's deletion deletes its own pod, not the Deployment's.
    assert_eq!(deletes(&t), vec![(60.0, "shop/web-0-statefulset".into())]);
}

/// Regression (issue 22 item 10): a recorded pod lifecycle that could not be read made
/// one skip per run, so skipped rows outnumbered rows.
#[test]
fn simkube_rows_add_up_when_recorded_runs_are_rejected() {
    let mut pod = workload("Deployment", "bad", 1);
    pod["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
        serde_json::json!("-1");
    let key = serde_json::to_string(&("apps/v1.Deployment", "shop/bad")).unwrap();
    let text = serde_json::json!({"version": 2,
        "events": [{"ts": 0, "applied_objs": [pod], "deleted_objs": []}],
        "pod_lifecycles": {key: {"h": [{"Finished": [1, 2]}, {"Finished": [3, 4]}, {"Running": 5}]}}})
    .to_string();
    let (r, _) = run("simkube", &text);
    assert_eq!(
        (r.rows, r.converted, r.skipped_total()),
        (1, 0, 1),
        "{r:#?}"
    );
}
