//! Preparation shared by every strategy: the launchable (node pool, instance type)
//! pairs with their node requirements and usable capacity, and pod-to-pool compatibility.

use crate::Problem;
use crate::Reason;
use nodepack_model::taints::{first_untolerated, untolerated_preferred};
use nodepack_model::{
    labels, CapacityType, Catalog, InstanceType, Limits, NodePool, Offering, Requirements,
    Resources, Taint, Toleration, ValueSet,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A launchable pair of node pool and instance type.
#[derive(Clone, Debug)]
pub struct PoolType {
    /// Index of the pool in the problem.
    pub pool: usize,
    /// Index of the instance type in the catalog.
    pub ty: usize,
    /// Instance type name.
    pub name: String,
    /// Capacity (for pool limits).
    pub capacity: Resources,
    /// Allocatable minus the pool's daemonset overhead: what pods can use.
    pub usable: Resources,
    /// The node requirements a node of this pair would satisfy: pool requirements and
    /// labels, the type's labels, and the zones and capacity types of its offerings.
    pub reqs: Requirements,
    /// Available offerings allowed by the pool.
    pub offerings: Vec<Offering>,
    /// Labels a node gets (type labels and pool labels; zone and capacity type are added
    /// when an offering is chosen).
    pub labels: BTreeMap<String, String>,
    /// The distinct zones of its offerings, sorted.
    pub zones: Vec<String>,
    /// Its cheapest offering's price, micro-dollars (a proxy for claim growth decisions).
    pub min_price: i64,
    /// Each offering as (zone bit, capacity type bit), for mask checks
    /// ([`Prepared::offer_masks`]); filled by [`PoolCatalog::new`].
    pub offer_bits: Vec<(u64, u8)>,
    /// A metal size, or a type with GPUs or accelerators (Karpenter launches those only
    /// when nothing else fits).
    pub exotic: bool,
}

impl PoolType {
    /// Available offerings compatible with the requirements (zone and capacity type).
    pub fn offerings_for<'a>(
        &'a self,
        reqs: &'a Requirements,
    ) -> impl Iterator<Item = &'a Offering> + 'a {
        self.offerings_in(
            reqs.get_ref(labels::ZONE),
            reqs.get_ref(labels::CAPACITY_TYPE),
        )
    }

    /// Available offerings in the allowed zones and capacity types (`None`: any).
    pub fn offerings_in<'a>(
        &'a self,
        zone: Option<&'a ValueSet>,
        ct: Option<&'a ValueSet>,
    ) -> impl Iterator<Item = &'a Offering> + 'a {
        self.offerings.iter().filter(move |o| {
            zone.is_none_or(|z| z.has(&o.zone))
                && ct.is_none_or(|c| c.has(o.capacity_type.as_str()))
        })
    }
}

/// A node pool with the index range of its pairs.
#[derive(Clone, Debug)]
pub struct PoolInfo {
    /// Index in the problem.
    pub index: usize,
    /// The pairs of this pool: `pool_types[start..end]`.
    pub start: usize,
    /// End of the range.
    pub end: usize,
    /// The pool's node requirements (requirements, labels, name).
    pub reqs: Requirements,
    /// The element-wise largest capacity of its pairs: when the pool's limits allow a
    /// node this large, they allow a node of every pair.
    pub max_capacity: Resources,
    /// When the pool has no pair: what rules every instance type out.
    pub why_empty: Option<String>,
}

/// Everything precomputed from the node pools and the catalog alone: build it once with
/// [`PoolCatalog::new`] and share it (via [`Prepared::with_pairs`]) across many problems with
/// the same pools and catalog, as the simulator does.
#[derive(Clone, Debug)]
pub struct PoolCatalog {
    /// All pairs, grouped by pool.
    pub pool_types: Vec<PoolType>,
    /// Pools, in the problem's order.
    pub pools: Vec<PoolInfo>,
    /// Pool indices in Karpenter's order: weight descending, then name.
    pub pool_order: Vec<usize>,
    /// Zone names by bit index (at most 64 zones get a bit; others share the last).
    pub zones: Vec<String>,
    /// Each pair's usable capacity as (cpu, memory, ephemeral storage, pods), in one
    /// contiguous array for the hot fit tests.
    caps: Vec<[u64; 4]>,
    /// Each pair's full capacity as (cpu, memory, ephemeral storage, pods), likewise.
    capacities: Vec<[u64; 4]>,
    /// Each pair's `min_price`, contiguous likewise.
    min_price: Vec<i64>,
    /// The extended resource names of every pair's usable or full capacity, sorted.
    ext_names: Vec<String>,
    /// Each pair's usable extended resources (GPUs...) as (index in `ext_names`,
    /// quantity); empty for a pair without any.
    ext_usable: Vec<Vec<(u32, u64)>>,
    /// Each pair's full-capacity extended resources, likewise.
    ext_capacity: Vec<Vec<(u32, u64)>>,
    /// Pair indices by cheapest offering price, ascending (ties by index).
    by_min_price: Vec<u32>,
    /// `by_min_price` less the pairs an earlier one dominates (at least their usable
    /// capacity in every resource): those are never the first that a request fits.
    /// Built on the first [`PoolCatalog::cheapest_fitting`].
    undominated: std::sync::OnceLock<Vec<u32>>,
    /// Fingerprint of the pools it was built from (checked by `Prepared::with_pairs`).
    pool_names: Vec<String>,
    /// [`CompatCache`] answers shared by every problem built on these pairs (they
    /// depend on the pools and catalog only): a pure memo, so the simulator's and
    /// consolidation's many small solves do not recompute them.
    compat_memo: std::sync::Arc<std::sync::Mutex<CompatMap>>,
    /// [`PoolCatalog::shared_prices`] answers, by key.
    price_memo: std::sync::Arc<std::sync::Mutex<PriceMemo>>,
    /// [`PoolCatalog::compatible_set`] answers, by pool and requirements.
    set_memo: std::sync::Arc<std::sync::Mutex<SetMemo>>,
    /// [`Prepared::min_prices`] tables, by offer masks (each problem keeps its own
    /// copies of the handles it used; this shares them across problems).
    masks_memo: std::sync::Arc<std::sync::Mutex<MasksMemo>>,
}

/// Per offer masks: every pair's cheapest price within them.
type MasksMemo = HashMap<(u64, u8), std::sync::Arc<Vec<Option<i64>>>>;

/// At most this many price tables are shared (a table per zone and capacity-type
/// combination a claim can pin; the memo starts over when full).
const MASKS_MEMO_MAX: usize = 64;

/// Bit sets of a pool's pairs compatible with node requirements.
type SetMemo = HashMap<(usize, Requirements), std::sync::Arc<Vec<u64>>>;

/// Per-pair prices by capacity rank, under the key of the settings that derived them.
type PriceMemo = Vec<((u64, i64), std::sync::Arc<Vec<[f64; 3]>>)>;

/// Price tables kept at most (the memo starts over beyond).
const PRICE_MEMO_MAX: usize = 8;

type CompatKey = (usize, Requirements, Vec<Toleration>, bool);
type CompatMap = HashMap<CompatKey, Result<Vec<u32>, Reason>>;

/// Shared compatibility answers kept at most (the memo starts over beyond).
const COMPAT_MEMO_MAX: usize = 4096;

/// A problem with its [`PoolCatalog`] and per-problem memos.
#[derive(Clone, Debug)]
pub struct Prepared<'a> {
    /// The problem.
    pub problem: Problem<'a>,
    /// The pairs of the problem's pools and catalog.
    pairs: std::sync::Arc<PoolCatalog>,
    /// Cheapest offering price of every pair within given offer masks, computed once
    /// per distinct masks (there are few: zones x capacity types a claim can pin).
    min_prices: std::cell::RefCell<HashMap<(u64, u8), std::sync::Arc<Vec<Option<i64>>>>>,
    /// Per offer masks, the pairs with an offering, cheapest first (ties by index).
    by_price: std::cell::RefCell<HashMap<(u64, u8), std::rc::Rc<Vec<u32>>>>,
    /// Does some pending pod request an extended resource (GPUs...)? When none does, a
    /// claim's extended capacity is never looked at.
    pub(crate) pending_extended: bool,
}

impl std::ops::Deref for Prepared<'_> {
    type Target = PoolCatalog;
    fn deref(&self) -> &PoolCatalog {
        &self.pairs
    }
}

/// Is a pod requirement term compatible with node requirements? Keys the node does not
/// define must allow absence.
pub fn term_compatible(term: &Requirements, node: &Requirements) -> bool {
    first_conflict(term, node).is_none()
}

/// The first key of `term` that `node` cannot satisfy, with a description.
pub fn term_conflict(term: &Requirements, node: &Requirements) -> Option<String> {
    let (k, vs, a) = first_conflict(term, node)?;
    Some(match a {
        Some(a) => format!("requirement {k} {vs} conflicts with {a}"),
        None => {
            let near = labels::nearest_known_key(k)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            format!("requirement {k} {vs}: label not set on such nodes{near}")
        }
    })
}

/// The first key of `term` that `node` cannot satisfy: the key, the term's values and
/// the node's (none when the node does not set the key). Nothing is formatted: most
/// callers only ask whether there is one.
fn first_conflict<'a>(
    term: &'a Requirements,
    node: &'a Requirements,
) -> Option<(&'a str, &'a ValueSet, Option<&'a ValueSet>)> {
    term.keys.iter().find_map(|(k, vs)| match node.get_ref(k) {
        Some(a) => (!a.overlaps(vs)).then_some((k.as_str(), vs, Some(a))),
        None => (!vs.allow_absent).then_some((k.as_str(), vs, None)),
    })
}

/// Do the tolerations tolerate the taints? With `strict_prefer`, PreferNoSchedule taints
/// block too (Karpenter treats them as required until its last relaxation step).
pub fn taint_blocking<'t>(
    taints: &'t [Taint],
    tolerations: &[Toleration],
    strict_prefer: bool,
) -> Option<&'t Taint> {
    first_untolerated(taints, tolerations).or_else(|| {
        if strict_prefer {
            untolerated_preferred(taints, tolerations)
        } else {
            None
        }
    })
}

/// Does instance type `t` meet a pool requirement `k vs`? Keys the type defines, and
/// well-known keys, must match its label; other keys are custom labels of the node.
fn type_label_allowed(t: &InstanceType, k: &str, vs: &ValueSet) -> bool {
    !(labels::is_well_known(k) || t.labels.contains_key(k))
        || vs.matches(t.labels.get(k).map(String::as_str))
}

/// Is offering `o` available in a zone and capacity type `reqs` allow?
fn offering_allowed(reqs: &Requirements, o: &Offering) -> bool {
    o.available
        && reqs.get_ref(labels::ZONE).is_none_or(|z| z.has(&o.zone))
        && reqs
            .get_ref(labels::CAPACITY_TYPE)
            .is_none_or(|c| c.has(o.capacity_type.as_str()))
}

/// Why `pool` has no instance type of `catalog` (called only when [`pool_type`] kept
/// none): the first rule that leaves nothing, in the order [`pool_type`] applies them,
/// naming the requirement, the zone or capacity type, or the daemonset overhead.
fn why_no_type(catalog: &Catalog, pool: &NodePool) -> String {
    if catalog.instance_types.is_empty() {
        return "the catalog has no instance types".into();
    }
    let types = &catalog.instance_types;
    let mut left: Vec<&InstanceType> = types.iter().collect();
    for (k, vs) in &pool.requirements.keys {
        let allowed = |t: &&InstanceType| -> bool {
            match k.as_str() {
                labels::ZONE => t.offerings.iter().any(|o| vs.has(&o.zone)),
                labels::CAPACITY_TYPE => {
                    t.offerings.iter().any(|o| vs.has(o.capacity_type.as_str()))
                }
                labels::NODEPOOL => true,
                _ => type_label_allowed(t, k, vs),
            }
        };
        if !types.iter().any(|t| allowed(&t)) {
            let known: BTreeSet<&str> = match k.as_str() {
                labels::ZONE => types
                    .iter()
                    .flat_map(|t| t.offerings.iter().map(|o| o.zone.as_str()))
                    .collect(),
                labels::CAPACITY_TYPE => types
                    .iter()
                    .flat_map(|t| t.offerings.iter().map(|o| o.capacity_type.as_str()))
                    .collect(),
                _ => types
                    .iter()
                    .filter_map(|t| t.labels.get(k).map(String::as_str))
                    .collect(),
            };
            let hint = if known.is_empty() {
                let near = labels::nearest_known_key(k)
                    .map(|n| format!("; did you mean {n}?"))
                    .unwrap_or_default();
                format!("no instance type of the catalog has the label {k}{near}")
            } else {
                let some: Vec<&str> = known.iter().take(8).copied().collect();
                let more = if known.len() > 8 {
                    format!(", ... ({} values)", known.len())
                } else {
                    String::new()
                };
                format!("the catalog has {}{more}", some.join(", "))
            };
            return format!(
                "its requirement {k} {vs} allows no instance type of the catalog ({hint})"
            );
        }
        left.retain(allowed);
    }
    if left.is_empty() {
        return "its requirements together allow no instance type of the catalog (each alone allows some)".into();
    }
    let node_reqs = pool.node_requirements();
    left.retain(|t| t.offerings.iter().any(|o| offering_allowed(&node_reqs, o)));
    if left.is_empty() {
        return "no instance type its requirements allow has an available offering in the zones and capacity types it allows".into();
    }
    // The pool's own labels (and name) against each type's labels, as `pool_type` does.
    let mut conflict = None;
    left.retain(|t| {
        let mut reqs = node_reqs.clone();
        for (k, v) in &t.labels {
            reqs.add(k, ValueSet::in_values([v.clone()]));
        }
        match reqs.unsatisfiable_key() {
            Some(k) => {
                conflict.get_or_insert_with(|| k.to_string());
                false
            }
            None => true,
        }
    });
    if left.is_empty() {
        let k = conflict.unwrap_or_default();
        return format!(
            "its node labels conflict with every instance type its requirements allow (on {k}: the pool sets {})",
            pool.labels.get(&k).map_or("a requirement", String::as_str)
        );
    }
    let largest = left
        .iter()
        .map(|t| {
            if pool.kubelet == Default::default() {
                t.allocatable()
            } else {
                t.with_kubelet(&pool.kubelet).allocatable()
            }
        })
        .max_by_key(|a| (a.cpu, a.memory));
    let short = largest
        .as_ref()
        .and_then(|a| pool.daemonset_overhead.shortfall(a))
        .map(|s| format!(": on the largest, {s}"))
        .unwrap_or_default();
    format!(
        "its daemonsets' overhead ({}) does not fit the allocatable of any instance type its requirements allow{short}",
        pool.daemonset_overhead
    )
}

fn pool_type(
    catalog: &Catalog,
    pi: usize,
    pool: &NodePool,
    pool_reqs: &Requirements,
    ti: usize,
    t: &InstanceType,
) -> Option<PoolType> {
    // Pool requirements on keys the instance type defines (or on well-known keys) must be
    // satisfied by the type's labels.
    for (k, vs) in &pool.requirements.keys {
        if k == labels::ZONE || k == labels::CAPACITY_TYPE || k == labels::NODEPOOL {
            continue;
        }
        if !type_label_allowed(t, k, vs) {
            return None;
        }
    }
    let mut reqs = pool_reqs.clone();
    for (k, v) in &t.labels {
        reqs.add(k, ValueSet::in_values([v.clone()]));
    }
    if let Some(r) = &catalog.region {
        reqs.add(labels::REGION, ValueSet::in_values([r.clone()]));
    }
    if reqs.unsatisfiable_key().is_some() {
        return None;
    }
    let offerings: Vec<Offering> = t
        .offerings
        .iter()
        .filter(|o| offering_allowed(pool_reqs, o))
        .cloned()
        .collect();
    if offerings.is_empty() {
        return None;
    }
    let zones: BTreeSet<String> = offerings.iter().map(|o| o.zone.clone()).collect();
    let cts: BTreeSet<&str> = offerings.iter().map(|o| o.capacity_type.as_str()).collect();
    reqs.add(labels::ZONE, ValueSet::in_values(zones.clone()));
    reqs.add(labels::CAPACITY_TYPE, ValueSet::in_values(cts));
    let it = if pool.kubelet == Default::default() {
        None
    } else {
        Some(t.with_kubelet(&pool.kubelet))
    };
    let it_ref = it.as_ref().unwrap_or(t);
    // A type whose allocatable cannot hold the daemonsets is of no use (Karpenter drops it).
    let cap = it_ref.allocatable().checked_sub(&pool.daemonset_overhead)?;
    let mut node_labels = t.labels.clone();
    for (k, v) in &pool.labels {
        node_labels.insert(k.clone(), v.clone());
    }
    node_labels.insert(labels::NODEPOOL.into(), pool.name.clone());
    if let Some(r) = &catalog.region {
        node_labels.insert(labels::REGION.into(), r.clone());
    }
    // A requirement on a key neither the type nor the pool's labels set (a custom key)
    // labels the node with one value it allows, as Karpenter labels a NodeClaim from its
    // requirements; the pair then offers exactly that value.
    for (k, vs) in &pool.requirements.keys {
        if k == labels::ZONE || k == labels::CAPACITY_TYPE || node_labels.contains_key(k) {
            continue;
        }
        if let Some(v) = vs.representative() {
            reqs.add(k, ValueSet::in_values([v.clone()]));
            node_labels.insert(k.clone(), v);
        }
    }
    let min_price = offerings.iter().map(|o| o.price.0).min().unwrap_or(0);
    let exotic = crate::karpenter::exotic_type(&node_labels, &it_ref.capacity);
    Some(PoolType {
        pool: pi,
        ty: ti,
        name: t.name.clone(),
        capacity: it_ref.capacity.clone(),
        usable: cap,
        reqs,
        offerings,
        labels: node_labels,
        zones: zones.into_iter().collect(),
        min_price,
        offer_bits: vec![],
        exotic,
    })
}

impl PoolCatalog {
    /// Build the pairs of every pool with the catalog.
    pub fn new(nodepools: &[NodePool], catalog: &Catalog) -> Self {
        let mut pool_types = Vec::new();
        let mut pools = Vec::new();
        for (pi, pool) in nodepools.iter().enumerate() {
            let start = pool_types.len();
            let reqs = pool.node_requirements();
            for (ti, t) in catalog.instance_types.iter().enumerate() {
                if let Some(pt) = pool_type(catalog, pi, pool, &reqs, ti, t) {
                    pool_types.push(pt);
                }
            }
            let why_empty = (start == pool_types.len()).then(|| why_no_type(catalog, pool));
            pools.push(PoolInfo {
                index: pi,
                start,
                end: pool_types.len(),
                reqs,
                max_capacity: max_of(pool_types[start..].iter().map(|p| &p.capacity)),
                why_empty,
            });
        }
        let mut pool_order: Vec<usize> = (0..nodepools.len()).collect();
        pool_order.sort_by(|a, b| {
            let (pa, pb) = (&nodepools[*a], &nodepools[*b]);
            pb.weight
                .cmp(&pa.weight)
                .then_with(|| pa.name.cmp(&pb.name))
        });
        let zones: Vec<String> = pool_types
            .iter()
            .flat_map(|p| p.zones.iter().cloned())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        for p in pool_types.iter_mut() {
            p.offer_bits = p
                .offerings
                .iter()
                .map(|o| {
                    let z = zones.binary_search(&o.zone).unwrap_or(0).min(63);
                    (1u64 << z, 1u8 << capacity_rank(o.capacity_type))
                })
                .collect();
        }
        let ext_names: Vec<String> = pool_types
            .iter()
            .flat_map(|p| p.usable.extended.keys().chain(p.capacity.extended.keys()))
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let ext_ids = |r: &Resources| -> Vec<(u32, u64)> {
            r.extended
                .iter()
                .filter_map(|(k, &v)| {
                    let i = ext_names.binary_search(k).ok()?;
                    Some((u32::try_from(i).ok()?, v))
                })
                .collect()
        };
        let ext_usable: Vec<Vec<(u32, u64)>> =
            pool_types.iter().map(|p| ext_ids(&p.usable)).collect();
        let ext_capacity: Vec<Vec<(u32, u64)>> =
            pool_types.iter().map(|p| ext_ids(&p.capacity)).collect();
        let mut by_min_price: Vec<u32> = (0..pool_types.len() as u32).collect();
        by_min_price.sort_by_key(|&i| (pool_types[i as usize].min_price, i));
        PoolCatalog {
            by_min_price,
            undominated: std::sync::OnceLock::new(),
            pools,
            pool_order,
            zones,
            caps: pool_types.iter().map(|p| plain_dims(&p.usable)).collect(),
            capacities: pool_types.iter().map(|p| plain_dims(&p.capacity)).collect(),
            min_price: pool_types.iter().map(|p| p.min_price).collect(),
            ext_names,
            ext_usable,
            ext_capacity,
            pool_types,
            pool_names: nodepools.iter().map(|p| p.name.clone()).collect(),
            compat_memo: Default::default(),
            price_memo: Default::default(),
            set_memo: Default::default(),
            masks_memo: Default::default(),
        }
    }

    /// The pairs of pool `pool` compatible with `reqs` ([`PoolCatalog::pool_type_compatible`]), as
    /// a bit set over the pool's pairs (bit `i - start` for pair `i`), memoized and
    /// shared by every problem built on these pairs: a pure memo.
    pub fn compatible_set(&self, pool: usize, reqs: &Requirements) -> std::sync::Arc<Vec<u64>> {
        let key = (pool, reqs.clone());
        if let Some(hit) = self.set_memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return hit;
        }
        let info = &self.pools[pool];
        let mut bits = vec![0u64; (info.end - info.start).div_ceil(64)];
        for i in info.start..info.end {
            let p = &self.pool_types[i];
            if term_compatible(reqs, &p.reqs) && p.offerings_for(reqs).next().is_some() {
                let k = i - info.start;
                bits[k / 64] |= 1u64 << (k % 64);
            }
        }
        let bits = std::sync::Arc::new(bits);
        if let Ok(mut m) = self.set_memo.lock() {
            if m.len() >= COMPAT_MEMO_MAX {
                m.clear();
            }
            m.insert(key, bits.clone());
        }
        bits
    }

    /// A per-pair table of prices by [`capacity_rank`] that `compute` derives from the
    /// pairs alone, memoized under `key` (the settings it depends on) and shared by
    /// every problem built on these pairs: a pure memo.
    pub(crate) fn shared_prices(
        &self,
        key: (u64, i64),
        compute: impl FnOnce(&PoolCatalog) -> Vec<[f64; 3]>,
    ) -> std::sync::Arc<Vec<[f64; 3]>> {
        let hit = self
            .price_memo
            .lock()
            .ok()
            .and_then(|m| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
        if let Some(v) = hit {
            return v;
        }
        let v = std::sync::Arc::new(compute(self));
        if let Ok(mut m) = self.price_memo.lock() {
            if m.len() >= PRICE_MEMO_MAX {
                m.clear();
            }
            m.push((key, v.clone()));
        }
        v
    }
}

impl PoolCatalog {
    /// Is the pair compatible with the requirements, including an offering in an allowed
    /// zone with an allowed capacity type?
    pub fn pool_type_compatible(&self, reqs: &Requirements, pt: usize) -> bool {
        let p = &self.pool_types[pt];
        term_compatible(reqs, &p.reqs) && p.offerings_for(reqs).next().is_some()
    }

    /// `r` ready to test against many pairs: [`FitTest::fits`]`(pt)` answers as
    /// `r.fits(&pool_types[pt].usable)`, with the names of `r`'s extended resources
    /// looked up once here, not once per pair.
    pub fn fit_test<'a>(&'a self, r: &'a Resources) -> FitTest<'a> {
        let mut nowhere = false;
        let mut ext = Vec::new();
        for (k, &v) in &r.extended {
            if v == 0 {
                continue;
            }
            match self.ext_names.binary_search(k) {
                Ok(i) => ext.push((i as u32, v)),
                // No pair has it: no pair fits.
                Err(_) => nowhere = true,
            }
        }
        FitTest {
            pairs: self,
            r,
            ext,
            nowhere,
        }
    }

    /// The element-wise maximum of the extended resources of `options`' usable
    /// (`usable`) or full capacity: the `extended` of [`max_of`] over them, with the
    /// names compared once, not per pair.
    pub(crate) fn max_extended(&self, options: &[u32], usable: bool) -> BTreeMap<String, u64> {
        let of = if usable {
            &self.ext_usable
        } else {
            &self.ext_capacity
        };
        let mut m: Vec<Option<u64>> = vec![None; self.ext_names.len()];
        for &o in options {
            for &(k, v) in &of[o as usize] {
                let e = &mut m[k as usize];
                *e = Some(e.map_or(v, |x| x.max(v)));
            }
        }
        m.iter()
            .zip(&self.ext_names)
            .filter_map(|(v, k)| Some((k.clone(), (*v)?)))
            .collect()
    }

    /// Does pair `pt`'s usable capacity have extended resources?
    pub fn has_extended(&self, pt: usize) -> bool {
        !self.ext_usable[pt].is_empty()
    }

    /// Pair indices by cheapest offering price, ascending (ties by index).
    pub(crate) fn by_min_price(&self) -> &[u32] {
        &self.by_min_price
    }

    /// Pair `pt`'s cheapest offering price in any zone (`PoolType::min_price`).
    pub fn min_price_of(&self, pt: usize) -> i64 {
        self.min_price[pt]
    }

    /// Pair `pt`'s usable (cpu, memory, ephemeral storage, pods), as the fit tests see it.
    pub fn caps_of(&self, pt: usize) -> &[u64; 4] {
        &self.caps[pt]
    }

    /// Does `r` fit in some pair, in any pool, with an offering cheaper than `ceiling`
    /// (micro-dollars per hour), in `zone` when given?
    pub fn fits_below(&self, r: &Resources, zone: Option<&str>, ceiling: i64) -> bool {
        let fit = self.fit_test(r);
        // The zone's bit, exact while every zone has its own.
        let bit = match zone {
            Some(z) if self.zones.len() <= 64 => {
                match self.zones.binary_search_by(|x| x.as_str().cmp(z)) {
                    Ok(i) => Some(1u64 << i),
                    Err(_) => return false,
                }
            }
            _ => None,
        };
        self.by_min_price
            .iter()
            .map(|&i| i as usize)
            .take_while(|&i| self.pool_types[i].min_price < ceiling)
            .filter(|&i| fit.fits(i))
            .any(|i| {
                let p = &self.pool_types[i];
                match (bit, zone) {
                    (Some(b), _) => p
                        .offer_bits
                        .iter()
                        .zip(&p.offerings)
                        .any(|((z, _), o)| z & b != 0 && o.price.0 < ceiling),
                    (None, Some(z)) => p
                        .offerings
                        .iter()
                        .any(|o| o.zone == z && o.price.0 < ceiling),
                    (None, None) => true,
                }
            })
    }

    /// The lowest offering price (micro-dollars per hour) of any pair, in any pool,
    /// that `r` fits in.
    pub fn cheapest_fitting(&self, r: &Resources) -> Option<i64> {
        // The first pair in price order that `r` fits is never dominated by an
        // earlier one (which `r` would fit too).
        let fit = self.fit_test(r);
        self.undominated
            .get_or_init(|| self.undominated_by_price())
            .iter()
            .map(|&i| i as usize)
            .find(|&i| fit.fits(i))
            .map(|i| self.pool_types[i].min_price)
    }

    /// Does pair `i`'s usable capacity fit in pair `j`'s (`usable.fits`)?
    pub(crate) fn usable_fits_in(&self, i: usize, j: usize) -> bool {
        self.caps[j].iter().zip(&self.caps[i]).all(|(a, b)| a >= b)
            && ext_fits(&self.ext_usable[i], &self.ext_usable[j])
    }

    /// Are pairs `i` and `j`'s usable capacities equal (`==`)?
    pub(crate) fn usable_eq(&self, i: usize, j: usize) -> bool {
        self.caps[i] == self.caps[j] && self.ext_usable[i] == self.ext_usable[j]
    }

    /// `by_min_price` without the pairs whose usable capacity an earlier pair's covers
    /// in every resource.
    fn undominated_by_price(&self) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::new();
        for &i in &self.by_min_price {
            if !kept
                .iter()
                .any(|&j| self.usable_fits_in(i as usize, j as usize))
            {
                kept.push(i);
            }
        }
        kept
    }
}

impl<'a> Prepared<'a> {
    /// Build the pairs of every pool.
    pub fn new(problem: Problem<'a>) -> Self {
        Self::with_pairs(
            std::sync::Arc::new(PoolCatalog::new(problem.nodepools, problem.catalog)),
            problem,
        )
    }

    /// Reuse pairs built for the same pools and catalog. The pools must be the ones the
    /// pairs were built from (checked by name; a mismatch rebuilds them).
    pub fn with_pairs(pairs: std::sync::Arc<PoolCatalog>, problem: Problem<'a>) -> Self {
        let same = pairs.pool_names.len() == problem.nodepools.len()
            && pairs
                .pool_names
                .iter()
                .zip(problem.nodepools)
                .all(|(a, b)| *a == b.name);
        let pairs = if same {
            pairs
        } else {
            std::sync::Arc::new(PoolCatalog::new(problem.nodepools, problem.catalog))
        };
        let pending_extended = problem
            .pending
            .iter()
            .any(|p| !p.requests.extended.is_empty());
        Prepared {
            problem,
            pairs,
            min_prices: Default::default(),
            by_price: Default::default(),
            pending_extended,
        }
    }

    /// The shared pairs (to build further problems with [`Prepared::with_pairs`]).
    pub fn pairs(&self) -> std::sync::Arc<PoolCatalog> {
        self.pairs.clone()
    }

    /// Bit masks of the zones and capacity types the requirements allow.
    pub fn offer_masks(&self, reqs: &Requirements) -> (u64, u8) {
        let zm = match reqs.get_ref(labels::ZONE) {
            None => u64::MAX,
            Some(z) => self
                .zones
                .iter()
                .enumerate()
                .filter(|(_, n)| z.has(n))
                .fold(0u64, |m, (i, _)| m | (1u64 << i.min(63))),
        };
        let cm = match reqs.get_ref(labels::CAPACITY_TYPE) {
            None => u8::MAX,
            Some(c) => [
                CapacityType::Reserved,
                CapacityType::Spot,
                CapacityType::OnDemand,
            ]
            .into_iter()
            .filter(|t| c.has(t.as_str()))
            .fold(0u8, |m, t| m | (1u8 << capacity_rank(t))),
        };
        (zm, cm)
    }

    /// The cheapest price of the pair's offerings within the masks.
    pub fn min_price_in(&self, pt: usize, masks: (u64, u8)) -> Option<i64> {
        let p = &self.pool_types[pt];
        p.offer_bits
            .iter()
            .zip(&p.offerings)
            .filter(|((z, c), _)| z & masks.0 != 0 && c & masks.1 != 0)
            .map(|(_, o)| o.price.0)
            .min()
    }

    /// The option a claim launches for capacity planning: the cheapest offering price
    /// within its requirements, ties by index (the same rule nodepack launches with).
    pub fn cheapest_option(&self, reqs: &Requirements, options: &[u32]) -> Option<u32> {
        let prices = self.min_prices(self.offer_masks(reqs));
        options
            .iter()
            .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
            .min()
            .map(|x| x.1)
    }

    /// [`Prepared::min_price_in`] of every pair, memoized per masks.
    pub fn min_prices(&self, masks: (u64, u8)) -> std::sync::Arc<Vec<Option<i64>>> {
        if let Some(v) = self.min_prices.borrow().get(&masks) {
            return v.clone();
        }
        let shared = self
            .pairs
            .masks_memo
            .lock()
            .ok()
            .and_then(|m| m.get(&masks).cloned());
        let v = shared.unwrap_or_else(|| {
            let v = std::sync::Arc::new(
                (0..self.pool_types.len())
                    .map(|pt| self.min_price_in(pt, masks))
                    .collect::<Vec<_>>(),
            );
            if let Ok(mut m) = self.pairs.masks_memo.lock() {
                if m.len() >= MASKS_MEMO_MAX {
                    m.clear();
                }
                m.insert(masks, v.clone());
            }
            v
        });
        self.min_prices.borrow_mut().insert(masks, v.clone());
        v
    }

    /// The pairs with an offering within the masks, by [`Prepared::min_prices`] and
    /// then index, memoized per masks.
    pub fn by_price(&self, masks: (u64, u8)) -> std::rc::Rc<Vec<u32>> {
        if let Some(v) = self.by_price.borrow().get(&masks) {
            return v.clone();
        }
        let prices = self.min_prices(masks);
        let mut keyed: Vec<(i64, u32)> = prices
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (p, i as u32)))
            .collect();
        keyed.sort_unstable();
        let v = std::rc::Rc::new(keyed.into_iter().map(|k| k.1).collect::<Vec<_>>());
        self.by_price.borrow_mut().insert(masks, v.clone());
        v
    }

    /// Does the pair have an offering within the masks?
    pub fn has_offering(&self, pt: usize, masks: (u64, u8)) -> bool {
        self.pool_types[pt]
            .offer_bits
            .iter()
            .any(|&(z, c)| z & masks.0 != 0 && c & masks.1 != 0)
    }

    /// Like [`PoolCatalog::pool_type_compatible`], but only the keys of `changed` are checked
    /// against the pair (the pair is known to satisfy the rest of `reqs`); offerings are
    /// checked against all of `reqs`.
    pub fn pt_compatible_delta(
        &self,
        reqs: &Requirements,
        changed: &Requirements,
        pt: usize,
    ) -> bool {
        self.pt_labels_ok(reqs, changed, pt) && self.has_offering(pt, self.offer_masks(reqs))
    }

    /// The label part of [`Prepared::pt_compatible_delta`]: the pair's labels allow
    /// `reqs` on each key of `changed` (zone and capacity type are left to the
    /// offerings).
    pub fn pt_labels_ok(&self, reqs: &Requirements, changed: &Requirements, pt: usize) -> bool {
        let p = &self.pool_types[pt];
        changed.keys.iter().all(|(k, _)| {
            // Zone and capacity type are checked through the offerings.
            if k == labels::ZONE || k == labels::CAPACITY_TYPE {
                return true;
            }
            let Some(vs) = reqs.get_ref(k) else {
                return true;
            };
            match p.reqs.get_ref(k) {
                Some(a) => a.overlaps(vs),
                None => vs.allow_absent,
            }
        })
    }

    /// Check `minValues` of the requirements against a set of options: each key with a
    /// minimum needs that many distinct values among the options' labels.
    pub fn min_values_ok(&self, reqs: &Requirements, options: &[u32]) -> Option<String> {
        for (k, m) in &reqs.min_values {
            let mut vals: BTreeSet<&str> = BTreeSet::new();
            for &o in options {
                let pt = &self.pool_types[o as usize];
                if k == labels::ZONE {
                    vals.extend(pt.offerings_for(reqs).map(|o| o.zone.as_str()));
                } else if k == labels::CAPACITY_TYPE {
                    vals.extend(pt.offerings_for(reqs).map(|o| o.capacity_type.as_str()));
                } else if let Some(v) = pt.labels.get(k) {
                    vals.insert(v);
                }
                if vals.len() >= *m as usize {
                    break;
                }
            }
            if vals.len() < *m as usize {
                return Some(format!(
                    "minValues {m} of {k} not met: only {} value(s) left among the instance types that fit",
                    vals.len()
                ));
            }
        }
        None
    }
}

/// Remaining pool limits, as Karpenter tracks them while it schedules.
#[derive(Clone, Debug)]
pub struct LimitTracker {
    used: Vec<(Resources, u64)>,
}

impl LimitTracker {
    /// Start from the capacity of the pools' existing nodes.
    pub fn new(prep: &Prepared) -> Self {
        let mut used = vec![(Resources::default(), 0u64); prep.problem.nodepools.len()];
        for n in prep.problem.nodes {
            let Some(pool) = &n.node.nodepool else {
                continue;
            };
            let Some(pi) = prep.problem.nodepools.iter().position(|p| &p.name == pool) else {
                continue;
            };
            let cap = prep
                .problem
                .catalog
                .get(&n.node.instance_type)
                .map(|t| t.capacity.clone())
                .unwrap_or_else(|| n.node.allocatable.clone());
            used[pi].0.saturating_add_assign(&cap);
            used[pi].1 += 1;
        }
        LimitTracker { used }
    }

    /// Would adding a node with this capacity exceed the pool's limits? Returns which.
    pub fn exceeded(&self, limits: &Limits, pool: usize, capacity: &Resources) -> Option<String> {
        if self.allows(limits, pool, capacity) {
            return None;
        }
        let (u, n) = &self.used[pool];
        limits.exceeded_by(&u.saturating_add(capacity), n + 1)
    }

    /// Would adding a node with this capacity keep the pool within its limits? (The test
    /// of [`LimitTracker::exceeded`] without the message, for loops over options.)
    pub fn allows(&self, limits: &Limits, pool: usize, capacity: &Resources) -> bool {
        if limits.is_empty() {
            return true;
        }
        let (u, n) = &self.used[pool];
        !limits.exceeded_by_sum(u, capacity, n + 1)
    }

    /// Count a new node's capacity against its pool.
    pub fn add(&mut self, pool: usize, capacity: &Resources) {
        self.used[pool].0 = self.used[pool].0.saturating_add(capacity);
        self.used[pool].1 += 1;
    }

    /// Take a node's capacity back (when a claim's options shrink, Karpenter does not;
    /// nodepack's packer does when it right-sizes).
    pub fn remove(&mut self, pool: usize, capacity: &Resources) {
        self.used[pool].0 = self.used[pool].0.saturating_sub(capacity);
        self.used[pool].1 = self.used[pool].1.saturating_sub(1);
    }
}

/// (cpu, memory, ephemeral storage, pods) of a resource list, as the flat arrays of
/// [`PoolCatalog`] hold them.
pub fn plain_dims(r: &Resources) -> [u64; 4] {
    [r.cpu.0, r.memory.0, r.ephemeral_storage.0, r.pods]
}

/// The resource list of (cpu, memory, ephemeral storage, pods), no extended resources.
pub fn from_plain_dims(d: [u64; 4]) -> Resources {
    let mut r = Resources::new(
        nodepack_model::Millicores(d[0]),
        nodepack_model::Bytes(d[1]),
    );
    r.ephemeral_storage = nodepack_model::Bytes(d[2]);
    r.pods = d[3];
    r
}

/// Element-wise maximum of resource lists, without intermediate allocations.
pub fn max_of<'r>(it: impl Iterator<Item = &'r Resources>) -> Resources {
    let mut m = Resources::default();
    for c in it {
        m.cpu = m.cpu.max(c.cpu);
        m.memory = m.memory.max(c.memory);
        m.ephemeral_storage = m.ephemeral_storage.max(c.ephemeral_storage);
        m.pods = m.pods.max(c.pods);
        for (k, v) in &c.extended {
            match m.extended.get_mut(k) {
                Some(e) => *e = (*e).max(*v),
                None => {
                    m.extended.insert(k.clone(), *v);
                }
            }
        }
    }
    m
}

/// Do `r`'s (cpu, memory, ephemeral storage, pods) fit in `c` (extended resources are
/// not looked at)?
pub fn fits_caps(r: &Resources, c: &[u64; 4]) -> bool {
    r.cpu.0 <= c[0] && r.memory.0 <= c[1] && r.ephemeral_storage.0 <= c[2] && r.pods <= c[3]
}

/// `a / b` as a fraction: 0 when `a` is, infinite when only `b` is.
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if a == 0 {
        0.0
    } else if b == 0 {
        f64::INFINITY
    } else {
        a as f64 / b as f64
    }
}

/// One request tested against many pairs ([`PoolCatalog::fit_test`]).
pub struct FitTest<'a> {
    pairs: &'a PoolCatalog,
    r: &'a Resources,
    /// The request's nonzero extended resources, by index in the catalog's names.
    ext: Vec<(u32, u64)>,
    /// It asks for an extended resource no pair has.
    nowhere: bool,
}

impl FitTest<'_> {
    /// Does the request fit in pair `pt`'s usable capacity?
    pub fn fits(&self, pt: usize) -> bool {
        !self.nowhere
            && fits_caps(self.r, &self.pairs.caps[pt])
            && ext_fits(&self.ext, &self.pairs.ext_usable[pt])
    }

    /// The pairs of `options` the request fits ([`FitTest::fits`] of each), in order:
    /// the plain dimensions compared without branches, for option lists of a
    /// thousand pairs.
    pub fn fitting(&self, options: &[u32]) -> Vec<u32> {
        if self.nowhere {
            return Vec::new();
        }
        let r = plain_dims(self.r);
        let caps = &self.pairs.caps;
        let plain = |o: u32| {
            let c = &caps[o as usize];
            (r[0] <= c[0]) & (r[1] <= c[1]) & (r[2] <= c[2]) & (r[3] <= c[3])
        };
        let ext = &self.pairs.ext_usable;
        let mut out = Vec::with_capacity(options.len());
        out.extend(options.iter().copied().filter(|&o| {
            plain(o) && (self.ext.is_empty() || ext_fits(&self.ext, &ext[o as usize]))
        }));
        out
    }

    /// The request's largest fraction of any resource of pair `pt`'s usable capacity
    /// (0 for a resource it does not ask, infinite for one the pair lacks).
    pub fn share(&self, pt: usize) -> f64 {
        if self.nowhere {
            return f64::INFINITY;
        }
        let (r, c) = (self.r, &self.pairs.caps[pt]);
        let mut s = ratio(r.cpu.0, c[0])
            .max(ratio(r.memory.0, c[1]))
            .max(ratio(r.ephemeral_storage.0, c[2]))
            .max(ratio(r.pods, c[3]));
        let have = &self.pairs.ext_usable[pt];
        for &(k, v) in &self.ext {
            let h = have.iter().find(|e| e.0 == k).map_or(0, |e| e.1);
            s = s.max(ratio(v, h));
        }
        s
    }
}

/// Do the indexed extended quantities `need` fit in `have` (a name absent from `have`
/// is none of it)?
fn ext_fits(need: &[(u32, u64)], have: &[(u32, u64)]) -> bool {
    need.iter()
        .all(|&(k, v)| v == 0 || have.iter().find(|e| e.0 == k).is_some_and(|e| v <= e.1))
}

/// Element-wise maximum of the capacities of a set of pairs (what Karpenter subtracts
/// from a pool's remaining limits for a claim that may launch any of them); extended
/// resources only when `extended` (limits that name none never look at them).
pub fn max_capacity(prep: &Prepared, options: &[u32], extended: bool) -> Resources {
    // The plain dimensions from the contiguous array; extended resources from the few
    // pairs that have any.
    let mut m = [0u64; 4];
    for &o in options {
        for (a, b) in m.iter_mut().zip(&prep.capacities[o as usize]) {
            *a = (*a).max(*b);
        }
    }
    let mut r = from_plain_dims(m);
    if !extended {
        return r;
    }
    r.extended = prep.max_extended(options, false);
    r
}

/// Cache of the pairs of a pool compatible with a pod requirement term and tolerations.
#[derive(Default, Debug)]
pub struct CompatCache {
    map: HashMap<(usize, Requirements, Vec<Toleration>, bool), Result<Vec<u32>, Reason>>,
}

impl CompatCache {
    /// The pairs of `pool` compatible with the term and tolerations (ignoring resources),
    /// or why none is.
    pub fn get(
        &mut self,
        prep: &Prepared,
        pool: usize,
        term: &Requirements,
        tolerations: &[Toleration],
        strict_prefer: bool,
    ) -> &Result<Vec<u32>, Reason> {
        let key = (pool, term.clone(), tolerations.to_vec(), strict_prefer);
        let memo = &prep.compat_memo;
        self.map.entry(key).or_insert_with_key(|key| {
            if let Some(hit) = memo.lock().ok().and_then(|m| m.get(key).cloned()) {
                return hit;
            }
            let answer = Self::compute(prep, pool, term, tolerations, strict_prefer);
            if let Ok(mut m) = memo.lock() {
                if m.len() >= COMPAT_MEMO_MAX {
                    m.clear();
                }
                m.insert(key.clone(), answer.clone());
            }
            answer
        })
    }

    fn compute(
        prep: &Prepared,
        pool: usize,
        term: &Requirements,
        tolerations: &[Toleration],
        strict_prefer: bool,
    ) -> Result<Vec<u32>, Reason> {
        {
            let info = &prep.pools[pool];
            let np = &prep.problem.nodepools[pool];
            if let Some(t) = taint_blocking(&np.taints, tolerations, strict_prefer) {
                return Err(Reason::Taint(format!(
                    "node pool {} has taint {t} that the pod does not tolerate",
                    np.name
                )));
            }
            // Keys the pool itself constrains must agree; the others are checked against
            // each instance type (which defines the well-known labels).
            if let Some(k) = term.conflict(&info.reqs) {
                return Err(Reason::Requirements(format!(
                    "node pool {}: requirement {k} {} conflicts with the pool's {}",
                    np.name,
                    term.get(k),
                    info.reqs.get(k)
                )));
            }
            let v: Vec<u32> = (info.start..info.end)
                .filter(|&i| prep.pool_type_compatible(term, i))
                .map(|i| i as u32)
                .collect();
            if v.is_empty() {
                if info.start == info.end {
                    Err(Reason::Requirements(format!(
                        "node pool {}: {}",
                        np.name,
                        info.why_empty
                            .as_deref()
                            .unwrap_or("it has no instance type")
                    )))
                } else {
                    // Name the first key no instance type of the pool can satisfy.
                    let why = (info.start..info.end)
                        .filter_map(|i| term_conflict(term, &prep.pool_types[i].reqs))
                        .next()
                        .unwrap_or_else(|| format!("no offering matches ({term})"));
                    Err(Reason::Requirements(format!(
                        "node pool {}: no instance type satisfies the pod's node requirements: {why}",
                        np.name
                    )))
                }
            } else {
                Ok(v)
            }
        }
    }
}

/// Capacity type preference when launching: reserved, then spot, then on-demand.
pub fn capacity_rank(c: CapacityType) -> u8 {
    match c {
        CapacityType::Reserved => 0,
        CapacityType::Spot => 1,
        CapacityType::OnDemand => 2,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nodepack_model::resources::NVIDIA_GPU;
    use nodepack_model::{Bytes, Millicores, Operator};
    use nodepack_testkit as tk;

    /// Run `f` with the testkit catalog prepared for one unconstrained pool and no pods.
    pub(crate) fn with_testkit_prep<R>(f: impl FnOnce(&Prepared) -> R) -> R {
        with_catalog_prep(&nodepack_testkit::catalog(), f)
    }

    /// Run `f` with `catalog` prepared for one unconstrained pool and no pods.
    pub(crate) fn with_catalog_prep<R>(
        catalog: &nodepack_model::Catalog,
        f: impl FnOnce(&Prepared) -> R,
    ) -> R {
        let pools = vec![nodepack_model::NodePool::new("p")];
        let problem = crate::Problem::new(&[], &[], &pools, catalog);
        f(&Prepared::new(problem))
    }

    /// Whether a term is compatible agrees with whether it has a conflict, and the
    /// conflict names the first key the node cannot satisfy: a value outside the
    /// node's, or a label the node does not set (unless the term allows it absent).
    #[test]
    fn a_terms_conflict_is_its_first_unsatisfied_key() {
        let set = |pairs: &[(&str, Operator, &[&str])]| {
            let mut r = Requirements::new();
            for (k, op, vs) in pairs {
                let vs: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                r.add(k, ValueSet::from_operator(*op, &vs).unwrap());
            }
            r
        };
        let node = set(&[
            ("arch", Operator::In, &["amd64"]),
            ("zone", Operator::In, &["a", "b"]),
        ]);
        let cases = [
            (set(&[("zone", Operator::In, &["b", "c"])]), None),
            (
                set(&[
                    ("arch", Operator::In, &["arm64"]),
                    ("zone", Operator::In, &["c"]),
                ]),
                Some("arch"),
            ),
            (set(&[("zone", Operator::NotIn, &["a", "b"])]), Some("zone")),
            (set(&[("team", Operator::In, &["x"])]), Some("team")),
            (set(&[("team", Operator::DoesNotExist, &[])]), None),
            (set(&[("team", Operator::NotIn, &["x"])]), None),
        ];
        for (term, want) in cases {
            let conflict = term_conflict(&term, &node);
            assert_eq!(
                term_compatible(&term, &node),
                conflict.is_none(),
                "{term:?}"
            );
            assert_eq!(
                conflict.map(|c| c.split(' ').nth(1).unwrap_or_default().to_string()),
                want.map(str::to_string),
                "{term:?}"
            );
        }
    }

    proptest::proptest! {
        /// The pairs of a list a request fits are those `fits` accepts, in the list's
        /// order: plain requests, GPU requests, and requests of a resource no pair has.
        #[test]
        fn fitting_keeps_the_pairs_that_fit(
            cpu in 0u64..40_000,
            gib in 0u64..200,
            pods in 0u64..300,
            gpus in 0u64..3,
            other in proptest::bool::ANY,
            every in 1usize..4,
        ) {
            with_testkit_prep(|prep| {
                let mut r = Resources::new(Millicores(cpu), Bytes::from_gib(gib)).with_pods(pods);
                if gpus > 0 {
                    r = r.with_extended(NVIDIA_GPU, gpus);
                }
                if other {
                    r = r.with_extended("example.com/none", 1);
                }
                let fit = prep.fit_test(&r);
                let options: Vec<u32> = (0..prep.pool_types.len() as u32).step_by(every).collect();
                let want: Vec<u32> = options.iter().copied().filter(|&o| fit.fits(o as usize)).collect();
                proptest::prop_assert_eq!(fit.fitting(&options), want);
                Ok(())
            })?;
        }
    }

    /// The array-based maximum capacity is the element-wise maximum of the capacities,
    /// extended resources (the GPU types) included.
    #[test]
    fn max_capacity_is_the_element_wise_maximum() {
        with_testkit_prep(|prep| {
            let all: Vec<u32> = (0..prep.pool_types.len() as u32).collect();
            for opts in [
                all.clone(),
                all[..3].to_vec(),
                all[all.len() - 3..].to_vec(),
                vec![],
            ] {
                let want = max_of(opts.iter().map(|&o| &prep.pool_types[o as usize].capacity));
                assert_eq!(max_capacity(prep, &opts, true), want);
                let plain = max_capacity(prep, &opts, false);
                assert!(plain.extended.is_empty());
                assert_eq!((plain.cpu, plain.memory), (want.cpu, want.memory));
            }
            assert!(!max_capacity(prep, &all, true).extended.is_empty());
        });
    }

    /// Problems built on the same pairs share one price table per offer masks, with
    /// the same prices a fresh computation gives.
    #[test]
    fn price_tables_are_shared_across_problems_on_the_same_pairs() {
        let catalog = tk::catalog();
        let pools = vec![nodepack_model::NodePool::new("p")];
        let pairs = std::sync::Arc::new(PoolCatalog::new(&pools, &catalog));
        let problem = crate::Problem::new(&[], &[], &pools, &catalog);
        let a = Prepared::with_pairs(pairs.clone(), problem);
        let b = Prepared::with_pairs(pairs, problem);
        let masks = (u64::MAX, u8::MAX);
        let (ta, tb) = (a.min_prices(masks), b.min_prices(masks));
        assert!(std::sync::Arc::ptr_eq(&ta, &tb));
        let fresh: Vec<Option<i64>> = (0..a.pool_types.len())
            .map(|pt| a.min_price_in(pt, masks))
            .collect();
        assert_eq!(*ta, fresh);
        assert!(fresh.iter().any(Option::is_some));
    }

    /// When a pool's limits allow a node of its largest capacity, they allow a node of
    /// every pair of the pool (the shortcut new claims take).
    #[test]
    fn room_for_the_largest_pair_is_room_for_every_pair() {
        let catalog = tk::catalog();
        let (mut all, mut some) = (0, 0);
        for cores in [1, 8, 40, 100, 1000] {
            let mut pool = nodepack_model::NodePool::new("p");
            pool.limits.cpu = Some(Millicores::from_cores(cores));
            pool.limits.memory = Some(Bytes::from_gib(4 * cores));
            let pools = vec![pool];
            let problem = crate::Problem::new(&[], &[], &pools, &catalog);
            let prep = Prepared::new(problem);
            let limits = LimitTracker::new(&prep);
            let info = &prep.pools[0];
            let each: Vec<bool> = (info.start..info.end)
                .map(|i| limits.allows(&pools[0].limits, 0, &prep.pool_types[i].capacity))
                .collect();
            if limits.allows(&pools[0].limits, 0, &info.max_capacity) {
                assert!(each.iter().all(|&a| a), "{cores} cores");
                all += 1;
            } else if each.iter().any(|&a| a) {
                some += 1;
            }
        }
        assert!(all > 0 && some > 0, "{all} {some}");
    }

    /// A pair has a price in the per-masks table exactly when it has an offering within
    /// the masks (the engine reads one for the other).
    #[test]
    fn a_price_within_masks_means_an_offering_within_them() {
        with_testkit_prep(|prep| {
            let (mut some, mut none) = (0, 0);
            for zones in 0u64..8 {
                for cts in 0u8..8 {
                    let prices = prep.min_prices((zones, cts));
                    for pt in 0..prep.pool_types.len() {
                        let has = prep.has_offering(pt, (zones, cts));
                        assert_eq!(prices[pt].is_some(), has);
                        if has {
                            some += 1;
                        } else {
                            none += 1;
                        }
                    }
                }
            }
            assert!(some > 0 && none > 0);
        });
    }

    /// The price-ordered search with a zone finds what scanning every offering finds,
    /// with prices that differ by zone.
    #[test]
    fn fits_below_is_the_scan_over_every_fitting_offering() {
        let pools = vec![tk::pool("a", &[])];
        let mut catalog = tk::catalog();
        for t in &mut catalog.instance_types {
            for (k, o) in t.offerings.iter_mut().enumerate() {
                o.price = nodepack_model::Money(o.price.0 * (10 + k as i64 * 3) / 10);
            }
        }
        let pairs = PoolCatalog::new(&pools, &catalog);
        let mut seen = [0; 2];
        for cpu in [100, 4_000, 15_000, 500_000] {
            let r = Resources::new(Millicores(cpu), Bytes::from_gib(4)).with_pods(1);
            for zone in [
                None,
                Some(tk::ZONES[0]),
                Some(tk::ZONES[2]),
                Some("nowhere"),
            ] {
                for ceiling in [50_000, 200_000, 400_000, 800_000, 5_000_000] {
                    let scan = pairs.pool_types.iter().any(|pt| {
                        r.fits(&pt.usable)
                            && pt
                                .offerings
                                .iter()
                                .any(|o| zone.is_none_or(|z| o.zone == z) && o.price.0 < ceiling)
                    });
                    assert_eq!(
                        pairs.fits_below(&r, zone, ceiling),
                        scan,
                        "{cpu} {zone:?} {ceiling}"
                    );
                    seen[scan as usize] += 1;
                }
            }
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    }

    /// The price-ordered search finds what scanning every pair finds.
    #[test]
    fn cheapest_fitting_is_the_minimum_over_every_fitting_pair() {
        let pools = vec![
            tk::pool("a", &[]),
            tk::pool("b", &[(labels::ARCH, Operator::In, &["arm64"])]),
        ];
        let pairs = PoolCatalog::new(&pools, &tk::catalog());
        let mut found = [0u32; 2];
        for cpu in [100, 1_000, 4_000, 15_000, 60_000, 500_000] {
            for gib in [1, 8, 64, 2_000] {
                // GPUs, none of them asked for (a zero entry), and a resource no type has.
                for (name, n) in [
                    ("", 0),
                    (NVIDIA_GPU, 0),
                    (NVIDIA_GPU, 1),
                    (NVIDIA_GPU, 4),
                    (NVIDIA_GPU, 8),
                    ("example.com/fpga", 1),
                ] {
                    let mut r = Resources::new(Millicores(cpu), Bytes::from_gib(gib)).with_pods(1);
                    if !name.is_empty() {
                        r.extended.insert(name.into(), n);
                    }
                    let scan = pairs
                        .pool_types
                        .iter()
                        .filter(|pt| r.fits(&pt.usable))
                        .map(|pt| pt.min_price)
                        .min();
                    assert_eq!(
                        pairs.cheapest_fitting(&r),
                        scan,
                        "{cpu}m {gib}Gi {name}={n}"
                    );
                    found[(n > 0) as usize] += scan.is_some() as u32;
                }
            }
        }
        // Some requests fit somewhere and some nowhere, with and without GPUs.
        assert!(found[0] > 0 && found[0] < 48, "{found:?}");
        assert!(found[1] > 0 && found[1] < 96, "{found:?}");
    }

    /// The pair-to-pair capacity tests on indexed extended names answer as `fits` and
    /// `==` on the usable capacities, GPUs, other devices and zero entries included.
    #[test]
    fn pair_capacity_tests_answer_as_the_resource_lists() {
        let mut types = tk::catalog().instance_types;
        for (cpu, fpga) in [(8, 0), (8, 1), (16, 2)] {
            let mut t = tk::instance_type("f1", "amd64", cpu, 4, 0, 0.05);
            t.name = format!("f1.{cpu}x-{fpga}");
            t.capacity.extended.insert("example.com/fpga".into(), fpga);
            types.push(t);
        }
        let pairs = PoolCatalog::new(&[tk::pool("a", &[])], &tk::catalog_of(types));
        let n = pairs.pool_types.len();
        let (mut fits, mut eq) = (0, 0);
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (&pairs.pool_types[i].usable, &pairs.pool_types[j].usable);
                assert_eq!(pairs.usable_fits_in(i, j), a.fits(b), "{i} in {j}");
                assert_eq!(pairs.usable_eq(i, j), a == b, "{i} == {j}");
                fits += a.fits(b) as usize;
                eq += (a == b) as usize;
            }
        }
        assert!(fits > n && fits < n * n && eq >= n, "{fits} {eq}");
        // One request against every pair, its extended names looked up once: requests
        // of every pair's usable room, GPUs and FPGAs asked for, zero entries, and a
        // resource no pair has.
        let mut asks: Vec<Resources> = pairs.pool_types.iter().map(|p| p.usable.clone()).collect();
        for (name, k) in [
            (NVIDIA_GPU, 0),
            (NVIDIA_GPU, 1),
            (NVIDIA_GPU, 8),
            ("example.com/fpga", 0),
            ("example.com/fpga", 2),
            ("example.com/none", 0),
            ("example.com/none", 1),
        ] {
            let mut r = Resources::new(Millicores(4_000), Bytes::from_gib(2)).with_pods(1);
            r.extended.insert(name.into(), k);
            asks.push(r);
        }
        let mut yes = 0;
        for r in &asks {
            let fit = pairs.fit_test(r);
            for pt in 0..n {
                assert_eq!(
                    fit.fits(pt),
                    r.fits(&pairs.pool_types[pt].usable),
                    "{r} on {pt}"
                );
                yes += fit.fits(pt) as usize;
            }
        }
        assert!(yes > asks.len() && yes < asks.len() * n, "{yes}");
    }

    /// The first pair in price order is kept, and a pair that an earlier one covers in
    /// every resource is left out of the search.
    #[test]
    fn undominated_pairs_leave_out_the_covered_ones() {
        let pairs = PoolCatalog::new(&[tk::pool("a", &[])], &tk::catalog());
        let kept = pairs.undominated_by_price();
        assert_eq!(kept.first(), pairs.by_min_price.first());
        assert!(kept.len() < pairs.by_min_price.len(), "{}", kept.len());
        for w in kept.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            assert!(pairs.min_price[a] <= pairs.min_price[b]);
        }
    }
}
