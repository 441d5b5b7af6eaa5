//! The property layer of the fuzzing: generated and mutated documents fed to the CLI's
//! entry points (`solve`, `replay --trace`, `import`, `catalog`, `consolidate`). Whatever
//! the input, the binary exits 0 (an answer) or 2 (bad input, explained), never panics
//! (101) or aborts, finishes within a generous deadline, and every answer accounts for
//! every pod: a replay's `pods_total = pods_scheduled + pods_unschedulable +
//! deleted_before_binding`, a plan's pods are placed or unschedulable, once each. The
//! coverage-guided targets for the same readers are in `fuzz/` (see docs/fuzzing.md).

use proptest::prelude::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run that takes longer than this is a hang (the inputs here are tiny).
const DEADLINE: Duration = Duration::from_secs(120);

/// Run the binary with `stdin` as standard input; (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodepack"))
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nodepack");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    // Read both pipes on threads so a large output cannot block the child.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("nodepack {args:?} ran past {DEADLINE:?} on input:\n{stdin}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    (
        status.code().unwrap_or(-1),
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    )
}

/// Exit 0 or 2, and an error (2) says something.
fn assert_answer(code: i32, err: &str, input: &str) {
    assert!(
        code == 0 || code == 2,
        "exit {code} (0 or 2 expected)\nstderr: {err}\ninput:\n{input}"
    );
    if code == 2 {
        assert!(err.contains("error"), "exit 2 without an error: {err}");
    }
}

use nodepack_testkit::mutate;

/// Fragments a mutation splices in: numbers at and past every ceiling, wrong types,
/// YAML and JSON syntax, names that clash.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~\\n]{0,8}",
        Just("1e300".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("9223372036854775807".to_string()),
        Just("1700000000".to_string()),
        Just("\"\"".to_string()),
        Just("null".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("&a [*a]".to_string()),
        Just("\u{0}".to_string()),
        Just("web-0".to_string()),
        Just("100000Gi".to_string()),
        Just("\"nvidia.com/gpu\": 9".to_string()),
    ]
}

fn pod_json(name: &str, cpu_m: u64, mem_mi: u64, gpu: u64) -> String {
    let gpu = if gpu > 0 {
        format!(r#","nvidia.com/gpu":"{gpu}""#)
    } else {
        String::new()
    };
    let limits = if gpu.is_empty() {
        String::new()
    } else {
        format!(r#","limits":{{{}}}"#, &gpu[1..])
    };
    format!(
        r#"{{"metadata":{{"name":"{name}","labels":{{"app":"a"}}}},"spec":{{"containers":[{{"name":"c","resources":{{"requests":{{"cpu":"{cpu_m}m","memory":"{mem_mi}Mi"{gpu}}}{limits}}}}}],"tolerations":[{{"operator":"Exists"}}]}}}}"#
    )
}

/// One trace event: an arrival (maybe with a run time) or a deletion, of one of a few
/// names, so that deletions of pending, running, finished and unknown pods and repeated
/// names all occur.
fn event() -> impl Strategy<Value = (u32, u8, bool, u64, u64, u64, Option<u32>)> {
    (
        0u32..7200,
        0u8..12,
        prop::bool::weighted(0.3),
        prop_oneof![100u64..4000, Just(900_000u64)],
        128u64..16384,
        prop_oneof![4 => Just(0u64), 1 => 1u64..4],
        prop::option::of(10u32..3600),
    )
}

fn trace_text(events: &[(u32, u8, bool, u64, u64, u64, Option<u32>)]) -> String {
    let mut ev = events.to_vec();
    ev.sort_by_key(|e| e.0);
    let mut s = String::new();
    for (at, name, delete, cpu, mem, gpu, run_for) in ev {
        let name = format!("p{name}");
        if delete {
            s.push_str(&format!(r#"{{"at":{at},"delete":"default/{name}"}}"#));
        } else {
            let rf = run_for
                .map(|r| format!(r#","runFor":{r}"#))
                .unwrap_or_default();
            s.push_str(&format!(
                r#"{{"at":{at},"pod":{}{rf}}}"#,
                pod_json(&name, cpu, mem, gpu)
            ));
        }
        s.push('\n');
    }
    s
}

/// The autoscalers `replay` takes.
const STRATEGIES: [&str; 5] = [
    "nodepack",
    "nodepack-lean",
    "karpenter",
    "cluster-autoscaler",
    "static",
];

/// Replay `trace` from standard input with `strategy`; check the answer and, when it is
/// a replay, the accounting identity of every run.
fn replay(trace: &str, strategy: usize) {
    let (code, out, err) = run(
        &[
            "replay",
            "--trace",
            "-",
            "--nodepools",
            "scenarios/sim/nodepools.yaml",
            "--strategy",
            STRATEGIES[strategy % STRATEGIES.len()],
            "--horizon",
            "3h",
            "--output",
            "json",
            "-q",
        ],
        trace,
    );
    assert_answer(code, &err, trace);
    if std::env::var_os("NODEPACK_FUZZ_VERBOSE").is_some() {
        eprintln!("replay exit {code}: {}", err.lines().next().unwrap_or(""));
    }
    if code != 0 {
        return;
    }
    let v: serde_json::Value = serde_json::from_str(&out).expect("replay JSON");
    for r in v["runs"].as_array().expect("runs") {
        let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {r}"));
        assert_eq!(
            n("pods_total"),
            n("pods_scheduled") + n("pods_unschedulable") + n("deleted_before_binding"),
            "accounting identity broken for {}\ninput:\n{trace}",
            r["strategy"]
        );
    }
}

const PODS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, resources: {requests: {cpu: 500m, memory: 1Gi}}}]\n      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: big, namespace: ml}\nspec:\n  nodeSelector: {karpenter.k8s.aws/instance-family: m5}\n  containers: [{name: c, resources: {requests: {cpu: \"4\", memory: 8Gi}}}]\n";

const POOLS: &str = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: general}\nspec:\n  limits: {cpu: \"64\"}\n  template:\n    spec:\n      requirements:\n      - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}\n      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m5, c5, r5], minValues: 2}\n";

const ALIBABA: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\npod-a,12000,16384,1,1000,,LS,Running,0,500,0\npod-b,6000,12288,1,460,T4,BE,Succeeded,10,400,12\n";

/// Solve `pods` on `pools` (files written to a fresh folder); check the answer and that
/// every pending pod is placed or unschedulable, once.
fn solve(case: &str, pods: &str, pools: &str) {
    let dir = std::env::temp_dir().join(format!("nodepack-fuzz-cli-{}-{case}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pf, nf) = (dir.join("pods.yaml"), dir.join("pools.yaml"));
    std::fs::write(&pf, pods).unwrap();
    std::fs::write(&nf, pools).unwrap();
    let (code, out, err) = run(
        &[
            "solve",
            "--pods",
            pf.to_str().unwrap(),
            "--nodepools",
            nf.to_str().unwrap(),
            "--strategy",
            "all",
            "--output",
            "json",
            "-q",
        ],
        "",
    );
    let input = format!("{pods}\n---- pools:\n{pools}");
    assert_answer(code, &err, &input);
    if code != 0 {
        return;
    }
    let v: serde_json::Value = serde_json::from_str(&out).expect("solve JSON");
    let mut counts = Vec::new();
    for p in v.as_array().expect("plans") {
        let mut seen = std::collections::BTreeSet::new();
        let ids = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["pods"].as_array().unwrap().iter())
            .chain(
                p["unschedulable"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| &u["pod"]),
            )
            .chain(p["existing"].as_array().unwrap().iter().map(|b| &b["pod"]));
        for id in ids {
            assert!(
                seen.insert(id.to_string()),
                "pod {id} twice in {}",
                p["strategy"]
            );
        }
        counts.push(seen.len());
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "{counts:?}\n{input}"
    );
}

proptest! {
    // 24 cases each in `cargo test`; NODEPACK_FUZZ_CASES=N for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("NODEPACK_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Generated traces (arrivals, deletions of pending, running, finished and unknown
    /// pods, repeated names, pods too large for any node, GPU pods) replay with the
    /// identity, or are refused with exit 2 (a repeated live name).
    #[test]
    fn generated_traces_replay_with_every_pod_accounted(
        events in prop::collection::vec(event(), 1..12), strategy in 0usize..5,
    ) {
        replay(&trace_text(&events), strategy);
    }

    /// Mutated traces: exit 0 or 2, never a panic, identity when they replay.
    #[test]
    fn mutated_traces_are_answered_or_refused(
        events in prop::collection::vec(event(), 1..5),
        at in 0usize..2000, len in 0usize..12, with in fragment(), strategy in 0usize..5,
    ) {
        replay(&mutate(&trace_text(&events), at, len, &with), strategy);
    }

    /// Mutated manifests and NodePools: exit 0 or 2; a plan places each pod once.
    #[test]
    fn mutated_manifests_and_pools_are_answered_or_refused(
        at in 0usize..800, len in 0usize..12, with in fragment(), which in 0u8..2,
    ) {
        let (pods, pools) = if which == 0 {
            (mutate(PODS, at, len, &with), POOLS.to_string())
        } else {
            (PODS.to_string(), mutate(POOLS, at, len, &with))
        };
        solve(&format!("{at}-{len}-{which}"), &pods, &pools);
    }

    /// Every importer, on mutated input from standard input: exit 0 or 2.
    #[test]
    fn mutated_imports_are_answered_or_refused(
        at in 0usize..400, len in 0usize..12, with in fragment(), format in 0usize..4,
    ) {
        let (f, base) = [
            ("alibaba-gpu-2023", ALIBABA.to_string()),
            ("kubectl", format!(r#"{{"kind":"List","items":[{}]}}"#, pod_json("a", 500, 512, 0))),
            ("google-2019", "{\"time\":1000000,\"type\":\"SUBMIT\",\"collection_id\":1,\"instance_index\":0,\"resource_request\":{\"cpus\":0.01,\"memory\":0.01}}\n{\"time\":2000000,\"type\":\"FINISH\",\"collection_id\":1,\"instance_index\":0}\n".to_string()),
            ("simkube", r#"{"version":2,"events":[{"ts":0,"applied_objs":[{"kind":"Pod","metadata":{"name":"a","namespace":"d"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}}],"deleted_objs":[]}]}"#.to_string()),
        ][format].clone();
        let input = mutate(&base, at, len, &with);
        let (code, _, err) = run(&["import", "--format", f, "-"], &input);
        assert_answer(code, &err, &input);
        prop_assert!(nodepack_formats::import::invariants(f, &input).is_ok(),
            "{:?}", nodepack_formats::import::invariants(f, &input));
    }

    /// `catalog --requirements` with mutated expressions: exit 0 or 2.
    #[test]
    fn mutated_catalog_requirements_are_answered_or_refused(
        at in 0usize..60, len in 0usize..6, with in fragment(),
    ) {
        // A command-line argument cannot hold a NUL byte (the OS refuses it).
        let expr = mutate("karpenter.k8s.aws/instance-family In [m5,c5]", at, len, &with).replace('\0', " ");
        let (code, _, err) = run(&["catalog", "--requirements", &expr, "--output", "json"], "");
        assert_answer(code, &err, &expr);
    }
}
