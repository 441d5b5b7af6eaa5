//! Strategy `nodepack` (placeholder until written).
use crate::{Plan, Problem, Strategy};
/// nodepack's own strategy.
#[derive(Clone, Debug, Default)]
pub struct Nodepack;
impl Strategy for Nodepack {
    fn name(&self) -> &'static str {
        "nodepack"
    }
    fn solve(&self, problem: &Problem) -> Plan {
        crate::karpenter::Karpenter.solve(problem)
    }
}
