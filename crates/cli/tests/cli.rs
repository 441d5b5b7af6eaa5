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
