//! V
use crate::{Plan, Problem};
/// Validate.
pub fn validate(_p: &Problem, _plan: &Plan) -> Vec<String> { vec![] }
