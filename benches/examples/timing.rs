//! Rough wall-clock split of one solve, for profiling by hand.
use nodepack_benches::*;
use nodepack_solver::{lower_bound, solve, validate, Problem};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let which = args.get(2).cloned().unwrap_or("diverse".into());
    let (pods, catalog, pools) = match which.as_str() {
        "mixed" => (
            mixed_pods(n, 7),
            nodepack_formats::aws_us_east_1().clone(),
            vec![real_pool()],
        ),
        "pref" => (
            preference_pods(n, 42),
            karpenter_fake_catalog(),
            vec![benchmark_pool()],
        ),
        "plain" => (
            mixed_plain_pods(n, 7),
            nodepack_formats::aws_us_east_1().clone(),
            vec![real_pool()],
        ),
        "generic" => (
            generic_pods(n, 42),
            karpenter_fake_catalog(),
            vec![benchmark_pool()],
        ),
        w if w.starts_with("shapes:") => (
            shaped_pods(n, w[7..].parse().unwrap_or(1000), 42),
            nodepack_formats::aws_us_east_1().clone(),
            vec![real_pool()],
        ),
        _ => (
            diverse_pods(n, 42),
            karpenter_fake_catalog(),
            vec![benchmark_pool()],
        ),
    };
    let problem = Problem::new(&pods, &[], &pools, &catalog);
    let only = std::env::var("STRAT").ok();
    for s in ["nodepack", "karpenter"] {
        if only.as_deref().is_some_and(|o| o != s) {
            continue;
        }
        // A first solve untimed (it pays for the process's fresh memory pages), then
        // REPS timed ones (1 unless set); the fastest is reported.
        let reps: usize = std::env::var("REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let mut plan = solve(s, &problem).unwrap();
        let mut ts = std::time::Duration::MAX;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            plan = solve(s, &problem).unwrap();
            ts = ts.min(t.elapsed());
        }
        // NO_LB=1 skips the LP bound (it grows with the pod shapes times the types).
        let t = Instant::now();
        let lb = if std::env::var("NO_LB").is_ok() {
            nodepack_model::Money(0)
        } else {
            lower_bound(&problem, &plan).unwrap()
        };
        let tl = t.elapsed();
        let t = Instant::now();
        let e = validate(&problem, &plan);
        let tv = t.elapsed();
        // DIGEST=PREFIX writes the plan as JSON to PREFIX_{strategy}_{n}_{workload}.json.
        if let Ok(d) = std::env::var("DIGEST") {
            let j = serde_json::to_string(&plan).unwrap();
            std::fs::write(format!("{d}_{s}_{n}_{which}.json"), j).unwrap();
        }
        if std::env::var("BREAKDOWN").is_ok() {
            breakdown(&plan);
        }
        println!(
            "{s}: solve {ts:?} lb {tl:?} validate {tv:?} cost {} lb {} nodes {} unsched {} errs {}",
            plan.cost_per_hour,
            lb,
            plan.nodes.len(),
            plan.unschedulable.len(),
            e.len()
        );
    }
}

#[allow(dead_code)]
fn breakdown(plan: &nodepack_solver::Plan) {
    use std::collections::BTreeMap;
    let mut m: BTreeMap<(bool, String), (usize, f64, usize)> = BTreeMap::new();
    for n in &plan.nodes {
        let e = m
            .entry((
                n.name.contains("-p"),
                format!("{} {}", n.instance_type, n.capacity_type),
            ))
            .or_default();
        e.0 += 1;
        e.1 += n.price.usd();
        e.2 += n.pods.len();
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for ((packed, t), (n, c, p)) in v.iter().take(12) {
        println!(
            "  {} {t}: {n} nodes ${c:.2} {p} pods",
            if *packed { "packer" } else { "engine" }
        );
    }
}
