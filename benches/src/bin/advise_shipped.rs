//! `nodepack advise` over every shipped simulation scenario with Karpenter's
//! getting-started NodePool (on-demand only, c/m/r): for each, the wall time, the
//! replays spent, and the recommended change that adds spot with its saving and 95%
//! interval. Usage, from the repository root:
//! `cargo run --release -p nodepack-benches --bin advise_shipped -- [SEEDS] [BUDGET] [STRATEGY]`
//! (default 5 seeds, 60 replays, karpenter). Exits 1 if some scenario gets no such
//! recommendation.
use nodepack_lab::advise::{advise, Request, Workload};
use nodepack_lab::Disk;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let budget: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let strategy = args.get(3).cloned().unwrap_or_else(|| "karpenter".into());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut scenarios: Vec<String> = std::fs::read_dir("scenarios/sim")
        .expect("run from the repository root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml")
                && std::fs::read_to_string(p).is_ok_and(|t| t.contains("\nworkload:"))
        })
        .map(|p| p.display().to_string())
        .collect();
    scenarios.sort();
    let total = Instant::now();
    let mut missing = 0;
    for sc in &scenarios {
        let t = Instant::now();
        let request = Request::new(Workload::Scenario(sc.clone()), &strategy)
            .nodepools("scenarios/nodepools/getting-started.yaml")
            .seeds(seeds)
            .budget(budget);
        let report = match advise(&Disk, &request, workers, &|_, _| {}) {
            Ok(r) => r,
            Err(e) => {
                println!("{sc}: {e}");
                missing += 1;
                continue;
            }
        };
        let spot = report
            .recommended
            .iter()
            .filter_map(|id| report.candidate(id))
            .find(|c| c.edits.iter().any(|e| e.kind == "add-spot"));
        let line =
            match spot.and_then(|c| c.difference.map(|d| (c, d))) {
                Some((c, d)) => {
                    format!(
                "recommends {} ({}): cost {:+.1}% [{:+.1}, {:+.1}], ${:+.2} [{:+.2}, {:+.2}]",
                c.id,
                c.edits.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>().join(" + "),
                100.0 * d.cost_relative.mean,
                100.0 * d.cost_relative.ci95_low,
                100.0 * d.cost_relative.ci95_high,
                d.cost_usd.mean,
                d.cost_usd.ci95_low,
                d.cost_usd.ci95_high
            )
                }
                None => {
                    missing += 1;
                    format!(
                        "NO add-spot recommendation (recommended: {:?})",
                        report.recommended
                    )
                }
            };
        println!(
            "{}: {:.1} s, {} replays, {} recommended, {} trade-offs; {line}",
            report.workload,
            t.elapsed().as_secs_f64(),
            report.replays,
            report.recommended.len(),
            report.trade_offs.len()
        );
    }
    println!(
        "{} scenarios in {:.1} s ({workers} workers, {seeds} seeds, budget {budget}, {strategy})",
        scenarios.len(),
        total.elapsed().as_secs_f64()
    );
    if missing > 0 {
        std::process::exit(1);
    }
}
