//! Builders and proptest strategies for nodepack's tests: a small synthetic catalog with
//! AWS-like labels, pods and node pools with the constraints tests need.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use nodepack_model::pod::{
    PodAffinityTerm, TopologySpread, WhenUnsatisfiable, HOSTNAME_KEY, ZONE_KEY,
};
use nodepack_model::resources::NVIDIA_GPU;
use nodepack_model::{
    labels, Bytes, CapacityType, Catalog, Effect, InstanceType, InterruptionBucket, Millicores,
    Money, NodePool, Offering, Operator, Overhead, Pod, Requirements, Resources, Taint, Toleration,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Zones of the synthetic catalog.
pub const ZONES: [&str; 3] = ["test-1a", "test-1b", "test-1c"];

/// One synthetic instance type: `family.size` with `cpu` cores and `gib_per_cpu` memory.
pub fn instance_type(
    family: &str,
    arch: &str,
    cpu: u64,
    gib_per_cpu: u64,
    gpus: u64,
    price_per_cpu: f64,
) -> InstanceType {
    let name = format!("{family}.{cpu}x");
    let mut l: BTreeMap<String, String> = BTreeMap::new();
    l.insert(labels::INSTANCE_TYPE.into(), name.clone());
    l.insert(labels::ARCH.into(), arch.into());
    l.insert(labels::OS.into(), "linux".into());
    l.insert(labels::INSTANCE_FAMILY.into(), family.into());
    l.insert(labels::INSTANCE_CATEGORY.into(), family[..1].into());
    l.insert(labels::INSTANCE_CPU.into(), cpu.to_string());
    l.insert(
        labels::INSTANCE_MEMORY.into(),
        (cpu * gib_per_cpu * 1024).to_string(),
    );
    if gpus > 0 {
        l.insert(labels::INSTANCE_GPU_COUNT.into(), gpus.to_string());
        l.insert(labels::INSTANCE_GPU_NAME.into(), "t4".into());
    }
    let od = price_per_cpu * cpu as f64 + 0.9 * gpus as f64;
    let mut offerings = Vec::new();
    for (i, z) in ZONES.iter().enumerate() {
        offerings.push(Offering::new(
            z,
            CapacityType::OnDemand,
            Money::from_usd(od),
        ));
        offerings.push(
            Offering::new(
                z,
                CapacityType::Spot,
                Money::from_usd(od * (0.35 + 0.02 * i as f64)),
            )
            .with_interruption(InterruptionBucket::from_index((cpu % 5) as u8)),
        );
    }
    let capacity = Resources::new(
        Millicores::from_cores(cpu),
        Bytes::from_gib(cpu * gib_per_cpu),
    )
    .with_pods(8 * cpu + 10)
    .with_extended(NVIDIA_GPU, gpus);
    let mut it = InstanceType::new(&name, capacity);
    it.labels = l;
    it.overhead = Overhead {
        kube_reserved: Resources::new(
            Millicores(60 + 10 * cpu),
            Bytes::from_mib(255 + 11 * (8 * cpu + 10)),
        ),
        system_reserved: Resources::default(),
        eviction_threshold: Resources::new(Millicores(0), Bytes::from_mib(100)),
    };
    it.offerings = offerings;
    it
}

/// The synthetic catalog: families c (2 GiB/core), m (4), r (8) in amd64 and Graviton-like
/// arm64 (`c7g`...), sizes 2-32 cores, and a GPU family `g4` with 1 or 4 GPUs.
pub fn catalog() -> Catalog {
    let mut types = Vec::new();
    for (fam, gib, ppc) in [("c6i", 2, 0.0425), ("m6i", 4, 0.048), ("r6i", 8, 0.063)] {
        for cpu in [2, 4, 8, 16, 32] {
            types.push(instance_type(fam, "amd64", cpu, gib, 0, ppc));
            let arm = fam.replace('i', "g");
            types.push(instance_type(&arm, "arm64", cpu, gib, 0, ppc * 0.8));
        }
    }
    types.push(instance_type("g4", "amd64", 8, 4, 1, 0.06));
    types.push(instance_type("g4", "amd64", 32, 4, 4, 0.06));
    let mut c = Catalog::new("testkit", types).with_source(Some("test-1".into()), None);
    c.sort();
    c
}

/// A sorted catalog of `types` (no region).
pub fn catalog_of(types: Vec<InstanceType>) -> Catalog {
    let mut c = Catalog::new("case", types);
    c.sort();
    c
}

/// A pod requesting `cpu_m` millicores and `mem_mib` MiB.
pub fn pod(name: &str, cpu_m: u64, mem_mib: u64) -> Pod {
    Pod::new(
        "default",
        name,
        Resources::new(Millicores(cpu_m), Bytes::from_mib(mem_mib)),
    )
}

/// `n` pods named `{prefix}-{i}` with the same requests and label `app: prefix`.
pub fn pods(prefix: &str, n: usize, cpu_m: u64, mem_mib: u64) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let mut p = pod(&format!("{prefix}-{i}"), cpu_m, mem_mib);
            p.labels.insert("app".into(), prefix.into());
            p
        })
        .collect()
}

/// A selector `app In [app]`.
pub fn app_selector(app: &str) -> Requirements {
    Requirements::from_labels(&[("app".to_string(), app.to_string())].into())
}

/// Add the node selector `key: value`.
pub fn select(mut p: Pod, key: &str, value: &str) -> Pod {
    p.node_selector.insert(key.into(), value.into());
    p
}

/// Add a hard topology spread over `key` with max skew, selecting the pod's own app.
pub fn spread(mut p: Pod, key: &str, max_skew: u32) -> Pod {
    let app = p.labels.get("app").cloned().unwrap_or_default();
    p.topology_spread.push(TopologySpread::new(
        max_skew,
        key,
        WhenUnsatisfiable::DoNotSchedule,
        app_selector(&app),
    ));
    p
}

/// Add required anti-affinity to its own app on `key`.
pub fn anti(mut p: Pod, key: &str) -> Pod {
    let app = p.labels.get("app").cloned().unwrap_or_default();
    p.pod_anti_affinity
        .push(PodAffinityTerm::new(app_selector(&app), key));
    p
}

/// Add required affinity to its own app on `key`.
pub fn affinity(mut p: Pod, key: &str) -> Pod {
    let app = p.labels.get("app").cloned().unwrap_or_default();
    p.pod_affinity
        .push(PodAffinityTerm::new(app_selector(&app), key));
    p
}

/// A pool with requirements given as `(key, op, values)`.
pub fn pool(name: &str, reqs: &[(&str, Operator, &[&str])]) -> NodePool {
    let mut p = NodePool::new(name);
    for (k, op, v) in reqs {
        p.requirements = p
            .requirements
            .clone()
            .with(k, *op, v)
            .expect("valid test requirement");
    }
    p
}

/// A taint `key=value:NoSchedule`.
pub fn taint(key: &str, value: &str) -> Taint {
    Taint::new(key, value, Effect::NoSchedule)
}

/// A toleration for `key=value`.
pub fn toleration(key: &str, value: &str) -> Toleration {
    Toleration::equal(key, value)
}

/// Keys used by generated constraints.
pub const TOPOLOGY_KEYS: [&str; 2] = [ZONE_KEY, HOSTNAME_KEY];

/// A random pod: requests from Karpenter's benchmark choices, optional arch selector,
/// capacity-type selector, zone spread, hostname anti-affinity or GPU request.
pub fn arb_pod(i: usize) -> impl Strategy<Value = Pod> {
    (
        prop::sample::select(vec![100u64, 250, 500, 1000, 1500, 3500]),
        prop::sample::select(vec![100u64, 256, 512, 1024, 2048, 4096, 16384]),
        0u8..8,
        0u8..6,
        0u8..3,
    )
        .prop_map(move |(cpu, mem, shape, sel, app)| {
            let app = ["web", "api", "db"][app as usize];
            let mut p = pod(&format!("p-{i}"), cpu, mem);
            p.labels.insert("app".into(), app.into());
            match sel {
                1 => {
                    p.node_selector.insert(labels::ARCH.into(), "arm64".into());
                }
                2 => {
                    p.node_selector
                        .insert(labels::CAPACITY_TYPE.into(), "on-demand".into());
                }
                3 => {
                    p.node_selector
                        .insert(labels::ZONE.into(), ZONES[i % 3].into());
                }
                _ => {}
            }
            match shape {
                1 => spread(p, ZONE_KEY, 1),
                2 => anti(p, HOSTNAME_KEY),
                3 => spread(p, HOSTNAME_KEY, 2),
                4 => {
                    p.requests = p.requests.with_extended(NVIDIA_GPU, 1);
                    p
                }
                5 => affinity(p, ZONE_KEY),
                _ => p,
            }
        })
}

/// Up to `max` random pods with distinct names.
pub fn arb_pods(max: usize) -> impl Strategy<Value = Vec<Pod>> {
    (1..=max).prop_flat_map(|n| (0..n).map(arb_pod).collect::<Vec<_>>())
}

/// One or two random pools: optional arch or capacity-type restriction, optional taint,
/// optional CPU limit, random weight.
pub fn arb_pools() -> impl Strategy<Value = Vec<NodePool>> {
    let one = |name: &'static str| {
        (0u8..4, any::<bool>(), prop::option::of(8u64..200), 0i32..3).prop_map(
            move |(r, tainted, limit, w)| {
                let mut p = match r {
                    1 => pool(name, &[(labels::ARCH, Operator::In, &["amd64"])]),
                    2 => pool(
                        name,
                        &[(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])],
                    ),
                    _ => pool(name, &[]),
                };
                if tainted {
                    p.taints.push(taint("dedicated", name));
                }
                p.limits.cpu = limit.map(Millicores::from_cores);
                p.weight = w;
                p
            },
        )
    };
    prop_oneof![
        one("a").prop_map(|p| vec![p]),
        (one("a"), one("b")).prop_map(|(a, b)| vec![a, b]),
    ]
}

/// `base` with `len` characters at `at` (modulo its length plus one) replaced by
/// `with`: the mutation the fuzzing property tests apply to valid documents.
pub fn mutate(base: &str, at: usize, len: usize, with: &str) -> String {
    let chars: Vec<char> = base.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + len).min(chars.len());
    let mut s: String = chars[..at].iter().collect();
    s.push_str(with);
    s.extend(&chars[end..]);
    s
}
