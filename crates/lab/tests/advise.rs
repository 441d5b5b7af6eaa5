//! The advisor end to end: a recommended change's diff applies to the NodePool file as
//! written, and replaying the patched file on the same seeds gives the saving reported;
//! pods that only the change can place are never left pending by a recommendation.

use nodepack_lab::advise::{advise, Request, Workload};
use nodepack_lab::{load_scenario, replay_all, Disk, PoolsSource};

fn root(p: &str) -> String {
    format!("{}/../../{p}", env!("CARGO_MANIFEST_DIR"))
}

fn costs(scenario: &str, pools: &str, seeds: &[u64]) -> Vec<f64> {
    seeds
        .iter()
        .map(|&s| {
            let (l, _) =
                load_scenario(&Disk, scenario, Some(s), Some(PoolsSource::File(pools))).unwrap();
            replay_all(&l, &["karpenter".to_string()], &[s], &|| {})[0]
                .summary
                .cost
                .usd()
        })
        .collect()
}

#[test]
fn adding_spot_is_recommended_and_its_diff_replays_to_the_saving_reported() {
    let scenario = root("scenarios/sim/karpenter-basic.yaml");
    let pools = root("scenarios/nodepools/getting-started.yaml");
    let request = Request::new(Workload::Scenario(scenario.clone()), "karpenter")
        .nodepools(&pools)
        .seeds(2)
        .budget(18);
    let report = advise(&Disk, &request, 2, &|_, _| {}).unwrap();
    assert!(report.replays <= 18, "{}", report.replays);
    let spot = report
        .recommended
        .iter()
        .filter_map(|id| report.candidate(id))
        .find(|c| {
            c.edits.len() == 1 && c.edits[0].kind == "add-spot" && c.edits[0].nodepool == "default"
        })
        .unwrap_or_else(|| panic!("add-spot not recommended: {:#?}", report.recommended));
    let d = spot.difference.unwrap();
    assert!(d.cost_usd.ci95_high < 0.0, "{d:?}");
    // The diff applies to the file as written ...
    let original = std::fs::read_to_string(&pools).unwrap();
    let patch = diffy::Patch::from_str(&spot.diff).unwrap();
    let patched = diffy::apply(&original, &patch).unwrap();
    let changed: Vec<&str> = spot
        .diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(
        changed,
        ["+      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}"]
    );
    // ... and the patched file, read again and replayed on the same seeds, saves what
    // was reported.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patched.yaml");
    std::fs::write(&file, &patched).unwrap();
    let before = costs(&scenario, &pools, &report.seeds);
    let after = costs(&scenario, file.to_str().unwrap(), &report.seeds);
    let mean: f64 =
        after.iter().zip(&before).map(|(a, b)| a - b).sum::<f64>() / before.len() as f64;
    assert!(
        (mean - d.cost_usd.mean).abs() < 1e-9,
        "{mean} vs {}",
        d.cost_usd.mean
    );
}

#[test]
fn pods_only_arm64_can_hold_are_never_left_pending_by_a_recommendation() {
    let scenario = root("crates/lab/tests/fixtures/arm64-pending.yaml");
    let request = Request::new(Workload::Scenario(scenario), "karpenter")
        .seeds(2)
        .budget(20);
    let report = advise(&Disk, &request, 2, &|_, _| {}).unwrap();
    let current = report.candidate("current").unwrap();
    assert_eq!(current.pods_without_place, 20, "the api pods have no place");
    assert!(!report.recommended.is_empty(), "{report:#?}");
    for id in report.recommended.iter().chain(&report.trade_offs) {
        let c = report.candidate(id).unwrap();
        assert_eq!(c.pods_without_place, 0, "{id}: {:?}", c.edits);
        assert!(
            c.edits.iter().any(|e| e.kind == "add-arm64"),
            "{id}: {:?}",
            c.edits
        );
        assert_eq!(c.mean.unwrap().pods_unschedulable, 0.0, "{id}");
    }
    // The same input gives the same report, on any number of threads.
    let again = advise(&Disk, &request, 1, &|_, _| {}).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&report).unwrap()
    );
    // No narrowing that takes a place away from a pod is ever replayed.
    for c in &report.candidates {
        if c.pods_without_place > current.pods_without_place {
            assert!(c.seeds.is_empty(), "{} replayed", c.id);
        }
    }
}

#[test]
fn a_trace_with_a_nodepool_file_is_advised_too() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("batch.jsonl");
    let pod = |i: usize| {
        format!(
            r#"{{"at": {}, "pod": {{"metadata": {{"name": "job-{i}"}}, "spec": {{"containers": [{{"name": "c", "resources": {{"requests": {{"cpu": "2", "memory": "4Gi"}}}}}}]}}}}, "runFor": 1800}}"#,
            i * 30
        )
    };
    let lines: Vec<String> = (0..40).map(pod).collect();
    std::fs::write(&trace, lines.join("\n")).unwrap();
    let pools = root("scenarios/nodepools/getting-started.yaml");
    let request = Request::new(trace_only(&trace), "karpenter")
        .nodepools(&pools)
        .seeds(2)
        .budget(12);
    let report = advise(&Disk, &request, 2, &|_, _| {}).unwrap();
    assert_eq!(report.workload, "batch");
    let current = report.candidate("current").unwrap();
    assert_eq!(current.seeds, vec![1, 2]);
    assert!(current.mean.unwrap().cost_usd > 0.0);
    assert!(report.replays <= 12);
    // Without a NodePool file, a trace is refused, saying what is missing.
    let bare = Request::new(trace_only(&trace), "karpenter");
    let e = nodepack_lab::advise::Advisor::new(&Disk, &bare)
        .unwrap_err()
        .to_string();
    assert!(e.contains("NodePool file"), "{e}");
}

/// The trace at `path`, with the embedded catalog and its own horizon.
fn trace_only(path: &std::path::Path) -> Workload {
    Workload::Trace {
        path: path.display().to_string(),
        catalog: None,
        horizon: None,
    }
}
