//! nodepack's headroom: room kept ready for the next replicas of growing controllers,
//! so a scale-up step binds at once instead of waiting for a node to boot (the
//! overprovisioning that Kubernetes users build from low-priority placeholder pods,
//! sized here from the controller's own recent growth).
//!
//! Every pass, each replicated controller that added replicas over the last window
//! (after the ones it started with, as [`super::growth_forecast`] counts them) gets as
//! many placeholders as the most replicas it added at one instant in that window:
//! copies of its newest pod, with its labels, node rules and spread constraints, so the
//! solver puts them in the zones its next replicas will need. The placeholders are
//! solved against the live nodes (launching ones included, with their nominated pods,
//! and the warm nodes below): those that fit are recorded where they fit, so
//! consolidation keeps that room; for the others *warm* nodes are launched: held
//! (`SimNode::held`, `SimNode::warm`), so neither the scheduler nor consolidation sees
//! them, but the provisioner does, and plans the next replicas onto them as on any
//! existing node (a nomination makes a warm node an ordinary one). Warm nodes no
//! placeholder is placed on any more are removed. Placeholders never enter the cluster:
//! real pods take the room on ordinary nodes as the scheduler finds it.

use super::{Action, Ctx, LaunchReq};
use crate::cluster::Cluster;
use nodepack_model::pod::LabelMap;
use nodepack_model::{labels, Millis, Node, Pod, PodId, Resources};
use nodepack_solver::{Growth, NodepackStrategy};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The headroom policy and its last placement.
#[derive(Clone, Debug)]
pub struct Headroom {
    /// Controllers that added replicas over this window get headroom.
    pub window: Millis,
    /// How often the placeholders are placed again.
    pub every: Millis,
    next: Millis,
    /// The placeholders at the last placement.
    last: Vec<PodId>,
    /// Placeholders that fit on live nodes at the last pass, as [`reservation`]s: (node
    /// index, reservation).
    pub placed: Vec<(usize, Arc<Pod>)>,
}

impl Headroom {
    /// Headroom for controllers that grew over `window`, placed every `every`.
    pub fn new(window: Millis, every: Millis) -> Self {
        Headroom {
            window,
            every,
            next: Millis(0),
            last: Vec::new(),
            placed: Vec::new(),
        }
    }

    /// Does every placed reservation still have room on its node, beside the node's
    /// bound and nominated pods and the other reservations there?
    fn still_fits(&self, ctx: &Ctx) -> bool {
        let c = ctx.cluster;
        let mut used: BTreeMap<usize, Resources> = BTreeMap::new();
        for (n, r) in &self.placed {
            let ns = &c.nodes[*n];
            if !ns.live() || ns.cordoned {
                return false;
            }
            let u = used.entry(*n).or_insert_with(|| {
                ns.nominated
                    .iter()
                    .fold(ns.requested.clone(), |mut acc, &p| {
                        acc.saturating_add_assign(&c.pods[p].pod.requests);
                        acc
                    })
            });
            u.saturating_add_assign(&r.requests);
        }
        used.iter()
            .all(|(&n, u)| u.fits_with(&Resources::default(), &c.nodes[n].node.allocatable))
    }

    /// When the placeholders are next placed.
    pub fn next(&self) -> Millis {
        self.next
    }

    /// One pass, if due (or `force`d): place the placeholders, launch nodes for those
    /// that do not fit.
    pub fn reconcile(&mut self, ctx: &Ctx, force: bool) -> Vec<Action> {
        if !force && ctx.now < self.next {
            return vec![];
        }
        self.next = ctx.now + self.every;
        let (pods, growth) = placeholders(ctx.cluster, ctx.now, self.window);
        let ids: Vec<PodId> = pods.iter().map(|p| p.id.clone()).collect();
        // The same placeholders, all still placed with room: the placement stands.
        if ids == self.last && self.placed.len() == pods.len() && self.still_fits(ctx) {
            return vec![];
        }
        self.last = ids;
        self.placed.clear();
        if pods.is_empty() {
            return unneeded_warm(ctx.cluster, &self.placed);
        }
        let mut strategy = NodepackStrategy::default();
        strategy.growth = growth;
        let (plan, at) = super::solve_live(&strategy, ctx, &pods);
        for (b, node) in plan.existing.iter().zip(at) {
            let pod = pods.iter().find(|p| p.id == b.pod);
            if let (Some(pod), Some(n)) = (pod, node) {
                let r = reservation(pod, &ctx.cluster.nodes[n].node);
                self.placed.push((n, Arc::new(r)));
            }
        }
        let mut out = unneeded_warm(ctx.cluster, &self.placed);
        out.extend(
            plan.nodes
                .iter()
                .filter_map(|n| super::launch_of(ctx, n, vec![]))
                .map(|l| Action::Launch(LaunchReq { warm: true, ..l })),
        );
        out
    }
}

/// Warm nodes no placeholder is placed on, removed.
fn unneeded_warm(c: &Cluster, placed: &[(usize, Arc<Pod>)]) -> Vec<Action> {
    c.alive
        .iter()
        .copied()
        .filter(|&n| {
            let ns = &c.nodes[n];
            ns.warm && ns.live() && placed.iter().all(|(at, _)| *at != n)
        })
        .map(|node| Action::Remove {
            node,
            reason: "unneeded headroom",
        })
        .collect()
}

/// The placeholders the cluster needs at `now`: for each replicated controller with
/// replicas added over `window` after its first live ones, copies of its newest live
/// pod, as many as the most replicas it added at one instant in the window. Live pods
/// are those bound or nominated to live nodes.
pub fn placeholders(c: &Cluster, now: Millis, window: Millis) -> (Vec<Pod>, Growth) {
    struct Ctl {
        first: Millis,
        newest: (Millis, usize),
        arrivals: Vec<Millis>,
    }
    let mut by: BTreeMap<super::ControllerKey, Ctl> = BTreeMap::new();
    for &n in &c.alive {
        let ns = &c.nodes[n];
        if !ns.live() {
            continue;
        }
        for &p in ns.pods.iter().chain(ns.nominated.iter()) {
            let Some(k) = super::controller_key(c, p) else {
                continue;
            };
            let at = c.pods[p].arrived;
            let e = by.entry(k).or_insert(Ctl {
                first: at,
                newest: (at, p),
                arrivals: Vec::new(),
            });
            e.first = e.first.min(at);
            e.newest = e.newest.max((at, p));
            e.arrivals.push(at);
        }
    }
    let since = now.saturating_sub(window);
    let mut out = Vec::new();
    let mut growth = Growth::default();
    for ((ns, kind, name), mut e) in by {
        e.arrivals.retain(|&a| a >= since && a > e.first);
        e.arrivals.sort_unstable();
        let burst = e
            .arrivals
            .chunk_by(|a, b| a == b)
            .map(|g| g.len())
            .max()
            .unwrap_or(0);
        if burst == 0 {
            continue;
        }
        let template = &c.pods[e.newest.1].pod;
        out.extend((0..burst).map(|i| placeholder(template, kind, name, i)));
        growth.expected.insert(
            (ns.into(), kind.into(), name.into()),
            e.arrivals.len() as u32 * super::GROWTH_AHEAD,
        );
    }
    (out, growth)
}

/// Placeholder `i` of a controller (`kind` `name`): its newest pod under a name no pod
/// has (`~` is not allowed in pod names) that names the controller, not the pod, so the
/// same placeholders keep the same names while the controller's pods come and go.
fn placeholder(template: &Pod, kind: &str, name: &str, i: usize) -> Pod {
    let mut p = template.clone();
    p.id.name = format!("{name}~{}~headroom-{i}", kind.to_ascii_lowercase());
    p
}

/// A placeholder as consolidation keeps it on `node`: its requests, tolerations and
/// node rules, pinned to the node's zone (the zone its controller's next replica needs),
/// without labels, spread or pod (anti-)affinity terms, so no disruption budget or
/// real pod's spread counts it.
pub fn reservation(placeholder: &Pod, node: &Node) -> Pod {
    let mut p = placeholder.clone();
    p.labels = LabelMap::default();
    p.topology_spread.clear();
    p.pod_affinity.clear();
    p.pod_affinity_preferred.clear();
    p.pod_anti_affinity.clear();
    p.pod_anti_affinity_preferred.clear();
    if let Some(zone) = node.labels.get(labels::ZONE) {
        p.node_selector.insert(labels::ZONE.into(), zone.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{held_node, test_node};
    use nodepack_model::pod::{TopologySpread, WhenUnsatisfiable};
    use nodepack_model::Requirements;

    use super::super::tests::owned as replica;

    /// A controller that grew gets as many placeholders as it added at one instant,
    /// copies of its newest pod; one that did not grow, or a Job, gets none.
    #[test]
    fn placeholders_follow_the_largest_recent_step() {
        let mut c = Cluster::default();
        c.add_node(test_node(64_000));
        let min = Millis::from_mins;
        let mut add = |name: &str, kind: &str, owner: &str, at: Millis| {
            let p = c.arrive(replica(name, kind, owner), None, at);
            c.bind(p, 0, at);
        };
        // web: 2 at the start, then steps of 2 and 1 within the window, one before it.
        for (i, at) in [0, 0, 5, 40, 40, 50].into_iter().enumerate() {
            add(&format!("web-{i}"), "ReplicaSet", "web", min(at));
        }
        for i in 0..3 {
            add(&format!("api-{i}"), "ReplicaSet", "api", min(20));
        }
        add("etl-0", "Job", "etl", min(10));
        add("etl-1", "Job", "etl", min(45));
        let (pods, growth) = placeholders(&c, min(70), min(60));
        let names: Vec<&str> = pods.iter().map(|p| p.id.name.as_str()).collect();
        assert_eq!(
            names,
            ["web~replicaset~headroom-0", "web~replicaset~headroom-1"]
        );
        assert_eq!(pods[0].labels.get("app").map(String::as_str), Some("web"));
        let key = ("default".into(), "ReplicaSet".into(), "web".into());
        assert_eq!(
            growth.expected.get(&key),
            Some(&(3 * super::super::GROWTH_AHEAD))
        );
        assert_eq!(growth.expected.len(), 1);
        // Outside the window nothing grew.
        assert!(placeholders(&c, min(200), min(60)).0.is_empty());
    }

    /// Warm nodes no placeholder is placed on are removed; placed ones and other nodes
    /// stay.
    #[test]
    fn unplaced_warm_nodes_go() {
        let mut c = Cluster::default();
        let plain = c.add_node(test_node(4000));
        let (used, idle) = (
            c.add_node(held_node(4000, true)),
            c.add_node(held_node(4000, true)),
        );
        let r = Arc::new((*replica("web-0", "ReplicaSet", "web")).clone());
        let out = unneeded_warm(&c, &[(used, r.clone()), (plain, r)]);
        assert_eq!(
            out,
            vec![Action::Remove {
                node: idle,
                reason: "unneeded headroom",
            }]
        );
    }

    /// Consolidation keeps a placeholder's room in its node's zone, and nothing counts
    /// it as a replica.
    #[test]
    fn reservations_are_pinned_to_the_zone_and_count_for_nothing() {
        let mut p = (*replica("web-0", "ReplicaSet", "web")).clone();
        p.topology_spread.push(TopologySpread::new(
            1,
            labels::ZONE,
            WhenUnsatisfiable::DoNotSchedule,
            Requirements::new(),
        ));
        let mut n = test_node(4000).node;
        Arc::make_mut(&mut n.labels).insert(labels::ZONE.into(), "z1".into());
        let r = reservation(&p, &n);
        assert!(r.labels.is_empty() && r.topology_spread.is_empty());
        assert_eq!(
            r.node_selector.get(labels::ZONE).map(String::as_str),
            Some("z1")
        );
        assert_eq!(r.requests, p.requests);
    }
}
