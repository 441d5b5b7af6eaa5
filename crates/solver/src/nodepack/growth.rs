//! Sizing a new node for the replicas its pods' controller is about to add.
//!
//! A Deployment that scales up step by step sends its pods one or two per provisioning
//! round. Each round then buys the cheapest node for those pods alone (a `medium`), and
//! a scale-up ends as a row of small nodes that cost more per pod than a few large ones.
//! Karpenter repairs that afterwards by consolidation, which evicts the pods again.
//! nodepack sizes the node right away: given a forecast of how many more replicas each
//! controller adds over the coming hour ([`Growth`], from the caller), a new node that
//! carries pods of a growing controller may become a larger type of the same pool, zone
//! and capacity type when its price per expected pod is lower. Expected pods are counted
//! at `fill_weight` (they arrive over the hour, not at once), replicas spread over zones
//! are divided among the zones, and pods with hostname rules never grow a node (their
//! replicas cannot share it). Pool limits hold.

use super::{max_fit, NodepackStrategy};
use crate::prep::{LimitTracker, Prepared};
use nodepack_model::requirements::ValueSet;
use nodepack_model::{labels, Offering, Pod, Requirements, Resources};
use std::collections::BTreeMap;

/// A controller: (namespace, kind, name).
pub type OwnerKey = (String, String, String);

/// Replicas each controller is expected to add soon: the caller's forecast (the
/// simulator passes the replicas each controller added over the last hour).
#[derive(Clone, Debug, PartialEq)]
pub struct Growth {
    /// Expected new replicas per controller.
    pub expected: BTreeMap<OwnerKey, u32>,
    /// Weight of an expected pod against a pod already there (0..=1).
    pub fill_weight: f64,
    /// A larger type is chosen only when it lowers the price per pod by this share.
    pub min_gain: f64,
    /// Consolidation's horizon (hours) and cost of one eviction (dollars): a larger
    /// type is chosen only when merging the small nodes later would not repay its
    /// evictions twice over within the horizon (consolidation takes such savings
    /// without idle room).
    pub merge_horizon_hours: f64,
    /// See `merge_horizon_hours`.
    pub eviction_usd: f64,
}

impl Default for Growth {
    fn default() -> Self {
        Growth {
            expected: BTreeMap::new(),
            fill_weight: 0.5,
            min_gain: 0.1,
            merge_horizon_hours: 2.0,
            eviction_usd: 0.01,
        }
    }
}

impl Growth {
    /// The controller of a pod, if it has one.
    pub fn key(pod: &Pod) -> Option<OwnerKey> {
        let o = pod.owner.as_ref()?;
        Some((pod.id.namespace.clone(), o.kind.clone(), o.name.clone()))
    }

    /// Replicas of `pod`'s controller expected on the node `pod` lands on, with `zones`
    /// zones to spread over (0 for a pod without a growing controller): `None` when
    /// the pod has a hostname rule, so nothing may be planned around it.
    fn on_node(&self, pod: &Pod, zones: usize) -> Option<u32> {
        let hostname_rule = pod
            .topology_spread
            .iter()
            .any(|t| t.topology_key == labels::HOSTNAME)
            || pod
                .pod_anti_affinity
                .iter()
                .any(|t| t.topology_key == labels::HOSTNAME);
        if hostname_rule {
            return None;
        }
        let e = Self::key(pod)
            .and_then(|k| self.expected.get(&k).copied())
            .unwrap_or(0);
        let spread = pod
            .topology_spread
            .iter()
            .any(|t| t.topology_key == labels::ZONE);
        Some(if spread { e / zones.max(1) as u32 } else { e })
    }
}

/// A node of the plan before its launch: pool, requirements, pods, requests (without
/// daemonset overhead) and the type and offering chosen for its pods alone.
pub(crate) struct Draft<'a> {
    pub pool: usize,
    pub reqs: &'a Requirements,
    pub pods: &'a [usize],
    pub requested: &'a Resources,
    pub pt: u32,
    pub offering: &'a Offering,
}

impl NodepackStrategy {
    /// The larger type to launch instead of the draft's, with its offering in the same
    /// zone and capacity type, its alternatives (types holding the same expected pods,
    /// cheapest first) and the number of expected replicas it holds, when the draft's
    /// pods belong to a growing controller and that type's price per expected pod is
    /// lower by `min_gain`. The limits tracker is updated to the type launched.
    pub(super) fn grow(
        &self,
        prep: &Prepared,
        limits: &mut LimitTracker,
        d: &Draft,
    ) -> Option<(u32, Offering, Vec<String>, u32)> {
        let g = &self.growth;
        if g.expected.is_empty() || d.pods.is_empty() {
            return None;
        }
        let pending = prep.problem.pending;
        // The controller with the most replicas expected here; its pod is the template.
        let mut best: Option<(u32, usize)> = None;
        for &p in d.pods {
            let e = g.on_node(&pending[p], prep.zones.len())?;
            if e > 0 && best.is_none_or(|(b, _)| e > b) {
                best = Some((e, p));
            }
        }
        let (extra, t) = best?;
        let tmpl = &pending[t].requests;
        let mut at = d.reqs.clone();
        at.add(
            labels::ZONE,
            ValueSet::in_values([d.offering.zone.as_str()]),
        );
        at.add(
            labels::CAPACITY_TYPE,
            ValueSet::in_values([d.offering.capacity_type.as_str()]),
        );
        let n0 = d.pods.len();
        let base = self.risk.effective(d.offering, n0) / n0 as f64;
        let info = &prep.pools[d.pool];
        let np = &prep.problem.nodepools[d.pool];
        limits.remove(d.pool, &prep.pool_types[d.pt as usize].capacity);
        let mut pick: Option<(f64, u32, usize)> = None;
        for pt in info.start..info.end {
            let cap = &prep.pool_types[pt].usable;
            if pt as u32 == d.pt || !d.requested.fits(cap) {
                continue;
            }
            let k = max_fit(&cap.saturating_sub(d.requested), tmpl, extra as usize);
            if k == 0 || !prep.pool_type_compatible(&at, pt) {
                continue;
            }
            let price = self.price(prep, pt as u32, &at, n0 + k);
            let score = price / (n0 as f64 + g.fill_weight * k as f64);
            // Per pod once full, against the draft: a saving that consolidation's merge
            // of the small nodes would repay twice over is left to consolidation (it
            // fills nodes completely at once); only the saving it would not take
            // justifies room that fills slowly.
            let full = price / (n0 + k) as f64;
            let merge_pays = (base - full) / 1e6 * g.merge_horizon_hours >= 2.0 * g.eviction_usd;
            if score.is_finite()
                && !merge_pays
                && score < base * (1.0 - g.min_gain)
                && pick.is_none_or(|(s, q, _)| score < s || (score == s && (pt as u32) < q))
                && limits.allows(&np.limits, d.pool, &prep.pool_types[pt].capacity)
            {
                pick = Some((score, pt as u32, k));
            }
        }
        // One zone and one capacity type: at most one offering.
        let offering =
            pick.and_then(|(_, pt, _)| prep.pool_types[pt as usize].offerings_for(&at).next());
        let (Some((_, pt, k)), Some(offering)) = (pick, offering.cloned()) else {
            limits.add(d.pool, &prep.pool_types[d.pt as usize].capacity);
            return None;
        };
        limits.add(d.pool, &prep.pool_types[pt as usize].capacity);
        // Alternatives: the pool's other types that hold the expected pods.
        let want = d.requested.saturating_add(&super::scaled(tmpl, k));
        let options: Vec<u32> = (info.start..info.end)
            .filter(|&i| i as u32 != pt && want.fits(&prep.pool_types[i].usable))
            .filter(|&i| prep.pool_type_compatible(d.reqs, i))
            .map(|i| i as u32)
            .collect();
        let alternatives = self
            .rank(
                prep,
                d.reqs,
                &options,
                crate::karpenter::MAX_INSTANCE_TYPES - 1,
            )
            .into_iter()
            .map(|o| prep.pool_types[o as usize].name.clone())
            .collect();
        Some((pt, offering, alternatives, k as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Plan, Problem, Strategy};
    use nodepack_model::pod::Owner;
    use nodepack_model::{Catalog, NodePool};
    use nodepack_testkit as tk;
    use std::sync::Arc;

    /// Solve for `pod` with a 2-core type at `per_core` dollars per core-hour (one
    /// 1-core pod fits) and an 8-core type at half that (seven fit).
    fn solve(growth: Growth, per_core: f64, pod: Pod) -> Plan {
        solve_in(NodePool::new("default"), growth, per_core, pod)
    }

    fn solve_in(pool: NodePool, growth: Growth, per_core: f64, pod: Pod) -> Plan {
        let mut catalog = Catalog::new(
            "growth",
            vec![
                tk::instance_type("c7g", "arm64", 2, 2, 0, per_core),
                tk::instance_type("c6g", "arm64", 8, 2, 0, per_core / 2.0),
            ],
        );
        catalog.sort();
        let pools = [pool];
        let pending = [pod];
        let problem = Problem::new(&pending, &[], &pools, &catalog);
        NodepackStrategy {
            growth,
            ..NodepackStrategy::default()
        }
        .solve(&problem)
    }

    fn web() -> Pod {
        let mut p = tk::select(
            tk::pod("web-9", 1000, 1024),
            labels::CAPACITY_TYPE,
            "on-demand",
        );
        p.labels.insert("app".into(), "web".into());
        p.owner = Some(Arc::new(Owner {
            kind: "ReplicaSet".into(),
            name: "web".into(),
        }));
        p
    }

    fn growing(n: u32) -> Growth {
        let mut g = Growth::default();
        g.expected
            .insert(("default".into(), "ReplicaSet".into(), "web".into()), n);
        g
    }

    fn launched(plan: &Plan) -> (&str, u32) {
        assert_eq!(plan.nodes.len(), 1, "{:#?}", plan);
        (
            &plan.nodes[0].instance_type,
            plan.nodes[0].expected_replicas,
        )
    }

    #[test]
    fn a_growing_controller_gets_a_node_with_room_for_its_next_replicas() {
        // $0.01/h for one pod on the small type; $0.02/h for seven on the large one.
        assert_eq!(launched(&solve(growing(8), 0.005, web())), ("c6g.8x", 6));
        // Without a forecast, or with too little growth to pay, the small type.
        assert_eq!(
            launched(&solve(Growth::default(), 0.005, web())),
            ("c7g.2x", 0)
        );
        assert_eq!(launched(&solve(growing(1), 0.005, web())), ("c7g.2x", 0));
    }

    #[test]
    fn savings_consolidation_would_take_are_left_to_it() {
        // Ten times the prices: merging the small nodes later repays its evictions
        // many times over, and fills the node completely at once.
        assert_eq!(launched(&solve(growing(8), 0.05, web())), ("c7g.2x", 0));
    }

    #[test]
    fn replicas_that_cannot_share_a_node_never_grow_it() {
        let pod = tk::anti(web(), labels::HOSTNAME);
        assert_eq!(launched(&solve(growing(8), 0.005, pod)), ("c7g.2x", 0));
    }

    #[test]
    fn pool_limits_hold_for_the_larger_node() {
        let mut pool = NodePool::new("default");
        pool.limits.cpu = Some(nodepack_model::Millicores::from_cores(4));
        let plan = solve_in(pool, growing(8), 0.005, web());
        assert_eq!(launched(&plan), ("c7g.2x", 0));
    }
}
