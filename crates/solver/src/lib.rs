//! Provisioning strategies, the fractional LP lower bound and the plan validator.
//!
//! Given pending pods, the current cluster (existing nodes and their pods), node pools and
//! an instance catalog, a [`Strategy`] returns a [`Plan`]: pods bound to existing nodes,
//! new nodes (pool, instance type, offering and ranked alternatives), every pod that cannot
//! be scheduled with the reason, and the cost per hour. Everything here is a pure,
//! deterministic function of its input: no I/O, no clock, no randomness.
//!
//! Getting started: build a [`Solver`] once from node pools and a catalog, then solve,
//! validate and bound as often as needed (it is `Send + Sync`: share it across threads).
//!
//! ```
//! use nodepack_model::*;
//! use nodepack_solver::prelude::*;
//!
//! let m5 = InstanceType::new("m.large", Resources::new(Millicores(2000), Bytes::from_gib(8)).with_pods(29))
//!     .with_offering(Offering::new("z1", CapacityType::OnDemand, Money::from_usd(0.096)));
//! let solver = Solver::new(vec![NodePool::new("default")], Catalog::new("demo", vec![m5]));
//! let pods = (0..3)
//!     .map(|i| Pod::builder("default", &format!("web-{i}")).requests("500m", "512Mi").build())
//!     .collect::<Result<Vec<_>, _>>()?;
//! for strategy in Builtin::ALL {
//!     let plan = solver.solve(&strategy, &pods, &[])?;
//!     assert_eq!(plan.nodes.len(), 1);
//!     assert!(plan.unschedulable.is_empty());
//!     assert_eq!(plan.cost_per_hour, Money::from_usd(0.096));
//!     assert!(solver.validate(&pods, &[], &plan).is_empty());
//! }
//! let bound = solver.lower_bound(&pods, &[])?;
//! assert!(bound.cost_per_hour <= Money::from_usd(0.096));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assemble;
pub mod consolidate;
mod engine;
mod explain;
mod karpenter;
mod lower_bound;
mod nodepack;
mod prep;
mod reason;
mod solver;
mod topology;
mod validate;

use nodepack_model::{CapacityType, Catalog, Money, Node, NodePool, Pod, PodId, Resources};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use assemble::{assemble, Assembled, Note};
pub use explain::{Choice, Explanation, NodeExplanation, Passed, PodExplanation, PoolVerdict};
pub use karpenter::KarpenterStrategy;
pub use lower_bound::{lower_bound, lower_bound_pending, Bound, BoundError};
pub use nodepack::{Growth, NodepackStrategy, OwnerKey, RiskModel};
pub use reason::Reason;
pub use solver::{Builtin, SolveError, Solver, UnknownStrategy, MAX_PENDING};
pub use validate::{validate, Rule, Violation};

/// Building blocks for a [`Strategy`] of your own and for the simulator: the prepared
/// problem ([`internals::Prepared`]: the launchable pool and instance type pairs with
/// their capacities, offerings and memos, shared across problems through
/// [`internals::PoolCatalog`]), node labels, and the bound over a subset of pods. They change
/// with the strategies: not part of the stable API.
pub mod internals {
    pub use crate::engine::node_labels;
    pub use crate::explain::explain;
    pub use crate::karpenter::{fleet_choice, MAX_INSTANCE_TYPES, PRICE_CAPACITY_BAND};
    pub use crate::lower_bound::{bound_for, bound_for_prepared};
    pub use crate::prep::{FitTest, PoolCatalog, PoolType, Prepared};
}

/// The names most programs need: `use nodepack_solver::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Bound, BoundError, Builtin, ExistingNode, Plan, Problem, Reason, Rule, SolveError, Solver,
        Strategy, Violation,
    };
}

/// An existing node with the pods already running on it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExistingNode {
    /// The node.
    pub node: Node,
    /// Its pods (they count for resources and topology), shared with the caller.
    pub pods: Vec<std::sync::Arc<Pod>>,
}

/// The input of a provisioning decision.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Problem<'a> {
    /// Pods waiting for a node.
    pub pending: &'a [Pod],
    /// The cluster's nodes (and claims in flight) with their pods.
    pub nodes: &'a [ExistingNode],
    /// Node pools, with daemonset overhead and node class kubelet settings filled in.
    pub nodepools: &'a [NodePool],
    /// Instance types.
    pub catalog: &'a Catalog,
}

/// A pod bound to an existing node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Binding {
    /// The pod.
    pub pod: PodId,
    /// The node's name.
    pub node: String,
}

/// A pod that cannot be scheduled, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Unschedulable {
    /// The pod.
    pub pod: PodId,
    /// Why (the last failure, e.g. which requirement, taint, topology rule or limit).
    pub reason: Reason,
}

/// A node to launch. In JSON, prices are dollars per hour (`price_per_hour_usd`);
/// resources are millicores, bytes and counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewNode {
    /// A placeholder name, unique in the plan.
    pub name: String,
    /// The node pool.
    pub nodepool: String,
    /// The chosen instance type.
    pub instance_type: String,
    /// The chosen zone.
    pub zone: String,
    /// The chosen capacity type.
    pub capacity_type: CapacityType,
    /// Price per hour of the chosen offering.
    #[serde(rename = "price_per_hour_usd", with = "nodepack_model::units::usd")]
    pub price: Money,
    /// Pods to run on it.
    pub pods: Vec<PodId>,
    /// Other instance types that fit the same pods, cheapest first (launch flexibility).
    pub alternatives: Vec<String>,
    /// The node's labels (type, zone, capacity type, pool labels, hostname).
    pub labels: BTreeMap<String, String>,
    /// The requests of its pods plus daemonset overhead.
    pub requested: Resources,
    /// Replicas of a growing controller it was sized for beyond its pods (see
    /// [`Growth`]; 0: sized for its pods alone).
    pub expected_replicas: u32,
}

/// The result of a strategy (JSON: see [`NewNode`] for units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// Strategy name.
    pub strategy: String,
    /// Pods bound to existing nodes.
    pub existing: Vec<Binding>,
    /// New nodes.
    pub nodes: Vec<NewNode>,
    /// Pods that could not be scheduled.
    pub unschedulable: Vec<Unschedulable>,
    /// Cost per hour of the new nodes.
    #[serde(rename = "cost_per_hour_usd", with = "nodepack_model::units::usd")]
    pub cost_per_hour: Money,
    /// The order in which pods were placed (topology rules are checked in this order).
    pub order: Vec<PodId>,
}

impl ExistingNode {
    /// A node with the pods running on it.
    pub fn new(node: Node, pods: Vec<std::sync::Arc<Pod>>) -> Self {
        ExistingNode { node, pods }
    }
}

impl<'a> Problem<'a> {
    /// Pending pods, existing nodes, node pools (daemonset overhead and kubelet settings
    /// filled in, as [`assemble`] does) and the catalog.
    pub fn new(
        pending: &'a [Pod],
        nodes: &'a [ExistingNode],
        nodepools: &'a [NodePool],
        catalog: &'a Catalog,
    ) -> Self {
        Problem {
            pending,
            nodes,
            nodepools,
            catalog,
        }
    }
}

impl Binding {
    /// A pod bound to an existing node.
    pub fn new(pod: PodId, node: &str) -> Self {
        Binding {
            pod,
            node: node.to_string(),
        }
    }
}

impl Unschedulable {
    /// A pod that cannot be scheduled, with the reason.
    pub fn new(pod: PodId, reason: Reason) -> Self {
        Unschedulable { pod, reason }
    }
}

impl Plan {
    /// An empty plan (no binding, node or unschedulable pod) named after its strategy:
    /// to build a plan by hand, e.g. to validate moves.
    pub fn new(strategy: &str) -> Self {
        Plan {
            strategy: strategy.to_string(),
            existing: vec![],
            nodes: vec![],
            unschedulable: vec![],
            cost_per_hour: Money::ZERO,
            order: vec![],
        }
    }

    /// Sum the prices of the new nodes into `cost_per_hour`.
    pub(crate) fn finish(mut self) -> Plan {
        self.cost_per_hour = self.nodes.iter().map(|n| n.price).sum();
        self
    }
}

/// A provisioning strategy: a pure function of the problem. Implement it for a strategy
/// of your own and pass it to [`Solver::solve`]; strategies are shared across threads.
pub trait Strategy: Send + Sync {
    /// Its name (`karpenter`, `nodepack`).
    fn name(&self) -> &'static str;
    /// Compute a plan.
    fn solve(&self, problem: &Problem) -> Plan {
        self.solve_prepared(&prep::Prepared::new(*problem))
    }
    /// Compute a plan for a prepared problem (pairs shared across calls, see
    /// [`internals::PoolCatalog`]).
    fn solve_prepared(&self, prep: &internals::Prepared) -> Plan;
}

/// The strategies by name.
pub const STRATEGIES: &[&str] = &[Builtin::Nodepack.as_str(), Builtin::Karpenter.as_str()];

/// Look a built-in strategy up by name.
pub fn strategy(name: &str) -> Result<Builtin, UnknownStrategy> {
    name.parse()
}

/// Solve a prepared problem with the named built-in strategy.
pub fn solve_prepared(name: &str, prep: &prep::Prepared) -> Result<Plan, SolveError> {
    let s = strategy(name)?;
    solver::check(&prep.problem)?;
    Ok(s.solve_prepared(prep))
}

/// Solve with the named built-in strategy (for many problems with the same pools and
/// catalog, build a [`Solver`] once instead).
pub fn solve(name: &str, problem: &Problem) -> Result<Plan, SolveError> {
    let s = strategy(name)?;
    solver::check(problem)?;
    Ok(s.solve(problem))
}

/// The per-node overhead of the daemonsets whose pods would run on the pool's nodes
/// (they tolerate the pool's taints and their node requirements are compatible with the
/// pool's), as Karpenter computes it for each NodePool.
pub fn daemonset_overhead(pool: &NodePool, daemonsets: &[Pod]) -> Resources {
    let reqs = pool.node_requirements();
    let mut total = Resources::default();
    for d in daemonsets {
        let tolerated =
            nodepack_model::taints::first_untolerated(&pool.taints, &d.tolerations).is_none();
        let compatible = d
            .node_requirement_terms()
            .iter()
            .any(|t| prep::term_compatible(t, &reqs));
        if tolerated && compatible {
            // Each daemonset pod also takes a pod slot (its requests carry pods: 1).
            total = total.saturating_add(&d.requests);
        }
    }
    total
}
