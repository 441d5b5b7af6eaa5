//! Claims: nodes planned this round. Whether a pod fits a claim (requirements,
//! topology domains, instance types that still hold it), opening a new claim from a
//! pool within its limits, and committing a pod to a claim.

use super::*;
use crate::prep::{taint_blocking, Prepared};
use crate::topology::{HostCounts, PodGroups};
use crate::Reason;
use nodepack_model::pod::HOSTNAME_KEY;
use nodepack_model::{labels, Pod, Requirements, Resources, ValueSet};
use std::collections::{BTreeMap, BTreeSet};

/// A node planned in this round.
#[derive(Clone, Debug)]
pub struct Claim {
    /// Pool index.
    pub pool: usize,
    /// Accumulated node requirements.
    pub reqs: Requirements,
    /// PoolCatalog (pool, instance type) it may still launch: compatible with its requirements
    /// and with room for all its pods, as indices into `Prepared::pool_types`.
    pub options: Vec<u32>,
    /// Element-wise maximum of the options' usable capacity (a quick rejection test).
    pub max_cap: Resources,
    /// Element-wise minimum of the options' usable (cpu, memory, storage, pods): requests
    /// within it fit every option (a quick acceptance test).
    pub min_cap: [u64; 4],
    /// The least cheapest-offering price of its options (`Prepared::min_price_of`;
    /// `i64::MAX` for none): the price before a growth.
    pub floor: i64,
    /// Sum of its pods' requests.
    pub requested: Resources,
    /// Pending pods placed on it (indices).
    pub pods: Vec<usize>,
    /// Placeholder hostname.
    pub hostname: String,
    /// Hostname counts.
    pub host: HostCounts,
    /// The zone, once pinned to one.
    pub zone: Option<String>,
    /// Usable capacity of its cheapest option: room here costs nothing more.
    pub target_cap: Resources,
    /// Its cheapest option under its requirements' offerings
    /// ([`Prepared::cheapest_option`] of `reqs` and `options`): the type it launches.
    pub cheapest: Option<u32>,
    /// How often growing it was refused (growth policy): after a few, only free room
    /// is offered, which bounds the work spent on full claims.
    pub growth_refusals: std::cell::Cell<u32>,
    /// Capacity counted against its pool's limits.
    pub reserved: Resources,
}

/// The fresh claims' memo of options: by requirements, requests and options, the
/// options kept or the refusal.
pub(super) type FreshMemo = Memo<(Requirements, Resources, Vec<u32>), Result<Vec<u32>, Reason>>;

/// The fresh claims' memo of candidate domains: by requirements, requests, options and
/// key, the domains.
pub(super) type DomainsMemo = Memo<(Requirements, Resources, Vec<u32>, String), BTreeSet<String>>;

/// The claims' memo of bounds: by options and offering masks, the options' usable
/// capacity bounds ([`claim_bounds`]) and the cheapest option under the masks. Claims
/// opened for pods of one workload commit the same options, computed once.
pub(super) type BoundsMemo = Memo<(Vec<u32>, (u64, u8)), ((Resources, [u64; 4]), i64, Option<u32>)>;

/// Entries a memo of fresh-claim answers keeps before it starts again: each holds a
/// claim's option list (up to a few thousand pairs), so many distinct requests would
/// otherwise keep megabytes. The answers are exact, so clearing changes no plan.
pub(super) const MEMO_MOST: usize = 1024;

/// Options at each end of an option list that its memo hash reads ([`Memo::sample`]).
const SAMPLED: usize = 16;

/// A memo of fresh-claim answers: by the hash of their key, each with its key in full
/// (an answer is given only for an equal key), at most [`MEMO_MOST`] of them (cleared
/// when full).
pub(super) struct Memo<K, V>(pub(super) std::cell::RefCell<HashMap<u64, (K, V)>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(Default::default())
    }
}

impl<K, V: Clone> Memo<K, V> {
    /// The hash a key is filed under (a fast hash: keys hold option lists of up to a
    /// few thousand pairs, and an equal key is checked in full before an answer is
    /// given).
    pub(super) fn hash(key: impl std::hash::Hash) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(key)
    }

    /// What [`Memo::hash`] files an option list under: its length and its first and
    /// last [`SAMPLED`] options (option lists of one workload's claims are equal or
    /// differ in length or at their ends; keys filed together are told apart by the
    /// full check).
    pub(super) fn sample(options: &[u32]) -> (usize, &[u32], &[u32]) {
        let n = options.len().min(SAMPLED);
        (options.len(), &options[..n], &options[options.len() - n..])
    }

    /// The answer filed under `hash` if its key is the one asked (`same`).
    pub(super) fn get(&self, hash: u64, same: impl FnOnce(&K) -> bool) -> Option<V> {
        match self.0.borrow().get(&hash) {
            Some((k, v)) if same(k) => Some(v.clone()),
            _ => None,
        }
    }

    /// File an answer, clearing the memo first when it is full.
    pub(super) fn insert(&self, hash: u64, key: K, value: V) {
        let mut memo = self.0.borrow_mut();
        if memo.len() >= MEMO_MOST {
            memo.clear();
        }
        memo.insert(hash, (key, value));
    }
}

/// `Engine::claim_zone` of a claim not pinned to one of the first 64 zones.
pub(super) const NO_ZONE: u8 = u8::MAX;

/// Options tried per group when [`Engine::merge_claims`] re-packs claims.
pub const MERGE_CANDIDATES: usize = 16;

/// Refused growths after which a claim leaves the first-fit order.
const MAX_GROWTH_REFUSALS: u32 = 3;

/// The refusal of [`Policy::growth_factor`].
pub(super) const GROWTH_REFUSED: &str = "growing the claim costs more than a node of its own";

/// Bitsets over claims: for each hostname-keyed group, which claims have reached the
/// group's limit by count (`by_count`) or by owners (`by_owner`). Lets a pod skip claims
/// its hostname anti-affinity or spread rules out with one bit test.
#[derive(Clone, Debug, Default)]
pub(super) struct HostBlocks {
    pub(super) by_count: Vec<Vec<u64>>,
    pub(super) by_owner: Vec<Vec<u64>>,
}

impl HostBlocks {
    pub(super) fn set(v: &mut Vec<Vec<u64>>, g: usize, c: usize, on: bool) {
        if v.len() <= g {
            v.resize(g + 1, Vec::new());
        }
        let w = &mut v[g];
        if w.len() <= c / 64 {
            w.resize(c / 64 + 1, 0);
        }
        if on {
            w[c / 64] |= 1 << (c % 64);
        } else {
            w[c / 64] &= !(1 << (c % 64));
        }
    }
    /// The claims any of `blockers` (group, by owners) blocks.
    pub(super) fn union(&self, blockers: &[(usize, bool)]) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for &(g, by_owner) in blockers {
            let v = if by_owner {
                &self.by_owner
            } else {
                &self.by_count
            };
            let Some(w) = v.get(g) else { continue };
            if out.len() < w.len() {
                out.resize(w.len(), 0);
            }
            for (o, x) in out.iter_mut().zip(w) {
                *o |= x;
            }
        }
        out
    }
}

impl<'p, 'a> Engine<'p, 'a> {
    /// Check a claim (or a fresh claim's requirements and options) for the pod. Returns
    /// the new requirements and options.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fit_claim(
        &self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
        reqs: &Requirements,
        options: &[u32],
        requested: &Resources,
        fresh: bool,
        min_cap: &[u64; 4],
        floor: i64,
    ) -> Result<(Requirements, Option<Vec<u32>>), Reason> {
        // Keys whose requirement changes: the pod's terms that narrow the claim's, and
        // topology pins. Options already satisfy the claim's requirements, so only these
        // keys (and the offerings) need checking again.
        let mut changed = Requirements::new();
        let mut new_reqs = reqs.clone();
        for (k, vs) in &view.term.keys {
            let cur = reqs.get(k);
            let merged = cur.intersect(vs);
            if merged != cur {
                if merged.is_empty() {
                    return Err(Reason::Requirements(format!(
                        "requirement {k} {vs} conflicts with the node's {cur}"
                    )));
                }
                changed.add(k, vs.clone());
                new_reqs.add(k, vs.clone());
            }
        }
        let total = requested.saturating_add(&pod.requests);
        // Non-hostname topology keys: choose (and pin) a domain.
        for k in pg.keys.iter().chain(pg.counted_keys.iter()) {
            let pinned = new_reqs
                .get_ref(k)
                .filter(|v| v.len() == Some(1))
                .and_then(|v| v.any_value().map(str::to_string));
            if let Some(d) = &pinned {
                if pg.keys.contains(k) {
                    self.topo
                        .allows_one(pod, pg, k, d)
                        .map_err(|r| Reason::Topology(format!("{k} {d}: {r}")))?;
                }
                continue;
            }
            let cand = if fresh {
                self.fresh_candidate_domains(options, &new_reqs, &total, k)
            } else {
                self.candidate_domains(options, &new_reqs, &total, k)
            };
            if cand.is_empty() {
                return Err(Reason::Topology(format!("no domain of {k} available")));
            }
            let allowed = if pg.keys.contains(k) {
                self.topo
                    .allowed(pod, pg, k, &cand, &universes[k])
                    .map_err(|r| Reason::Topology(r.0))?
            } else {
                cand
            };
            let d = self.topo.best(pg, k, &allowed).unwrap_or_default();
            changed.add(k, ValueSet::in_values([d.clone()]));
            new_reqs.add(k, ValueSet::in_values([d]));
        }
        if fresh {
            // New claims of the same requirements, requests and options (most pods of a
            // workload) get the same options: computed once.
            let key = FreshMemo::hash((&new_reqs, &total, FreshMemo::sample(options)));
            let same = |(r, t, o): &(Requirements, Resources, Vec<u32>)| {
                *r == new_reqs && *t == total && o[..] == *options
            };
            if let Some(out) = self.fresh_memo.get(key, same) {
                return out.map(|x| (new_reqs, Some(x)));
            }
            let out = self.narrow_options(
                pod, &new_reqs, &changed, &total, options, true, min_cap, floor,
            );
            self.fresh_memo.insert(
                key,
                (new_reqs.clone(), total, options.to_vec()),
                out.clone(),
            );
            return out.map(|x| (new_reqs, Some(x)));
        }
        self.narrow_options(
            pod, &new_reqs, &changed, &total, options, false, min_cap, floor,
        )
        .map(|o| (new_reqs, Some(o)))
    }

    /// The options that keep room for `total` and stay compatible with `new_reqs` (only
    /// the `changed` keys are checked again, unless `fresh`), with the growth policy and
    /// minValues applied. `min_cap` and `floor` are the options' `Claim::min_cap` and
    /// `Claim::floor` (or any lower `min_cap`, and `i64::MAX` for an unknown floor).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn narrow_options(
        &self,
        pod: &Pod,
        new_reqs: &Requirements,
        changed: &Requirements,
        total: &Resources,
        options: &[u32],
        fresh: bool,
        min_cap: &[u64; 4],
        floor: i64,
    ) -> Result<Vec<u32>, Reason> {
        let recheck = fresh || !changed.is_empty();
        // `Prepared::pt_compatible_delta` in two parts: the labels only when a changed key is
        // not zone or capacity type, the offerings from the per-masks price table (a pair
        // has a price there exactly when it has an offering within the masks).
        let labels = changed
            .keys
            .keys()
            .any(|k| k != labels::ZONE && k != labels::CAPACITY_TYPE);
        let offered = recheck.then(|| self.prep.min_prices(self.prep.offer_masks(new_reqs)));
        let fit = self.prep.fit_test(total);
        let keep = |o: u32| {
            fit.fits(o as usize)
                && offered.as_ref().is_none_or(|m| {
                    m[o as usize].is_some()
                        && (!labels || self.prep.pt_labels_ok(new_reqs, changed, o as usize))
                })
        };
        let growth = self.policy.growth_factor.filter(|_| !fresh);
        // Nothing to re-check and room in every option (`min_cap`, the smallest of the
        // options' capacities): all options stay, so the cheapest price does not rise.
        let all_fit =
            !recheck && total.extended.is_empty() && crate::prep::fits_caps(total, min_cap);
        let fair_of = |o: u32| {
            let p = &self.prep.pool_types[o as usize];
            p.min_price as f64 * dominant_share(&pod.requests, &p.usable)
        };
        let hint_key = (pod.requests.cpu.0, pod.requests.memory.0);
        let new_options: Vec<u32> = if all_fit {
            options.to_vec()
        } else if let Some(factor) = growth {
            // Most growths asked are refused, and most refusals show without a pass over
            // the options: no option kept is cheaper than the cheapest pair of any pool
            // that the total fits, so the rise is at least that price less the floor.
            // The hint (below) kept and refusing at that rise witnesses the refusal the
            // pass would find.
            if factor >= 0.0 && floor != i64::MAX {
                let hint = self.fair_hint.borrow().get(&hint_key).copied();
                if let Some((h, least)) = hint
                    .filter(|&h| options.binary_search(&h).is_ok() && keep(h))
                    .zip(self.prep.cheapest_fitting(total))
                {
                    let rise = least.saturating_sub(floor) as f64;
                    if rise > factor * fair_of(h) + 1.0 {
                        return Err(Reason::Resources(GROWTH_REFUSED.into()));
                    }
                }
            }
            // The growth policy's prices: the cheapest option before and after (the
            // rise), keeping nothing yet.
            let (before, after, cheapest_kept) = self.cheapest_kept(options, keep);
            let Some(cheapest_kept) = cheapest_kept else {
                return Err(Reason::Resources(
                    "no instance type has room for the claim's pods and this one".into(),
                ));
            };
            // The fair price (the least, over the options kept, of the option's price
            // times the pod's dominant share of it) is needed only when the cheapest
            // price rose by more than the 1 micro-dollar slack (it is never negative).
            let rise = (after - before) as f64;
            let refused = |fair: f64| rise > factor * fair + 1.0;
            let priced = rise > 1.0 || factor < 0.0;
            // Most growths asked are refused: any option kept whose fair price already
            // refuses is a witness (with a factor of at least 0, the least fair price
            // refuses too), found without listing the options kept. The hint (the last
            // least for a pod of these requests) and the cheapest kept option are tried.
            if priced && factor >= 0.0 {
                let hint = self.fair_hint.borrow().get(&hint_key).copied();
                // (Options are in index order; a hint not found is not tried.)
                let witness = hint
                    .filter(|&h| options.binary_search(&h).is_ok() && keep(h))
                    .into_iter()
                    .chain([cheapest_kept])
                    .any(|o| refused(fair_of(o)));
                if witness {
                    return Err(Reason::Resources(GROWTH_REFUSED.into()));
                }
            }
            let kept: Vec<u32> = if offered.is_none() {
                // (Only the fit to test.)
                fit.fitting(options)
            } else {
                options.iter().copied().filter(|&o| keep(o)).collect()
            };
            if priced {
                let (fair, argmin) = kept.iter().map(|&o| (fair_of(o), o)).fold(
                    (f64::INFINITY, cheapest_kept),
                    |a, b| if b.0 < a.0 { b } else { a },
                );
                self.fair_hint.borrow_mut().insert(hint_key, argmin);
                if refused(fair) {
                    return Err(Reason::Resources(GROWTH_REFUSED.into()));
                }
            }
            kept
        } else {
            // (The vector allocates only once one is kept: most attempts on existing
            // claims keep none.)
            let mut kept: Vec<u32> = Vec::new();
            for &o in options {
                if keep(o) {
                    if kept.capacity() == 0 {
                        kept.reserve_exact(options.len());
                    }
                    kept.push(o);
                }
            }
            kept
        };
        if new_options.is_empty() {
            if !fresh {
                return Err(Reason::Resources(
                    "no instance type has room for the claim's pods and this one".into(),
                ));
            }
            let biggest = max_capacity_usable(self.prep, options);
            return Err(match total.shortfall(&biggest) {
                Some(s) => Reason::Resources(format!("no instance type has room: {s}")),
                None => Reason::Requirements(
                    "no instance type is compatible with the combined requirements".into(),
                ),
            });
        }
        if let Some(m) = self.prep.min_values_ok(new_reqs, &new_options) {
            return Err(Reason::Requirements(m));
        }
        Ok(new_options)
    }

    /// The least price of `options` (sorted by index), and the price and index of the
    /// option `keep` keeps with the least (price, index) (`i64::MAX` and `None` when it
    /// keeps none). The pairs are walked by price while that costs less than a pass
    /// over the options: a small claim's cheapest kept option is among the cheapest
    /// pairs, found after a few membership tests instead of a look at each option.
    pub(super) fn cheapest_kept(
        &self,
        options: &[u32],
        keep: impl Fn(u32) -> bool,
    ) -> (i64, i64, Option<u32>) {
        let (mut before, mut after, mut cheapest_kept) = (i64::MAX, i64::MAX, None);
        // (A membership test is a binary search: about the cost of a few options.)
        let most = options.len() / 8;
        for &o in self.prep.by_min_price().iter().take(most) {
            if options.binary_search(&o).is_err() {
                continue;
            }
            let price = self.prep.min_price_of(o as usize);
            before = before.min(price);
            if keep(o) {
                return (before, price, Some(o));
            }
        }
        before = i64::MAX;
        for &o in options {
            let price = self.prep.min_price_of(o as usize);
            before = before.min(price);
            if price < after && keep(o) {
                after = price;
                cheapest_kept = Some(o);
            }
        }
        (before, after, cheapest_kept)
    }

    /// [`Self::candidate_domains`] for a fresh claim: claims opened for pods of one
    /// workload ask the same question of the same options, answered once.
    pub(super) fn fresh_candidate_domains(
        &self,
        options: &[u32],
        reqs: &Requirements,
        total: &Resources,
        key: &str,
    ) -> BTreeSet<String> {
        let hash = DomainsMemo::hash((reqs, total, DomainsMemo::sample(options), key));
        let same = |(r, t, o, k): &(Requirements, Resources, Vec<u32>, String)| {
            r == reqs && t == total && o[..] == *options && k == key
        };
        if let Some(out) = self.domains_memo.get(hash, same) {
            return out;
        }
        let out = self.candidate_domains(options, reqs, total, key);
        self.domains_memo.insert(
            hash,
            (
                reqs.clone(),
                total.clone(),
                options.to_vec(),
                key.to_string(),
            ),
            out.clone(),
        );
        out
    }

    /// The values of `key` the options that can hold `total` could give the node.
    pub(super) fn candidate_domains(
        &self,
        options: &[u32],
        reqs: &Requirements,
        total: &Resources,
        key: &str,
    ) -> BTreeSet<String> {
        if key == labels::ZONE && self.prep.zones.len() <= 64 {
            // Zones as bits: an allowed zone where some option with room has an
            // offering of an allowed capacity type.
            let (zm, cm) = self.prep.offer_masks(reqs);
            let mut found = 0u64;
            let fit = self.prep.fit_test(total);
            for &o in options {
                if found == zm {
                    // Every allowed zone found.
                    break;
                }
                let pt = &self.prep.pool_types[o as usize];
                if !fit.fits(o as usize) {
                    continue;
                }
                for &(z, c) in &pt.offer_bits {
                    if c & cm != 0 {
                        found |= z & zm;
                    }
                }
            }
            return self
                .prep
                .zones
                .iter()
                .enumerate()
                .filter(|(i, _)| found & (1u64 << i) != 0)
                .map(|(_, z)| z.clone())
                .collect();
        }
        let fit = self.prep.fit_test(total);
        options
            .iter()
            .filter(|&&o| fit.fits(o as usize))
            .flat_map(|&o| option_values(self.prep, o, reqs, key))
            .collect()
    }

    /// Cheap checks of a claim for a pod, without allocating: room in its largest
    /// option, pool taints, hostname topology, pinned domains and pinned requirements.
    ///
    /// `scan` memoizes, for one pod, the per-pool and per-domain answers that do not
    /// depend on the claim (topology counts do not change while claims are scanned).
    pub(super) fn claim_plausible<'s>(
        &self,
        pod: &Pod,
        view: &View,
        pg: &'s PodGroups,
        cl: &'s Claim,
        scan: &mut ScanMemo<'s>,
    ) -> bool {
        if !pod.requests.fits_with(&cl.requested, &cl.max_cap) {
            return false;
        }
        if self.policy.growth_factor.is_some()
            && cl.growth_refusals.get() >= 3
            && !pod.requests.fits_with(&cl.requested, &cl.target_cap)
        {
            return false;
        }
        let tainted = *scan.pool_tainted.entry(cl.pool).or_insert_with(|| {
            let np = &self.prep.problem.nodepools[cl.pool];
            taint_blocking(&np.taints, &view.tolerations, view.strict_prefer).is_some()
        });
        if tainted {
            return false;
        }
        if self.topo.host_ok(pod, pg, &cl.host).is_err() {
            return false;
        }
        for (k, vs) in &view.term.keys {
            if let Some(v) = cl
                .reqs
                .get_ref(k)
                .filter(|v| v.len() == Some(1))
                .and_then(|v| v.any_value())
            {
                if !vs.has(v) {
                    return false;
                }
            }
        }
        for k in &pg.keys {
            let pinned = if k == labels::ZONE {
                cl.zone.as_deref()
            } else {
                cl.reqs
                    .get_ref(k)
                    .filter(|v| v.len() == Some(1))
                    .and_then(|v| v.any_value())
            };
            if let Some(d) = pinned {
                let ok = match scan.domains.iter().find(|(mk, md, _)| *mk == k && *md == d) {
                    Some(&(_, _, ok)) => ok,
                    None => {
                        let ok = self.topo.allows_one(pod, pg, k, d).is_ok();
                        scan.domains.push((k, d, ok));
                        ok
                    }
                };
                if !ok {
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn try_claims(
        &self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(usize, Requirements, Option<Vec<u32>>), Option<Reason>> {
        let mut last = None;
        let blockers = self.topo.host_blockers(pg);
        let mut scan = ScanMemo::default();
        // Zones the pod's zone topology rules out: claims pinned there are skipped
        // without being read (topology counts do not change during the scan).
        let mut zone_ok = u64::MAX;
        if pg.keys.iter().any(|k| k == labels::ZONE) {
            for (i, z) in self.prep.zones.iter().enumerate().take(64) {
                if self.topo.allows_one(pod, pg, labels::ZONE, z).is_err() {
                    zone_ok &= !(1u64 << i);
                }
            }
        }
        // The claims the pod's hostname rules block, as one bit set.
        let blocked = self.blocks.union(&blockers);
        // Karpenter: the first claim that takes the pod, fewest pods first.
        for &c in &self.claim_order {
            let z = self.claim_zone[c];
            if z != NO_ZONE && zone_ok & (1u64 << z) == 0 {
                continue;
            }
            if blocked
                .get(c / 64)
                .is_some_and(|w| w & (1 << (c % 64)) != 0)
            {
                continue;
            }
            let cl = &self.claims[c];
            if !self.claim_plausible(pod, view, pg, cl, &mut scan) {
                continue;
            }
            match self.fit_claim(
                pod,
                view,
                pg,
                universes,
                &cl.reqs,
                &cl.options,
                &cl.requested,
                false,
                &cl.min_cap,
                cl.floor,
            ) {
                Ok((r, o)) if self.policy.growth_factor.is_some() => {
                    // The option the claim would launch after growing must keep the pool
                    // within its limits.
                    let np = &self.prep.problem.nodepools[cl.pool];
                    // (A pool without limits takes it: no need for the option's price.)
                    if np.limits.is_empty() {
                        return Ok((c, r, o));
                    }
                    let grown = self
                        .prep
                        .cheapest_option(&r, o.as_deref().unwrap_or(&cl.options))
                        .map(|x| {
                            self.prep.pool_types[x as usize]
                                .capacity
                                .saturating_sub(&cl.reserved)
                        })
                        .unwrap_or_default();
                    if grown.is_zero()
                        || self.limits.exceeded(&np.limits, cl.pool, &grown).is_none()
                    {
                        return Ok((c, r, o));
                    }
                    last = Some(Reason::Limits(format!(
                        "node pool {}: limits reached",
                        np.name
                    )));
                }
                Ok((r, o)) => return Ok((c, r, o)),
                Err(e) => {
                    if matches!(&e, Reason::Resources(m) if m == GROWTH_REFUSED) {
                        cl.growth_refusals.set(cl.growth_refusals.get() + 1);
                        if cl.growth_refusals.get() == MAX_GROWTH_REFUSALS {
                            self.closing.borrow_mut().push(c);
                        }
                    }
                    last = Some(e)
                }
            }
        }
        Err(last)
    }

    pub(super) fn new_claim(
        &mut self,
        pod: &Pod,
        view: &View,
        pg: &PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
        pool: usize,
    ) -> Result<(Requirements, Option<Vec<u32>>), Reason> {
        let np = &self.prep.problem.nodepools[pool];
        let compat = self
            .cache
            .get(
                self.prep,
                pool,
                &view.term,
                &view.tolerations,
                view.strict_prefer,
            )
            .clone()?;
        let host = HostCounts::default();
        self.topo
            .host_ok(pod, pg, &host)
            .map_err(|r| Reason::Topology(format!("node pool {}: {r}", np.name)))?;
        // Karpenter drops instance types whose capacity would exceed the pool's
        // remaining limits.
        // (Limits only bound sums from above: room for the pool's largest pair in every
        // dimension is room for any of them.)
        let first = compat.first().copied();
        let within: Vec<u32> =
            if self
                .limits
                .allows(&np.limits, pool, &self.prep.pools[pool].max_capacity)
            {
                compat
            } else {
                compat
                    .into_iter()
                    .filter(|&o| {
                        self.limits.allows(
                            &np.limits,
                            pool,
                            &self.prep.pool_types[o as usize].capacity,
                        )
                    })
                    .collect()
            };
        if within.is_empty() {
            let why = first
                .and_then(|o| {
                    self.limits.exceeded(
                        &np.limits,
                        pool,
                        &self.prep.pool_types[o as usize].capacity,
                    )
                })
                .unwrap_or_default();
            return Err(Reason::Limits(format!(
                "node pool {}: limits reached ({why})",
                np.name
            )));
        }
        self.fit_claim(
            pod,
            view,
            pg,
            universes,
            &self.prep.pools[pool].reqs,
            &within,
            &Resources::default(),
            true,
            &[0; 4],
            i64::MAX,
        )
        .map_err(|e| e.map_text(|m| format!("node pool {}: {m}", np.name)))
    }

    pub(super) fn commit_claim(
        &mut self,
        pi: usize,
        c: usize,
        reqs: Requirements,
        options: Option<Vec<u32>>,
        pg: &PodGroups,
    ) {
        let pod = &self.prep.problem.pending[pi];
        // Unchanged options under the same offering masks keep the same largest
        // capacity and cheapest option: nothing to recompute.
        let options = options.filter(|o| {
            let cl = &self.claims[c];
            *o != cl.options
                || cl.pods.is_empty()
                || self.prep.offer_masks(&reqs) != self.prep.offer_masks(&cl.reqs)
        });
        if let Some(options) = options {
            let masks = self.prep.offer_masks(&reqs);
            let key = BoundsMemo::hash((BoundsMemo::sample(&options), masks));
            let ((max_cap, min_cap), floor, cheapest) = self
                .bounds_memo
                .get(key, |(o, m)| *m == masks && *o == options)
                .unwrap_or_else(|| {
                    let found = (
                        claim_bounds(self.prep, &options),
                        floor_of(self.prep, &options),
                        self.prep.cheapest_option(&reqs, &options),
                    );
                    self.bounds_memo
                        .insert(key, (options.clone(), masks), found.clone());
                    found
                });
            self.claims[c].cheapest = cheapest;
            let cheapest = cheapest.map(|o| &self.prep.pool_types[o as usize]);
            let target = cheapest.map(|p| p.usable.clone()).unwrap_or_default();
            if self.policy.growth_factor.is_some() {
                let cap = cheapest.map(|p| p.capacity.clone()).unwrap_or_default();
                let cl = &mut self.claims[c];
                self.limits.remove(cl.pool, &cl.reserved);
                self.limits.add(cl.pool, &cap);

                cl.reserved = cap;
            }
            let cl = &mut self.claims[c];
            cl.min_cap = min_cap;
            cl.floor = floor;
            cl.options = options;
            cl.max_cap = max_cap;
            cl.target_cap = target;
        }
        let cl = &mut self.claims[c];
        cl.zone = reqs
            .get_ref(labels::ZONE)
            .filter(|v| v.len() == Some(1))
            .and_then(|v| v.any_value().map(str::to_string));
        self.claim_zone[c] = cl
            .zone
            .as_ref()
            .and_then(|z| self.prep.zones.binary_search(z).ok())
            .filter(|&i| i < 64)
            .map_or(NO_ZONE, |i| i as u8);
        cl.reqs = reqs;
        cl.requested.saturating_add_assign(&pod.requests);
        cl.pods.push(pi);
        let hostname = cl.hostname.clone();
        let creqs = &cl.reqs;
        self.topo
            .record(pi, pod, required_anti(pod, pg), &mut cl.host, &|k| {
                if k == HOSTNAME_KEY {
                    return Some(hostname.clone());
                }
                creqs
                    .get_ref(k)
                    .filter(|v| v.len() == Some(1))
                    .and_then(|v| v.any_value().map(str::to_string))
            });
        for &(g, count, owners) in cl.host.entries() {
            if let Some(limit) = self.topo.host_limit(g as usize) {
                HostBlocks::set(&mut self.blocks.by_count, g as usize, c, count >= limit);
                HostBlocks::set(&mut self.blocks.by_owner, g as usize, c, owners > 0);
            }
        }
        // Keep the first-fit order: fewest pods first, then creation order. The claim
        // gained a pod, so it moves right, past the claims now ordered before it (a
        // rotation of that stretch only: the order can hold thousands of claims).
        let n = cl.pods.len();
        let claims = &self.claims;
        let key = |x: usize| {
            if x == c {
                (n - 1, x)
            } else {
                (claims[x].pods.len(), x)
            }
        };
        let found = self.claim_order.partition_point(|&x| key(x) < (n - 1, c));
        let pos = if self.claim_order.get(found) == Some(&c) {
            Some(found)
        } else {
            self.claim_order.iter().position(|&x| x == c)
        };
        if let Some(pos) = pos {
            let k = self.claim_order[pos + 1..]
                .partition_point(|&x| (claims[x].pods.len(), x) < (n, c));
            self.claim_order[pos..=pos + k].rotate_left(1);
        }
        self.placed[pi] = Some(Placement::Claim(c));
        self.order.push(pi);
    }
}

/// The values of `key` a pair could give a node under the requirements: zones and
/// capacity types from its offerings, other keys from its requirements.
pub fn option_values(prep: &Prepared, o: u32, reqs: &Requirements, key: &str) -> Vec<String> {
    let pt = &prep.pool_types[o as usize];
    if key == labels::ZONE {
        let mut v: Vec<String> = pt.offerings_for(reqs).map(|o| o.zone.clone()).collect();
        v.dedup();
        v
    } else if key == labels::CAPACITY_TYPE {
        let mut v: Vec<String> = pt
            .offerings_for(reqs)
            .map(|o| o.capacity_type.as_str().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    } else {
        let own = pt.reqs.get(key).intersect(&reqs.get(key));
        if own.complement {
            vec![]
        } else {
            own.values.into_iter().collect()
        }
    }
}

/// Element-wise maximum of the usable capacity of a set of pairs.
pub fn max_capacity_usable(prep: &Prepared, options: &[u32]) -> Resources {
    cap_bounds(prep, options).0
}

/// In one pass over the options: [`max_capacity_usable`], and the element-wise minimum
/// of their usable (cpu, memory, storage, pods) (all zeros for none: no quick
/// acceptance).
pub(super) fn cap_bounds(prep: &Prepared, options: &[u32]) -> (Resources, [u64; 4]) {
    if options.is_empty() {
        return (Resources::default(), [0; 4]);
    }
    let (mut hi, mut lo) = ([0u64; 4], [u64::MAX; 4]);
    let mut extended = false;
    for &o in options {
        extended |= prep.has_extended(o as usize);
        for ((h, l), b) in hi
            .iter_mut()
            .zip(lo.iter_mut())
            .zip(prep.caps_of(o as usize))
        {
            *h = (*h).max(*b);
            *l = (*l).min(*b);
        }
    }
    let mut max = crate::prep::from_plain_dims(hi);
    if extended {
        // Extended resources (GPUs...) from the few options that have any.
        max.extended = prep.max_extended(options, true);
    }
    (max, lo)
}

/// The least cheapest-offering price of the options (`Claim::floor`).
pub(super) fn floor_of(prep: &Prepared, options: &[u32]) -> i64 {
    options
        .iter()
        .map(|&o| prep.min_price_of(o as usize))
        .min()
        .unwrap_or(i64::MAX)
}

/// [`cap_bounds`] for a claim's `max_cap`, which only pending pods' requests are checked
/// against: without extended resources when no pending pod requests any.
pub(super) fn claim_bounds(prep: &Prepared, options: &[u32]) -> (Resources, [u64; 4]) {
    if prep.pending_extended {
        return cap_bounds(prep, options);
    }
    if options.is_empty() {
        return (Resources::default(), [0; 4]);
    }
    let (mut hi, mut lo) = ([0u64; 4], [u64::MAX; 4]);
    for &o in options {
        for ((h, l), b) in hi
            .iter_mut()
            .zip(lo.iter_mut())
            .zip(prep.caps_of(o as usize))
        {
            *h = (*h).max(*b);
            *l = (*l).min(*b);
        }
    }
    (crate::prep::from_plain_dims(hi), lo)
}

/// Answers memoized while one pod scans the claims (see `Engine::claim_plausible`).
#[derive(Default)]
pub(super) struct ScanMemo<'a> {
    /// Pool -> whether its taints block the pod.
    pool_tainted: BTreeMap<usize, bool>,
    /// (topology key, pinned domain, allowed).
    domains: Vec<(&'a str, &'a str, bool)>,
}
