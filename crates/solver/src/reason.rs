//! Why a pod cannot be scheduled: [`Reason`], by kind, with the text the CLI prints.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a pod cannot be scheduled. Each variant carries the full text (naming the pool,
/// requirement, taint, topology rule or limit); `Display` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// The pod's node selector or required node affinity conflicts with a pool's
    /// requirements or with every instance type (or a claim's requirements).
    Requirements(String),
    /// A pool has a taint the pod does not tolerate.
    Taint(String),
    /// No instance type (or no node) has room for the pod.
    Resources(String),
    /// A pool's limits leave no room for a node that fits.
    Limits(String),
    /// A hard topology spread, pod affinity or anti-affinity rule cannot be met.
    Topology(String),
    /// No offering is left (zone, capacity type, availability) for the node.
    Offerings(String),
    /// There is no node pool.
    NoNodePool,
    /// Only existing nodes could be used and none has room.
    NoRoomOnExisting,
    /// The strategy did not place the pod and recorded no other reason.
    NotPlaced,
    /// Every node pool refused the pod: one reason per pool, in weight order.
    Pools(Vec<Reason>),
}

impl Reason {
    /// The same reason with its text rewritten (e.g. prefixed with the pool's name).
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Reason {
        self.map_text_dyn(&f)
    }

    fn map_text_dyn(self, f: &dyn Fn(&str) -> String) -> Reason {
        match self {
            Reason::Requirements(s) => Reason::Requirements(f(&s)),
            Reason::Taint(s) => Reason::Taint(f(&s)),
            Reason::Resources(s) => Reason::Resources(f(&s)),
            Reason::Limits(s) => Reason::Limits(f(&s)),
            Reason::Topology(s) => Reason::Topology(f(&s)),
            Reason::Offerings(s) => Reason::Offerings(f(&s)),
            Reason::Pools(v) => Reason::Pools(v.into_iter().map(|r| r.map_text_dyn(f)).collect()),
            r @ (Reason::NoNodePool | Reason::NoRoomOnExisting | Reason::NotPlaced) => r,
        }
    }

    /// Whether any part of the reason is of a kind (`Pools` looks into each pool's).
    pub fn involves(&self, kind: fn(&Reason) -> bool) -> bool {
        match self {
            Reason::Pools(v) => v.iter().any(|r| r.involves(kind)),
            r => kind(r),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requirements(s)
            | Reason::Taint(s)
            | Reason::Resources(s)
            | Reason::Limits(s)
            | Reason::Topology(s)
            | Reason::Offerings(s) => f.write_str(s),
            Reason::NoNodePool => f.write_str("no node pool"),
            Reason::NoRoomOnExisting => f.write_str("no existing node has room"),
            Reason::NotPlaced => f.write_str("not placed"),
            Reason::Pools(v) => {
                for (i, r) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{r}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_print_their_reasons_joined_and_say_their_kinds() {
        let r = Reason::Pools(vec![
            Reason::Taint(
                "node pool gpu has taint gpu=true:NoSchedule that the pod does not tolerate".into(),
            ),
            Reason::Limits("limits reached".into()).map_text(|m| format!("node pool general: {m}")),
        ]);
        assert_eq!(
            r.to_string(),
            "node pool gpu has taint gpu=true:NoSchedule that the pod does not tolerate; node pool general: limits reached"
        );
        assert!(r.involves(|r| matches!(r, Reason::Limits(_))));
        assert!(!r.involves(|r| matches!(r, Reason::Topology(_))));
        assert_eq!(Reason::NotPlaced.to_string(), "not placed");
    }
}
