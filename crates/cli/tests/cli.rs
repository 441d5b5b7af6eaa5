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

/// `nodepack catalog --requirements REQ --output json`, parsed.
fn catalog_json(req: &str) -> serde_json::Value {
    let (code, out, err) = nodepack(&["catalog", "--requirements", req, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn catalog_lists_m5_with_prices() {
    let v = catalog_json("karpenter.k8s.aws/instance-family In m5");
    assert_eq!(v["catalog"], "aws/us-east-1");
    assert!(v["data_date"].as_str().unwrap().contains("2026-08"));
    let rows = v["instance_types"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let large = rows.iter().find(|r| r["name"] == "m5.large").unwrap();
    assert_eq!(large["allocatable"]["cpu_millicores"], 1930);
    assert_eq!(large["on_demand_usd_per_hour"], 0.096);
    assert!(large["spot_usd_per_hour_min"].as_f64().unwrap() < 0.096);
}

/// Regression (honest numbers): the catalog had no spot offering for any type launched
/// after mid-2025 (r8i among them). Every r8i size now has spot offerings, each with its
/// interruption bucket (a known one, or "unknown" where the feed has none).
#[test]
fn catalog_has_spot_offerings_with_buckets_for_new_families() {
    let v = catalog_json("karpenter.k8s.aws/instance-family In r8i");
    let rows = v["instance_types"].as_array().unwrap();
    assert_eq!(rows.len(), 13, "every r8i size");
    for r in rows {
        let spot: Vec<&serde_json::Value> = r["offerings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["capacity_type"] == "spot")
            .collect();
        assert!(!spot.is_empty(), "{} has no spot offering", r["name"]);
        for o in spot {
            assert!(o["interruption"].is_string(), "{o}");
            assert!(
                o["price_usd_per_hour"].as_f64().unwrap()
                    <= r["on_demand_usd_per_hour"].as_f64().unwrap()
            );
        }
    }
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
        [
            "nodepack",
            "nodepack-lean",
            "karpenter",
            "cluster-autoscaler",
            "static"
        ]
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
        // Dollars per hour, as every other command prints (they were micro-dollars).
        let (before, after) = (
            p["cost_before_per_hour"].as_f64().unwrap(),
            p["cost_after_per_hour"].as_f64().unwrap(),
        );
        assert!(after < before && before < 100.0, "{p}");
        for m in moves {
            assert!(m["savings_per_hour"].as_f64().unwrap() < 100.0, "{m}");
            // Never -0.0.
            assert!(
                !m["disruption_cost"].as_f64().unwrap().is_sign_negative(),
                "{m}"
            );
        }
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
        "scenarios/examples/nodepools.yaml",
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Node objects"), "{err}");
}

/// The browser to render reports with: `NODEPACK_CHROMIUM`, else Debian's chromium.
fn chromium() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("NODEPACK_CHROMIUM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    p.exists().then_some(p)
}

/// Headless Chromium with the flags this machine's closed network needs.
fn headless(browser: &std::path::Path, profile: &std::path::Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn report_has_every_chart_and_the_table_in_a_real_browser() {
    let dir = temp_dir("report");
    let sc = small_scenario(&dir);
    let report = dir.join("report.html");
    let (code, _, err) = nodepack(&["compare", &sc, "--report", report.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&report).unwrap();
    for id in ["cost", "nodes", "pending", "latency", "cpu", "memory"] {
        assert!(html.contains(&format!("id=\"chart-{id}\"")), "{id}");
    }
    let Some(browser) = chromium() else {
        // .ci/run installs Chromium and sets NODEPACK_REQUIRE_CHROMIUM=1, so CI never
        // passes this test without the browser.
        assert!(
            std::env::var_os("NODEPACK_REQUIRE_CHROMIUM").is_none(),
            "NODEPACK_REQUIRE_CHROMIUM is set but no Chromium at /usr/bin/chromium or NODEPACK_CHROMIUM"
        );
        eprintln!("Chromium not installed: the browser half of this test did not run");
        return;
    };
    let url = format!("file://{}", report.display());
    let out = headless(&browser, &dir.join("profile"))
        .args(["--dump-dom", &url])
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    // The browser parsed six charts, each an SVG with its axes' text, and the table.
    for id in ["cost", "nodes", "pending", "latency", "cpu", "memory"] {
        let at = dom
            .find(&format!("id=\"chart-{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing from the rendered DOM"));
        let fig = &dom[at..at + dom[at..].find("</figure>").unwrap()];
        assert!(fig.contains("<svg"), "{id}");
        assert!(fig.contains("<text"), "{id}: axis labels");
    }
    let table = &dom[dom.find("id=\"summary\"").expect("table")..];
    let table = &table[..table.find("</table>").unwrap()];
    for s in ["nodepack", "karpenter", "cluster-autoscaler", "static"] {
        assert!(table.contains(&format!("<td>{s}</td>")), "{s} row");
    }
    // And it draws: a screenshot of the whole page is a real picture.
    let png = dir.join("report.png");
    let out = headless(&browser, &dir.join("profile"))
        .arg(format!("--screenshot={}", png.display()))
        .args(["--window-size=1400,2200", &url])
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 50_000,
        "a {} byte screenshot is blank",
        bytes.len()
    );
}

#[test]
fn import_pipes_into_replay_and_counts_rows() {
    let fixture = "crates/formats/tests/fixtures/import/alibaba-gpu-2023.csv";
    let (code, trace, err) = nodepack(&["import", "--format", "alibaba-gpu-2023", fixture]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5 of 7 rows converted, 2 skipped"), "{err}");
    assert!(err.contains("bad number in cpu_milli"), "{err}");
    assert_eq!(trace.lines().count(), 10);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodepack"))
        .args([
            "replay",
            "--trace",
            "-",
            "--nodepools",
            "scenarios/traces/nodepools.yaml",
            "--output",
            "json",
        ])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(trace.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["runs"][0];
    assert_eq!(r["pods_total"], 5);
    assert_eq!(r["pods_unschedulable"], 0, "{r}");
    assert!(r["cost_usd"].as_f64().unwrap() > 0.0);
    // JSON report and quiet mode.
    let (_, _, err) = nodepack(&[
        "import",
        "--format",
        "kubectl",
        "--output",
        "json",
        "crates/formats/tests/fixtures/import/kubectl-pods.json",
    ]);
    let rep: serde_json::Value = serde_json::from_str(&err).unwrap();
    assert_eq!(rep["converted"], 2);
    let (code, _, err) = nodepack(&[
        "import",
        "-q",
        "--format",
        "kubectl",
        "crates/formats/tests/fixtures/import/kubectl-pods.json",
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    let (code, _, err) = nodepack(&["import", "--format", "borg", fixture]);
    assert_eq!(code, 2);
    assert!(err.contains("google-2019"), "{err}");
}

#[test]
fn explain_says_why_each_type_won_and_why_pods_fit_nowhere() {
    let dir = temp_dir("explain");
    let huge = dir.join("huge.yaml");
    std::fs::write(
        &huge,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: huge}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: \"900\", memory: 1Gi}}\n",
    )
    .unwrap();
    let (code, out, err) = nodepack(&[
        "explain",
        "--pods",
        "scenarios/examples/pods.yaml",
        huge.to_str().unwrap(),
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let e = &v["explanation"];
    let nodes = e["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), v["nodes"].as_array().unwrap().len());
    for n in nodes {
        let chosen = n["chosen"]["price"].as_i64().unwrap();
        if let Some(next) = n["next_type"]["price"].as_i64() {
            assert!(next >= chosen, "{n}");
        }
        assert!(
            n["summary"]
                .as_str()
                .unwrap()
                .contains("next cheapest type"),
            "{n}"
        );
    }
    let u = &e["unschedulable"][0];
    assert_eq!(u["pod"]["name"], "huge");
    let pools = u["pools"].as_array().unwrap();
    assert!(!pools.is_empty());
    for p in pools {
        let why = p["pool_reason"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| p["types_by_reason"].to_string());
        assert!(
            why.contains("too small: cpu") || why.contains("taint"),
            "{p}"
        );
        assert_eq!(p["types_that_fit"], 0);
    }
    // The same through solve --explain, as a table.
    let (code, out, _) = nodepack(&[
        "solve",
        "--explain",
        "--pods",
        huge.to_str().unwrap(),
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("pod default/huge cannot be scheduled"),
        "{out}"
    );
    assert!(out.contains("too small: cpu"), "{out}");
}

#[test]
fn every_command_writes_csv() {
    let csv_lines = |args: &[&str]| {
        let (code, out, err) = nodepack(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let l = csv_lines(&[
        "catalog",
        "--requirements",
        "node.kubernetes.io/instance-type In m5.large,m5.xlarge",
        "--output",
        "csv",
    ]);
    assert_eq!(l[0], "type,arch,vCPU,memory MiB,alloc cpu,alloc memory MiB,pods,GPUs,on-demand $/h,spot $/h (min),interruption");
    assert_eq!(l.len(), 3, "{l:?}");
    let l = csv_lines(&[
        "solve",
        "--pods",
        "scenarios/examples/pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
        "--strategy",
        "all",
        "--output",
        "csv",
    ]);
    assert!(l[0].starts_with("strategy,node,pool,type"));
    assert!(
        l.iter().any(|r| r.starts_with("karpenter,"))
            && l.iter().any(|r| r.starts_with("nodepack,"))
    );
    let l = csv_lines(&["compare", "scenarios/examples/shop.yaml", "--output", "csv"]);
    assert_eq!(l.len(), 3, "{l:?}");
    let dir = temp_dir("csv");
    let sc = small_scenario(&dir);
    let l = csv_lines(&["replay", &sc, "--output", "csv"]);
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(l[1].starts_with("nodepack,4,"), "{l:?}");
    let l = csv_lines(&[
        "consolidate",
        "--nodes",
        "scenarios/examples/cluster-nodes.yaml",
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
        "--output",
        "csv",
    ]);
    assert!(l[0].starts_with("strategy,#,reason"), "{l:?}");
    assert!(l.len() >= 2, "{l:?}");
}

#[test]
fn rust_log_turns_on_logs_and_quiet_keeps_standard_error_empty() {
    let dir = temp_dir("logs");
    let sc = small_scenario(&dir);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO_BIN_EXE_nodepack"))
        .args(["replay", &sc, "--output", "json"])
        .env("RUST_LOG", "info")
        .current_dir(root)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("scenario loaded") && err.contains("replay done"),
        "{err}"
    );
    assert!(err.contains("strategy=nodepack"), "{err}");
    // Without RUST_LOG nothing is logged; with --quiet a warning is not printed either.
    let (code, _, err) = nodepack(&["replay", &sc, "--output", "json"]);
    assert_eq!(code, 0);
    assert!(!err.contains("replay done"), "{err}");
    // A pending pod beside the snapshot makes consolidate warn (names distinct from the
    // snapshot's: a name twice is an error).
    let pending = temp_dir("quiet").join("pending.yaml");
    std::fs::write(
        &pending,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: waiting}\nspec: {containers: [{name: c, resources: {requests: {cpu: 100m}}}]}\n",
    )
    .unwrap();
    let (code, _, err) = nodepack(&[
        "consolidate",
        "--quiet",
        "--nodes",
        "scenarios/examples/cluster-nodes.yaml",
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        pending.to_str().unwrap(),
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
}

/// `compare --seeds K` carries each metric's mean and 95% interval per strategy and the
/// paired differences; `--nodepools` replaces the scenario's pools (here an on-demand
/// only set, so no spot is bought).
#[test]
fn compare_over_seeds_reports_intervals_and_takes_other_nodepools() {
    let dir = temp_dir("compare-seeds");
    let sc = small_scenario(&dir);
    let set = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/nodepools/getting-started.yaml"
    );
    let (code, out, err) = nodepack(&[
        "compare",
        &sc,
        "--strategies",
        "nodepack,karpenter",
        "--seeds",
        "3",
        "--nodepools",
        set,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 6);
    assert_eq!(v["nodepools"][0], "default");
    for r in v["runs"].as_array().unwrap() {
        assert_eq!(r["cost_spot_usd"], 0.0, "on-demand only pools");
        let (t, s, u, d) = (
            &r["pods_total"],
            &r["pods_scheduled"],
            &r["pods_unschedulable"],
            &r["deleted_before_binding"],
        );
        assert_eq!(
            t.as_u64().unwrap(),
            s.as_u64().unwrap() + u.as_u64().unwrap() + d.as_u64().unwrap()
        );
    }
    let st = &v["statistics"];
    assert_eq!(st["seeds"], 3);
    let cost = &st["strategies"]["nodepack"]["cost_usd"];
    for k in ["mean", "ci95_low", "ci95_high"] {
        assert!(cost[k].is_number(), "{k}: {cost}");
    }
    assert!(cost["ci95_low"].as_f64() <= cost["mean"].as_f64());
    let p = &st["paired"][0];
    assert_eq!(
        (&p["strategy"], &p["against"]),
        (&"nodepack".into(), &"karpenter".into())
    );
    assert!(p["metrics"]["cost_usd"]["relative"]["mean"].is_number());
    // The table prints the intervals too.
    let (code, out, err) = nodepack(&[
        "compare",
        &sc,
        "--strategies",
        "nodepack,karpenter",
        "--seeds",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("paired differences") && out.contains("nodepack vs karpenter: cost"),
        "{out}"
    );
}

/// Regression: the same pods passed twice, or a Deployment `web` beside a Pod `web-0`,
/// ended as "internal failure: ... invalid plan" (exit 1); two nodes of one name let
/// consolidate plan to delete the one holding a pod. Names are identities: exit 2
/// naming both places.
#[test]
fn duplicate_pod_and_node_names_are_refused_naming_both_places() {
    let pods = "scenarios/examples/pods.yaml";
    let pools = "scenarios/examples/nodepools.yaml";
    let (code, _, err) = nodepack(&["solve", "--pods", pods, pods, "--nodepools", pools]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("appears twice") && err.contains(pods), "{err}");
    let dir = temp_dir("dup");
    let f = dir.join("web.yaml");
    std::fs::write(
        &f,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, resources: {requests: {cpu: 100m}}}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-0}\nspec: {containers: [{name: c, resources: {requests: {cpu: 100m}}}]}\n",
    )
    .unwrap();
    let (code, _, err) = nodepack(&["solve", "--pods", f.to_str().unwrap(), "--nodepools", pools]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("default/web-0"), "{err}");
    let nodes = "scenarios/examples/cluster-nodes.yaml";
    let (code, _, err) = nodepack(&[
        "consolidate",
        "--nodes",
        nodes,
        "--pods",
        "scenarios/examples/cluster-pods.yaml",
        nodes,
        "--nodepools",
        pools,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("node ") && err.contains("appears twice"),
        "{err}"
    );
}

/// Regression: `replay SCENARIO --catalog X --horizon 1h` ignored both flags;
/// `--horizon Never` meant the default; `--horizon 999999h`, `--seeds 4294967295` and a
/// trace timed in Unix seconds ran for minutes; an unwritable `--report` was found only
/// after the run. Each is now an error (exit 2) before any replay.
#[test]
fn unbounded_or_ignored_flags_are_refused_before_work_starts() {
    let dir = temp_dir("flags");
    let sc = small_scenario(&dir);
    let trace = dir.join("unix.jsonl");
    std::fs::write(
        &trace,
        "{\"at\": 1700000000, \"pod\": {\"metadata\": {\"name\": \"p\"}, \"spec\": {\"containers\": [{\"name\": \"c\", \"resources\": {\"requests\": {\"cpu\": \"100m\"}}}]}}}\n",
    )
    .unwrap();
    let pools = "scenarios/sim/nodepools.yaml";
    let t = trace.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["replay", &sc, "--horizon", "1h"],
            "--horizon applies to --trace",
        ),
        (
            vec!["replay", &sc, "--catalog", "aws/us-east-1"],
            "--catalog applies to --trace",
        ),
        (
            vec![
                "replay",
                "--trace",
                t,
                "--nodepools",
                pools,
                "--horizon",
                "Never",
            ],
            "--horizon",
        ),
        (
            vec![
                "replay",
                "--trace",
                t,
                "--nodepools",
                pools,
                "--horizon",
                "999999h",
            ],
            "a year",
        ),
        (
            vec!["replay", "--trace", t, "--nodepools", pools],
            "Unix timestamp",
        ),
        (vec!["compare", &sc, "--seeds", "4294967295"], "--seeds"),
        (vec!["replay", &sc, "--pending-value=-1"], "--pending-value"),
        (
            vec!["compare", &sc, "--pending-value", "1e12"],
            "--pending-value",
        ),
        (
            vec![
                "compare",
                "scenarios/examples/cluster-nodes.yaml",
                "--pending-value",
                "3",
            ],
            "provisioning scenario",
        ),
        (
            vec!["replay", &sc, "--report", "/no/such/dir/r.html"],
            "--report",
        ),
    ];
    for (args, says) in cases {
        let (code, _, err) = nodepack(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `--pending-value` reaches the launch hedge, over the scenario's default: at zero no
/// spare pays for itself and none is launched; by default the bursts of one-GPU launches
/// share some.
#[test]
fn pending_value_flag_sets_the_hedge() {
    let spares = |extra: &[&str]| {
        let mut args = vec![
            "-q",
            "replay",
            "scenarios/sim/gpu-inference-bursty.yaml",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = nodepack(&args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["runs"][0]["disruptions"]["unneeded spare"]
            .as_u64()
            .unwrap_or(0)
    };
    assert!(spares(&[]) > 0);
    assert_eq!(spares(&["--pending-value", "0"]), 0);
}

/// Regression: a closed standard input for `--pods -` was read as an empty input and the
/// command succeeded with nothing to do.
#[test]
fn empty_standard_input_is_an_error() {
    let (code, _, err) = nodepack(&[
        "solve",
        "--pods",
        "-",
        "--nodepools",
        "scenarios/examples/nodepools.yaml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("standard input is empty"), "{err}");
}

#[test]
fn advise_prints_recommendations_with_diffs_and_writes_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("advice.html");
    let (code, out, err) = nodepack(&[
        "-q",
        "advise",
        "crates/lab/tests/fixtures/arm64-pending.yaml",
        "--seeds",
        "2",
        "--budget",
        "16",
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Recommended "), "{out}");
    assert!(
        out.contains("+      - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}"),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("id=\"candidates\""));
    // Bad input: exit code 2, naming the flag and the value.
    for (args, says) in [
        (
            vec![
                "advise",
                "scenarios/sim/karpenter-basic.yaml",
                "--budget",
                "3",
            ],
            "budget 3",
        ),
        (
            vec![
                "advise",
                "scenarios/sim/karpenter-basic.yaml",
                "--seeds",
                "0",
            ],
            "seeds 0",
        ),
        (
            vec![
                "advise",
                "scenarios/sim/karpenter-basic.yaml",
                "--strategy",
                "karpentr",
            ],
            "karpentr",
        ),
        (vec!["advise", "--trace", "x.jsonl"], "--nodepools"),
    ] {
        let (code, _, err) = nodepack(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
