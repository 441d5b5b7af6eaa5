//! LB
use crate::{Plan, Problem};
use nodepack_model::Money;
/// Lower bound.
pub fn lower_bound(_p: &Problem, _plan: &Plan) -> Money { Money(0) }
