//! Workloads for nodepack's benches.
//!
//! * Karpenter's scheduling benchmark, ported from its description (shared data
//!   `karpenter-benchmark-pod-shapes.json`, from kubernetes-sigs/karpenter
//!   `scheduling_benchmark_test.go`): 400 synthetic instance types, the five-way diverse
//!   pod mix and the 4,000-pod preference case.
//! * Mixed workloads against the embedded AWS us-east-1 catalog.
//!
//! Pods are drawn with a seeded ChaCha8 generator, so every run sees the same pods.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The allocator of the `nodepack` command, so that the benches time what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use nodepack_model::pod::{
    PodAffinityTerm, TopologySpread, Weighted, WhenUnsatisfiable, HOSTNAME_KEY, ZONE_KEY,
};
use nodepack_model::resources::NVIDIA_GPU;
use nodepack_model::{
    labels, Bytes, CapacityType, Catalog, InstanceType, Millicores, Millis, Money, NodePool,
    Offering, Operator, Overhead, Pod, Requirements, Resources,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// CPU request choices of Karpenter's benchmark, millicores.
pub const CPU_CHOICES: [u64; 5] = [100, 250, 500, 1000, 1500];
/// Memory request choices of Karpenter's benchmark, MiB.
pub const MEM_CHOICES: [u64; 6] = [100, 256, 512, 1024, 2048, 4096];
/// Label value choices of Karpenter's benchmark.
pub const LABEL_CHOICES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// Karpenter's fake catalog: `fake-it-i` for i in 0..400 with i+1 cores, 2(i+1) GiB,
/// 10(i+1) pods, 100m/10Mi kube-reserved, price 0.1 x cores + 0.1 x GB, offerings spot in
/// test-zone-1/2 and on-demand in test-zone-1/2/3.
pub fn karpenter_fake_catalog() -> Catalog {
    let mut types = Vec::new();
    for i in 0..400u64 {
        let cpu = i + 1;
        let mem = Bytes::from_gib(2 * cpu);
        let price = Money::from_usd(0.1 * cpu as f64 + 0.1 * mem.0 as f64 / 1e9);
        let name = format!("fake-it-{i}");
        let size = if cpu > 4 && mem > Bytes::from_gib(8) {
            "large"
        } else {
            "small"
        };
        let l: BTreeMap<String, String> = [
            (labels::INSTANCE_TYPE.to_string(), name.clone()),
            (labels::ARCH.to_string(), "amd64".to_string()),
            (labels::OS.to_string(), "linux".to_string()),
            ("size".to_string(), size.to_string()),
            ("integer".to_string(), cpu.to_string()),
        ]
        .into();
        let offerings = [
            (CapacityType::Spot, "test-zone-1"),
            (CapacityType::Spot, "test-zone-2"),
            (CapacityType::OnDemand, "test-zone-1"),
            (CapacityType::OnDemand, "test-zone-2"),
            (CapacityType::OnDemand, "test-zone-3"),
        ]
        .into_iter()
        .map(|(ct, z)| Offering::new(z, ct, price))
        .collect();
        let capacity = Resources::new(Millicores::from_cores(cpu), mem).with_pods(10 * cpu);
        let mut it = InstanceType::new(&name, capacity);
        it.labels = l;
        it.overhead = Overhead {
            kube_reserved: Resources::new(Millicores(100), Bytes::from_mib(10)),
            ..Default::default()
        };
        it.offerings = offerings;
        types.push(it);
    }
    let mut c = Catalog::new("karpenter-fake-400", types);
    c.sort();
    c
}

/// Karpenter's benchmark node pool: no requirements, limits of 10,000,000 cores and Gi.
pub fn benchmark_pool() -> NodePool {
    let mut p = NodePool::new("default");
    p.limits.cpu = Some(Millicores::from_cores(10_000_000));
    p.limits.memory = Some(Bytes::from_gib(10_000_000));
    p
}

fn selector(key: &str, value: &str) -> Requirements {
    Requirements::from_labels(&[(key.to_string(), value.to_string())].into())
}

fn random_pod(rng: &mut ChaCha8Rng, name: String) -> Pod {
    let cpu = *CPU_CHOICES.choose(rng).unwrap_or(&100);
    let mem = *MEM_CHOICES.choose(rng).unwrap_or(&100);
    Pod::new(
        "default",
        &name,
        Resources::new(Millicores(cpu), Bytes::from_mib(mem)),
    )
}

/// Karpenter's diverse mix: a fifth each of generic pods, zone spread, hostname spread,
/// zone pod affinity and hostname anti-affinity (`app: nginx`); the remainder generic.
pub fn diverse_pods(n: usize, seed: u64) -> Vec<Pod> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fifth = n / 5;
    let mut pods = Vec::with_capacity(n);
    let label = |rng: &mut ChaCha8Rng| {
        LABEL_CHOICES
            .choose(rng)
            .copied()
            .unwrap_or("a")
            .to_string()
    };
    for i in 0..n {
        let kind = if i < 5 * fifth { i / fifth.max(1) } else { 0 };
        let mut p = random_pod(&mut rng, format!("pod-{i}"));
        match kind {
            1 | 2 => {
                p.labels.insert("my-label".into(), label(&mut rng));
                let key = if kind == 1 { ZONE_KEY } else { HOSTNAME_KEY };
                p.topology_spread.push(TopologySpread::new(
                    1,
                    key,
                    WhenUnsatisfiable::DoNotSchedule,
                    selector("my-label", &label(&mut rng)),
                ));
            }
            3 => {
                let v = label(&mut rng);
                p.labels.insert("my-affininity".into(), v.clone());
                p.pod_affinity.push(PodAffinityTerm::new(
                    selector("my-affininity", &v),
                    ZONE_KEY,
                ));
            }
            4 => {
                p.labels.insert("app".into(), "nginx".into());
                p.pod_anti_affinity
                    .push(PodAffinityTerm::new(selector("app", "nginx"), HOSTNAME_KEY));
            }
            _ => {
                p.labels.insert("my-label".into(), label(&mut rng));
            }
        }
        pods.push(p);
    }
    pods
}

/// Karpenter's preference benchmark: `app: nginx` pods preferring zone test-zone-1,
/// with preferred zone anti-affinity (weight 10, unsatisfiable for all) and preferred
/// hostname anti-affinity (weight 1).
pub fn preference_pods(n: usize, seed: u64) -> Vec<Pod> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut p = random_pod(&mut rng, format!("pref-{i}"));
            p.labels.insert("app".into(), "nginx".into());
            p.node_affinity_preferred.push(Weighted {
                weight: 1,
                term: Requirements::new()
                    .with(labels::ZONE, Operator::In, &["test-zone-1"])
                    .unwrap_or_default(),
            });
            for (w, key) in [(10, ZONE_KEY), (1, HOSTNAME_KEY)] {
                p.pod_anti_affinity_preferred.push(Weighted {
                    weight: w,
                    term: PodAffinityTerm::new(selector("app", "nginx"), key),
                });
            }
            p
        })
        .collect()
}

/// A mixed workload for the real catalog: web (zone-spread replicas), batch (CPU heavy,
/// spot tolerant), memory-heavy caches, on-demand-only services, arm64 services and a
/// few GPU pods, in fixed shares.
pub fn mixed_pods(n: usize, seed: u64) -> Vec<Pod> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pods = Vec::with_capacity(n);
    for i in 0..n {
        let r = rng.random_range(0..100u32);
        let (cpu, mem, app) = match r {
            0..=34 => (
                [250, 500, 1000][rng.random_range(0..3)],
                [512, 1024, 2048][rng.random_range(0..3)],
                "web",
            ),
            35..=59 => (
                [1000, 2000, 4000][rng.random_range(0..3)],
                [1024, 2048][rng.random_range(0..2)],
                "batch",
            ),
            60..=74 => (
                [500, 1000][rng.random_range(0..2)],
                [8192, 16384, 32768][rng.random_range(0..3)],
                "cache",
            ),
            75..=89 => (
                [500, 1000, 2000][rng.random_range(0..3)],
                [1024, 4096][rng.random_range(0..2)],
                "api",
            ),
            90..=97 => (
                [250, 500][rng.random_range(0..2)],
                [512, 1024][rng.random_range(0..2)],
                "arm",
            ),
            _ => (4000, 16384, "gpu"),
        };
        let mut p = Pod::new(
            "default",
            &format!("{app}-{i}"),
            Resources::new(Millicores(cpu), Bytes::from_mib(mem)),
        );
        p.labels.insert("app".into(), app.into());
        match app {
            "web" => p.topology_spread.push(TopologySpread::new(
                1,
                ZONE_KEY,
                WhenUnsatisfiable::DoNotSchedule,
                selector("app", "web"),
            )),
            "api" => {
                p.node_selector
                    .insert(labels::CAPACITY_TYPE.into(), "on-demand".into());
            }
            "arm" => {
                p.node_selector.insert(labels::ARCH.into(), "arm64".into());
            }
            "gpu" => p.requests = p.requests.clone().with_extended(NVIDIA_GPU, 1),
            _ => {}
        }
        pods.push(p);
    }
    pods
}

/// The pool for the real-catalog workloads: every type, spot and on-demand.
pub fn real_pool() -> NodePool {
    NodePool::new("default")
}

/// The mixed workload without any topology constraint (for the lower-bound quality
/// target on workloads without topology).
pub fn mixed_plain_pods(n: usize, seed: u64) -> Vec<Pod> {
    let mut pods = mixed_pods(n, seed);
    for p in pods.iter_mut() {
        p.topology_spread.clear();
    }
    pods
}

/// Karpenter's benchmark pod shapes without constraints (all "generic").
pub fn generic_pods(n: usize, seed: u64) -> Vec<Pod> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| random_pod(&mut rng, format!("generic-{i}")))
        .collect()
}

/// A week of work for the simulator: a diurnal web service (40-200 replicas) and a burst
/// of `per_minute` batch pods every minute, each running 5-30 minutes, on the general
/// pool (7 x 24 x 60 x `per_minute` job pods: 100,800 for 10 per minute).
pub fn week_generator(per_minute: u32) -> nodepack_sim::config::Generator {
    use nodepack_sim::config::{Diurnal, Generator, JobGen, ServiceGen};
    Generator {
        services: vec![{
            let mut web = ServiceGen::new("web", Millicores(500), Bytes::from_mib(1024), 0);
            web.diurnal = Some(Diurnal::new(
                40,
                200,
                Millis::from_mins(24 * 60),
                Millis::from_secs(300),
            ));
            web
        }],
        jobs: vec![JobGen::new(
            "batch",
            Millicores(1000),
            Bytes::from_mib(2048),
            Millis::from_mins(1),
            per_minute,
            (Millis::from_mins(5), Millis::from_mins(30)),
        )],
    }
}

/// The general-purpose pool of the simulation scenarios (spot or on-demand, c/m/r of
/// generation 5+).
pub fn sim_pool() -> NodePool {
    let mut p = real_pool();
    p.name = "general".into();
    p.requirements = nodepack_model::Requirements::new()
        .with(labels::CAPACITY_TYPE, Operator::In, &["spot", "on-demand"])
        .and_then(|r| r.with(labels::INSTANCE_CATEGORY, Operator::In, &["c", "m", "r"]))
        .and_then(|r| r.with(labels::INSTANCE_GENERATION, Operator::Gt, &["4"]))
        .unwrap_or_default();
    p
}

/// A fragmented cluster for the consolidation bench: `nodes` nodes of the given pool
/// (m5/c5/r5 2xlarge and m5/c5 4xlarge, 70% spot, random zones) holding `pods` plain pods
/// spread evenly, of Karpenter's benchmark shapes at a quarter size (25-375m CPU,
/// 25 MiB-1 GiB), so nodes end 5-90% used (as after a scale-in); every node settled.
pub fn fragmented_cluster(
    catalog: &Catalog,
    pool: &NodePool,
    nodes: usize,
    pods: usize,
    seed: u64,
) -> Vec<nodepack_solver::ExistingNode> {
    use nodepack_model::Node;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pairs = nodepack_solver::internals::PoolCatalog::new(std::slice::from_ref(pool), catalog);
    let types = [
        "m5.2xlarge",
        "c5.2xlarge",
        "r5.2xlarge",
        "m5.4xlarge",
        "c5.4xlarge",
    ];
    let mut out = Vec::with_capacity(nodes);
    let per_node = pods / nodes.max(1);
    let mut made = 0usize;
    for k in 0..nodes {
        let ty = *types.choose(&mut rng).expect("types");
        let pt = pairs
            .pool_types
            .iter()
            .find(|p| p.name == ty)
            .expect("type in pool");
        let ct = if rng.random_bool(0.7) {
            CapacityType::Spot
        } else {
            CapacityType::OnDemand
        };
        let offers: Vec<&Offering> = pt
            .offerings
            .iter()
            .filter(|o| o.capacity_type == ct)
            .collect();
        let o = *offers.choose(&mut rng).expect("an offering");
        let name = format!("node-{k}");
        let it = catalog.get(ty).expect("type");
        let allocatable = it.allocatable();
        let want = if k + 1 == nodes {
            pods - made
        } else {
            per_node
        };
        let list: Vec<std::sync::Arc<Pod>> = (0..want)
            .map(|j| {
                let mut p = random_pod(&mut rng, format!("pod-{k}-{j}"));
                p.requests = Resources::new(
                    Millicores(p.requests.cpu.0 / 4),
                    Bytes(p.requests.memory.0 / 4),
                )
                .with_pods(1);
                std::sync::Arc::new(p)
            })
            .collect();
        made += list.len();
        out.push(nodepack_solver::ExistingNode::new(
            Node::new(&name, ty, &o.zone, ct, o.price, allocatable)
                .in_pool(&pool.name)
                .with_labels(nodepack_solver::internals::node_labels(pt, pool, o, &name)),
            list,
        ));
    }
    out
}

/// `n` plain pods of `shapes` distinct (cpu, memory) requests, shaped like a real
/// cluster's: CPU in 100m steps (log-uniform from 100m to 16 cores), memory in 128 MiB
/// steps at 0.5-8 GiB per core (log-uniform), each shape used by about `n / shapes` pods.
pub fn shaped_pods(n: usize, shapes: usize, seed: u64) -> Vec<Pod> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut set = std::collections::BTreeSet::new();
    let mut list = Vec::new();
    let mut tries = 0;
    while list.len() < shapes.max(1) && tries < shapes * 1000 + 1000 {
        tries += 1;
        let cpu = ((100f64.ln() + rng.random::<f64>() * (16_000f64 / 100.0).ln()).exp() / 100.0)
            .round()
            .max(1.0) as u64
            * 100;
        let per_core = (0.5f64.ln() + rng.random::<f64>() * 16f64.ln()).exp();
        let mem = ((cpu as f64 / 1000.0 * per_core * 1024.0 / 128.0)
            .round()
            .max(1.0) as u64)
            * 128;
        if set.insert((cpu, mem)) {
            list.push((cpu, mem));
        }
    }
    (0..n)
        .map(|i| {
            let (cpu, mem) = list[i % list.len()];
            Pod::new(
                "default",
                &format!("shape-{i}"),
                Resources::new(Millicores(cpu), Bytes::from_mib(mem)),
            )
        })
        .collect()
}

/// A GPU training cluster's month (or any horizon): 36 job shapes drawn once from `seed`,
/// 8-96 CPU and 16-480 GiB per pod, a third with 1, 2, 4 or 8 GPUs (8-12 CPU and
/// 30-60 GiB per GPU), each shape arriving in bursts every 30 minutes to 4 hours and
/// running 1-8 hours, about 800 pods a day in all (about 25,000 over 31 days).
pub fn gpu_training_generator(seed: u64) -> nodepack_sim::config::Generator {
    use nodepack_sim::config::{Generator, JobGen};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per_shape_per_day = 800.0 / 36.0;
    let jobs = (0..36)
        .map(|k| {
            let (cpu, mem_gib, gpu) = if k % 3 == 0 {
                let gpu = *[1u64, 2, 4, 8].choose(&mut rng).unwrap_or(&1);
                let cpu = (gpu * rng.random_range(8..=12)).clamp(8, 96);
                let mem = (gpu * rng.random_range(30..=60)).clamp(16, 480);
                (cpu, mem, gpu)
            } else {
                let cpu = *[8u64, 16, 24, 32, 48, 64, 96]
                    .choose(&mut rng)
                    .unwrap_or(&8);
                let per_core = *[2u64, 4, 5, 8].choose(&mut rng).unwrap_or(&4);
                (cpu, (cpu * per_core).clamp(16, 480), 0)
            };
            let every_s = rng.random_range(1800.0..14_400.0f64).round();
            let count = ((per_shape_per_day * every_s / 86_400.0).round() as u32).max(1);
            let mut job = JobGen::new(
                &format!("train-{k}"),
                Millicores(cpu * 1000),
                Bytes::from_gib(mem_gib),
                Millis::from_mins(60),
                count,
                (Millis::from_mins(60), Millis::from_mins(8 * 60)),
            );
            job.gpu = gpu;
            job.every = Millis::from_secs_f64(every_s);
            job.start = Millis::from_secs_f64(rng.random_range(0.0..every_s).round());
            job
        })
        .collect();
    Generator {
        services: vec![],
        jobs,
    }
}

/// The tainted GPU pool of the trace replays (g and p families, spot or on-demand).
pub fn gpu_pool() -> NodePool {
    let mut p = real_pool();
    p.name = "gpu".into();
    p.weight = 5;
    p.requirements = nodepack_model::Requirements::new()
        .with(labels::CAPACITY_TYPE, Operator::In, &["spot", "on-demand"])
        .and_then(|r| r.with(labels::INSTANCE_CATEGORY, Operator::In, &["g", "p"]))
        .unwrap_or_default();
    p.taints.push(nodepack_model::Taint::new(
        NVIDIA_GPU,
        "true",
        nodepack_model::Effect::NoSchedule,
    ));
    p
}

/// This process's peak resident memory in MiB (VmHWM of /proc/self/status; Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Replay `trace` with the autoscaler named `strategy` (`None`: unknown name): the
/// result, the trace's pod arrivals and the replay's wall time in seconds.
pub fn timed_replay(
    settings: &nodepack_sim::config::Settings,
    nodepools: &[NodePool],
    catalog: &Catalog,
    trace: &[nodepack_sim::config::TraceEvent],
    strategy: &str,
) -> Option<(nodepack_sim::SimResult, usize, f64)> {
    let pods = trace
        .iter()
        .filter(|e| matches!(e.kind, nodepack_sim::config::TraceKind::Arrive { .. }))
        .count();
    let input = nodepack_sim::SimInput {
        settings,
        nodepools,
        catalog,
        trace,
        pdbs: &[],
    };
    let mut a = nodepack_sim::by_name(strategy)?;
    let t = std::time::Instant::now();
    let r = nodepack_sim::run(input, a.as_mut());
    Some((r, pods, t.elapsed().as_secs_f64()))
}

/// The README's library example, compiled and run as a doc test (its other code blocks
/// are shell, JSON and text).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExample;

/// nodepack's plan of pending `pods` against the LP lower bound over the pods it placed.
pub struct OverBound {
    /// The plan's cost per hour.
    pub cost: Money,
    /// The lower bound per hour.
    pub bound: Money,
    /// Cost over the bound (the bound taken as at least one micro-dollar).
    pub ratio: f64,
    /// The validator finds nothing and every pod is placed.
    pub valid: bool,
}

/// Solve `pods` with nodepack on `pools` and `catalog`, and measure it against the bound.
pub fn nodepack_over_bound(pods: &[Pod], pools: &[NodePool], catalog: &Catalog) -> OverBound {
    let problem = nodepack_solver::Problem::new(pods, &[], pools, catalog);
    let plan = nodepack_solver::solve("nodepack", &problem).expect("known strategy");
    let bound = nodepack_solver::lower_bound(&problem, &plan).expect("bound");
    OverBound {
        cost: plan.cost_per_hour,
        bound,
        ratio: plan.cost_per_hour.0 as f64 / bound.0.max(1) as f64,
        valid: nodepack_solver::validate(&problem, &plan).is_empty()
            && plan.unschedulable.is_empty(),
    }
}
