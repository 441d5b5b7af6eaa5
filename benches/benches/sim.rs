//! Simulator benches: the event queue alone (events per second), and a day of the week
//! workload replayed with `nodepack` on the AWS catalog.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nodepack_benches::{sim_pool, week_generator};
use nodepack_model::Millis;
use nodepack_sim::config::Settings;
use nodepack_sim::internals::{Next, Phase, Queue};
use std::hint::black_box;

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim-queue");
    let n = 1_000_000u64;
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    // Half the events come from a sorted trace, half are pushed while running, each
    // scheduling the next one a pseudo-random delay later.
    let times: Vec<Millis> = (0..n / 2).map(|i| Millis(i * 10)).collect();
    g.bench_function("1M events", |b| {
        b.iter(|| {
            let mut q: Queue<u64> = Queue::default();
            for i in 0..1000 {
                q.push(Millis(i), Phase::Cloud, i);
            }
            let mut cursor = 0;
            let mut seen = 0u64;
            let mut x = 1u64;
            while let Some(e) = q.pop_merged(&times, &mut cursor) {
                seen += 1;
                if seen >= n {
                    break;
                }
                if let Next::Event(t, v) = e {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    q.push(Millis(t.0 + (x >> 54)), Phase::Pods, v);
                }
            }
            black_box(seen)
        })
    });
    g.finish();
}

fn day(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim-replay");
    g.sample_size(10);
    let settings = {
        let mut s = Settings::new(Millis::from_mins(24 * 60), 1);
        s.lb_samples = 4;
        s
    };
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![sim_pool()];
    let trace = nodepack_sim::generate(&week_generator(10), settings.horizon, 1);
    g.bench_function("day of week workload, nodepack", |b| {
        b.iter(|| {
            let input = nodepack_sim::SimInput {
                settings: &settings,
                nodepools: &pools,
                catalog,
                trace: &trace,
                pdbs: &[],
            };
            let mut a = nodepack_sim::by_name("nodepack").unwrap();
            black_box(nodepack_sim::run(input, a.as_mut()).summary.events)
        })
    });
    g.finish();
}

criterion_group!(benches, queue, day);
criterion_main!(benches);
