//! A static fleet, as a headroom baseline: at time zero it launches on-demand nodes sized
//! (by the `nodepack` solver) for the trace's peak demand (the moment the most CPU is
//! requested, with every pod starting as it arrives), and never scales after.

use super::{Action, Autoscaler, Ctx, LaunchReq};
use crate::config::TraceKind;
use nodepack_model::{labels, Millis, NodePool, Pod, PodId, ValueSet};
use nodepack_solver::{Problem, Strategy};
use std::collections::BTreeMap;

/// The static fleet.
#[derive(Clone, Debug, Default)]
pub struct StaticFleet {
    done: bool,
}

/// The pods alive at the moment of peak requested CPU.
pub fn peak_pods(trace: &[crate::config::TraceEvent]) -> Vec<Pod> {
    // Changes: (time, order, +1/-1, pod id).
    let mut changes: Vec<(Millis, u8, &Pod)> = Vec::new();
    let mut by_id: BTreeMap<&PodId, &Pod> = BTreeMap::new();
    for e in trace {
        match &e.kind {
            TraceKind::Arrive { pod, run_for } => {
                by_id.insert(&pod.id, pod);
                changes.push((e.at, 1, pod));
                if let Some(r) = run_for {
                    changes.push((e.at + *r, 0, pod));
                }
            }
            TraceKind::Delete(id) => {
                if let Some(p) = by_id.get(id) {
                    changes.push((e.at, 0, p));
                }
            }
        }
    }
    // Departures before arrivals at the same instant.
    changes.sort_by_key(|c| (c.0, c.1));
    let mut alive: BTreeMap<&PodId, &Pod> = BTreeMap::new();
    let mut cpu = 0u64;
    let (mut best_cpu, mut best) = (0u64, Vec::new());
    let mut i = 0;
    while i < changes.len() {
        let t = changes[i].0;
        while i < changes.len() && changes[i].0 == t {
            let (_, kind, p) = changes[i];
            if kind == 1 {
                if alive.insert(&p.id, p).is_none() {
                    cpu += p.requests.cpu.0;
                }
            } else if alive.remove(&p.id).is_some() {
                cpu -= p.requests.cpu.0;
            }
            i += 1;
        }
        if cpu > best_cpu {
            best_cpu = cpu;
            best = alive.values().map(|p| (*p).clone()).collect();
        }
    }
    best
}

impl Autoscaler for StaticFleet {
    fn name(&self) -> &'static str {
        "static"
    }
    fn interval(&self) -> Option<Millis> {
        None
    }
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        if self.done {
            return vec![];
        }
        self.done = true;
        let pods = peak_pods(ctx.trace);
        // On-demand only: a static fleet is bought to stay.
        let pools: Vec<NodePool> = ctx
            .pools
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.requirements
                    .add(labels::CAPACITY_TYPE, ValueSet::in_values(["on-demand"]));
                p
            })
            .collect();
        let problem = Problem::new(&pods, &[], &pools, ctx.catalog);
        let plan = nodepack_solver::NodepackStrategy::default().solve(&problem);
        plan.nodes
            .iter()
            .filter_map(|n| {
                Some(Action::Launch(LaunchReq {
                    pool: ctx.pools.iter().position(|p| p.name == n.nodepool)?,
                    instance_type: n.instance_type.clone(),
                    zone: n.zone.clone(),
                    capacity_type: n.capacity_type,
                    alternatives: n.alternatives.clone(),
                    pods: vec![],
                    on_demand_fallback: true,
                    spares: 0,
                    warm: false,
                    fleet: false,
                }))
            })
            .collect()
    }
    fn drains_on_notice(&self) -> bool {
        false
    }
}
