//! Claim merging: re-packing claims of one pool and zone, by claim or by pod, onto
//! fewer or better-filled nodes when that is cheaper and breaks no hostname rule.

use super::*;
use crate::topology::Kind;
use nodepack_model::pod::PodAffinityTerm;
use nodepack_model::{labels, Requirements, Resources};

impl<'a> Engine<'_, 'a> {
    /// May the claim's pods share a node with the pods of another claim of their pool
    /// and requirements without breaking a hostname rule that holds now? None of them has
    /// a hostname spread or a required hostname (anti-)affinity, none is counted by
    /// anyone's hostname spread, and each preferred hostname anti-affinity term of theirs
    /// is already unmet on this claim (merging adds pods, so it cannot unmeet a preferred
    /// affinity). Anti-affinity of pods outside the merged claims is untouched: their
    /// nodes do not change.
    pub fn claim_mergeable(&self, c: usize) -> bool {
        let pending = self.prep.problem.pending;
        let pods = &self.claims[c].pods;
        let host = |t: &PodAffinityTerm| t.topology_key == labels::HOSTNAME;
        pods.iter().all(|&pi| {
            let pod = &pending[pi];
            !pod.topology_spread
                .iter()
                .any(|t| t.topology_key == labels::HOSTNAME)
                && !pod
                    .pod_affinity
                    .iter()
                    .chain(&pod.pod_anti_affinity)
                    .any(host)
                && pod
                    .pod_anti_affinity_preferred
                    .iter()
                    .map(|w| &w.term)
                    .filter(|t| host(t))
                    .all(|t| {
                        pods.iter()
                            .any(|&q| q != pi && t.selects(&pod.id.namespace, &pending[q]))
                    })
                && !self
                    .topo
                    .groups
                    .iter()
                    .any(|g| g.host && matches!(g.kind, Kind::Spread { .. }) && g.selects(pod))
        })
    }

    /// [`Prepared::cheapest_option`] restricted to the options with room for `total`,
    /// with its price in the zones and capacity types of `reqs`.
    fn cheapest_holding(
        &self,
        reqs: &Requirements,
        options: &[u32],
        total: &Resources,
    ) -> Option<(u32, i64)> {
        let prices = self.prep.min_prices(self.prep.offer_masks(reqs));
        let fit = self.prep.fit_test(total);
        options
            .iter()
            .filter(|&&o| fit.fits(o as usize))
            .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
            .min()
            .map(|(p, o)| (o, p))
    }

    /// Re-pack claims when fewer or better-filled nodes cost less: claims of one pool
    /// with equal requirements (so the same zone) that are all
    /// [`Engine::claim_mergeable`] are packed again, first-fit decreasing, onto each of
    /// the [`MERGE_CANDIDATES`] options with the lowest price per share of the group's
    /// demand, twice: with whole claims as items, and (when no pod of the group has a
    /// preferred hostname affinity that splitting could unmeet) with single pods as
    /// items. The cheapest packing, each bin priced at its cheapest option, replaces the
    /// claims if it costs less and needs no more nodes than there are claims. The
    /// growth policy is myopic (a claim refuses a pod that a small node of its own holds
    /// more cheaply, but a dozen such nodes cost more than one bigger node); this pass
    /// recovers the economy of scale. Returns the number of claims emptied. Hostname
    /// counts of the claims are not updated: nothing may be placed on claims after it.
    pub fn merge_claims(&mut self) -> usize {
        let mut groups: Vec<((usize, Requirements), Vec<usize>)> = Vec::new();
        for c in 0..self.claims.len() {
            let cl = &self.claims[c];
            if cl.pods.is_empty() || !self.claim_mergeable(c) {
                continue;
            }
            match groups
                .iter_mut()
                .find(|((pool, reqs), _)| *pool == cl.pool && *reqs == cl.reqs)
            {
                Some((_, v)) => v.push(c),
                None => groups.push(((cl.pool, cl.reqs.clone()), vec![c])),
            }
        }
        let mut emptied = 0;
        for ((pool, reqs), members) in groups {
            if members.len() < 2 {
                continue;
            }
            if let Some(bins) = self.repack(&reqs, &members) {
                emptied += self.apply_repack(pool, &members, &bins);
            }
        }
        emptied
    }

    /// The options of a group of claims with equal requirements: those of its smallest
    /// claim, which hold every option the others keep.
    fn group_options(&self, members: &[usize]) -> &[u32] {
        let smallest = members
            .iter()
            .copied()
            .min_by_key(|&c| {
                (
                    self.claims[c].requested.cpu.0,
                    self.claims[c].requested.memory.0,
                    c,
                )
            })
            .unwrap_or(members[0]);
        &self.claims[smallest].options
    }

    /// A cheaper packing of the claims `members`, as bins of pod indices (at most one
    /// bin per claim).
    fn repack(&self, reqs: &Requirements, members: &[usize]) -> Option<Vec<Vec<usize>>> {
        let pending = self.prep.problem.pending;
        let options = self.group_options(members);
        let prices = self.prep.min_prices(self.prep.offer_masks(reqs));
        // (Every option of a claim holds its pods: its cheapest option is the cheapest
        // that holds them.)
        let mut current = 0i64;
        for &c in members {
            current += prices[self.claims[c].cheapest? as usize]?;
        }
        // Items, largest first: whole claims, and single pods where splitting is safe.
        let claims: Vec<(Resources, Vec<usize>)> = members
            .iter()
            .map(|&c| {
                (
                    self.claims[c].requested.clone(),
                    self.claims[c].pods.clone(),
                )
            })
            .collect();
        let splittable = members
            .iter()
            .flat_map(|&c| &self.claims[c].pods)
            .all(|&pi| {
                !pending[pi]
                    .pod_affinity_preferred
                    .iter()
                    .any(|w| w.term.topology_key == labels::HOSTNAME)
            });
        let pods: Vec<(Resources, Vec<usize>)> = if splittable {
            claims
                .iter()
                .flat_map(|(_, ps)| {
                    ps.iter()
                        .map(|&pi| (pending[pi].requests.clone(), vec![pi]))
                })
                .collect()
        } else {
            Vec::new()
        };
        let total = claims
            .iter()
            .fold(Resources::default(), |acc, (r, _)| acc.saturating_add(r));
        let largest_item = |items: &[(Resources, Vec<usize>)]| {
            items.iter().fold(Resources::default(), |acc, (r, _)| {
                crate::prep::max_of([&acc, r].into_iter())
            })
        };
        // The group's options by price (then index): a bin's cheapest option is the
        // first that holds it, as `cheapest_holding` over the options finds it.
        let mut by_price: Vec<(i64, u32)> = options
            .iter()
            .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
            .collect();
        by_price.sort_unstable();
        let cheapest_price = |u: &Resources| {
            let fit = self.prep.fit_test(u);
            by_price
                .iter()
                .find(|&&(_, o)| fit.fits(o as usize))
                .map(|&(p, _)| p)
        };
        let mut best: Option<(i64, Vec<Vec<usize>>)> = None;
        for mut items in [claims, pods] {
            if items.is_empty() {
                continue;
            }
            items.sort_by_key(|(r, _)| std::cmp::Reverse((r.cpu.0, r.memory.0)));
            let biggest = largest_item(&items);
            // Options that hold the largest item, by price per share of the demand.
            let fit = self.prep.fit_test(&biggest);
            let mut cands: Vec<(f64, u32)> = options
                .iter()
                .filter(|&&o| fit.fits(o as usize))
                .filter_map(|&o| {
                    let p = prices[o as usize]?;
                    let share = dominant_share(&total, &self.prep.pool_types[o as usize].usable);
                    Some((p as f64 * share, o))
                })
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(_, o) in cands.iter().take(MERGE_CANDIDATES) {
                let cap = &self.prep.pool_types[o as usize].usable;
                let Some((used, bins)) = first_fit(&items, cap, members.len()) else {
                    continue;
                };
                // Each bin launches its cheapest option.
                let mut cost = 0i64;
                for u in &used {
                    match cheapest_price(u) {
                        Some(p) => cost += p,
                        None => {
                            cost = i64::MAX;
                            break;
                        }
                    }
                }
                if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                    best = Some((cost, bins));
                }
            }
        }
        best.filter(|(cost, _)| *cost < current)
            .map(|(_, bins)| bins)
    }

    /// Give bin `k` of pods to claim `members[k]`, emptying the claims left over; pool
    /// limits must still hold.
    fn apply_repack(&mut self, pool: usize, members: &[usize], bins: &[Vec<usize>]) -> usize {
        let np = &self.prep.problem.nodepools[pool];
        let reqs = self.claims[members[0]].reqs.clone();
        let options = self.group_options(members).to_vec();
        let mut limits = self.limits.clone();
        for &c in members {
            limits.remove(pool, &self.claims[c].reserved);
        }
        let mut plans = Vec::new();
        for bin in bins {
            let total = bin.iter().fold(Resources::default(), |acc, &pi| {
                acc.saturating_add(&self.prep.problem.pending[pi].requests)
            });
            let Some((o, _)) = self.cheapest_holding(&reqs, &options, &total) else {
                return 0;
            };
            let cap = &self.prep.pool_types[o as usize].capacity;
            if limits.exceeded(&np.limits, pool, cap).is_some() {
                return 0;
            }
            limits.add(pool, cap);
            plans.push((total, o));
        }
        self.limits = limits;
        for (k, &c) in members.iter().enumerate() {
            let cl = &mut self.claims[c];
            match (bins.get(k), plans.get(k)) {
                (Some(bin), Some((total, o))) => {
                    let fit = self.prep.fit_test(total);
                    let kept: Vec<u32> = options
                        .iter()
                        .copied()
                        .filter(|&x| fit.fits(x as usize))
                        .collect();
                    cl.pods = bin.clone();
                    cl.requested = total.clone();
                    (cl.max_cap, cl.min_cap) = super::claims::claim_bounds(self.prep, &kept);
                    cl.floor = super::claims::floor_of(self.prep, &kept);
                    cl.options = kept;
                    cl.target_cap = self.prep.pool_types[*o as usize].usable.clone();
                    cl.cheapest = Some(*o);
                    cl.reserved = self.prep.pool_types[*o as usize].capacity.clone();
                    for &pi in bin {
                        self.placed[pi] = Some(Placement::Claim(c));
                    }
                }
                _ => {
                    cl.pods.clear();
                    cl.requested = Resources::default();
                    cl.options.clear();
                    cl.cheapest = None;
                    cl.floor = i64::MAX;
                    cl.reserved = Resources::default();
                }
            }
        }
        members.len() - bins.len()
    }
}

/// First fit of `items` (requests and pods, in order) into bins of capacity `cap`: each
/// bin's requests and pods, or `None` when they need more than `most` bins. Without
/// extended resources the fit tests compare plain arrays (`Resources::fits_with` of
/// lists without extended resources compares these four).
fn first_fit(
    items: &[(Resources, Vec<usize>)],
    cap: &Resources,
    most: usize,
) -> Option<(Vec<Resources>, Vec<Vec<usize>>)> {
    if items.iter().all(|(r, _)| r.extended.is_empty()) {
        let c = crate::prep::plain_dims(cap);
        let (used, bins) = first_fit_by(
            items,
            most,
            crate::prep::plain_dims,
            |u: &[u64; 4], r: &[u64; 4]| (0..4).all(|d| u[d].saturating_add(r[d]) <= c[d]),
            |u: &mut [u64; 4], r: &[u64; 4]| {
                for (x, y) in u.iter_mut().zip(r) {
                    *x = x.saturating_add(*y);
                }
            },
        )?;
        let used = used.into_iter().map(crate::prep::from_plain_dims).collect();
        return Some((used, bins));
    }
    first_fit_resources(items, cap, most)
}

/// [`first_fit`] with `Resources::fits_with` (any extended resources).
fn first_fit_resources(
    items: &[(Resources, Vec<usize>)],
    cap: &Resources,
    most: usize,
) -> Option<(Vec<Resources>, Vec<Vec<usize>>)> {
    first_fit_by(
        items,
        most,
        Resources::clone,
        |u: &Resources, r: &Resources| r.fits_with(u, cap),
        |u: &mut Resources, r: &Resources| u.saturating_add_assign(r),
    )
}

/// First fit with requests as `U`: `fits(used, request)`, `add(used, request)`.
fn first_fit_by<U: Clone>(
    items: &[(Resources, Vec<usize>)],
    most: usize,
    of: impl Fn(&Resources) -> U,
    fits: impl Fn(&U, &U) -> bool,
    add: impl Fn(&mut U, &U),
) -> Option<(Vec<U>, Vec<Vec<usize>>)> {
    let mut used: Vec<U> = Vec::new();
    let mut bins: Vec<Vec<usize>> = Vec::new();
    for (req, ps) in items {
        let r = of(req);
        match used.iter().position(|u| fits(u, &r)) {
            Some(b) => {
                add(&mut used[b], &r);
                bins[b].extend(ps);
            }
            None if bins.len() < most => {
                used.push(r);
                bins.push(ps.clone());
            }
            None => return None,
        }
    }
    Some((used, bins))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};
    use proptest::prelude::*;

    proptest! {
        /// The plain-array first fit packs as `Resources::fits_with` does.
        #[test]
        fn plain_first_fit_is_the_resources_first_fit(
            reqs in proptest::collection::vec((0u64..4_000, 0u64..8_192, 0u64..3), 1..40),
            cap in (1_000u64..16_000, 1_024u64..32_768, 1u64..30),
            most in 1usize..12,
        ) {
            let res = |(c, m, p): (u64, u64, u64)| {
                Resources::new(Millicores(c), Bytes::from_mib(m)).with_pods(p)
            };
            let items: Vec<(Resources, Vec<usize>)> =
                reqs.iter().enumerate().map(|(i, &r)| (res(r), vec![i])).collect();
            let cap = res(cap);
            prop_assert_eq!(
                first_fit(&items, &cap, most),
                first_fit_resources(&items, &cap, most)
            );
        }
    }
}
