//! The front door: [`Solver`], built once from node pools and a catalog and shared by
//! any number of solves, on any number of threads; the built-in strategies
//! ([`Builtin`]); and the errors a solve can return.

use crate::explain::{explain, Explanation};
use crate::lower_bound::{lower_bound_prepared, Bound, BoundError};
use crate::prep::{PoolCatalog, Prepared};
use crate::validate::{validate, Violation};
use crate::{ExistingNode, Plan, Problem, Strategy};
use nodepack_model::{Catalog, NodePool, Pod, PodId};
use std::collections::HashSet;
use std::sync::Arc;

/// At most this many pending pods in one problem (a ceiling on input, far above any
/// cluster: Kubernetes' scalability limit is 150,000 pods).
pub const MAX_PENDING: usize = 5_000_000;

/// The built-in strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Builtin {
    /// nodepack's own: cost-driven packing, spot risk, claim merging.
    Nodepack,
    /// The Karpenter baseline: its scheduling and launch rules.
    Karpenter,
}

impl Builtin {
    /// Every built-in strategy.
    pub const ALL: [Builtin; 2] = [Builtin::Nodepack, Builtin::Karpenter];

    /// Its name (`nodepack`, `karpenter`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Builtin::Nodepack => "nodepack",
            Builtin::Karpenter => "karpenter",
        }
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Builtin {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, UnknownStrategy> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| UnknownStrategy {
                name: s.to_string(),
            })
    }
}

impl Strategy for Builtin {
    fn name(&self) -> &'static str {
        self.as_str()
    }
    fn solve_prepared(&self, prep: &Prepared) -> Plan {
        match self {
            Builtin::Nodepack => crate::NodepackStrategy::default().solve_prepared(prep),
            Builtin::Karpenter => crate::KarpenterStrategy.solve_prepared(prep),
        }
    }
}

/// A strategy name that is not one of the built-in strategies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy {name:?} (known: {})", crate::STRATEGIES.join(", "))]
pub struct UnknownStrategy {
    /// The name asked for.
    pub name: String,
}

/// Why a problem could not be solved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// The strategy name is not known.
    #[error(transparent)]
    UnknownStrategy(#[from] UnknownStrategy),
    /// Two pending pods share a namespace/name (each pod is placed exactly once, so the
    /// plan could not say which is which).
    #[error("pod {0} is pending twice")]
    DuplicatePod(PodId),
    /// More pending pods than [`MAX_PENDING`].
    #[error("{count} pending pods exceed the ceiling of {max}")]
    TooManyPods {
        /// Pods given.
        count: usize,
        /// The ceiling.
        max: usize,
    },
    /// Two node pools share a name.
    #[error("node pool {0} is given twice")]
    DuplicatePool(String),
}

/// Check what every strategy assumes of its input.
pub(crate) fn check(problem: &Problem) -> Result<(), SolveError> {
    if problem.pending.len() > MAX_PENDING {
        return Err(SolveError::TooManyPods {
            count: problem.pending.len(),
            max: MAX_PENDING,
        });
    }
    let mut seen = HashSet::with_capacity(problem.pending.len());
    for p in problem.pending {
        if !seen.insert(&p.id) {
            return Err(SolveError::DuplicatePod(p.id.clone()));
        }
    }
    let mut names = HashSet::new();
    for p in problem.nodepools {
        if !names.insert(p.name.as_str()) {
            return Err(SolveError::DuplicatePool(p.name.clone()));
        }
    }
    Ok(())
}

/// Node pools and a catalog with everything derived from them (the launchable pool and
/// instance type pairs, their capacities and prices, compatibility memos), built once
/// and shared: `Solver` is `Send + Sync`, so one value serves many threads, and every
/// solve gives the same plan as on a fresh `Solver`.
///
/// ```
/// use nodepack_model::{Bytes, Millicores, NodePool, Pod, Resources};
/// use nodepack_solver::{Builtin, Solver};
///
/// let solver = Solver::new(vec![NodePool::new("default")], demo_catalog());
/// let pods: Vec<Pod> = (0..4)
///     .map(|i| Pod::builder("default", &format!("web-{i}")).requests("500m", "1Gi").build().unwrap())
///     .collect();
/// let plan = solver.solve(&Builtin::Nodepack, &pods, &[]).unwrap();
/// assert!(plan.unschedulable.is_empty());
/// assert!(solver.validate(&pods, &[], &plan).is_empty());
/// let bound = solver.lower_bound(&pods, &[]).unwrap();
/// assert!(plan.cost_per_hour >= bound.cost_per_hour);
/// # fn demo_catalog() -> nodepack_model::Catalog {
/// #     use nodepack_model::*;
/// #     let it = InstanceType::new("m.large", Resources::new(Millicores(2000), Bytes::from_gib(8)).with_pods(29))
/// #         .with_offering(Offering::new("z1", CapacityType::OnDemand, Money::from_usd(0.096)));
/// #     Catalog::new("demo", vec![it])
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Solver {
    nodepools: Arc<Vec<NodePool>>,
    catalog: Arc<Catalog>,
    pairs: Arc<PoolCatalog>,
}

impl Solver {
    /// Derive everything the strategies need from the pools and the catalog.
    pub fn new(nodepools: Vec<NodePool>, catalog: impl Into<Arc<Catalog>>) -> Self {
        let catalog = catalog.into();
        let pairs = Arc::new(PoolCatalog::new(&nodepools, &catalog));
        Solver {
            nodepools: Arc::new(nodepools),
            catalog,
            pairs,
        }
    }

    /// The node pools.
    pub fn nodepools(&self) -> &[NodePool] {
        &self.nodepools
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The problem of placing `pending` with these pools and catalog, for the free
    /// functions ([`crate::solve`], [`crate::validate()`]...).
    pub fn problem<'a>(&'a self, pending: &'a [Pod], nodes: &'a [ExistingNode]) -> Problem<'a> {
        Problem::new(pending, nodes, &self.nodepools, &self.catalog)
    }

    fn prepared<'a>(&'a self, pending: &'a [Pod], nodes: &'a [ExistingNode]) -> Prepared<'a> {
        Prepared::with_pairs(self.pairs.clone(), self.problem(pending, nodes))
    }

    /// Place the pending pods on the existing nodes and new ones with a strategy (a
    /// [`Builtin`] or your own [`Strategy`]).
    pub fn solve(
        &self,
        strategy: &dyn Strategy,
        pending: &[Pod],
        nodes: &[ExistingNode],
    ) -> Result<Plan, SolveError> {
        check(&self.problem(pending, nodes))?;
        Ok(strategy.solve_prepared(&self.prepared(pending, nodes)))
    }

    /// Check a plan against the cluster, the pools and the catalog (empty when valid).
    pub fn validate(&self, pending: &[Pod], nodes: &[ExistingNode], plan: &Plan) -> Vec<Violation> {
        validate(&self.problem(pending, nodes), plan)
    }

    /// A lower bound on the cost per hour of placing the pending pods (those no option
    /// can take are left out and counted).
    pub fn lower_bound(
        &self,
        pending: &[Pod],
        nodes: &[ExistingNode],
    ) -> Result<Bound, BoundError> {
        lower_bound_prepared(&self.prepared(pending, nodes))
    }

    /// Why each pod went where it did, or why it could not be placed.
    pub fn explain(&self, pending: &[Pod], nodes: &[ExistingNode], plan: &Plan) -> Explanation {
        explain(&self.prepared(pending, nodes), plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn solver_and_strategies_are_send_and_sync() {
        assert_send_sync::<Solver>();
        assert_send_sync::<Builtin>();
        assert_send_sync::<Box<dyn Strategy>>();
    }

    #[test]
    fn strategy_names_round_trip_and_unknown_ones_are_errors() {
        for b in Builtin::ALL {
            assert_eq!(b.as_str().parse::<Builtin>(), Ok(b));
        }
        let e = "karpeter".parse::<Builtin>().unwrap_err();
        assert_eq!(e.name, "karpeter");
        assert!(e.to_string().contains("known: nodepack, karpenter"));
    }
}
