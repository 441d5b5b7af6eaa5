//! Autoscalers, behind one trait, all driven by the same environment and random draws.
//! One strategy per file: [`karpenter`], [`nodepack`], [`cluster_autoscaler`],
//! [`static_fleet`]; the provisioning loop Karpenter and nodepack share is
//! [`Provisioner`].

pub mod cluster_autoscaler;
pub mod disruption;
pub mod karpenter;
pub mod nodepack;
pub mod static_fleet;

use crate::cluster::Cluster;
use crate::config::TraceEvent;
use nodepack_model::{CapacityType, Catalog, Millis, NodePool, Pod};
use nodepack_solver::prep::{Pairs, Prepared};
use nodepack_solver::Problem;
use std::sync::Arc;

/// What an autoscaler sees.
pub struct Ctx<'a> {
    /// Now.
    pub now: Millis,
    /// The cluster.
    pub cluster: &'a Cluster,
    /// Node pools.
    pub pools: &'a [NodePool],
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Prepared pairs of the pools and catalog.
    pub pairs: &'a Arc<Pairs>,
    /// The whole trace (only the static fleet looks ahead, to size itself for the peak).
    pub trace: &'a [TraceEvent],
    /// The cloud (for its unavailable-offerings cache).
    pub cloud: &'a crate::cloud::Cloud,
}

/// A node to launch.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchReq {
    /// Pool index.
    pub pool: usize,
    /// Preferred instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Other types, in order, if the preferred one has no capacity.
    pub alternatives: Vec<String>,
    /// Pods to nominate to it.
    pub pods: Vec<usize>,
    /// A spot launch may fall back to on-demand when spot has no capacity (not for a
    /// consolidation replacement pinned to spot).
    pub on_demand_fallback: bool,
}

/// What an autoscaler decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Launch a node.
    Launch(LaunchReq),
    /// Cordon, drain and terminate a node.
    Remove {
        /// Node index.
        node: usize,
        /// Why (`empty`, `underutilized`, `drifted`, `expired`).
        reason: &'static str,
    },
    /// Cordon nodes, launch their replacements, and drain and terminate the nodes once
    /// every replacement is ready (if a replacement cannot launch, the nodes are
    /// uncordoned and stay).
    Replace {
        /// Node indices.
        nodes: Vec<usize>,
        /// The replacements.
        launches: Vec<LaunchReq>,
        /// Why.
        reason: &'static str,
    },
    /// Nominate a pending pod to a node (launching or ready).
    Nominate {
        /// Pod.
        pod: usize,
        /// Node.
        node: usize,
    },
    /// Record why a pod cannot be scheduled.
    Unschedulable {
        /// Pod.
        pod: usize,
        /// Reason.
        reason: String,
    },
}

/// An autoscaler.
pub trait Autoscaler {
    /// Its name.
    fn name(&self) -> &'static str;
    /// How often its loop runs (`None`: only at time zero).
    fn interval(&self) -> Option<Millis>;
    /// One pass of its loop.
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action>;
    /// Whether it cordons and drains a spot node on the interruption notice (otherwise
    /// the pods die with the node two minutes later).
    fn drains_on_notice(&self) -> bool;
    /// Whether failed offerings are kept out of launches for a while.
    fn uses_unavailable_cache(&self) -> bool {
        true
    }
}

/// The autoscalers by name.
pub const AUTOSCALERS: &[&str] = &["nodepack", "karpenter", "cluster-autoscaler", "static"];

/// Look an autoscaler up by name.
pub fn by_name(name: &str) -> Option<Box<dyn Autoscaler>> {
    match name {
        "nodepack" => Some(Box::new(nodepack::NodepackAutoscaler::default())),
        "karpenter" => Some(Box::new(karpenter::KarpenterAutoscaler::default())),
        "cluster-autoscaler" => Some(Box::new(cluster_autoscaler::ClusterAutoscaler::default())),
        "static" => Some(Box::new(static_fleet::StaticFleet::default())),
        _ => None,
    }
}

/// Karpenter's provisioning loop with a pluggable solver: batch pending pods (a batch
/// closes after `idle` without new pods or `max` after it opened), solve with the
/// cluster's live nodes (in-flight ones included, with their nominated pods) as existing
/// capacity, nominate and launch. Disruption is [`disruption::Disruptor`]'s.
#[derive(Clone, Debug)]
pub struct Provisioner {
    /// Solver strategy name.
    pub solver: &'static str,
    /// Batch idle duration (Karpenter: 1 s).
    pub idle: Millis,
    /// Batch maximum duration (Karpenter: 10 s).
    pub max: Millis,
    /// Retry pods found unschedulable after this long.
    pub retry_unschedulable: Millis,
    opened: Option<Millis>,
    last_change: Millis,
    last_count: usize,
}

impl Provisioner {
    /// A provisioner with Karpenter's timings.
    pub fn new(solver: &'static str) -> Self {
        Provisioner {
            solver,
            idle: Millis::from_secs(1),
            max: Millis::from_secs(10),
            retry_unschedulable: Millis::from_mins(5),
            opened: None,
            last_change: Millis(0),
            last_count: 0,
        }
    }

    /// Pods waiting for capacity: pending, not nominated, not recently found
    /// unschedulable.
    fn waiting(&self, ctx: &Ctx) -> Vec<usize> {
        let c = ctx.cluster;
        c.pending
            .iter()
            .copied()
            .filter(|&p| {
                let ps = &c.pods[p];
                ps.nominated.is_none()
                    && (ps.reason.is_none()
                        || ctx.now.saturating_sub(ps.reason_at) >= self.retry_unschedulable)
            })
            .collect()
    }

    /// Are pods waiting for capacity?
    pub fn has_waiting(&self, ctx: &Ctx) -> bool {
        !self.waiting(ctx).is_empty()
    }

    /// One pass: provisioning (when a batch closes).
    pub fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        let mut out = Vec::new();
        let waiting = self.waiting(ctx);
        if waiting.is_empty() {
            self.opened = None;
        } else {
            let opened = *self.opened.get_or_insert(ctx.now);
            if waiting.len() != self.last_count {
                self.last_change = ctx.now;
            }
            self.last_count = waiting.len();
            if ctx.now.saturating_sub(self.last_change) >= self.idle
                || ctx.now.saturating_sub(opened) >= self.max
            {
                self.opened = None;
                self.last_count = 0;
                out.extend(self.provision(ctx, &waiting));
            }
        }
        out
    }

    fn provision(&self, ctx: &Ctx, waiting: &[usize]) -> Vec<Action> {
        provision_with(self.solver, ctx, waiting)
    }
}

/// Solve for `waiting` with the live nodes as existing capacity and turn the plan into
/// actions.
pub fn provision_with(solver: &str, ctx: &Ctx, waiting: &[usize]) -> Vec<Action> {
    let c = ctx.cluster;
    let (nodes, idx) = c.existing(true);
    let pending: Vec<Pod> = waiting.iter().map(|&p| (*c.pods[p].pod).clone()).collect();
    let problem = Problem {
        pending: &pending,
        nodes: &nodes,
        nodepools: ctx.pools,
        catalog: ctx.catalog,
    };
    let prep = Prepared::with_pairs(ctx.pairs.clone(), problem);
    let Some(plan) = nodepack_solver::solve_prepared(solver, &prep) else {
        return vec![];
    };
    let mut out = Vec::new();
    let pod_of = |id: &nodepack_model::PodId| c.by_id.get(id).copied();
    for b in &plan.existing {
        if let (Some(p), Some(k)) = (
            pod_of(&b.pod),
            nodes.iter().position(|n| n.node.name == b.node),
        ) {
            out.push(Action::Nominate {
                pod: p,
                node: idx[k],
            });
        }
    }
    for n in &plan.nodes {
        let Some(pool) = ctx.pools.iter().position(|p| p.name == n.nodepool) else {
            continue;
        };
        out.push(Action::Launch(LaunchReq {
            pool,
            instance_type: n.instance_type.clone(),
            zone: n.zone.clone(),
            capacity_type: n.capacity_type,
            alternatives: n.alternatives.clone(),
            pods: n.pods.iter().filter_map(pod_of).collect(),
            on_demand_fallback: true,
        }));
    }
    for u in &plan.unschedulable {
        if let Some(p) = pod_of(&u.pod) {
            out.push(Action::Unschedulable {
                pod: p,
                reason: u.reason.clone(),
            });
        }
    }
    out
}
