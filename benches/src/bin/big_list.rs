//! Read and solve one large `kubectl get pods -o json` list: N pending pods (100 distinct
//! requests, 500 ReplicaSets, two labels each) as JSON text, read with
//! `nodepack_formats::read_workload`, solved with one strategy on the general pool of the
//! simulation scenarios (no limits) and the embedded AWS catalog, and validated; prints
//! the text size, each step's wall time and the peak RSS. Usage:
//! `cargo run --release -p nodepack-benches --bin big_list -- [PODS] [STRATEGY]`
//! (defaults 300000, nodepack).
use nodepack_benches::{peak_rss_mib, sim_pool};
use std::time::Instant;

fn list_json(n: usize) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let shapes: Vec<(u64, u64)> = (0..100)
        .map(|_| {
            (
                [100, 250, 500, 1000, 2000][rng.random_range(0..5)],
                [128, 256, 512, 1024, 2048, 4096][rng.random_range(0..6)],
            )
        })
        .collect();
    let mut s = String::from(r#"{"apiVersion":"v1","items":["#);
    for i in 0..n {
        let (c, m) = shapes[i % shapes.len()];
        let app = format!("app-{}", i % 500);
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{app}-{i}","namespace":"default","labels":{{"app":"{app}","team":"t{t}"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"{app}-rs","uid":"x","controller":true}}]}},"spec":{{"containers":[{{"name":"main","image":"registry.example/app:1.0","resources":{{"requests":{{"cpu":"{c}m","memory":"{m}Mi"}}}}}}]}},"status":{{"phase":"Pending"}}}}"#,
            t = i % 20
        ));
    }
    s.push_str(r#"],"kind":"List","metadata":{}}"#);
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(300_000);
    let strategy = args.get(2).cloned().unwrap_or_else(|| "nodepack".into());
    let text = list_json(n);
    let t = Instant::now();
    let w = match nodepack_formats::read_workload("pods.json", &text) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let read = t.elapsed().as_secs_f64();
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![sim_pool()];
    let problem = nodepack_solver::Problem::new(&w.pending, &[], &pools, catalog);
    let t = Instant::now();
    let plan = match nodepack_solver::solve(&strategy, &problem) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let solve = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let problems = nodepack_solver::validate(&problem, &plan);
    let valid = t.elapsed().as_secs_f64();
    println!(
        "{strategy}: {} pods, {:.0} MB of JSON, read in {read:.2} s, solved in {solve:.2} s ({} nodes, {} unschedulable, ${:.2}/h), validated in {valid:.2} s ({} problems), peak RSS {:.0} MiB",
        w.pending.len(),
        text.len() as f64 / 1e6,
        plan.nodes.len(),
        plan.unschedulable.len(),
        plan.cost_per_hour.usd(),
        problems.len(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
