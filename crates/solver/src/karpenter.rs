//! Strategy `karpenter`: a re-implementation of Karpenter v1.14's provisioning scheduler,
//! the baseline Karpenter users know. Each rule below names the behaviour it mirrors.

use crate::engine::{karpenter_order, Engine, Policy};
use crate::prep::Prepared;
use crate::{Plan, Strategy, Unschedulable};
use nodepack_model::{labels, CapacityType, Money, Offering};

/// Karpenter's launch list length on AWS: the claim's instance types are cut to 60.
pub const MAX_INSTANCE_TYPES: usize = 60;

/// The Karpenter-style baseline.
#[derive(Clone, Copy, Debug, Default)]
pub struct KarpenterStrategy;

/// The spot allocation model's price band: offerings priced within this share of the
/// cheapest spot offering count as equally cheap (see [`fleet_choice`]).
pub const PRICE_CAPACITY_BAND: f64 = 0.20;

/// Extended resources that make an instance type "exotic" to the AWS provider's launch
/// filter (GPUs and accelerators), with metal sizes.
const EXOTIC_RESOURCES: &[&str] = &[
    nodepack_model::resources::NVIDIA_GPU,
    nodepack_model::resources::AMD_GPU,
    nodepack_model::resources::AWS_NEURON,
    "aws.amazon.com/neuroncore",
    "habana.ai/gaudi",
];

/// Is an instance type with these node labels and capacity exotic: a metal size, or one
/// with GPUs or accelerators? (Kept per pair in [`crate::prep::PoolType::exotic`].)
pub(crate) fn exotic_type(
    node_labels: &std::collections::BTreeMap<String, String>,
    capacity: &nodepack_model::Resources,
) -> bool {
    node_labels
        .get(labels::INSTANCE_SIZE)
        .is_some_and(|s| s.contains("metal"))
        || EXOTIC_RESOURCES.iter().any(|r| capacity.extended(r) > 0)
}

/// Is this pair's instance type exotic?
fn exotic(prep: &Prepared, o: u32) -> bool {
    prep.pool_types[o as usize].exotic
}

/// The offering CreateFleet launches among `candidates` (type name, offering), all of
/// one capacity type, or `None` when there are none.
///
/// Karpenter (AWS provider, `pkg/providers/instance`) asks CreateFleet for one instance
/// with every (type, zone) override of the launch: on-demand with the `lowest-price`
/// allocation strategy, spot with `price-capacity-optimized` ("the pools with the
/// highest capacity availability, then the lowest price among them", AWS's
/// description). On-demand here: the cheapest. Spot, approximated because pool capacity
/// is not public: among the offerings priced within [`PRICE_CAPACITY_BAND`] of the
/// cheapest, the lowest interruption bucket (the Spot Advisor's reclaim rate standing in
/// for spare capacity; an unknown bucket counts as `InterruptionBucket::UNKNOWN_AS`),
/// then the cheapest. Ties: type name, then zone. The simulator's Karpenter launches
/// call this same function over the offerings not in the unavailable-offerings cache.
pub fn fleet_choice(candidates: &[(&str, &Offering)]) -> Option<usize> {
    let cheapest = candidates.iter().map(|(_, o)| o.price).min()?;
    let spot = candidates
        .iter()
        .any(|(_, o)| o.capacity_type == CapacityType::Spot);
    let band = if spot {
        cheapest.0 as f64 * (1.0 + PRICE_CAPACITY_BAND)
    } else {
        cheapest.0 as f64
    };
    let rank = |o: &Offering| o.spot_bucket().map_or(0, |b| b.effective() as u8);
    (0..candidates.len())
        .filter(|&k| candidates[k].1.price.0 as f64 <= band)
        .min_by(|&a, &b| {
            let (ta, oa) = candidates[a];
            let (tb, ob) = candidates[b];
            rank(oa)
                .cmp(&rank(ob))
                .then(oa.price.cmp(&ob.price))
                .then_with(|| ta.cmp(tb))
                .then_with(|| oa.zone.cmp(&ob.zone))
        })
}

/// Karpenter's launch decision for a claim's options (the AWS provider's launch path,
/// `filterInstanceTypes`, then CreateFleet):
/// 1. the exotic-instance filter drops metal sizes and types with GPUs or accelerators
///    when other options remain (skipped when the requirements carry `minValues`);
/// 2. the spot-offering filter, when both spot and on-demand are allowed and offered,
///    drops spot offerings pricier than the cheapest on-demand offering;
/// 3. the types are ordered by their cheapest remaining offering and cut to 60;
/// 4. the capacity type is reserved if any option offers it, else spot, else on-demand;
/// 5. CreateFleet picks the offering over every (type, zone) of that capacity type
///    ([`fleet_choice`]).
///
/// Returns the chosen pair, its offering, and the other types of the launch (in price
/// order) as alternatives: the fleet's other overrides.
pub fn launch(
    prep: &Prepared,
    reqs: &nodepack_model::Requirements,
    options: &[u32],
) -> Option<(u32, Offering, Vec<String>)> {
    let (zone, cts) = (
        reqs.get_ref(labels::ZONE),
        reqs.get_ref(labels::CAPACITY_TYPE),
    );
    // 1. Exotic types only when nothing else remains.
    let generic: Vec<u32>;
    let options = if reqs.min_values.is_empty() {
        generic = options
            .iter()
            .copied()
            .filter(|&o| !exotic(prep, o))
            .collect();
        if generic.is_empty() {
            options
        } else {
            &generic
        }
    } else {
        options
    };
    // Each option's offerings in the allowed zones and capacity types, found once (by
    // bit masks while every zone has its own bit): option k's are `flat[spans[k]..]`.
    let masks = (prep.zones.len() <= 64).then(|| prep.offer_masks(reqs));
    let mut flat: Vec<&Offering> = Vec::new();
    let mut spans: Vec<(u32, usize, usize)> = Vec::with_capacity(options.len());
    for &o in options {
        let p = &prep.pool_types[o as usize];
        let start = flat.len();
        match masks {
            Some((zm, cm)) => flat.extend(
                p.offer_bits
                    .iter()
                    .zip(&p.offerings)
                    .filter(|((z, c), _)| z & zm != 0 && c & cm != 0)
                    .map(|(_, x)| x),
            ),
            None => flat.extend(p.offerings_in(zone, cts)),
        }
        spans.push((o, start, flat.len()));
    }
    let offs_of = |k: usize| &flat[spans[k].1..spans[k].2];
    // 2. The cheapest on-demand offering, when spot and on-demand are both allowed and
    //    both offered: spot offerings above it are dropped.
    let allowed = |ct: CapacityType| cts.is_none_or(|c| c.has(ct.as_str()));
    let every = || flat.iter().copied();
    let spot_cap = if reqs.min_values.is_empty()
        && allowed(CapacityType::Spot)
        && allowed(CapacityType::OnDemand)
        && every().any(|x| x.capacity_type == CapacityType::Spot)
    {
        every()
            .filter(|x| x.capacity_type == CapacityType::OnDemand)
            .map(|x| x.price)
            .min()
    } else {
        None
    };
    let kept = |x: &Offering| {
        x.capacity_type != CapacityType::Spot || spot_cap.is_none_or(|cap| x.price <= cap)
    };
    // 3. Types by their cheapest remaining offering (then name), the first 60; each
    //    with its position in `spans`.
    let mut ranked: Vec<(Money, usize)> = (0..spans.len())
        .filter_map(|k| {
            offs_of(k)
                .iter()
                .filter(|x| kept(x))
                .map(|x| x.price)
                .min()
                .map(|p| (p, k))
        })
        .collect();
    let name = |k: usize| prep.pool_types[spans[k].0 as usize].name.as_str();
    let order = |a: &(Money, usize), b: &(Money, usize)| {
        a.0.cmp(&b.0).then_with(|| name(a.1).cmp(name(b.1)))
    };
    if ranked.len() > MAX_INSTANCE_TYPES {
        ranked.select_nth_unstable_by(MAX_INSTANCE_TYPES - 1, order);
        ranked.truncate(MAX_INSTANCE_TYPES);
    }
    ranked.sort_by(order);
    let kept_of = |k: usize| offs_of(k).iter().copied().filter(|x| kept(x));
    // 4. The capacity type.
    let ct = [
        CapacityType::Reserved,
        CapacityType::Spot,
        CapacityType::OnDemand,
    ]
    .into_iter()
    .find(|&ct| {
        ranked
            .iter()
            .any(|&(_, k)| kept_of(k).any(|x| x.capacity_type == ct))
    })?;
    // 5. The fleet's pick over every (type, zone) offering of that capacity type.
    let candidates: Vec<(&str, &Offering)> = ranked
        .iter()
        .flat_map(|&(_, k)| {
            kept_of(k)
                .filter(move |x| x.capacity_type == ct)
                .map(move |x| (name(k), x))
        })
        .collect();
    let pick = fleet_choice(&candidates)?;
    let (chosen, off) = candidates[pick];
    let types: Vec<usize> = ranked
        .iter()
        .map(|&(_, k)| k)
        .filter(|&k| kept_of(k).any(|x| x.capacity_type == ct))
        .collect();
    let k = *types.iter().find(|&&k| name(k) == chosen)?;
    let alternatives = types
        .iter()
        .filter(|&&t| t != k)
        .map(|&t| name(t).to_string())
        .collect();
    let o = spans[k].0;
    Some((o, off.clone(), alternatives))
}

impl Strategy for KarpenterStrategy {
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
                            reason: crate::Reason::Offerings(format!(
                                "no offering left for the claim's requirements ({})",
                                cl.reqs.get(labels::ZONE)
                            )),
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

    /// Karpenter's launch rule written plainly: each filter over the whole list, every
    /// option sorted, then cut; the fleet's pick over every offering.
    fn plain_launch(
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
    ) -> Option<(u32, Offering, Vec<String>)> {
        let (zone, cts) = (
            reqs.get_ref(labels::ZONE),
            reqs.get_ref(labels::CAPACITY_TYPE),
        );
        let offers = |o: u32| -> Vec<Offering> {
            prep.pool_types[o as usize]
                .offerings_in(zone, cts)
                .cloned()
                .collect()
        };
        let mut list: Vec<u32> = options
            .iter()
            .copied()
            .filter(|&o| !exotic(prep, o))
            .collect();
        if list.is_empty() {
            list = options.to_vec();
        }
        let all: Vec<Offering> = list.iter().flat_map(|&o| offers(o)).collect();
        let both = cts.is_none_or(|c| c.has("spot") && c.has("on-demand"));
        let od_min = all
            .iter()
            .filter(|x| x.capacity_type == CapacityType::OnDemand)
            .map(|x| x.price)
            .min();
        let has_spot = all.iter().any(|x| x.capacity_type == CapacityType::Spot);
        let keep = |x: &Offering| {
            !(both
                && has_spot
                && x.capacity_type == CapacityType::Spot
                && od_min.is_some_and(|m| x.price > m))
        };
        let mut ranked: Vec<(Money, String, u32)> = list
            .iter()
            .filter_map(|&o| {
                let p = offers(o)
                    .into_iter()
                    .filter(|x| keep(x))
                    .map(|x| x.price)
                    .min()?;
                Some((p, prep.pool_types[o as usize].name.clone(), o))
            })
            .collect();
        ranked.sort();
        ranked.truncate(MAX_INSTANCE_TYPES);
        let ct = [
            CapacityType::Reserved,
            CapacityType::Spot,
            CapacityType::OnDemand,
        ]
        .into_iter()
        .find(|&ct| {
            ranked
                .iter()
                .any(|(_, _, o)| offers(*o).iter().any(|x| keep(x) && x.capacity_type == ct))
        })?;
        let mut cands: Vec<(String, Offering, u32)> = Vec::new();
        for (_, n, o) in &ranked {
            for x in offers(*o) {
                if keep(&x) && x.capacity_type == ct {
                    cands.push((n.clone(), x, *o));
                }
            }
        }
        let view: Vec<(&str, &Offering)> = cands.iter().map(|(n, x, _)| (n.as_str(), x)).collect();
        let k = fleet_choice(&view)?;
        let alternatives = ranked
            .iter()
            .filter(|(_, _, o)| {
                *o != cands[k].2 && offers(*o).iter().any(|x| keep(x) && x.capacity_type == ct)
            })
            .map(|(_, n, _)| n.clone())
            .collect();
        Some((cands[k].2, cands[k].1.clone(), alternatives))
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
