//! nodepack's launch hedge: spare nodes beside a provisioning round's nodes, so the
//! round's pods wait for the first nodes to boot rather than the slowest.
//!
//! Boot times have a heavy tail (the default cloud: 25-60 s, one launch in ten up to
//! 2 minutes). A round of N nodes waits for all N, so its slowest pods almost surely
//! wait for a tail boot, and those pods set the pending-latency p99. With spares, the
//! scheduler binds a pod nominated to a node still booting on any ready node with
//! room (as kube-scheduler does), so the round's pods land on the first nodes ready.
//!
//! - [`spares`]: for a round's launches that carry pods, copies without pods of the
//!   `ceil(share * n)` that carry the most, marked spare.
//! - [`cancel`], every autoscaler pass: spares still unused (booting, or ready and
//!   empty) are removed as soon as no pending pod waits for a node of their pool and
//!   capacity type. A node whose nominated pods all bound elsewhere while it booted
//!   counts as a spare too (the cluster marks it), so the loser of each race goes.
//!
//! What it costs is billed like any node: a spare runs from its launch until it is
//! removed (at least the billing minimum).

use super::{Action, Ctx, LaunchReq};
use crate::cluster::NodeLife;
use nodepack_model::CapacityType;

/// Spare launches for a round's `actions`: copies, without pods and marked spare, of
/// the `ceil(share * n)` launches carrying the most pods (ties: first planned first).
pub fn spares(actions: &[Action], share: f64) -> Vec<Action> {
    let mut launches: Vec<&LaunchReq> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch(l) if !l.pods.is_empty() => Some(l),
            _ => None,
        })
        .collect();
    let n = (share * launches.len() as f64).ceil() as usize;
    launches.sort_by_key(|l| std::cmp::Reverse(l.pods.len()));
    launches
        .into_iter()
        .take(n)
        .map(|l| {
            Action::Launch(LaunchReq {
                pods: vec![],
                spare: true,
                ..l.clone()
            })
        })
        .collect()
}

/// Remove the spares no pod needs any more: spares (still booting, or ready and
/// empty) of a pool and capacity type for which no pending pod is nominated to a
/// node still booting.
pub fn cancel(ctx: &Ctx) -> Vec<Action> {
    let c = ctx.cluster;
    let unused = |n: usize| {
        let ns = &c.nodes[n];
        ns.spare && ns.live() && ns.pods.is_empty() && ns.nominated.is_empty()
    };
    let spares: Vec<usize> = c.alive.iter().copied().filter(|&n| unused(n)).collect();
    if spares.is_empty() {
        return vec![];
    }
    // (pool, capacity type) of the nodes still booting that pending pods wait for.
    let mut waited: Vec<(usize, CapacityType)> = c
        .alive
        .iter()
        .map(|&n| &c.nodes[n])
        .filter(|ns| {
            ns.life < NodeLife::Ready
                && !ns.cordoned
                && ns.nominated.iter().any(|p| c.pending.contains(p))
        })
        .map(|ns| (ns.pool, ns.offering.capacity_type))
        .collect();
    waited.sort_unstable();
    waited.dedup();
    spares
        .into_iter()
        .filter(|&s| {
            let ns = &c.nodes[s];
            waited
                .binary_search(&(ns.pool, ns.offering.capacity_type))
                .is_err()
        })
        .map(|node| Action::Remove {
            node,
            reason: "unneeded spare",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::CapacityType;

    fn launch(pods: Vec<usize>, ty: &str) -> Action {
        Action::Launch(LaunchReq {
            pool: 0,
            instance_type: ty.into(),
            zone: "z".into(),
            capacity_type: CapacityType::Spot,
            alternatives: vec![],
            pods,
            on_demand_fallback: true,
            spare: false,
        })
    }

    fn spare_types(actions: &[Action]) -> Vec<(String, bool, usize)> {
        actions
            .iter()
            .map(|a| match a {
                Action::Launch(l) => (l.instance_type.clone(), l.spare, l.pods.len()),
                other => panic!("not a launch: {other:?}"),
            })
            .collect()
    }

    /// Spares copy the launches carrying the most pods, without their pods; launches
    /// without pods (headroom) and other actions get none.
    #[test]
    fn spares_copy_the_fullest_launches() {
        let round = vec![
            launch(vec![1, 2, 3], "a"),
            launch(vec![], "headroom"),
            launch(vec![4, 5, 6, 7, 8], "b"),
            Action::Remove {
                node: 0,
                reason: "empty",
            },
            launch(vec![9], "c"),
        ];
        assert_eq!(
            spare_types(&spares(&round, 0.5)),
            vec![("b".into(), true, 0), ("a".into(), true, 0)]
        );
        assert_eq!(spare_types(&spares(&round, 1.0)).len(), 3);
        assert!(spares(&round, 0.0).is_empty());
    }
}
