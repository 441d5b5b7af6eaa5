//! Cluster-Autoscaler-style baseline.
//!
//! Node groups: per pool, the 24 instance types with the lowest price per unit of CPU and
//! memory, one group per zone and capacity type (an Auto Scaling group each, as CA users
//! configure them). Every 10 s: pending pods that
//! fit on nodes still booting are left to them; the rest are estimated per group by
//! first-fit decreasing bin packing, and the expander picks a group (`least-waste`: the
//! smallest average share of unused CPU and memory on the new nodes; `price`: the lowest
//! cost per pod helped; `priority`: the heaviest pool, then least waste). Scale-down: a
//! node whose requested CPU and memory are both under 50% of allocatable for 10 minutes,
//! whose pods all fit on the other nodes and may be evicted under their disruption
//! budgets, is drained and removed (empty nodes in
//! bulk, others one per loop). Nodes are not drained on interruption notices.

use super::{Action, Autoscaler, Ctx, LaunchReq};
use crate::cluster::{share_permille, NodeLife};
use nodepack_model::taints::first_untolerated;
use nodepack_model::{labels, Millis, Offering, Resources};
use std::collections::BTreeMap;

/// Which group to grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expander {
    /// Least unused CPU and memory.
    LeastWaste,
    /// Cheapest per pod helped.
    Price,
    /// Pool weight, then least waste.
    Priority,
}

#[derive(Clone, Debug)]
struct Group {
    pool: usize,
    pt: usize,
    offering: Offering,
    labels: BTreeMap<String, String>,
    weight: i32,
}

/// The Cluster-Autoscaler-style autoscaler.
#[derive(Clone, Debug)]
pub struct ClusterAutoscaler {
    /// The expander.
    pub expander: Expander,
    /// Scale-down utilization threshold (0.5).
    pub utilization_threshold: f64,
    /// How long a node must be unneeded before removal (10 minutes).
    pub unneeded_time: Millis,
    groups: Option<Vec<Group>>,
    unneeded: BTreeMap<usize, Millis>,
}

impl Default for ClusterAutoscaler {
    fn default() -> Self {
        ClusterAutoscaler {
            expander: Expander::LeastWaste,
            utilization_threshold: 0.5,
            unneeded_time: Millis::from_mins(10),
            groups: None,
            unneeded: BTreeMap::new(),
        }
    }
}

/// Node groups a CA user would configure: per pool, the `GROUP_TYPES` instance types
/// with the lowest on-demand price per (vCPU + GiB / 4), in every zone and capacity type
/// the pool offers them (one Auto Scaling group each).
const GROUP_TYPES: usize = 24;

fn groups(ctx: &Ctx) -> Vec<Group> {
    let mut out = Vec::new();
    for (pool, info) in ctx.pairs.pools.iter().enumerate() {
        let mut types: Vec<(f64, usize)> = (info.start..info.end)
            .map(|pt| {
                let p = &ctx.pairs.pool_types[pt];
                let units = p.usable.cpu.0 as f64 / 1000.0
                    + p.usable.memory.0 as f64 / (4.0 * (1u64 << 30) as f64);
                (p.min_price as f64 / units.max(1e-9), pt)
            })
            .collect();
        types.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, pt) in types.iter().take(GROUP_TYPES) {
            let p = &ctx.pairs.pool_types[pt];
            for o in &p.offerings {
                let mut l = p.labels.clone();
                l.insert(labels::ZONE.into(), o.zone.clone());
                l.insert(
                    labels::CAPACITY_TYPE.into(),
                    o.capacity_type.as_str().into(),
                );
                out.push(Group {
                    pool,
                    pt,
                    offering: o.clone(),
                    labels: l,
                    weight: ctx.pools[pool].weight,
                });
            }
        }
    }
    out
}

/// For each pending pod with a hard zone spread: how many more of its kind each zone may
/// take now (the estimator runs the scheduler's spread predicate).
fn zone_room(ctx: &Ctx, pending: &[usize]) -> BTreeMap<usize, BTreeMap<String, i64>> {
    let c = ctx.cluster;
    let mut out = BTreeMap::new();
    for &p in pending {
        let pod = &c.pods[p].pod;
        let Some(ts) = pod.hard_spreads().find(|t| t.topology_key == labels::ZONE) else {
            continue;
        };
        let mut counts: BTreeMap<String, i64> =
            ctx.pairs.zones.iter().map(|z| (z.clone(), 0)).collect();
        for q in &c.pods {
            let Some(n) = q.node else { continue };
            if q.pod.id.namespace == pod.id.namespace && ts.selector.satisfied_by(&q.pod.labels) {
                if let Some(z) = counts.get_mut(&c.nodes[n].node.zone) {
                    *z += 1;
                }
            }
        }
        let min = counts.values().copied().min().unwrap_or(0);
        let room = counts
            .into_iter()
            .map(|(z, n)| (z, (min + ts.max_skew as i64 - n).max(0)))
            .collect();
        out.insert(p, room);
    }
    out
}

/// First-fit decreasing of `pods` (requests) into bins of `cap`, starting from `bins`.
fn ffd(reqs: &[(usize, &Resources)], cap: &Resources, bins: &mut Vec<Resources>) -> Vec<usize> {
    let mut placed = Vec::new();
    for &(p, r) in reqs {
        if !r.fits(cap) {
            continue;
        }
        match bins.iter_mut().find(|b| r.fits_with(b, cap)) {
            Some(b) => *b = b.saturating_add(r),
            None => bins.push(r.clone()),
        }
        placed.push(p);
    }
    placed
}

impl ClusterAutoscaler {
    fn scale_up(&self, ctx: &Ctx, groups: &[Group]) -> Vec<Action> {
        let c = ctx.cluster;
        let mut pending: Vec<usize> = c.pending.iter().copied().collect();
        // Largest first (the estimator's order).
        pending.sort_by(|&a, &b| {
            let (ra, rb) = (&c.pods[a].pod.requests, &c.pods[b].pod.requests);
            rb.cpu
                .cmp(&ra.cpu)
                .then(rb.memory.cmp(&ra.memory))
                .then(a.cmp(&b))
        });
        // Pods that fit on nodes still booting wait for them.
        let mut upcoming: Vec<(usize, Resources)> = c
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.life < NodeLife::Ready)
            .map(|(i, n)| (i, n.requested.clone()))
            .collect();
        pending.retain(|&p| {
            let ps = &c.pods[p];
            for (n, used) in upcoming.iter_mut() {
                let ns = &c.nodes[*n];
                if ps.pod.requests.fits_with(used, &ns.node.allocatable)
                    && ps.terms.iter().any(|t| t.satisfied_by(&ns.node.labels))
                    && first_untolerated(&ctx.pools[ns.pool].taints, &ps.pod.tolerations).is_none()
                {
                    used.saturating_add_assign(&ps.pod.requests);
                    return false;
                }
            }
            true
        });
        if pending.is_empty() {
            return vec![];
        }
        let room = zone_room(ctx, &pending);
        // Estimate every group.
        let mut best: Option<((i64, i64, i64), usize, usize, Vec<usize>)> = None;
        for (gi, g) in groups.iter().enumerate() {
            let pt = &ctx.pairs.pool_types[g.pt];
            if ctx.cloud.cached_unavailable(&pt.name, &g.offering, ctx.now) {
                continue;
            }
            let taints = &ctx.pools[g.pool].taints;
            // Spread pods of one kind share their zone's room.
            let mut used: BTreeMap<&str, i64> = BTreeMap::new();
            let reqs: Vec<(usize, &Resources)> = pending
                .iter()
                .filter(|&&p| {
                    let ps = &c.pods[p];
                    let fits = ps.terms.iter().any(|t| t.satisfied_by(&g.labels))
                        && first_untolerated(taints, &ps.pod.tolerations).is_none();
                    if !fits {
                        return false;
                    }
                    match room.get(&p) {
                        None => true,
                        Some(r) => {
                            let app = ps.pod.labels.get("app").map_or("", String::as_str);
                            let u = used.entry(app).or_insert(0);
                            let ok = r.get(&g.offering.zone).copied().unwrap_or(0) > *u;
                            if ok {
                                *u += 1;
                            }
                            ok
                        }
                    }
                })
                .map(|&p| (p, &c.pods[p].pod.requests))
                .collect();
            if reqs.is_empty() {
                continue;
            }
            let mut bins = Vec::new();
            let helped = ffd(&reqs, &pt.usable, &mut bins);
            if helped.is_empty() {
                continue;
            }
            let n = bins.len() as i64;
            let used = bins
                .iter()
                .fold(Resources::default(), |a, b| a.saturating_add(b));
            let waste = |u: u64, cap: u64| {
                if cap == 0 {
                    0.0
                } else {
                    1.0 - u as f64 / (cap as f64 * n as f64)
                }
            };
            let w = ((waste(used.cpu.0, pt.usable.cpu.0)
                + waste(used.memory.0, pt.usable.memory.0))
                / 2.0
                * 1e6) as i64;
            let cost_per_pod = g.offering.price.0 * n / helped.len() as i64;
            let key = match self.expander {
                Expander::LeastWaste => (w, -(helped.len() as i64), cost_per_pod),
                Expander::Price => (cost_per_pod, w, 0),
                Expander::Priority => (-(g.weight as i64), w, cost_per_pod),
            };
            if best.as_ref().is_none_or(|b| key < b.0) {
                best = Some((key, gi, n as usize, helped));
            }
        }
        let Some((_, gi, n, helped)) = best else {
            return pending
                .iter()
                .map(|&p| Action::Unschedulable {
                    pod: p,
                    reason: "no node group can hold the pod".into(),
                })
                .collect();
        };
        let g = &groups[gi];
        let name = &ctx.pairs.pool_types[g.pt].name;
        let _ = helped;
        (0..n.min(100))
            .map(|_| {
                Action::Launch(LaunchReq {
                    pool: g.pool,
                    instance_type: name.clone(),
                    zone: g.offering.zone.clone(),
                    capacity_type: g.offering.capacity_type,
                    alternatives: vec![],
                    pods: vec![],
                    on_demand_fallback: true,
                    spares: 0,
                    warm: false,
                    fleet: false,
                })
            })
            .collect()
    }

    fn scale_down(&mut self, ctx: &Ctx) -> Vec<Action> {
        let c = ctx.cluster;
        let limit = (self.utilization_threshold * 1000.0) as u64;
        let mut out = Vec::new();
        let ready: Vec<usize> = c
            .alive
            .iter()
            .copied()
            .filter(|&n| c.nodes[n].life == NodeLife::Ready)
            .collect();
        self.unneeded
            .retain(|n, _| c.nodes[*n].life == NodeLife::Ready);
        let mut removing: Vec<usize> = Vec::new();
        let mut moved_one = false;
        for &n in &ready {
            let ns = &c.nodes[n];
            if share_permille(&ns.requested, &ns.node.allocatable) >= limit
                || !ns.nominated.is_empty()
            {
                self.unneeded.remove(&n);
                continue;
            }
            let since = *self.unneeded.entry(n).or_insert(ctx.now);
            if ctx.now.saturating_sub(since) < self.unneeded_time {
                continue;
            }
            if ns.pods.is_empty() {
                removing.push(n);
                out.push(Action::Remove {
                    node: n,
                    reason: "empty",
                });
                continue;
            }
            if moved_one
                || ns.pods.iter().any(|&p| {
                    !c.pods[p].plain
                            || c.pods[p].pod.do_not_disrupt
                            // A disruption budget that allows no eviction blocks it.
                            || !c.eviction_allowed(p)
                })
            {
                continue;
            }
            // Can every pod move to another node (not being removed)?
            let mut free: Vec<(usize, Resources)> = ready
                .iter()
                .filter(|&&m| m != n && !removing.contains(&m))
                .map(|&m| (m, c.nodes[m].requested.clone()))
                .collect();
            let all = ns.pods.iter().all(|&p| {
                let ps = &c.pods[p];
                free.iter_mut().any(|(m, used)| {
                    let ms = &c.nodes[*m];
                    let ok = ps.pod.requests.fits_with(used, &ms.node.allocatable)
                        && ps.terms.iter().any(|t| t.satisfied_by(&ms.node.labels))
                        && first_untolerated(&ms.node.taints, &ps.pod.tolerations).is_none();
                    if ok {
                        used.saturating_add_assign(&ps.pod.requests);
                    }
                    ok
                })
            });
            if all {
                moved_one = true;
                removing.push(n);
                out.push(Action::Remove {
                    node: n,
                    reason: "underutilized",
                });
            }
        }
        out
    }
}

impl Autoscaler for ClusterAutoscaler {
    fn name(&self) -> &'static str {
        "cluster-autoscaler"
    }
    fn interval(&self) -> Option<Millis> {
        Some(Millis::from_secs(10))
    }
    fn reconcile(&mut self, ctx: &Ctx) -> Vec<Action> {
        let gs = self.groups.take().unwrap_or_else(|| groups(ctx));
        let mut out = self.scale_up(ctx, &gs);
        self.groups = Some(gs);
        out.extend(self.scale_down(ctx));
        out
    }
    fn drains_on_notice(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};

    #[test]
    fn ffd_opens_bins_only_when_needed() {
        let cap = Resources::new(Millicores(2000), Bytes::from_gib(4)).with_pods(10);
        let r = Resources::new(Millicores(900), Bytes::from_gib(1)).with_pods(1);
        let reqs: Vec<(usize, &Resources)> = (0..5).map(|i| (i, &r)).collect();
        let mut bins = vec![];
        let placed = ffd(&reqs, &cap, &mut bins);
        assert_eq!(placed.len(), 5);
        assert_eq!(bins.len(), 3);
    }
}
