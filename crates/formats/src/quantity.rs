//! Kubernetes resource quantities: [`Quantity`] (parsed exactly, in `nodepack-model`)
//! and lists of named quantities read into [`Resources`] with errors naming the field.

use crate::error::{Ctx, FormatError};
pub use nodepack_model::quantity::{Quantity, QuantityError};
use nodepack_model::{Bytes, Millicores, Resources};

/// Parse a list of named quantities (`cpu`, `memory`, `ephemeral-storage`, `pods`,
/// extended resources) at `ctx` into [`Resources`]: CPU rounded up to millicores, the
/// rest rounded up to whole units; negative or oversized values are errors naming the
/// field and the value.
pub fn resources<'a>(
    ctx: &Ctx,
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Resources, FormatError> {
    let mut r = Resources::default();
    for (k, text) in items {
        let c = ctx.field(k);
        let q = Quantity::parse(text).map_err(|e| c.error(Some(text), e.to_string()))?;
        if q.is_negative() {
            return Err(c.error(Some(text), "must not be negative"));
        }
        let too_big = || c.error(Some(text), "too large");
        match k {
            "cpu" => r.cpu = Millicores(q.milli_value().ok_or_else(too_big)?),
            "memory" => r.memory = Bytes(q.value().ok_or_else(too_big)?),
            "ephemeral-storage" => r.ephemeral_storage = Bytes(q.value().ok_or_else(too_big)?),
            "pods" => r.pods = q.value().ok_or_else(too_big)?,
            other => {
                let v = q.value().ok_or_else(too_big)?;
                if v > 0 {
                    r.extended.insert(other.to_string(), v);
                }
            }
        }
    }
    Ok(r)
}
