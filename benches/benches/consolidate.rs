//! Consolidation speed: one pass of each strategy over a fragmented cluster of 1,000
//! nodes and 30,000 pods on the real AWS catalog, on one core.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nodepack_benches::{fragmented_cluster, sim_pool};
use nodepack_solver::consolidate::{consolidator, ConsolidationProblem, CONSOLIDATORS};
use std::time::Duration;

fn pass(c: &mut Criterion) {
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![sim_pool()];
    let nodes = fragmented_cluster(catalog, &pools[0], 1000, 30_000, 7);
    let pairs = std::sync::Arc::new(nodepack_solver::internals::PoolCatalog::new(
        &pools, catalog,
    ));
    let problem = ConsolidationProblem {
        now: nodepack_model::Millis::from_mins(60),
        nodes: &nodes,
        status: &[],
        nodepools: &pools,
        catalog,
        pdbs: &[],
        pairs: Some(&pairs),
        pdb_allowed: None,
        spot_to_spot: false,
    };
    let mut g = c.benchmark_group("consolidate-1000-nodes-30000-pods");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for s in CONSOLIDATORS {
        let strategy = consolidator(s).expect("known");
        let plan = strategy.consolidate(&problem);
        eprintln!(
            "{s}: {} moves, {} evictions, ${:.2}/h -> ${:.2}/h",
            plan.moves.len(),
            plan.moves.iter().map(|m| m.evictions).sum::<u32>(),
            plan.cost_before.usd(),
            plan.cost_after.usd()
        );
        g.bench_with_input(BenchmarkId::new(*s, 1000), &problem, |b, p| {
            b.iter(|| strategy.consolidate(p))
        });
    }
    g.finish();
}

criterion_group!(benches, pass);
criterion_main!(benches);
