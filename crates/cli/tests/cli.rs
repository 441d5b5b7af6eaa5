//! The `nodepack` binary end to end: outputs, JSON fields, exit codes.

use std::process::Command;

fn nodepack(args: &[&str]) -> (i32, String, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO_BIN_EXE_nodepack"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("run nodepack");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn catalog_lists_m5_with_prices() {
    let (code, out, _) = nodepack(&[
        "catalog",
        "--requirements",
        "karpenter.k8s.aws/instance-family In m5",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let large = rows.iter().find(|r| r["name"] == "m5.large").unwrap();
    assert_eq!(large["allocatable"]["cpu_millicores"], 1930);
    assert_eq!(large["on_demand_usd_per_hour"], 0.096);
    assert!(large["spot_usd_per_hour_min"].as_f64().unwrap() < 0.096);
}

#[test]
fn solve_prints_both_strategies_as_json() {
    let (code, out, err) = nodepack(&[
        "solve",
        "--pods",
        "scenarios/examples/pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
        "--strategy",
        "all",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let plans = v.as_array().unwrap();
    assert_eq!(plans.len(), 2);
    for p in plans {
        for k in [
            "strategy",
            "nodes",
            "existing",
            "unschedulable",
            "cost_per_hour",
            "lower_bound_per_hour",
            "solve_ms",
        ] {
            assert!(p.get(k).is_some(), "missing {k}");
        }
        let n = &p["nodes"][0];
        for k in [
            "name",
            "nodepool",
            "instance_type",
            "zone",
            "capacity_type",
            "price_per_hour",
            "pods",
        ] {
            assert!(n.get(k).is_some(), "node missing {k}");
        }
        assert!(
            p["cost_per_hour"].as_f64().unwrap() >= p["lower_bound_per_hour"].as_f64().unwrap()
        );
        let placed: usize = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["pods"].as_array().unwrap().len())
            .sum();
        assert_eq!(placed + p["unschedulable"].as_array().unwrap().len(), 43);
    }
}

#[test]
fn compare_runs_the_shipped_scenario() {
    let (code, out, err) = nodepack(&["compare", "scenarios/examples/shop.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("nodepack") && out.contains("karpenter"),
        "{out}"
    );
    assert!(out.contains("43 pending pods"), "{out}");
}

#[test]
fn bad_input_exits_2_and_names_the_field() {
    let dir = std::env::temp_dir().join(format!("nodepack-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 2x}}\n").unwrap();
    let (code, _, err) = nodepack(&[
        "solve",
        "--pods",
        bad.to_str().unwrap(),
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("spec.containers[0].resources.requests.cpu"),
        "{err}"
    );
    assert!(err.contains("\"2x\""), "{err}");
    let (code, _, err) = nodepack(&["compare", "no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.yaml"), "{err}");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nodepack-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn small_scenario(dir: &std::path::Path) -> String {
    let pools = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/sim/nodepools.yaml"
    );
    let path = dir.join("small.yaml");
    std::fs::write(
        &path,
        format!(
            "name: small\npurpose: test\nnodepools: {pools}\nhorizon: 30m\nseed: 4\nlb_samples: 3\n\
             workload:\n  generate:\n    services: [{{name: web, cpu_m: 900, memory_mi: 3100, steps: [[0, 12], [900, 6]]}}]\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn compare_replays_every_autoscaler_with_the_summary_fields() {
    let dir = temp_dir("compare");
    let sc = small_scenario(&dir);
    let (code, out, err) = nodepack(&["compare", &sc, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["nodepack", "karpenter", "cluster-autoscaler", "static"]
    );
    for r in runs {
        for k in [
            "strategy",
            "seed",
            "pods_total",
            "pods_scheduled",
            "pods_unschedulable",
            "cost_usd",
            "cost_spot_usd",
            "cost_on_demand_usd",
            "lower_bound_usd",
            "pending_seconds",
            "nodes_launched",
            "spot_interruptions",
            "pods_evicted",
            "sim_seconds",
            "wall_seconds",
            "events",
        ] {
            assert!(r.get(k).is_some(), "missing {k}");
        }
        for k in ["p50", "p90", "p99", "max"] {
            assert!(r["pending_seconds"][k].is_number());
        }
        assert_eq!(r["pods_total"], 12);
        assert_eq!(r["pods_scheduled"], 12, "{}", r["strategy"]);
        assert!(r["cost_usd"].as_f64().unwrap() >= r["lower_bound_usd"].as_f64().unwrap());
    }
    // Same seed, same output (but for the wall clock).
    let (_, again, _) = nodepack(&["compare", &sc, "--output", "json"]);
    let strip = |s: &str| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        for r in v["runs"].as_array_mut().unwrap() {
            r["wall_seconds"] = 0.into();
        }
        v
    };
    assert_eq!(strip(&out), strip(&again));
    // Several seeds: one row per strategy and seed.
    let (code, out, _) = nodepack(&[
        "compare",
        &sc,
        "--strategies",
        "nodepack,karpenter",
        "--seeds",
        "2",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 4);
}

#[test]
fn replay_a_trace_and_reject_bad_ones() {
    let dir = temp_dir("replay");
    let trace = dir.join("t.jsonl");
    let pod = r#"{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1","memory":"1Gi"}}}]}}"#;
    std::fs::write(
        &trace,
        format!("{{\"at\": 0, \"pod\": {pod}, \"runFor\": 600}}\n{{\"at\": 30, \"delete\": \"default/nope\"}}\n"),
    )
    .unwrap();
    let pools = "scenarios/sim/nodepools.yaml";
    let (code, out, err) = nodepack(&[
        "replay",
        "--trace",
        trace.to_str().unwrap(),
        "--nodepools",
        pools,
        "--strategy",
        "karpenter",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["runs"][0];
    assert_eq!(r["strategy"], "karpenter");
    assert_eq!(r["pods_completed"], 1);
    // Bad input: exit code 2, the line, field and value named.
    std::fs::write(
        &trace,
        format!("{}\n{{\"at\": \"soon\", \"delete\": \"x\"}}\n", ""),
    )
    .unwrap();
    let (code, _, err) = nodepack(&[
        "replay",
        "--trace",
        trace.to_str().unwrap(),
        "--nodepools",
        pools,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2.at") && err.contains("soon"), "{err}");
    let (code, _, err) = nodepack(&[
        "replay",
        "scenarios/sim/web-diurnal.yaml",
        "--strategy",
        "magic",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("magic"), "{err}");
}

/// Regression: a scenario with an inline, empty node pool list replayed with no pools at
/// all (a file with none was already refused); both are now bad input.
#[test]
fn scenario_without_node_pools_is_bad_input() {
    let dir = std::env::temp_dir().join(format!("nodepack-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("empty-pools.yaml");
    std::fs::write(
        &file,
        "name: e\npurpose: no pools\nnodepools: []\nhorizon: 10m\nworkload:\n  generate:\n    services: [{name: web, cpu_m: 500, memory_mi: 512, replicas: 2}]\n",
    )
    .unwrap();
    let (code, _, err) = nodepack(&["replay", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("(nodepools): no NodePool found"), "{err}");
}

/// The consolidation dry run on the shipped snapshot: the empty node goes first, the
/// do-not-disrupt cache node and the PDB-held worker node are never moved, and the
/// plan is the same JSON for the same `--now`.
#[test]
fn consolidate_dry_run_on_the_example_cluster() {
    let args = [
        "consolidate",
        "--nodes",
        "scenarios/examples/cluster-nodes.yaml",
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
        "--strategy",
        "all",
        "--now",
        "1795651200",
        "--output",
        "json",
    ];
    let (code, out, err) = nodepack(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let plans = v.as_array().unwrap();
    assert_eq!(plans.len(), 2);
    for p in plans {
        let moves = p["moves"].as_array().unwrap();
        assert_eq!(moves[0]["reason"], "Empty", "{p}");
        assert_eq!(moves[0]["nodes"][0], "ip-10-0-1-12");
        for m in moves {
            for n in m["nodes"].as_array().unwrap() {
                assert_ne!(n, "ip-10-0-1-13", "do-not-disrupt node moved");
                assert_ne!(n, "ip-10-0-1-14", "PDB-held node moved");
            }
        }
        assert!(p["cost_after"].as_i64() < p["cost_before"].as_i64(), "{p}");
    }
    let (_, again, _) = nodepack(&args);
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        for p in v.as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("solve_ms");
        }
        v
    };
    assert_eq!(strip(&out), strip(&again));
    // Bad input: exit code 2 with the file named.
    let (code, _, err) = nodepack(&[
        "consolidate",
        "--nodes",
        "scenarios/examples/pods.yaml",
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Node objects"), "{err}");
}
