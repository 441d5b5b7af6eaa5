//! Conformance tests for Karpenter's launch and scheduling rules that decide what the
//! `karpenter` baseline buys (AWS provider, v1.x). Each test cites the rule or the
//! Karpenter test it expresses; hard constraints are checked for both strategies.

use nodepack_model::pod::{PodAffinityTerm, Weighted, ZONE_KEY};
use nodepack_model::resources::NVIDIA_GPU;
use nodepack_model::{
    labels, CapacityType, Catalog, InstanceType, InterruptionBucket, Money, NodePool, Offering,
    Operator, Pod, Requirements,
};
use nodepack_solver::internals::{fleet_choice, PRICE_CAPACITY_BAND};
use nodepack_solver::{solve, validate, Plan, Problem, STRATEGIES};
use nodepack_testkit as tk;

use tk::catalog_of;

fn plan(strategy: &str, pods: &[Pod], pools: &[NodePool], catalog: &Catalog) -> Plan {
    let problem = Problem::new(pods, &[], pools, catalog);
    let plan = solve(strategy, &problem).unwrap();
    let errs = validate(&problem, &plan);
    assert!(errs.is_empty(), "{strategy}: invalid plan: {errs:#?}");
    plan
}

/// A synthetic type with an `instance-size` label.
fn sized(family: &str, size: &str, cpu: u64, per_cpu: f64) -> InstanceType {
    let mut t = tk::instance_type(family, "amd64", cpu, 4, 0, per_cpu);
    t.name = format!("{family}.{size}");
    t.labels
        .insert(labels::INSTANCE_TYPE.into(), t.name.clone());
    t.labels.insert(labels::INSTANCE_SIZE.into(), size.into());
    t
}

fn spot(zone: &str, usd: f64, bucket: Option<InterruptionBucket>) -> Offering {
    Offering::new(zone, CapacityType::Spot, Money::from_usd(usd)).with_interruption(bucket)
}

/// AWS provider, `ExoticInstanceTypeFilter`: "remove instances with GPUs and
/// accelerators, along with metal instances, if doing so doesn't filter out all
/// instance types. This ensures Karpenter only launches these instances if the NodeClaim
/// explicitly requests them or all other compatible instance types are unavailable."
/// Here the metal size and the GPU type are the cheapest that fit; Karpenter launches
/// the plain type, and a pod that asks for a GPU still gets the GPU type.
#[test]
fn exotic_types_launch_only_when_nothing_else_remains() {
    let metal = sized("m9", "metal", 4, 0.01);
    let plain = sized("m9", "xlarge", 4, 0.05);
    let mut gpu = tk::instance_type("g9", "amd64", 4, 4, 1, 0.001);
    gpu.offerings
        .iter_mut()
        .for_each(|o| o.price = Money(1_000));
    let catalog = catalog_of(vec![metal, plain, gpu]);
    let pools = vec![tk::pool("default", &[])];
    let p = plan("karpenter", &[tk::pod("a", 1000, 1024)], &pools, &catalog);
    assert_eq!(p.nodes[0].instance_type, "m9.xlarge", "{:?}", p.nodes);
    let mut g = tk::pod("g", 1000, 1024);
    g.requests = g.requests.with_extended(NVIDIA_GPU, 1);
    let p = plan("karpenter", &[g], &pools, &catalog);
    assert!(p.nodes[0].instance_type.starts_with("g9"), "{:?}", p.nodes);
    // With minValues on the pool the filter does not apply (it would break minValues).
    let mut pool = tk::pool("default", &[]);
    pool.requirements = Requirements::new()
        .with(labels::INSTANCE_SIZE, Operator::Exists, &[])
        .unwrap();
    pool.requirements
        .min_values
        .insert(labels::INSTANCE_SIZE.into(), 1);
    let p = plan("karpenter", &[tk::pod("a", 1000, 1024)], &[pool], &catalog);
    assert_eq!(p.nodes[0].instance_type, "m9.metal", "{:?}", p.nodes);
}

/// AWS provider: spot NodeClaims go to CreateFleet with the `price-capacity-optimized`
/// allocation strategy (pools with the most spare capacity, then the cheapest of them),
/// not to the single cheapest offering. nodepack's model of it: within the price band of
/// the cheapest, the lowest interruption bucket; an unknown bucket is not the safest.
#[test]
fn spot_launches_follow_the_price_capacity_model() {
    let b = InterruptionBucket::from_index;
    let offers = [
        spot("z1", 1.00, b(4)),
        spot("z2", 1.10, b(0)),
        spot("z3", 1.00 * (1.0 + PRICE_CAPACITY_BAND) + 0.01, b(0)),
        spot("z4", 1.05, Some(InterruptionBucket::Unknown)),
    ];
    let c =
        |v: &[usize]| -> Vec<(&str, &Offering)> { v.iter().map(|&k| ("t", &offers[k])).collect() };
    // The <5% pool within the band wins over the cheapest >20% one.
    assert_eq!(fleet_choice(&c(&[0, 1, 2])), Some(1));
    // Outside the band it does not.
    assert_eq!(fleet_choice(&c(&[0, 2])), Some(0));
    // Unknown counts as 15-20%: better than >20%, worse than <5%.
    assert_eq!(fleet_choice(&c(&[0, 3])), Some(1));
    assert_eq!(fleet_choice(&c(&[1, 3])), Some(0));
    // On-demand: the cheapest.
    let od = |usd| Offering::new("z", CapacityType::OnDemand, Money::from_usd(usd));
    let ods = [od(2.0), od(1.5)];
    let v: Vec<(&str, &Offering)> = ods.iter().map(|o| ("t", o)).collect();
    assert_eq!(fleet_choice(&v), Some(1));

    // Through the solver: the cheapest spot type sits in the >20% bucket, a type 5% dearer
    // in <5%: Karpenter's launch takes the second.
    let mut cheap = sized("m9", "xlarge", 4, 0.05);
    let mut calm = sized("c9", "xlarge", 4, 0.05);
    for (t, usd, bucket) in [(&mut cheap, 0.100, 4), (&mut calm, 0.105, 0)] {
        for o in &mut t.offerings {
            if o.capacity_type == CapacityType::Spot {
                o.price = Money::from_usd(usd);
                o.interruption = b(bucket);
            }
        }
    }
    let catalog = catalog_of(vec![cheap, calm]);
    let pools = vec![tk::pool("default", &[])];
    let p = plan("karpenter", &[tk::pod("a", 1000, 1024)], &pools, &catalog);
    assert_eq!(p.nodes[0].capacity_type, CapacityType::Spot);
    assert_eq!(p.nodes[0].instance_type, "c9.xlarge", "{:?}", p.nodes);
}

/// Karpenter's scheduling test "should violate preferred pod anti-affinity on zone
/// (inverse)" (pkg/controllers/provisioning/scheduling/topology_test.go): three pods,
/// one per zone, each *preferring* to avoid pods labelled `security: s2`, are placed
/// first; a pod labelled `security: s2` still schedules, because a placed pod's
/// preferred anti-affinity never keeps another pod out of a domain. Both strategies.
#[test]
fn preferred_anti_affinity_of_placed_pods_does_not_block() {
    let term = PodAffinityTerm::new(
        Requirements::new()
            .with("security", Operator::In, &["s2"])
            .unwrap(),
        ZONE_KEY,
    );
    let mut pods: Vec<Pod> = tk::ZONES
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let mut p = tk::pod(&format!("zone-{i}"), 2000, 1024);
            p.pod_anti_affinity_preferred.push(Weighted {
                weight: 10,
                term: term.clone(),
            });
            p.node_selector.insert(labels::ZONE.into(), z.to_string());
            p
        })
        .collect();
    let mut aff = tk::pod("aff", 100, 128);
    aff.labels.insert("security".into(), "s2".into());
    pods.push(aff);
    let catalog = tk::catalog();
    let pools = vec![tk::pool("default", &[])];
    for s in STRATEGIES {
        let p = plan(s, &pods, &pools, &catalog);
        assert!(p.unschedulable.is_empty(), "{s}: {:?}", p.unschedulable);
    }
    // A *required* anti-affinity still blocks: the s2 pod has no zone left.
    for p in pods.iter_mut().take(3) {
        let pref = p.pod_anti_affinity_preferred.pop().unwrap();
        p.pod_anti_affinity.push(pref.term);
    }
    for s in STRATEGIES {
        let p = plan(s, &pods, &pools, &catalog);
        assert_eq!(p.unschedulable.len(), 1, "{s}: {:?}", p.unschedulable);
        assert_eq!(p.unschedulable[0].pod.name, "aff");
    }
}

/// Karpenter's minValues (NodePool requirements; scheduling test "should not schedule
/// when zone minValues requirement is not met" and its instance-family cases): a
/// NodeClaim's launch options keep at least minValues distinct values of the key, or the
/// pods are not scheduled on that pool. Regression: the `nodepack` strategy's packer
/// ignored minValues for plain pods (5 pods on one m5.xlarge with minValues 50) and the
/// validator did not check it. Both strategies, checked by the validator.
#[test]
fn min_values_keep_enough_launch_options_or_the_pods_wait() {
    let pods: Vec<Pod> = (0..5)
        .map(|i| tk::pod(&format!("p-{i}"), 1000, 1024))
        .collect();
    let catalog = tk::catalog();
    let pool = |min: u32| {
        let mut p = tk::pool(
            "default",
            &[(
                labels::INSTANCE_FAMILY,
                Operator::In,
                &["m6i", "c6i", "r6i"],
            )],
        );
        p.requirements
            .min_values
            .insert(labels::INSTANCE_FAMILY.into(), min);
        p
    };
    for s in STRATEGIES {
        let p = plan(s, &pods, &[pool(2)], &catalog);
        assert!(p.unschedulable.is_empty(), "{s}: {:?}", p.unschedulable);
        for n in &p.nodes {
            let fams: std::collections::BTreeSet<&str> = std::iter::once(&n.instance_type)
                .chain(&n.alternatives)
                .filter_map(|t| catalog.get(t)?.label(labels::INSTANCE_FAMILY))
                .collect();
            assert!(
                fams.len() >= 2,
                "{s}: {} {:?}",
                n.instance_type,
                n.alternatives
            );
        }
        let p = plan(s, &pods, &[pool(50)], &catalog);
        assert_eq!(p.unschedulable.len(), 5, "{s}: {:?}", p.nodes);
        assert!(
            p.unschedulable[0].reason.to_string().contains("minValues"),
            "{s}: {:?}",
            p.unschedulable
        );
    }
}

/// Karpenter labels a NodeClaim from its requirements (`Requirements.Labels()` in
/// kubernetes-sigs/karpenter pkg/scheduling/requirements.go takes one value each): a pool
/// requirement on a custom key gives its nodes that label. Regression (found by the
/// fuzzing layer, `crates/cli/tests/fuzz_cli.rs`): a pool requiring a custom key `In`
/// several values launched nodes without the label, and the plan failed validation
/// ("internal failure", exit 1).
#[test]
fn custom_pool_requirements_label_the_nodes() {
    let pool = tk::pool(
        "p",
        &[("example.com/tier", Operator::In, &["silver", "gold"])],
    );
    let catalog = tk::catalog();
    let mut pods = tk::pods("web", 4, 500, 512);
    pods.push(tk::select(
        tk::pod("g", 500, 512),
        "example.com/tier",
        "gold",
    ));
    for s in STRATEGIES {
        let p = plan(s, &pods, std::slice::from_ref(&pool), &catalog);
        assert!(p.unschedulable.is_empty(), "{s}: {:?}", p.unschedulable);
        for n in &p.nodes {
            assert_eq!(
                n.labels.get("example.com/tier").map(String::as_str),
                Some("gold"),
                "{s}"
            );
        }
    }
}
