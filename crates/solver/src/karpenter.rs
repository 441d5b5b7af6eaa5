//! Strategy `karpenter`: a re-implementation of Karpenter v1.14's provisioning scheduler,
//! the baseline Karpenter users know. Each rule below names the behaviour it mirrors.

use crate::engine::{karpenter_order, Engine, Policy};
use crate::prep::{capacity_rank, Prepared};
use crate::{Plan, Strategy, Unschedulable};
use nodepack_model::{labels, CapacityType, Offering};

/// Karpenter's launch list length on AWS: the claim's instance types are cut to 60.
pub const MAX_INSTANCE_TYPES: usize = 60;

/// The Karpenter-style baseline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Karpenter;

/// Karpenter's launch decision for a claim's options: the capacity type is reserved if
/// any option offers it, else spot if allowed and offered, else on-demand; with both spot
/// and on-demand allowed, options whose cheapest spot offering costs more than the
/// cheapest on-demand offering are dropped; options are ranked by their cheapest
/// offering and cut to 60; the first is launched.
pub fn launch(
    prep: &Prepared,
    reqs: &nodepack_model::Requirements,
    options: &[u32],
) -> Option<(u32, Offering, Vec<String>)> {
    let (zone, cts) = (
        reqs.get_ref(labels::ZONE),
        reqs.get_ref(labels::CAPACITY_TYPE),
    );
    // Each option's cheapest offering of each capacity type (by price, then zone; the
    // first of equals), in one pass over its offerings.
    let best: Vec<[Option<&Offering>; 3]> = options
        .iter()
        .map(|&o| {
            let mut slot: [Option<&Offering>; 3] = [None; 3];
            for x in prep.pts[o as usize].offerings_in(zone, cts) {
                let s = &mut slot[capacity_rank(x.capacity_type) as usize];
                if s.is_none_or(|b| (x.price, &x.zone) < (b.price, &b.zone)) {
                    *s = Some(x);
                }
            }
            slot
        })
        .collect();
    let cheapest = |k: usize, ct: CapacityType| best[k][capacity_rank(ct) as usize];
    let ct = [
        CapacityType::Reserved,
        CapacityType::Spot,
        CapacityType::OnDemand,
    ]
    .into_iter()
    .find(|&ct| (0..options.len()).any(|k| cheapest(k, ct).is_some()))?;
    let mut ranked: Vec<(u32, &Offering)> = (0..options.len())
        .filter_map(|k| cheapest(k, ct).map(|x| (options[k], x)))
        .collect();
    if ct == CapacityType::Spot {
        let od_min = (0..options.len())
            .filter_map(|k| cheapest(k, CapacityType::OnDemand))
            .map(|x| x.price)
            .min();
        if let Some(od) = od_min {
            ranked.retain(|(_, x)| x.price <= od);
        }
        if ranked.is_empty() {
            ranked = (0..options.len())
                .filter_map(|k| cheapest(k, CapacityType::OnDemand).map(|x| (options[k], x)))
                .collect();
        }
    }
    // Price, then capacity type, then name (a total order: a claim's options are types
    // of one pool, with distinct names). Only the first `MAX_INSTANCE_TYPES` are kept:
    // select them, then sort those.
    let order = |a: &(u32, &Offering), b: &(u32, &Offering)| launch_order(prep, a, b);
    if ranked.len() > MAX_INSTANCE_TYPES {
        ranked.select_nth_unstable_by(MAX_INSTANCE_TYPES - 1, order);
        ranked.truncate(MAX_INSTANCE_TYPES);
    }
    ranked.sort_by(order);
    chosen(prep, &ranked)
}

/// The first of ranked (type, offering) candidates, with the other types' names as its
/// alternatives.
fn chosen(prep: &Prepared, ranked: &[(u32, &Offering)]) -> Option<(u32, Offering, Vec<String>)> {
    let (o, off) = ranked.first().copied()?;
    let alternatives = ranked[1..]
        .iter()
        .map(|(o, _)| prep.pts[*o as usize].name.clone())
        .collect();
    Some((o, off.clone(), alternatives))
}

/// The order a launch ranks (type, offering) candidates in: price, then capacity type,
/// then type name.
fn launch_order(prep: &Prepared, a: &(u32, &Offering), b: &(u32, &Offering)) -> std::cmp::Ordering {
    a.1.price
        .cmp(&b.1.price)
        .then(capacity_rank(a.1.capacity_type).cmp(&capacity_rank(b.1.capacity_type)))
        .then_with(|| {
            prep.pts[a.0 as usize]
                .name
                .cmp(&prep.pts[b.0 as usize].name)
        })
}

impl Strategy for Karpenter {
    fn name(&self) -> &'static str {
        "karpenter"
    }

    fn solve_prepared(&self, prep: &Prepared) -> Plan {
        let problem = &prep.problem;
        let prep = prep.clone();
        // Existing nodes first fit in order (initialized first, then by name); claims of
        // this round fewest pods first; then a new claim from pools by weight.
        let mut eng = Engine::new(
            &prep,
            Policy {
                existing_best_fit: false,
                growth_factor: None,
            },
        );
        // Pods sorted by CPU, then memory, descending; then creation time.
        let order = karpenter_order(problem.pending);
        let failed = eng.run_queue(&order, true);
        let mut unschedulable: Vec<Unschedulable> = failed
            .into_iter()
            .map(|(pi, reason)| Unschedulable {
                pod: problem.pending[pi].id.clone(),
                reason,
            })
            .collect();
        let mut nodes = Vec::new();
        for c in 0..eng.claims.len() {
            let cl = &eng.claims[c];
            if cl.pods.is_empty() {
                continue;
            }
            match launch(&prep, &cl.reqs, eng.fitting_options(c)) {
                Some((o, off, alts)) => nodes.push(eng.claim_node(c, o, &off, alts)),
                None => {
                    for &p in &cl.pods {
                        unschedulable.push(Unschedulable {
                            pod: problem.pending[p].id.clone(),
                            reason: format!(
                                "no offering left for the claim's requirements ({})",
                                cl.reqs.get(labels::ZONE)
                            ),
                        });
                    }
                }
            }
        }
        Plan {
            strategy: self.name().into(),
            existing: eng.bindings(),
            nodes,
            unschedulable,
            cost_per_hour: Default::default(),
            order: eng
                .order
                .iter()
                .map(|&p| problem.pending[p].id.clone())
                .collect(),
        }
        .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Requirements, ValueSet};
    use proptest::prelude::{prop_assert_eq, proptest};

    /// Karpenter's launch rule written plainly: cheapest offering per capacity type
    /// recomputed for each use, every option sorted, then cut.
    fn plain_launch(
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
    ) -> Option<(u32, Offering, Vec<String>)> {
        let (zone, cts) = (
            reqs.get_ref(labels::ZONE),
            reqs.get_ref(labels::CAPACITY_TYPE),
        );
        let cheapest = |o: u32, ct: CapacityType| -> Option<&Offering> {
            prep.pts[o as usize]
                .offerings_in(zone, cts)
                .filter(|x| x.capacity_type == ct)
                .min_by(|a, b| a.price.cmp(&b.price).then_with(|| a.zone.cmp(&b.zone)))
        };
        let ct = [
            CapacityType::Reserved,
            CapacityType::Spot,
            CapacityType::OnDemand,
        ]
        .into_iter()
        .find(|&ct| options.iter().any(|&o| cheapest(o, ct).is_some()))?;
        let mut ranked: Vec<(u32, &Offering)> = options
            .iter()
            .filter_map(|&o| cheapest(o, ct).map(|x| (o, x)))
            .collect();
        if ct == CapacityType::Spot {
            let od = options
                .iter()
                .filter_map(|&o| cheapest(o, CapacityType::OnDemand))
                .map(|x| x.price)
                .min();
            if let Some(od) = od {
                ranked.retain(|(_, x)| x.price <= od);
            }
            if ranked.is_empty() {
                ranked = options
                    .iter()
                    .filter_map(|&o| cheapest(o, CapacityType::OnDemand).map(|x| (o, x)))
                    .collect();
            }
        }
        ranked.sort_by(|a, b| launch_order(prep, a, b));
        ranked.truncate(MAX_INSTANCE_TYPES);
        chosen(prep, &ranked)
    }

    proptest! {
        /// The one-pass launch chooses what the plain rule chooses, with the same
        /// alternatives: any subset of types (more than the 60 kept, too), zone and
        /// capacity-type requirements.
        #[test]
        fn launch_matches_the_plain_rule(
            pick in proptest::collection::vec(proptest::bool::ANY, 64),
            zone in proptest::option::of(0usize..3),
            ct in proptest::option::of(proptest::sample::select(vec!["spot", "on-demand"])),
            copies in 1usize..4,
        ) {
            // `copies` renamed copies of the testkit catalog's types (equal prices: the
            // name decides ties), up to 96 types, more than the 60 a launch keeps.
            let base = nodepack_testkit::catalog();
            let mut catalog = base.clone();
            catalog.instance_types = (0..copies)
                .flat_map(|j| {
                    base.instance_types.iter().map(move |t| {
                        let mut t = t.clone();
                        t.name = format!("{}-{j}", t.name);
                        t
                    })
                })
                .collect();
            catalog.sort();
            let (fast, plain) = crate::prep::tests::with_catalog_prep(&catalog, |prep| {
                let info = &prep.pools[0];
                let options: Vec<u32> = (info.start..info.end)
                    .filter(|&o| pick[o % 64] || o >= 64)
                    .map(|o| o as u32)
                    .collect();
                let mut reqs = Requirements::default();
                if let Some(z) = zone {
                    let zones = &prep.zones;
                    reqs.add(labels::ZONE, ValueSet::in_values([zones[z % zones.len()].clone()]));
                }
                if let Some(c) = ct {
                    reqs.add(labels::CAPACITY_TYPE, ValueSet::in_values([c]));
                }
                (launch(prep, &reqs, &options), plain_launch(prep, &reqs, &options))
            });
            prop_assert_eq!(fast, plain);
        }
    }
}
