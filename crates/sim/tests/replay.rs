//! Replay invariants over random workloads and seeds: every pod accounted for, no node
//! over capacity, cost at least the lower bound, same seed same output, interruptions
//! never lose a pod; and regression tests.

use nodepack_model::{
    labels, IntOrPercent, Millis, NodePool, Operator, PodDisruptionBudget, Requirements,
};
use nodepack_sim::autoscaler::nodepack::NodepackAutoscaler;
use nodepack_sim::config::{
    Diurnal, Generator, JobGen, ServiceGen, Settings, TraceEvent, TraceKind,
};
use nodepack_sim::internals::{Cluster, NodeLife, PodPhase};
use nodepack_sim::{budgets, generate};
use nodepack_sim::{by_name, AUTOSCALERS};
use nodepack_sim::{internals::run_debug, SimInput};
use nodepack_testkit as tk;
use proptest::prelude::*;

fn service(name: &str, cpu: u64, mem: u64, replicas: u32) -> ServiceGen {
    ServiceGen::new(
        name,
        nodepack_model::Millicores(cpu),
        nodepack_model::Bytes::from_mib(mem),
        replicas,
    )
}

fn pool() -> NodePool {
    let mut p = NodePool::new("default");
    p.requirements = Requirements::new()
        .with(labels::CAPACITY_TYPE, Operator::In, &["spot", "on-demand"])
        .unwrap();
    p
}

fn replay(
    name: &str,
    settings: &Settings,
    trace: &[TraceEvent],
) -> (nodepack_sim::SimResult, Cluster) {
    replay_budgeted(name, settings, trace, &[])
}

fn replay_budgeted(
    name: &str,
    settings: &Settings,
    trace: &[TraceEvent],
    pdbs: &[PodDisruptionBudget],
) -> (nodepack_sim::SimResult, Cluster) {
    replay_with(by_name(name).unwrap().as_mut(), settings, trace, pdbs)
}

/// A replay with `autoscaler` on the test catalog and pool.
fn replay_with(
    autoscaler: &mut dyn nodepack_sim::Autoscaler,
    settings: &Settings,
    trace: &[TraceEvent],
    pdbs: &[PodDisruptionBudget],
) -> (nodepack_sim::SimResult, Cluster) {
    replay_on(autoscaler, settings, trace, pdbs, &[pool()])
}

/// A replay with `autoscaler` on the test catalog and `pools`.
fn replay_on(
    autoscaler: &mut dyn nodepack_sim::Autoscaler,
    settings: &Settings,
    trace: &[TraceEvent],
    pdbs: &[PodDisruptionBudget],
    pools: &[NodePool],
) -> (nodepack_sim::SimResult, Cluster) {
    let catalog = tk::catalog();
    let input = SimInput {
        settings,
        nodepools: pools,
        catalog: &catalog,
        trace,
        pdbs,
    };
    run_debug(input, autoscaler)
}

/// The invariants every replay must satisfy.
fn check(name: &str, r: &nodepack_sim::SimResult, c: &Cluster) -> Result<(), TestCaseError> {
    let s = &r.summary;
    // Every pod accounted for.
    let mut running = 0;
    for p in &c.pods {
        match p.phase {
            PodPhase::Completed | PodPhase::Deleted => {}
            PodPhase::Bound | PodPhase::Running => running += 1,
            PodPhase::Pending => {
                // Pending at the end: either listed as unschedulable or scheduled once
                // (evicted and waiting again).
                prop_assert!(
                    p.first_bound.is_some()
                        || s.unschedulable
                            .iter()
                            .any(|u| u.pod == p.pod.id.to_string()),
                    "{name}: {} lost",
                    p.pod.id
                );
            }
        }
    }
    prop_assert_eq!(running, s.pods_running_at_end);
    prop_assert_eq!(c.pods.len() as u64, s.pods_total);
    // Every pod accounted for exactly once in the summary.
    prop_assert_eq!(
        s.pods_total,
        s.pods_scheduled + s.pods_unschedulable + s.deleted_before_binding
    );
    // No node over capacity; every bound pod on a live node that lists it.
    for (i, n) in c.nodes.iter().enumerate() {
        prop_assert!(
            n.requested.fits(&n.node.allocatable),
            "{name}: node {i} over capacity"
        );
        if n.life == NodeLife::Terminated {
            prop_assert!(n.pods.is_empty(), "{name}: terminated node {i} holds pods");
        }
        for &p in &n.pods {
            prop_assert_eq!(c.pods[p].node, Some(i));
        }
    }
    prop_assert!(
        s.cost.usd() + 1e-6 >= s.lower_bound.usd(),
        "{name}: cost {} < lower bound {}",
        s.cost.usd(),
        s.lower_bound.usd()
    );
    prop_assert!((s.cost_spot.usd() + s.cost_on_demand.usd() - s.cost.usd()).abs() < 1e-6);
    Ok(())
}

fn arb_generator() -> impl Strategy<Value = Generator> {
    (
        1u32..30,
        100u64..3000,
        128u64..6000,
        prop::option::of((1u32..10, 10u32..40)),
        1u32..30,
        60f64..1800.0,
        any::<bool>(),
    )
        .prop_map(|(n, cpu, mem, diurnal, jobs, run, spread)| {
            let mut web = service("web", cpu, mem, n);
            web.zone_spread = spread;
            if let Some((lo, hi)) = diurnal {
                web.diurnal = Some(Diurnal::new(
                    lo,
                    hi,
                    Millis::from_mins(120),
                    Millis::from_secs(300),
                ));
            }
            let mut api = service("api", 500, 1024, 4);
            api.capacity_type = Some("on-demand".into());
            Generator {
                services: vec![web, api],
                jobs: vec![{
                    let mut batch = JobGen::new(
                        "batch",
                        nodepack_model::Millicores(1000),
                        nodepack_model::Bytes::from_mib(2048),
                        Millis::from_mins(15),
                        jobs,
                        (Millis(0), Millis(0)),
                    );
                    batch.start = Millis::from_secs(60);
                    batch.run = (Millis::from_secs_f64(run / 2.0), Millis::from_secs_f64(run));
                    batch
                }],
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn replays_keep_their_invariants(g in arb_generator(), seed in 0u64..1000, storm in any::<bool>()) {
        let mut settings = Settings::new(Millis::from_mins(90), seed);
        settings.lb_samples = 6;
        settings.series_points = 30;
        if storm {
            // Interruptions within the run: every spot node is at risk.
            settings.cloud.interruption_bucket = Some(">20%".into());
            settings.cloud.interruption_scale = 2000.0;
            settings.cloud.ice_rate = 0.2;
        }
        let trace = generate(&g, settings.horizon, seed);
        for name in AUTOSCALERS {
            let (r, c) = replay(name, &settings, &trace);
            check(name, &r, &c)?;
            if storm && *name != "static" {
                // Interruptions never lose a pod: every evicted pod is pending again,
                // running again, or finished.
                for p in c.pods.iter().filter(|p| p.restarts > 0) {
                    prop_assert!(p.phase != PodPhase::Deleted || p.first_bound.is_some());
                }
            }
            let (again, _) = replay(name, &settings, &trace);
            prop_assert_eq!(&r, &again, "{}: not deterministic", name);
        }
    }
}

#[test]
fn storms_interrupt_and_pods_come_back() {
    let mut settings = Settings::new(Millis::from_mins(120), 5);
    settings.cloud.interruption_bucket = Some(">20%".into());
    // About two interruptions per node-hour: a node living the whole run escapes with
    // odds of e^-4.
    settings.cloud.interruption_scale = 6000.0;
    let mut web = service("web", 500, 512, 30);
    web.capacity_type = Some("spot".into());
    let trace = generate(
        &Generator {
            services: vec![web],
            jobs: vec![],
        },
        settings.horizon,
        5,
    );
    for name in ["nodepack", "karpenter"] {
        let (r, c) = replay(name, &settings, &trace);
        assert!(r.summary.spot_interruptions > 0, "{name}: no interruption");
        assert!(r.summary.interruption_restarts > 0, "{name}");
        let running = c
            .pods
            .iter()
            .filter(|p| matches!(p.phase, PodPhase::Running | PodPhase::Bound))
            .count();
        // After the storm most replicas run again (some may be waiting for a node).
        assert!(running >= 20, "{name}: only {running} of 30 running");
        check(name, &r, &c).unwrap();
    }
}

/// Regression: pods nominated to a node were counted as already on it when the
/// scheduler placed zone-spread pods, so they never fit their own node and waited for
/// hours. Zone-spread replicas must now start within the launch time.
#[test]
fn zone_spread_replicas_start_within_launch_time() {
    let settings = Settings::new(Millis::from_mins(30), 1);
    let mut web = service("web", 500, 1024, 24);
    web.zone_spread = true;
    let trace = generate(
        &Generator {
            services: vec![web],
            jobs: vec![],
        },
        settings.horizon,
        1,
    );
    for name in ["nodepack", "karpenter"] {
        let (r, c) = replay(name, &settings, &trace);
        assert_eq!(r.summary.pods_scheduled, 24, "{name}");
        assert!(
            r.summary.pending.max.secs_f64() <= 135.0,
            "{name}: {:?}",
            r.summary.pending
        );
        check(name, &r, &c).unwrap();
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_draws() {
    let mut settings = Settings::new(Millis::from_mins(60), 9);
    settings.cloud.ice_rate = 0.3;
    let g = Generator {
        services: vec![service("web", 700, 900, 20)],
        jobs: vec![],
    };
    let trace = generate(&g, settings.horizon, 9);
    let (a, _) = replay("karpenter", &settings, &trace);
    let (b, _) = replay("karpenter", &settings, &trace);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    settings.seed = 10;
    let (c, _) = replay("karpenter", &settings, &trace);
    assert_ne!(a.summary.launch_failures + a.summary.nodes_launched, 0);
    assert_ne!(
        format!("{:?}", a.summary.pending),
        format!("{:?}", c.summary.pending)
    );
}

/// Regression: simulated nodes did not carry the labels Karpenter derives from a pool's
/// single-valued requirements, so pods selecting such a label were planned onto new
/// nodes they could then never bind to.
#[test]
fn pool_single_valued_requirements_label_the_nodes() {
    use nodepack_model::{Bytes, Millicores, Pod, Resources};
    let settings = Settings::new(Millis::from_mins(20), 2);
    let mut p = pool();
    p.requirements = p
        .requirements
        .with("example.com/team", Operator::In, &["a"])
        .unwrap();
    let trace: Vec<TraceEvent> = (0..3)
        .map(|i| {
            let mut pod = Pod::new(
                "default",
                &format!("t-{i}"),
                Resources::new(Millicores(500), Bytes::from_mib(512)),
            );
            pod.node_selector
                .insert("example.com/team".into(), "a".into());
            TraceEvent {
                at: Millis(0),
                kind: TraceKind::Arrive {
                    pod: std::sync::Arc::new(pod),
                    run_for: None,
                },
            }
        })
        .collect();
    let catalog = tk::catalog();
    let pools = vec![p];
    for name in ["nodepack", "karpenter"] {
        let input = SimInput {
            settings: &settings,
            nodepools: &pools,
            catalog: &catalog,
            trace: &trace,
            pdbs: &[],
        };
        let mut a = by_name(name).unwrap();
        let (r, c) = run_debug(input, a.as_mut());
        assert_eq!(
            r.summary.pods_scheduled, 3,
            "{name}: {:?}",
            r.summary.unschedulable
        );
        // Terminated nodes (a hedge's spares) drop their labels; the live ones show them.
        let live: Vec<_> = c.nodes.iter().filter(|n| n.live()).collect();
        assert!(!live.is_empty(), "{name}");
        assert!(live
            .iter()
            .all(|n| n.node.labels.get("example.com/team").map(String::as_str) == Some("a")));
    }
}

/// A service scaled in from 40 to 6 replicas leaves underutilized nodes: the
/// cluster-autoscaler drains them, unless a disruption budget forbids any eviction.
#[test]
fn disruption_budgets_hold_back_scale_down() {
    let settings = Settings::new(Millis::from_mins(60), 3);
    // Two services share the nodes; when one scales in, each node is left half used.
    let (mut g, free) = half_used_after_scale_in(&settings);
    let (r, c) = replay_budgeted("cluster-autoscaler", &settings, &free, &[]);
    check("cluster-autoscaler", &r, &c).unwrap();
    assert!(
        r.summary.pods_evicted > 0,
        "no scale-down to hold back: {:?}",
        r.summary
    );
    g.services[0].max_unavailable = Some(IntOrPercent::Count(0));
    g.services[1].max_unavailable = Some(IntOrPercent::Count(0));
    let pdbs = budgets(&g);
    assert_eq!(pdbs.len(), 2);
    let (held, c) = replay_budgeted("cluster-autoscaler", &settings, &free, &pdbs);
    check("cluster-autoscaler", &held, &c).unwrap();
    assert_eq!(held.summary.pods_evicted, 0, "{:?}", held.summary);
    // The autoscaler does not even try nodes whose pods may not be evicted.
    assert_eq!(held.summary.evictions_blocked, 0, "{:?}", held.summary);
    assert!(held.summary.cost.usd() > r.summary.cost.usd());
}

/// Drains on a spot interruption notice go through the eviction API: with at most one
/// replica unavailable, the rest wait on the node (and die with it at termination, an
/// involuntary disruption), and every pod still ends accounted for.
#[test]
fn interruption_drains_respect_budgets() {
    let mut settings = Settings::new(Millis::from_mins(120), 5);
    settings.cloud.interruption_bucket = Some(">20%".into());
    // About two interruptions per node-hour: a node living the whole run escapes with
    // odds of e^-4.
    settings.cloud.interruption_scale = 6000.0;
    let mut web = service("web", 500, 512, 30);
    web.capacity_type = Some("spot".into());
    web.max_unavailable = Some(IntOrPercent::Count(1));
    let g = Generator {
        services: vec![web],
        jobs: vec![],
    };
    let trace = generate(&g, settings.horizon, 5);
    let (free, _) = replay("karpenter", &settings, &trace);
    let (r, c) = replay_budgeted("karpenter", &settings, &trace, &budgets(&g));
    check("karpenter", &r, &c).unwrap();
    assert!(r.summary.spot_interruptions > 0);
    assert!(r.summary.evictions_blocked > 0, "{:?}", r.summary);
    assert_eq!(free.summary.evictions_blocked, 0);
}

/// Two services sharing nodes, one scaled in at 10 minutes: the nodes are left half
/// used (arrivals interleaved web-0, batch-0, web-1, ...).
fn half_used_after_scale_in(settings: &Settings) -> (Generator, Vec<TraceEvent>) {
    let mut batch = service("batch", 900, 1024, 0);
    batch.steps = vec![(Millis(0), 24), (Millis::from_secs(600), 0)];
    let g = Generator {
        services: vec![service("web", 900, 1024, 24), batch],
        jobs: vec![],
    };
    let t = generate(&g, settings.horizon, 3);
    let (web, rest): (Vec<TraceEvent>, Vec<TraceEvent>) = t.into_iter().partition(
        |e| matches!(&e.kind, TraceKind::Arrive { pod, .. } if pod.labels["app"] == "web"),
    );
    let (batch, deletes): (Vec<TraceEvent>, Vec<TraceEvent>) = rest
        .into_iter()
        .partition(|e| matches!(e.kind, TraceKind::Arrive { .. }));
    let mut trace: Vec<TraceEvent> = web
        .into_iter()
        .zip(batch)
        .flat_map(|(a, b)| [a, b])
        .collect();
    trace.extend(deletes);
    (g, trace)
}

/// Consolidation after a scale-in: both Karpenter's and nodepack's disruption loops
/// remove or replace the half-used nodes (cheaper than the same autoscaler with its
/// disruption loop switched off), every pod stays accounted for, and with
/// `maxUnavailable: 0` budgets nothing is evicted. On-demand only: on the small test
/// catalog Karpenter's spot-to-spot rule (15 cheaper types) would refuse every move.
#[test]
fn consolidation_cuts_cost_after_scale_in() {
    use nodepack_sim::autoscaler::karpenter::KarpenterAutoscaler;
    use nodepack_sim::autoscaler::nodepack::NodepackAutoscaler;
    use nodepack_sim::autoscaler::Autoscaler;
    let settings = Settings::new(Millis::from_mins(90), 3);
    let (mut g, trace) = half_used_after_scale_in(&settings);
    let catalog = tk::catalog();
    let mut od = pool();
    od.requirements = Requirements::new()
        .with(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])
        .unwrap();
    let pools = vec![od];
    let run = |a: &mut dyn Autoscaler, pdbs: &[PodDisruptionBudget]| {
        let input = SimInput {
            settings: &settings,
            nodepools: &pools,
            catalog: &catalog,
            trace: &trace,
            pdbs,
        };
        run_debug(input, a)
    };
    let never = Millis::from_mins(100_000);
    let mut k_off = KarpenterAutoscaler::default();
    k_off.disruptor.interval = never;
    let mut n_off = NodepackAutoscaler::default();
    n_off.disruptor.interval = never;
    let cases: Vec<(Box<dyn Autoscaler>, Box<dyn Autoscaler>)> = vec![
        (Box::new(KarpenterAutoscaler::default()), Box::new(k_off)),
        (Box::new(NodepackAutoscaler::default()), Box::new(n_off)),
    ];
    for (mut on, mut off) in cases {
        let name = on.name();
        let (r, c) = run(on.as_mut(), &[]);
        check(name, &r, &c).unwrap();
        let (r_off, _) = run(off.as_mut(), &[]);
        let s = &r.summary;
        let consolidated: u64 = s.disruptions.values().sum();
        assert!(consolidated > 0, "{name}: {:?}", s.disruptions);
        assert!(s.evictions_disruption > 0, "{name}");
        assert!(s.consolidation_savings.usd() > 0.0, "{name}");
        assert!(
            s.cost.usd() < r_off.summary.cost.usd(),
            "{name}: {} with consolidation, {} without",
            s.cost.usd(),
            r_off.summary.cost.usd()
        );
        assert_eq!(r_off.summary.evictions_disruption, 0, "{name}");
    }
    g.services[0].max_unavailable = Some(IntOrPercent::Count(0));
    g.services[1].max_unavailable = Some(IntOrPercent::Count(0));
    let pdbs = budgets(&g);
    for name in ["karpenter", "nodepack"] {
        let mut a = by_name(name).unwrap();
        let (r, c) = run(a.as_mut(), &pdbs);
        check(name, &r, &c).unwrap();
        assert_eq!(r.summary.evictions_disruption, 0, "{name}: {:?}", r.summary);
    }
}

/// A replay with the `nodepack` autoscaler (hedge and headroom on) tuned by `tune`.
fn replay_nodepack(
    settings: &Settings,
    trace: &[TraceEvent],
    tune: impl FnOnce(&mut NodepackAutoscaler),
) -> (nodepack_sim::SimResult, Cluster) {
    let mut a = NodepackAutoscaler::default();
    tune(&mut a);
    replay_with(&mut a, settings, trace, &[])
}

/// The trace of a 500m/1Gi web service following a daily cycle (min, max replicas,
/// period in hours, step in seconds) over the settings' horizon, with their seed.
fn diurnal_web(
    settings: &Settings,
    (min, max, period_h, step_s): (u32, u32, f64, f64),
    zone_spread: bool,
) -> Vec<TraceEvent> {
    let mut web = service("web", 500, 1024, 0);
    web.zone_spread = zone_spread;
    web.diurnal = Some(Diurnal::new(
        min,
        max,
        Millis::from_secs_f64(period_h * 3600.0),
        Millis::from_secs_f64(step_s),
    ));
    generate(
        &Generator {
            services: vec![web],
            jobs: vec![],
        },
        settings.horizon,
        settings.seed,
    )
}

/// Headroom: the replicas a growing service adds bind at once on room kept for them;
/// without it, each scale-up step waits for a node to boot (25 s at least).
#[test]
fn headroom_lets_growing_services_bind_at_once() {
    let settings = Settings::new(Millis::from_mins(720), 3);
    let trace = diurnal_web(&settings, (4, 60, 24.0, 300.0), false);
    let (with, c) = replay_nodepack(&settings, &trace, |_| {});
    check("nodepack", &with, &c).unwrap();
    // No window, no growth seen: no headroom.
    let (without, c) = replay_nodepack(&settings, &trace, |a| {
        a.headroom = None;
    });
    check("nodepack without headroom", &without, &c).unwrap();
    let (w, wo) = (&with.summary.pending, &without.summary.pending);
    assert!(w.p90 < Millis::from_secs(5), "with headroom: {w:?}");
    assert!(wo.p90 >= Millis::from_secs(25), "without headroom: {wo:?}");
    // The room costs something, not a fleet.
    assert!(
        with.summary.cost.usd() < without.summary.cost.usd() * 1.25,
        "{} vs {}",
        with.summary.cost.usd(),
        without.summary.cost.usd()
    );
}

/// The launch hedge: a burst's pods land on the first nodes ready, so its p99 pending
/// time drops below the boot-time tail; the spares nobody needs are removed.
#[test]
fn hedged_bursts_wait_for_the_first_nodes_not_the_slowest() {
    let settings = Settings::new(Millis::from_mins(30), 7);
    let trace = generate(
        &Generator {
            services: vec![service("burst", 1500, 3072, 300)],
            jobs: vec![],
        },
        settings.horizon,
        7,
    );
    let (hedged, c) = replay_nodepack(&settings, &trace, |_| {});
    check("nodepack", &hedged, &c).unwrap();
    let (plain, c0) = replay_nodepack(&settings, &trace, |a| a.provisioner.hedge_share = 0.0);
    check("nodepack without hedge", &plain, &c0).unwrap();
    let (h, p) = (&hedged.summary, &plain.summary);
    assert!(
        h.pending.p99.secs_f64() + 10.0 < p.pending.p99.secs_f64(),
        "hedged {:?} vs {:?}",
        h.pending,
        p.pending
    );
    assert!(
        h.disruptions.get("unneeded spare").is_some_and(|&n| n > 0),
        "{h:?}"
    );
    // Every spare left standing holds pods.
    for n in c.nodes.iter().filter(|n| n.life < NodeLife::Draining) {
        assert!(!n.pods.is_empty(), "{} empty at the horizon", n.node.name);
    }
    assert!(
        h.cost.usd() < p.cost.usd() * 1.2,
        "{} vs {}",
        h.cost.usd(),
        p.cost.usd()
    );
}

/// The value of a pod's pending time (`Settings::pending_value`, a scenario's
/// `hedge: {pending_value}`) decides which spares pay for themselves: at zero none does
/// and the hedge launches none; at $0.50 a pod-hour some do, at the default more, and
/// the bursts' slowest pods wait less each time.
#[test]
fn the_value_of_pending_time_sets_how_many_spares_launch() {
    let horizon = Millis::from_mins(60);
    let trace = generate(
        &Generator {
            services: vec![],
            jobs: vec![JobGen::new(
                "infer",
                nodepack_model::Millicores(3000),
                nodepack_model::Bytes::from_mib(12288),
                Millis::from_secs(300),
                8,
                (Millis::from_secs(300), Millis::from_secs(1200)),
            )],
        },
        horizon,
        1,
    );
    let run = |value: f64| {
        let mut settings = Settings::new(horizon, 1);
        settings.pending_value = value;
        let (r, c) = replay_nodepack(&settings, &trace, |a| a.headroom = None);
        check("nodepack", &r, &c).unwrap();
        let spares = r.summary.disruptions.get("unneeded spare").copied();
        (r.summary.nodes_launched, spares, r.summary.pending.p99)
    };
    let (none, low, default) = (
        run(0.0),
        run(0.5),
        run(nodepack_sim::autoscaler::hedge::PENDING_VALUE),
    );
    assert_eq!(none.1, None, "no spare at zero: {none:?}");
    assert!(
        none.0 < low.0 && low.0 < default.0,
        "{none:?} {low:?} {default:?}"
    );
    assert!(
        default.2 < low.2 && low.2 < none.2,
        "{none:?} {low:?} {default:?}"
    );
}

/// The hedge's spares draw boot times and interruptions of their own and launch in their
/// node's request (no capacity draw of their own), so adding spares never changes the
/// nodes the autoscaler planned: the first round launches the same nodes, with the same
/// boot times, with and without spares, insufficient-capacity failures included (before,
/// each spare took the next draws and every later node's boot time moved).
#[test]
fn spares_leave_the_planned_nodes_draws_as_they_were() {
    let mut settings = Settings::new(Millis::from_mins(20), 11);
    settings.cloud.ice_rate = 0.3;
    let trace = generate(
        &Generator {
            services: vec![service("burst", 1500, 3072, 120)],
            jobs: vec![],
        },
        settings.horizon,
        11,
    );
    let first_round = |share: f64| {
        let (r, c) = replay_nodepack(&settings, &trace, |a| {
            a.provisioner.hedge_share = share;
            a.headroom = None;
        });
        check("nodepack", &r, &c).unwrap();
        let t0 = c.nodes[0].launched;
        let round: Vec<_> = c
            .nodes
            .iter()
            .filter(|n| n.launched == t0)
            .map(|n| {
                (
                    n.node.instance_type.clone(),
                    n.node.zone.clone(),
                    n.ready_at,
                )
            })
            .collect();
        (round, r.summary.launch_failures)
    };
    let (plain, plain_failures) = first_round(0.0);
    let (hedged, hedged_failures) = first_round(2.0);
    assert!(plain.len() > 3, "{plain:?}");
    // Each planned node, then its two spares: always two, since they launch with it.
    assert_eq!(hedged.len(), 3 * plain.len(), "{hedged:?}");
    let planned: Vec<_> = hedged.iter().step_by(3).collect();
    let mut same_boot = 0;
    for (h, p) in planned.iter().zip(&plain) {
        assert_eq!((&h.0, &h.1), (&p.0, &p.1));
        // A planned node a faster spare stood in for goes before it is ready.
        if h.2.is_some() {
            assert_eq!(h.2, p.2);
            same_boot += 1;
        }
    }
    assert!(same_boot > 3, "{hedged:?}");
    assert!(plain_failures > 0 && plain_failures == hedged_failures);
}

/// Regression: a zone-spread pod that the hedge moved to a ready spare waited for the
/// scheduler's retry of constrained pods (only a node becoming ready triggered their
/// pass at once), and when that pass came the spread no longer allowed the spare's
/// zone, so the pod went back to the provisioner and waited for a new node:
/// web-diurnal's p99 was 364 s with two spares per launch. A nomination to a ready node now gives
/// the constrained pods their pass at once, so with every boot within 60 s and the
/// first ready of three nodes serving each plan, no pod waits much past a boot.
#[test]
fn pods_a_spare_takes_over_bind_at_once_even_when_zone_spread() {
    let mut settings = Settings::new(Millis::from_mins(90), 5);
    settings.cloud.boot_tail_share = 0.0;
    let trace = diurnal_web(&settings, (6, 60, 3.0, 120.0), true);
    let (r, c) = replay_nodepack(&settings, &trace, |a| a.headroom = None);
    check("nodepack", &r, &c).unwrap();
    let s = &r.summary;
    assert!(
        s.disruptions.get("unneeded spare").is_some_and(|&n| n > 0),
        "{s:?}"
    );
    // 60 s boot, up to 10 s of batching, a second for the scheduler to run.
    assert!(s.pending.max.secs_f64() <= 71.0, "{:?}", s.pending);
}

/// Karpenter's launch is one CreateFleet request (AWS provider, `launchInstance`): when it
/// returns no instance, the NodeClaim fails with an insufficient-capacity error, the
/// offering is cached unavailable, and the pods go back to the next batch. The baseline
/// used to try other offerings inside one launch (a dozen failures in one round here).
/// With every launch failing, one provisioning round makes exactly one attempt.
#[test]
fn karpenter_fleet_launch_fails_the_nodeclaim_on_insufficient_capacity() {
    let mut settings = Settings::new(Millis(1_500), 1);
    settings.cloud.ice_rate = 1.0;
    let pod = std::sync::Arc::new(tk::pod("a", 500, 512));
    let trace = vec![TraceEvent {
        at: Millis(0),
        kind: TraceKind::Arrive { pod, run_for: None },
    }];
    let (r, c) = replay("karpenter", &settings, &trace);
    assert_eq!(r.summary.launch_failures, 1, "one fleet request per round");
    assert!(c.nodes.is_empty());
    // The next rounds pick other offerings: the failed one is cached for 3 minutes.
    let mut settings = Settings::new(Millis(10_000), 1);
    settings.cloud.ice_rate = 1.0;
    let (r, _) = replay("karpenter", &settings, &trace);
    assert!(
        r.summary.launch_failures >= 3,
        "{}",
        r.summary.launch_failures
    );
    assert!(
        r.summary.launch_failures <= 10,
        "{}",
        r.summary.launch_failures
    );
}

/// Regression: a pod deleted before it was ever bound vanished from the summary (neither
/// scheduled nor unschedulable) and its wait was left out of the pending percentiles.
#[test]
fn pods_deleted_before_binding_are_counted_with_their_wait() {
    let mut big = tk::pod("g", 100, 128);
    big.requests.cpu = nodepack_model::Millicores::from_cores(100_000);
    let trace = vec![
        TraceEvent {
            at: Millis(0),
            kind: TraceKind::Arrive {
                pod: std::sync::Arc::new(big.clone()),
                run_for: None,
            },
        },
        TraceEvent {
            at: Millis(0),
            kind: TraceKind::Arrive {
                pod: std::sync::Arc::new(tk::pod("ok", 500, 512)),
                run_for: None,
            },
        },
        TraceEvent {
            at: Millis::from_secs(1800),
            kind: TraceKind::Delete(big.id.clone()),
        },
    ];
    let settings = Settings::new(Millis::from_mins(60), 1);
    for name in AUTOSCALERS {
        let (r, _) = replay(name, &settings, &trace);
        let s = &r.summary;
        assert_eq!(
            (
                s.pods_total,
                s.pods_scheduled,
                s.pods_unschedulable,
                s.deleted_before_binding
            ),
            (2, 1, 0, 1),
            "{name}"
        );
        assert_eq!(s.pending.max.secs_f64(), 1800.0, "{name}");
    }
}

/// An autoscaler ticking every interval: `inner` without its `wake`.
struct EveryTick(Box<dyn nodepack_sim::Autoscaler>);

impl nodepack_sim::Autoscaler for EveryTick {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn interval(&self) -> Option<Millis> {
        self.0.interval()
    }
    fn reconcile(
        &mut self,
        ctx: &nodepack_sim::autoscaler::Ctx,
    ) -> Vec<nodepack_sim::autoscaler::Action> {
        self.0.reconcile(ctx)
    }
    fn drains_on_notice(&self) -> bool {
        self.0.drains_on_notice()
    }
    fn uses_unavailable_cache(&self) -> bool {
        self.0.uses_unavailable_cache()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The engine skips the ticks an autoscaler's `wake` says cannot act: the replay is
    /// the one that ticks every second, with fewer events (an idle hour is a few
    /// passes, not 3,600 ticks).
    #[test]
    fn skipped_ticks_change_nothing_but_the_event_count(
        g in arb_generator(),
        seed in 0u64..1000,
    ) {
        let mut settings = Settings::new(Millis::from_mins(240), seed);
        settings.lb_samples = 6;
        settings.series_points = 30;
        let trace = generate(&g, Millis::from_mins(90), seed);
        for name in ["nodepack", "nodepack-lean", "karpenter"] {
            let (mut fast, _) = replay(name, &settings, &trace);
            eprintln!("TMP ===== slow");
    let mut every = EveryTick(by_name(name).unwrap());
            let (mut slow, _) = replay_with(&mut every, &settings, &trace, &[]);
            prop_assert!(
                fast.summary.events * 3 < slow.summary.events,
                "{}: {} events, {} ticking every second", name, fast.summary.events, slow.summary.events
            );
            fast.summary.events = 0;
            slow.summary.events = 0;
            prop_assert_eq!(&fast, &slow, "{}", name);
        }
    }
}

/// Parking the pods a pool limit keeps out (the provisioner's `park`) changes nothing but
/// the work: a backlog of 4-core jobs behind a 16-core limit is served in the same waves
/// with and without it, and every job runs by the end (none stays parked).
#[test]
fn parking_a_limit_backlog_changes_no_outcome() {
    let g = Generator {
        services: vec![],
        jobs: vec![JobGen::new(
            "train",
            nodepack_model::Millicores(3_500),
            nodepack_model::Bytes::from_mib(4096),
            Millis::from_mins(30),
            6,
            (Millis::from_mins(20), Millis::from_mins(40)),
        )],
    };
    let mut settings = Settings::new(Millis::from_mins(6 * 60), 3);
    settings.lb_samples = 2;
    let trace = generate(&g, Millis::from_mins(4 * 60), 3);
    let mut limited = pool();
    limited.limits.cpu = Some(nodepack_model::Millicores::from_cores(16));
    let pools = vec![limited];
    for name in ["nodepack", "karpenter"] {
        let run = |park: bool| {
            let mut a: Box<dyn nodepack_sim::Autoscaler> = match name {
                "nodepack" => {
                    let mut a = NodepackAutoscaler::default();
                    a.provisioner.park = park;
                    Box::new(a)
                }
                _ => {
                    let mut a = nodepack_sim::autoscaler::karpenter::KarpenterAutoscaler::default();
                    a.provisioner.park = park;
                    Box::new(a)
                }
            };
            replay_on(a.as_mut(), &settings, &trace, &[], &pools)
        };
        let (on, c_on) = run(true);
        let (off, c_off) = run(false);
        let s = &on.summary;
        assert!(
            s.pending.max.secs_f64() > 1800.0,
            "{name}: the limit binds: {s:?}"
        );
        assert_eq!(s.pods_unschedulable, 0, "{name}: every job ran");
        assert_eq!(
            s.pods_scheduled,
            trace
                .iter()
                .filter(|e| matches!(e.kind, TraceKind::Arrive { .. }))
                .count() as u64
        );
        let bound = |c: &Cluster| c.pods.iter().map(|p| p.first_bound).collect::<Vec<_>>();
        assert_eq!(bound(&c_on), bound(&c_off), "{name}: same waves");
        assert_eq!(
            on.summary.nodes_launched, off.summary.nodes_launched,
            "{name}"
        );
        // (Fewer wake-ups may move a removal by a tick.)
        let (a, b) = (on.summary.cost.usd(), off.summary.cost.usd());
        assert!((a - b).abs() <= 1e-3 * b, "{name}: {a} vs {b}");
    }
}
