//! Solver speed: Karpenter's scheduling benchmark (diverse 1k-20k pods on the 400-type
//! fake catalog, 4,000 preference pods) and mixed workloads on the real AWS catalog.
//! One `Strategy::solve` call per iteration, on one core.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use nodepack_benches::*;
use nodepack_solver::{lower_bound, solve, Problem};
use std::time::Duration;

/// Both strategies on `problem`, as `nodepack/{param}` and `karpenter/{param}`.
fn both(g: &mut BenchmarkGroup<'_, WallTime>, param: impl std::fmt::Display, problem: &Problem) {
    for s in ["nodepack", "karpenter"] {
        g.bench_with_input(BenchmarkId::new(s, &param), problem, |b, p| {
            b.iter(|| solve(s, p))
        });
    }
}

fn diverse(c: &mut Criterion) {
    let catalog = karpenter_fake_catalog();
    let pools = vec![benchmark_pool()];
    let mut g = c.benchmark_group("karpenter-diverse");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [1000usize, 5000, 10_000, 20_000] {
        let pods = diverse_pods(n, 42);
        let problem = Problem::new(&pods, &[], &pools, &catalog);
        g.throughput(Throughput::Elements(n as u64));
        both(&mut g, n, &problem);
    }
    g.finish();
    let mut g = c.benchmark_group("karpenter-preference");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let pods = preference_pods(4000, 42);
    let problem = Problem::new(&pods, &[], &pools, &catalog);
    g.throughput(Throughput::Elements(4000));
    both(&mut g, 4000, &problem);
    g.finish();
}

fn real(c: &mut Criterion) {
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![real_pool()];
    let mut g = c.benchmark_group("aws-mixed");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [5000usize, 50_000] {
        let pods = mixed_pods(n, 7);
        let problem = Problem::new(&pods, &[], &pools, catalog);
        g.throughput(Throughput::Elements(n as u64));
        both(&mut g, n, &problem);
        let plan = solve("nodepack", &problem).expect("strategy");
        g.bench_with_input(BenchmarkId::new("lower-bound", n), &problem, |b, p| {
            b.iter(|| lower_bound(p, &plan).unwrap())
        });
    }
    g.finish();
}

/// Many distinct pod shapes (`shaped_pods`: 5 pods of each of 1,000 shapes, 2 of each
/// of 10,000), the AWS catalog, one pool allowing every type.
fn shapes(c: &mut Criterion) {
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![real_pool()];
    let mut g = c.benchmark_group("aws-shapes");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (n, k) in [(5000usize, 1000usize), (20_000, 10_000)] {
        let pods = shaped_pods(n, k, 42);
        let problem = Problem::new(&pods, &[], &pools, catalog);
        g.throughput(Throughput::Elements(n as u64));
        both(&mut g, format!("{k} shapes"), &problem);
    }
    g.finish();
}

criterion_group!(benches, diverse, real, shapes);
criterion_main!(benches);
