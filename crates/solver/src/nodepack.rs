//! Strategy `nodepack` (the default): cost-driven packing that respects every constraint
//! the Karpenter baseline respects.
//!
//! 1. Existing nodes first, best fit (the node left fullest), without relaxing anything.
//! 2. Pods with topology constraints or preferences go through the shared engine (same
//!    topology, relaxation and limit rules as the baseline), with best-fit claims.
//! 3. Plain pods (no topology, no preferences, not referenced by anyone's affinity) first
//!    fill the room left in those claims without making them launch a bigger type, then
//!    are packed by pool, in weight order. Those without zone terms first get the nodes
//!    of the pattern LP (column generation over packing patterns, in `nodepack/patterns.rs`):
//!    whole copies of its patterns, then single nodes for what they leave. The rest go
//!    to a greedy packer: repeatedly open the (instance type, capacity type) whose best
//!    first-fit-decreasing fill of the remaining pods buys the most "fair cost" per
//!    dollar, where a pod's fair cost is the cheapest price of its dominant share on any
//!    type it fits; a pattern that repeats opens all its copies at once. Columns are
//!    scored lazily (a score from an earlier step bounds the score now, within `RISE`),
//!    so a step re-scores a few columns, not all. The greedy also finishes the pattern
//!    plan without its single nodes, and packs everything alone (the plan of a pattern
//!    LP cut short by its work budget); the cheapest completion is kept. Each node is
//!    right-sized to the cheapest type holding its pods, and the least utilized ones are
//!    merged where one node costs less.
//! 4. Offerings are chosen by price plus an explicit spot risk model ([`RiskModel`]), and
//!    spot nodes are spread over zones among offerings within a small price tolerance so
//!    that one reclaim hits few pods.
//! 5. Given a forecast of the replicas controllers are adding ([`Growth`]), a new node
//!    for pods of a growing controller may be a larger type with room for the next
//!    replicas, when that lowers the expected price per pod and consolidation would
//!    not take the saving by itself (see [`growth`]).

pub mod growth;
mod patterns;

pub use growth::{Growth, OwnerKey};

use crate::engine::{karpenter_order, max_capacity_usable, node_for, Engine, Policy};
use crate::prep::{capacity_rank, Prepared};
use crate::Reason;
use crate::{NewNode, Plan, Strategy, Unschedulable};
use nodepack_model::{labels, CapacityType, Money, Offering, Pod, Requirements, Resources};
use std::collections::{BTreeMap, BTreeSet};

/// The spot risk model: the expected cost of interruptions, per hour, added to a spot
/// offering's price when choosing between offerings.
///
/// An interruption bucket's monthly reclaim rate (the middle of the Spot Advisor bucket)
/// gives an hourly hazard `rate / 730`. Each interruption costs `replacement_hours` of the
/// node's price (the 2-minute notice, the replacement's launch and the pods' restart, paid
/// twice over) plus `pod_restart_cost` per pod on the node (lost work).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskModel {
    /// Node-hours lost per interruption.
    pub replacement_hours: f64,
    /// Cost of restarting one pod.
    pub pod_restart_cost: Money,
    /// Spot offerings within this share of the cheapest count as equal, so that nodes
    /// can be spread over zones (0.01 = 1%).
    pub spread_tolerance: f64,
}

impl Default for RiskModel {
    fn default() -> Self {
        RiskModel {
            replacement_hours: 0.1,
            pod_restart_cost: Money(10_000),
            spread_tolerance: 0.01,
        }
    }
}

impl RiskModel {
    /// The settings [`RiskModel::effective`] depends on, as a memo key.
    fn key(&self) -> (u64, i64) {
        (self.replacement_hours.to_bits(), self.pod_restart_cost.0)
    }

    /// Price plus expected interruption cost per hour, in micro-dollars (as f64).
    pub fn effective(&self, o: &Offering, pods: usize) -> f64 {
        let base = o.price.0 as f64;
        match o.spot_bucket() {
            Some(b) => {
                let hazard = b.monthly_rate_permille() as f64 / 1000.0 / 730.0;
                base + hazard
                    * (base * self.replacement_hours + pods as f64 * self.pod_restart_cost.0 as f64)
            }
            _ => base,
        }
    }
}

/// nodepack's strategy.
#[derive(Clone, Debug, Default)]
pub struct Nodepack {
    /// The spot risk model.
    pub risk: RiskModel,
    /// Replicas expected soon, for sizing new nodes (see [`Growth`]; empty: none).
    pub growth: Growth,
    /// Leave new nodes' launch alternatives empty, for callers that need only the
    /// plan's nodes and cost (consolidation's repacking target): ranking them is a
    /// large share of a big solve.
    pub cost_only: bool,
}

/// Spot pools already used in this plan, for spreading: (type, zone) -> nodes.
type Spread = BTreeMap<(String, String), u32>;

impl Nodepack {
    /// Choose the offering for a node of pair `pt` with the given requirements.
    fn choose(
        &self,
        prep: &Prepared,
        pt: u32,
        reqs: &Requirements,
        pods: usize,
        spread: &Spread,
    ) -> Option<Offering> {
        let p = &prep.pts[pt as usize];
        let offs: Vec<&Offering> = p.offerings_for(reqs).collect();
        let best = offs
            .iter()
            .map(|o| self.risk.effective(o, pods))
            .fold(f64::INFINITY, f64::min);
        offs.into_iter()
            .filter(|o| {
                self.risk.effective(o, pods) <= best * (1.0 + self.risk.spread_tolerance) + 1e-9
            })
            .min_by(|a, b| {
                let used = |o: &Offering| {
                    spread
                        .get(&(p.name.clone(), o.zone.clone()))
                        .copied()
                        .unwrap_or(0)
                };
                used(a)
                    .cmp(&used(b))
                    .then(a.price.cmp(&b.price))
                    .then_with(|| a.zone.cmp(&b.zone))
            })
            .cloned()
    }

    /// Launch a claim: the option with the lowest effective price, with its offering
    /// chosen by [`Nodepack::choose`] (spreading spot nodes over zones).
    fn launch(
        &self,
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
        pods: usize,
        spread: &Spread,
    ) -> Option<(u32, Offering, Vec<String>)> {
        let ranked = self.rank(prep, reqs, options, crate::karpenter::MAX_INSTANCE_TYPES);
        let &o = ranked.first()?;
        let off = self.choose(prep, o, reqs, pods, spread)?;
        let alternatives = ranked
            .iter()
            .skip(1)
            .take(crate::karpenter::MAX_INSTANCE_TYPES - 1)
            .map(|o| prep.pts[*o as usize].name.clone())
            .collect();
        Some((o, off, alternatives))
    }

    /// The `limit` options (0: all) with the cheapest offering prices, cheapest first
    /// (ties by index).
    fn rank(
        &self,
        prep: &Prepared,
        reqs: &Requirements,
        options: &[u32],
        limit: usize,
    ) -> Vec<u32> {
        // Types are ranked by their cheapest offering's price (the rule the engine plans
        // limits with); the risk model then chooses the offering of the chosen type.
        let masks = prep.offer_masks(reqs);
        if options.len() > RANK_WALK {
            rank_by_walk(prep, masks, options, limit)
        } else {
            rank_by_sort(prep, masks, options, limit)
        }
    }
}

/// [`Nodepack::rank`] for many options: walk every pair in price order and keep the
/// options, until `limit` are found.
fn rank_by_walk(prep: &Prepared, masks: (u64, u8), options: &[u32], limit: usize) -> Vec<u32> {
    let mut member = vec![0u64; prep.pts.len().div_ceil(64)];
    for &o in options {
        member[o as usize / 64] |= 1 << (o % 64);
    }
    let mut out = Vec::with_capacity(if limit > 0 { limit } else { options.len() });
    for &o in prep.by_price(masks).iter() {
        if member[o as usize / 64] & (1 << (o % 64)) != 0 {
            out.push(o);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// [`Nodepack::rank`] for few options: sort them by (price, index).
fn rank_by_sort(prep: &Prepared, masks: (u64, u8), options: &[u32], limit: usize) -> Vec<u32> {
    let prices = prep.min_prices(masks);
    // (price, index): distinct keys, so the unstable sorts give one order.
    let mut ranked: Vec<(i64, u32)> = options
        .iter()
        .filter_map(|&o| prices[o as usize].map(|p| (p, o)))
        .collect();
    // Only the first `limit` are used (launch flexibility is capped): select them
    // before sorting.
    if limit > 0 && ranked.len() > limit {
        ranked.select_nth_unstable(limit - 1);
        ranked.truncate(limit);
    }
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, o)| o).collect()
}

/// [`Nodepack::rank`] walks the pairs in price order instead of sorting the options
/// when there are more options than this.
const RANK_WALK: usize = 64;

/// Capacity types in their order (the order a set of them iterates in, and their
/// [`capacity_rank`]).
const CT_ORDER: [CapacityType; 3] = [
    CapacityType::Reserved,
    CapacityType::Spot,
    CapacityType::OnDemand,
];

/// How much a column's score may rise as pods are placed, for the greedy's lazy
/// evaluation (see [`Nodepack::greedy`]): scores are not monotone (a proportional slice
/// grows when a scarce resource's hungriest pods are gone), so entries whose last score
/// is within this factor of the best current one are scored again.
const RISE: f64 = 0.3;

/// A column in the greedy's lazy heap: its score when last computed (a bound on its
/// score now) at `step` (`usize::MAX`: never computed). The greatest score comes first,
/// then the lower price, then the lower column index.
#[derive(Clone, Copy)]
struct Lazy {
    score: f64,
    price: f64,
    col: usize,
    step: usize,
}

impl Ord for Lazy {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&o.score)
            .then(o.price.total_cmp(&self.price))
            .then(o.col.cmp(&self.col))
    }
}

impl PartialOrd for Lazy {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Lazy {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}

impl Eq for Lazy {}

/// Columns dominated outright (another column with the same groups and capacity type,
/// no more expensive, at least as large everywhere), decided lazily: each bucket of
/// columns with the same groups and capacity type is walked cheapest first (at equal
/// price the larger, then the lower index), so every column that dominates another
/// comes before it; a column dominated by anything is dominated by a survivor
/// (dominance is transitive), so only survivors are compared against. Buckets are
/// walked only as far as the columns asked about.
struct Dominance {
    buckets: Vec<Vec<usize>>,
    bucket_of: Vec<usize>,
    /// Next position to decide in each bucket.
    pos: Vec<usize>,
    kept: Vec<Vec<usize>>,
    /// 0: undecided, 1: kept, 2: dominated.
    state: Vec<u8>,
}

impl Dominance {
    fn new(prep: &Prepared, cols: &[Col], sig: &Sigs) -> Self {
        let mut by_sig: BTreeMap<(&[usize], CapacityType), Vec<usize>> = BTreeMap::new();
        for (c, col) in cols.iter().enumerate() {
            by_sig.entry((sig.of(c), col.ct)).or_default().push(c);
        }
        let size = |c: usize| -> u128 {
            let r = &prep.pts[cols[c].pt as usize].cap;
            r.cpu.0 as u128
                + r.memory.0 as u128
                + r.ephemeral_storage.0 as u128
                + r.pods as u128
                + r.extended.values().map(|&v| v as u128).sum::<u128>()
        };
        let mut bucket_of = vec![0; cols.len()];
        let mut buckets = Vec::with_capacity(by_sig.len());
        for (_, cs) in by_sig {
            // Keys computed once (distinct: the index is last).
            let mut keyed: Vec<(i64, std::cmp::Reverse<u128>, usize)> = cs
                .iter()
                .map(|&c| (price_key(cols[c].price), std::cmp::Reverse(size(c)), c))
                .collect();
            keyed.sort_unstable();
            let cs: Vec<usize> = keyed.into_iter().map(|k| k.2).collect();
            for &c in &cs {
                bucket_of[c] = buckets.len();
            }
            buckets.push(cs);
        }
        Dominance {
            pos: vec![0; buckets.len()],
            kept: vec![Vec::new(); buckets.len()],
            buckets,
            bucket_of,
            state: vec![0; cols.len()],
        }
    }

    /// Is column `c` dominated?
    fn dominated(&mut self, prep: &Prepared, cols: &[Col], c: usize) -> bool {
        let b = self.bucket_of[c];
        while self.state[c] == 0 {
            let x = self.buckets[b][self.pos[b]];
            self.pos[b] += 1;
            let a = &prep.pts[cols[x].pt as usize].cap;
            // (cpu, memory, storage, pods) first: a quick test before the full one.
            let qa = prep.caps_of(cols[x].pt as usize);
            let dominated = self.kept[b].iter().any(|&d| {
                let qb = prep.caps_of(cols[d].pt as usize);
                qa.iter().zip(qb).all(|(p, q)| p <= q) && {
                    let bd = &prep.pts[cols[d].pt as usize].cap;
                    a.fits(bd)
                        && cols[d].price <= cols[x].price
                        && (cols[d].price < cols[x].price || a != bd || d < x)
                }
            });
            self.state[x] = if dominated { 2 } else { 1 };
            if !dominated {
                self.kept[b].push(x);
            }
        }
        self.state[c] == 2
    }
}

/// The groups that may use each column, ascending, in one flat array.
struct Sigs {
    /// Column `c`'s groups are `flat[start[c]..start[c + 1]]`.
    start: Vec<usize>,
    flat: Vec<usize>,
}

impl Sigs {
    fn new(cols: usize, groups: &[Group]) -> Self {
        let mut start = vec![0usize; cols + 1];
        for g in groups {
            for &c in &g.cols {
                start[c + 1] += 1;
            }
        }
        for c in 0..cols {
            start[c + 1] += start[c];
        }
        let mut next = start.clone();
        let mut flat = vec![0; start[cols]];
        for (gi, g) in groups.iter().enumerate() {
            for &c in &g.cols {
                flat[next[c]] = gi;
                next[c] += 1;
            }
        }
        Sigs { start, flat }
    }

    /// The groups that may use column `c`.
    fn of(&self, c: usize) -> &[usize] {
        &self.flat[self.start[c]..self.start[c + 1]]
    }
}

/// Same requests and node rules (node selector, required and preferred node affinity):
/// the packer's group key (requests and node term) is the same.
fn same_node_rules(a: &Pod, b: &Pod) -> bool {
    a.requests == b.requests
        && a.node_selector == b.node_selector
        && a.node_affinity_required == b.node_affinity_required
        && a.node_affinity_preferred == b.node_affinity_preferred
}

/// `reqs` narrowed by the node terms of `groups` (each group's pods may use every
/// column the node could launch, so the terms are compatible with it).
fn with_terms<'g>(reqs: Requirements, groups: impl Iterator<Item = &'g Group>) -> Requirements {
    groups.fold(reqs, |r, g| r.intersect(&g.term))
}

/// An integer that orders prices as `f64::total_cmp` does.
fn price_key(p: f64) -> i64 {
    let b = p.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The packer's columns of one pool, fixed while it packs the pool.
#[derive(Clone, Copy)]
struct PoolCols<'a> {
    pool: usize,
    cols: &'a [Col],
    /// The groups that may use each column.
    sig: &'a Sigs,
    /// Every column, cheapest first.
    by_price: &'a [usize],
    /// The pool's requirements with each capacity type (by capacity rank).
    base: &'a [Requirements],
}

/// A launch option of the packer: a pair and a capacity type.
struct Col {
    pt: u32,
    ct: CapacityType,
    /// Cheapest effective price of that capacity type (any zone), micro-dollars.
    price: f64,
}

/// Plain pods of one pool with identical requests and node requirements.
#[derive(Clone)]
struct Group {
    pods: Vec<usize>,
    next: usize,
    req: Resources,
    term: Requirements,
    cols: Vec<usize>,
    /// `cols` as a bit set, for the hot membership tests.
    bits: Vec<u64>,
    fair: f64,
}

impl Group {
    /// Can the group's pods use column `c`?
    fn has(&self, c: usize) -> bool {
        self.bits
            .get(c / 64)
            .is_some_and(|w| w & (1u64 << (c % 64)) != 0)
    }

    fn remaining(&self) -> usize {
        self.pods.len() - self.next
    }
}

/// The free room (cpu, memory, pod slots) of a list of claims, with the largest of each
/// per block of [`Room::BLOCK`] claims, so that a pod looking for the first claim with
/// room skips whole blocks where no claim has enough of some resource.
struct Room {
    free: Vec<[u64; 3]>,
    most: Vec<[u64; 3]>,
}

impl Room {
    const BLOCK: usize = 32;

    fn new(free: Vec<[u64; 3]>) -> Self {
        let most = free.chunks(Self::BLOCK).map(Self::most_of).collect();
        Room { free, most }
    }

    /// The element-wise largest free room of a block.
    fn most_of(block: &[[u64; 3]]) -> [u64; 3] {
        block.iter().fold([0; 3], |m, f| {
            [m[0].max(f[0]), m[1].max(f[1]), m[2].max(f[2])]
        })
    }

    /// The claims, in order, that may have `need` free: every claim of a block whose
    /// largest free room holds `need` in each resource (a necessary condition only).
    fn candidates(&self, need: [u64; 3]) -> impl Iterator<Item = usize> + '_ {
        let n = self.free.len();
        self.most
            .iter()
            .enumerate()
            .filter(move |(_, m)| (0..3).all(|k| m[k] >= need[k]))
            .flat_map(move |(b, _)| b * Self::BLOCK..((b + 1) * Self::BLOCK).min(n))
            .filter(move |&c| (0..3).all(|k| self.free[c][k] >= need[k]))
    }

    /// Claim `c` now has `free` room.
    fn set(&mut self, c: usize, free: [u64; 3]) {
        self.free[c] = free;
        let b = c / Self::BLOCK;
        let end = ((b + 1) * Self::BLOCK).min(self.free.len());
        self.most[b] = Self::most_of(&self.free[b * Self::BLOCK..end]);
    }
}

/// How many more pods of `req` fit in `free` (at most `limit`).
fn max_fit(free: &Resources, req: &Resources, limit: usize) -> usize {
    let mut k = limit as u64;
    let mut dim = |f: u64, r: u64| {
        if let Some(q) = f.checked_div(r) {
            k = k.min(q);
        }
    };
    dim(free.cpu.0, req.cpu.0);
    dim(free.memory.0, req.memory.0);
    dim(free.ephemeral_storage.0, req.ephemeral_storage.0);
    dim(free.pods, req.pods);
    for (n, v) in &req.extended {
        dim(free.extended(n), *v);
    }
    k as usize
}

/// Whether the sum of `req * k` over `parts` fits in `cap`, without building the sum:
/// the proportional fill's binary search asks this some thirty times per column, and
/// building [`Resources`] with extended resources (GPUs) allocates each time.
/// The largest `s` at most 1 such that `s` times the sum of `k` copies of each part fits
/// `cap`, resource by resource (in floating point).
fn slice_scale<'a>(parts: impl Iterator<Item = (&'a Resources, u64)>, cap: &Resources) -> f64 {
    let (mut cpu, mut mem, mut eph, mut pods) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut ext: Vec<(&str, f64)> = Vec::new();
    for (r, k) in parts {
        let k = k as f64;
        cpu += r.cpu.0 as f64 * k;
        mem += r.memory.0 as f64 * k;
        eph += r.ephemeral_storage.0 as f64 * k;
        pods += r.pods as f64 * k;
        for (name, v) in &r.extended {
            match ext.iter_mut().find(|e| e.0 == name) {
                Some(e) => e.1 += *v as f64 * k,
                None => ext.push((name, *v as f64 * k)),
            }
        }
    }
    let room = |need: f64, have: u64| {
        if need > 0.0 {
            have as f64 / need
        } else {
            f64::INFINITY
        }
    };
    let mut s = 1.0f64
        .min(room(cpu, cap.cpu.0))
        .min(room(mem, cap.memory.0))
        .min(room(eph, cap.ephemeral_storage.0))
        .min(room(pods, cap.pods));
    for (name, v) in ext {
        s = s.min(room(v, cap.extended(name)));
    }
    s
}

fn scaled_sum_fits(parts: &[(&Resources, u64)], cap: &Resources) -> bool {
    let sum = |f: &dyn Fn(&Resources) -> u64| {
        parts
            .iter()
            .fold(0u64, |a, (r, k)| a.saturating_add(f(r).saturating_mul(*k)))
    };
    sum(&|r| r.cpu.0) <= cap.cpu.0
        && sum(&|r| r.memory.0) <= cap.memory.0
        && sum(&|r| r.ephemeral_storage.0) <= cap.ephemeral_storage.0
        && sum(&|r| r.pods) <= cap.pods
        && {
            // Extended resources: sum per name first, then one lookup per name.
            let mut ext: Vec<(&str, u64)> = Vec::new();
            for (r, k) in parts {
                for (name, v) in &r.extended {
                    let add = v.saturating_mul(*k);
                    match ext.iter_mut().find(|e| e.0 == name) {
                        Some(e) => e.1 = e.1.saturating_add(add),
                        None => ext.push((name, add)),
                    }
                }
            }
            ext.iter().all(|(name, v)| *v <= cap.extended(name))
        }
}

fn scaled(r: &Resources, k: usize) -> Resources {
    let k64 = k as u64;
    Resources {
        cpu: nodepack_model::Millicores(r.cpu.0 * k64),
        memory: nodepack_model::Bytes(r.memory.0 * k64),
        ephemeral_storage: nodepack_model::Bytes(r.ephemeral_storage.0 * k64),
        pods: r.pods * k64,
        extended: r
            .extended
            .iter()
            .map(|(n, v)| (n.clone(), v * k64))
            .collect(),
    }
}

/// A request's share of a capacity: 0 for no request, infinite for none available.
fn ratio(a: u64, b: u64) -> f64 {
    if a == 0 {
        0.0
    } else if b == 0 {
        f64::INFINITY
    } else {
        a as f64 / b as f64
    }
}

fn share(req: &Resources, cap: &Resources) -> f64 {
    let mut s = ratio(req.cpu.0, cap.cpu.0)
        .max(ratio(req.memory.0, cap.memory.0))
        .max(ratio(req.ephemeral_storage.0, cap.ephemeral_storage.0))
        .max(ratio(req.pods, cap.pods));
    for (n, v) in &req.extended {
        s = s.max(ratio(*v, cap.extended(n)));
    }
    s
}

#[derive(Clone)]
struct Packed {
    pool: usize,
    pt: u32,
    reqs: Requirements,
    pods: Vec<usize>,
    requested: Resources,
}

impl Strategy for Nodepack {
    fn name(&self) -> &'static str {
        "nodepack"
    }

    fn solve_prepared(&self, prep: &Prepared) -> Plan {
        let problem = &prep.problem;
        let prep = prep.clone();
        let mut eng = Engine::new(
            &prep,
            Policy {
                existing_best_fit: true,
                growth_factor: Some(4.0),
            },
        );
        let order = karpenter_order(problem.pending);
        let mut reasons: BTreeMap<usize, Reason> = BTreeMap::new();
        // Which pods are plain. A pool with minValues takes its pods through the engine,
        // whose claims keep the launch options minValues needs (the packer launches
        // one chosen type).
        let min_values = problem
            .nodepools
            .iter()
            .any(|p| !p.requirements.min_values.is_empty());
        let plain: Vec<bool> = (0..problem.pending.len())
            .map(|pi| {
                let pod = &problem.pending[pi];
                !min_values
                    && eng.pod_is_free(pi)
                    && !pod.has_preferences()
                    && !eng.topo.referenced_by_affinity(pod)
            })
            .collect();
        // 1. Existing nodes, best fit, nothing relaxed.
        if !problem.nodes.is_empty() {
            for &pi in &order {
                let view = eng.base_view(pi);
                // A pod that fits no existing node goes on to the next phases.
                let _ = eng.place(pi, &view, false, false);
            }
        }
        // 2. Constrained pods through the engine.
        let constrained: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&pi| !plain[pi] && eng.placed[pi].is_none())
            .collect();
        for (pi, r) in eng.run_queue(&constrained, true) {
            reasons.insert(pi, r);
        }
        // 3a. Plain pods into the room left in claims, without outgrowing their cheapest
        // type.
        // The type each claim launches: its cheapest option.
        let cheapest_of = |eng: &Engine| -> Vec<Option<u32>> {
            (0..eng.claims.len())
                .map(|c| prep.cheapest_option(&eng.claims[c].reqs, eng.fitting_options(c)))
                .collect()
        };
        let mut cheapest = cheapest_of(&eng);
        let targets: Vec<Option<Resources>> = cheapest
            .iter()
            .map(|o| o.map(|o| prep.pts[o as usize].cap.clone()))
            .collect();
        let mut rest = Vec::new();
        let candidates: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&pi| plain[pi] && eng.placed[pi].is_none())
            .collect();
        let free_of = |eng: &Engine, c: usize| -> [u64; 3] {
            targets[c].as_ref().map_or([0; 3], |t| {
                let r = &eng.claims[c].requested;
                [
                    t.cpu.0.saturating_sub(r.cpu.0),
                    t.memory.0.saturating_sub(r.memory.0),
                    t.pods.saturating_sub(r.pods),
                ]
            })
        };
        let mut room = Room::new((0..targets.len()).map(|c| free_of(&eng, c)).collect());
        for pi in candidates {
            let pod = &problem.pending[pi];
            let req = &pod.requests;
            let term = eng.base_view(pi).term.clone();
            let need = [req.cpu.0, req.memory.0, req.pods];
            let mut done = false;
            let mut hit = None;
            for c in room.candidates(need) {
                let Some(t) = &targets[c] else { continue };
                if !req.fits_with(&eng.claims[c].requested, t) {
                    continue;
                }
                // Only where the pod narrows nothing (an on-demand-only pod would turn
                // a spot claim on-demand).
                let narrows = term.keys.iter().any(|(k, vs)| {
                    eng.claims[c].reqs.get(k).intersect(vs) != eng.claims[c].reqs.get(k)
                });
                if !narrows && eng.try_claim(pi, c) {
                    done = true;
                    hit = Some(c);
                    break;
                }
            }
            if let Some(c) = hit {
                room.set(c, free_of(&eng, c));
            }
            if !done {
                rest.push(pi);
            }
        }
        // Claims the growth policy kept small are merged where one node costs less.
        if eng.merge_claims() > 0 {
            cheapest = cheapest_of(&eng);
        }
        // Count the claims' real capacity against pool limits (the engine reserved the
        // largest option of each claim, as Karpenter does; nodepack launches the
        // cheapest option, so it reserves only that).
        eng.limits = crate::prep::LimitTracker::new(&prep);
        for (c, o) in cheapest.iter().enumerate() {
            // Filling room never changes a claim's cheapest type.
            if let (Some(o), false) = (o, eng.claims[c].pods.is_empty()) {
                eng.limits
                    .add(eng.claims[c].pool, &prep.pts[*o as usize].capacity);
            }
        }
        // 3b. Pack the rest.
        let (packed, failed) = self.pack(&prep, &mut eng, &rest);
        reasons.extend(failed);
        // Assemble.
        let mut spread = Spread::new();
        let mut nodes: Vec<NewNode> = Vec::new();
        let mut unschedulable: Vec<Unschedulable> = Vec::new();
        for c in 0..eng.claims.len() {
            let cl = &eng.claims[c];
            if cl.pods.is_empty() {
                continue;
            }
            match self.launch(
                &prep,
                &cl.reqs,
                eng.fitting_options(c),
                cl.pods.len(),
                &spread,
            ) {
                Some((o, off, alts)) => {
                    let draft = growth::Draft {
                        pool: cl.pool,
                        reqs: &cl.reqs,
                        pods: &cl.pods,
                        requested: &cl.requested,
                        pt: o,
                        offering: &off,
                    };
                    let (o, off, alts, expected) = self
                        .grow(&prep, &mut eng.limits, &draft)
                        .unwrap_or((o, off, alts, 0));
                    if off.capacity_type == CapacityType::Spot {
                        *spread
                            .entry((prep.pts[o as usize].name.clone(), off.zone.clone()))
                            .or_insert(0) += 1;
                    }
                    nodes.push(NewNode {
                        expected_replicas: expected,
                        ..eng.claim_node(c, o, &off, alts)
                    });
                }
                None => {
                    for &p in &cl.pods {
                        reasons.insert(
                            p,
                            Reason::Offerings(format!(
                                "no offering left for the claim's requirements ({})",
                                cl.reqs.get(labels::ZONE)
                            )),
                        );
                    }
                }
            }
        }
        let mut order_out: Vec<usize> = eng.order.clone();
        for (i, pk) in packed.into_iter().enumerate() {
            let name = format!("{}-p{i}", problem.nodepools[pk.pool].name);
            match self.launch(&prep, &pk.reqs, &[pk.pt], pk.pods.len(), &spread) {
                Some((o, off, _)) => {
                    let draft = growth::Draft {
                        pool: pk.pool,
                        reqs: &pk.reqs,
                        pods: &pk.pods,
                        requested: &pk.requested,
                        pt: o,
                        offering: &off,
                    };
                    let (o, off, alts, expected) = match self.grow(&prep, &mut eng.limits, &draft) {
                        Some(g) => g,
                        None => (o, off, self.alternatives(&prep, &pk), 0),
                    };
                    if off.capacity_type == CapacityType::Spot {
                        *spread
                            .entry((prep.pts[o as usize].name.clone(), off.zone.clone()))
                            .or_insert(0) += 1;
                    }
                    order_out.extend(pk.pods.iter().copied());
                    nodes.push(node_for(
                        &prep,
                        &name,
                        o,
                        &off,
                        alts,
                        pk.pods
                            .iter()
                            .map(|&p| problem.pending[p].id.clone())
                            .collect(),
                        &pk.requested,
                    ));
                    if let Some(n) = nodes.last_mut() {
                        n.expected_replicas = expected;
                    }
                }
                None => {
                    for &p in &pk.pods {
                        reasons.insert(
                            p,
                            Reason::Offerings("no offering in a zone all its pods allow".into()),
                        );
                    }
                }
            }
        }
        let placed: BTreeSet<usize> = order_out.iter().copied().collect();
        // Pods already listed unschedulable (by id: a reason may name a pod twice).
        let mut listed: std::collections::HashSet<&nodepack_model::PodId> =
            unschedulable.iter().map(|u| &u.pod).collect();
        let mut more = Vec::new();
        for (pi, r) in reasons {
            if !placed.contains(&pi) {
                listed.insert(&problem.pending[pi].id);
                more.push(Unschedulable {
                    pod: problem.pending[pi].id.clone(),
                    reason: r,
                });
            }
        }
        for pi in 0..problem.pending.len() {
            if !placed.contains(&pi) && listed.insert(&problem.pending[pi].id) {
                more.push(Unschedulable {
                    pod: problem.pending[pi].id.clone(),
                    reason: Reason::NotPlaced,
                });
            }
        }
        drop(listed);
        unschedulable.extend(more);
        unschedulable.sort_by(|a, b| a.pod.cmp(&b.pod));
        Plan {
            strategy: self.name().into(),
            existing: eng.bindings(),
            nodes,
            unschedulable,
            cost_per_hour: Money::ZERO,
            order: order_out
                .iter()
                .map(|&p| problem.pending[p].id.clone())
                .collect(),
        }
        .finish()
    }
}

impl Nodepack {
    /// Other types of the pool that hold the node's pods, cheapest first.
    fn alternatives(&self, prep: &Prepared, pk: &Packed) -> Vec<String> {
        if self.cost_only {
            return Vec::new();
        }
        let info = &prep.pools[pk.pool];
        let prices = prep.min_prices(prep.offer_masks(&pk.reqs));
        let compatible = prep.compatible_set(pk.pool, &pk.reqs);
        let ok = |i: usize| {
            let k = i - info.start;
            compatible[k / 64] & (1u64 << (k % 64)) != 0
        };
        let mut alts: Vec<(i64, &str, usize)> = (info.start..info.end)
            .filter(|&i| i as u32 != pk.pt && prep.fits_pt(&pk.requested, i) && ok(i))
            .filter_map(|i| prices[i].map(|pr| (pr, prep.pts[i].name.as_str(), i)))
            .collect();
        // The cheapest (keys are distinct: the index is last), in order.
        let keep = crate::karpenter::MAX_INSTANCE_TYPES - 1;
        if alts.len() > keep {
            alts.select_nth_unstable(keep);
            alts.truncate(keep);
        }
        alts.sort_unstable();
        // A new vector of the list's length: collecting in place would keep the buffer
        // of every candidate type (tens of kilobytes per node of a large plan).
        let mut out = Vec::with_capacity(alts.len());
        out.extend(alts.iter().map(|&(_, n, _)| n.to_string()));
        out
    }

    /// Pack plain pods onto new nodes, pool by pool in weight order.
    fn pack(
        &self,
        prep: &Prepared,
        eng: &mut Engine,
        pods: &[usize],
    ) -> (Vec<Packed>, BTreeMap<usize, Reason>) {
        let problem = prep.problem;
        let mut failed: BTreeMap<usize, Reason> = BTreeMap::new();
        let mut out = Vec::new();
        // Candidate pools per pod, in weight order; strict PreferNoSchedule first.
        let mut todo: Vec<(usize, Vec<usize>)> = Vec::new();
        for &pi in pods {
            let pod = &problem.pending[pi];
            let term = eng.base_view(pi).term.clone();
            let mut pools = Vec::new();
            let mut why = Vec::new();
            for strict in [true, false] {
                for &pool in &prep.pool_order {
                    if pools.contains(&pool) {
                        continue;
                    }
                    match eng.cache.get(prep, pool, &term, &pod.tolerations, strict) {
                        Ok(list)
                            if list
                                .iter()
                                .rev()
                                .any(|&o| prep.fits_pt(&pod.requests, o as usize)) =>
                        {
                            pools.push(pool)
                        }
                        Ok(list) => {
                            if strict {
                                let big = max_capacity_usable(prep, list);
                                why.push(Reason::Resources(format!(
                                    "node pool {}: no instance type has room: {}",
                                    problem.nodepools[pool].name,
                                    pod.requests
                                        .shortfall(&big)
                                        .map(|s| s.to_string())
                                        .unwrap_or_default()
                                )));
                            }
                        }
                        Err(e) => {
                            if strict {
                                why.push(e.clone())
                            }
                        }
                    }
                }
            }
            if pools.is_empty() {
                let reason = match why.len() {
                    0 => Reason::NoNodePool,
                    1 => why.remove(0),
                    _ => Reason::Pools(why),
                };
                failed.insert(pi, reason);
            } else {
                todo.push((pi, pools));
            }
        }
        for &pool in &prep.pool_order {
            let mine: Vec<usize> = todo
                .iter()
                .filter(|(_, ps)| ps.first() == Some(&pool))
                .map(|(pi, _)| *pi)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let left = self.pack_pool(prep, eng, pool, &mine, &mut out);
            let left: BTreeSet<usize> = left.into_iter().collect();
            for (pi, ps) in todo.iter_mut() {
                if ps.first() == Some(&pool) {
                    ps.remove(0);
                    if left.contains(pi) && ps.is_empty() {
                        failed.insert(
                            *pi,
                            Reason::Limits(format!(
                                "node pool {}: limits reached",
                                problem.nodepools[pool].name
                            )),
                        );
                    }
                    if !left.contains(pi) {
                        ps.clear();
                    }
                }
            }
        }
        (out, failed)
    }

    /// Pack the pods of one pool; returns the pods left over (limits).
    fn pack_pool(
        &self,
        prep: &Prepared,
        eng: &mut Engine,
        pool: usize,
        pods: &[usize],
        out: &mut Vec<Packed>,
    ) -> Vec<usize> {
        let problem = prep.problem;
        let mut cols: Vec<Col> = Vec::new();
        // The column of each (pair, capacity type), by pair index and capacity rank.
        let mut col_of: Vec<[u32; 3]> = vec![[u32::MAX; 3]; prep.pts.len()];
        // Each pair's cheapest effective price per capacity type (any zone, one pod).
        let col_prices = prep.shared_prices(self.risk.key(), |pairs| {
            pairs
                .pts
                .iter()
                .map(|pt| {
                    let mut best = [f64::INFINITY; 3];
                    for x in &pt.offerings {
                        let k = capacity_rank(x.capacity_type) as usize;
                        best[k] = best[k].min(self.risk.effective(x, 1));
                    }
                    best
                })
                .collect()
        });
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: std::collections::HashMap<(Requirements, Resources), usize> =
            std::collections::HashMap::new();
        // pods are in Karpenter order (largest first), so groups are too.
        let mut last: Option<(&Pod, usize)> = None;
        for &pi in pods {
            let pod = &problem.pending[pi];
            // Like pods are adjacent in that order: a pod with the previous one's
            // requests and node rules has its group (and its term).
            if let Some((prev, g)) = last {
                if same_node_rules(prev, pod) {
                    groups[g].pods.push(pi);
                    continue;
                }
            }
            let term = eng.base_view(pi).term.intersect(&prep.pools[pool].reqs);
            let key = (term.clone(), pod.requests.clone());
            if let Some(&g) = group_of.get(&key) {
                groups[g].pods.push(pi);
                last = Some((pod, g));
                continue;
            }
            last = Some((pod, groups.len()));
            let list: &[u32] = match eng.cache.get(prep, pool, &term, &pod.tolerations, false) {
                Ok(l) => l,
                Err(_) => &[],
            };
            let mut gc = Vec::new();
            let (zones, cts) = prep.offer_masks(&term);
            for &o in list {
                let pt = &prep.pts[o as usize];
                if !pod.requests.fits(&pt.cap) {
                    continue;
                }
                // The capacity types of its offerings the term allows.
                let mut mask = 0u8;
                for &(z, c) in &pt.offer_bits {
                    if z & zones != 0 && c & cts != 0 {
                        mask |= c;
                    }
                }
                for ct in CT_ORDER {
                    let k = capacity_rank(ct) as usize;
                    if mask & (1 << k) == 0 {
                        continue;
                    }
                    let slot = &mut col_of[o as usize][k];
                    if *slot == u32::MAX {
                        let price = col_prices[o as usize][k];
                        cols.push(Col { pt: o, ct, price });
                        *slot = (cols.len() - 1) as u32;
                    }
                    gc.push(*slot as usize);
                }
            }
            let fair = gc
                .iter()
                .map(|&c| cols[c].price * share(&pod.requests, &prep.pts[cols[c].pt as usize].cap))
                .fold(f64::INFINITY, f64::min);
            group_of.insert(key, groups.len());
            groups.push(Group {
                pods: vec![pi],
                next: 0,
                req: pod.requests.clone(),
                term,
                cols: gc,
                bits: Vec::new(),
                fair,
            });
        }
        for g in groups.iter_mut() {
            g.bits = vec![0; cols.len().div_ceil(64)];
            for &c in &g.cols {
                g.bits[c / 64] |= 1u64 << (c % 64);
            }
        }
        let sig = Sigs::new(cols.len(), &groups);
        let mut dominance = Dominance::new(prep, &cols, &sig);
        // Columns pool limits stopped.
        let alive: Vec<bool> = vec![true; cols.len()];
        // The pool's requirements with each capacity type (by capacity rank).
        let base: Vec<Requirements> = CT_ORDER
            .iter()
            .map(|ct| {
                let mut r = prep.pools[pool].reqs.clone();
                r.add(
                    labels::CAPACITY_TYPE,
                    nodepack_model::ValueSet::in_values([ct.as_str()]),
                );
                r
            })
            .collect();
        // Live columns, cheapest first: a column's score is at most the fair cost of all
        // remaining pods over its price, so the scan stops once that bound falls below
        // the best score found.
        let mut keyed: Vec<(i64, usize)> = cols
            .iter()
            .enumerate()
            .map(|(c, col)| (price_key(col.price), c))
            .collect();
        keyed.sort_unstable();
        let all_by_price: Vec<usize> = keyed.into_iter().map(|k| k.1).collect();
        // Pods without zone terms: nodes from the pattern LP first (see [`patterns`]),
        // then the greedy below for the rest. The pattern plan ends with single nodes
        // for the pods its whole copies leave; the greedy may do better with those, so
        // both completions are tried and the cheaper kept (fewer pods left first).
        let pc = PoolCols {
            pool,
            cols: &cols,
            sig: &sig,
            by_price: &all_by_price,
            base: &base,
        };
        // (cost, pods left, nodes, limits after them)
        type Variant = (f64, Vec<usize>, Vec<Packed>, crate::prep::LimitTracker);
        let complete =
            |dominance: &mut Dominance, eligible: &[usize], nodes: &[patterns::Node]| -> Variant {
                let mut gs = groups.clone();
                let mut limits = eng.limits.clone();
                let mut alive = alive.clone();
                let mut mine = Vec::new();
                self.open_patterns(prep, &pc, &mut limits, &mut gs, eligible, nodes, &mut mine);
                let left = self.greedy(
                    prep,
                    &pc,
                    &mut limits,
                    &mut gs,
                    dominance,
                    &mut alive,
                    &mut mine,
                );
                let cost: f64 = mine
                    .iter()
                    .map(|pk| self.price(prep, pk.pt, &pk.reqs, pk.pods.len()))
                    .sum();
                (cost, left, mine, limits)
            };
        let (nodes, whole, cut, eligible) = self.pattern_plan(prep, &pc, &groups, &mut dominance);
        let mut variants = vec![nodes.len()];
        if whole < nodes.len() {
            variants.push(whole);
        }
        // The greedy alone is a completion too when the work budget cut the pattern plan
        // short (its nodes may then be worse than none).
        if cut && whole > 0 {
            variants.push(0);
        }
        let mut best: Option<Variant> = None;
        for count in variants {
            let v = complete(&mut dominance, &eligible, &nodes[..count]);
            if best
                .as_ref()
                .is_none_or(|b| (v.1.len(), v.0) < (b.1.len(), b.0 * (1.0 - 1e-12)))
            {
                best = Some(v);
            }
        }
        let Some((_, left, mine, limits)) = best else {
            return Vec::new();
        };
        eng.limits = limits;
        out.extend(mine);
        left
    }

    /// The greedy packer: repeatedly opens the column whose fill of the remaining pods
    /// buys the most fair cost per dollar (see the module documentation), then merges
    /// the least utilized nodes of `out` (this pool's nodes, those opened before
    /// included; [`Nodepack::merge_tail`]). Returns the pods pool limits left over.
    fn greedy(
        &self,
        prep: &Prepared,
        pc: &PoolCols,
        limits: &mut crate::prep::LimitTracker,
        groups: &mut [Group],
        dominance: &mut Dominance,
        alive: &mut [bool],
        out: &mut Vec<Packed>,
    ) -> Vec<usize> {
        let PoolCols {
            pool,
            cols,
            sig,
            by_price: all_by_price,
            base,
        } = *pc;
        let np = &prep.problem.nodepools[pool];
        let mut left = Vec::new();
        // Lazy evaluation: a column's score (the fair cost its fill buys per dollar)
        // mostly falls as pods are placed, so a score computed at an earlier step bounds
        // it from above within `RISE`. The heap holds each live column under its last
        // score (at first, the fair cost of every pod over its price); the top is
        // re-scored until the best current score beats every stale one by `RISE`, and
        // that column is the step's best.
        let value_all: f64 = groups.iter().map(|g| g.fair * g.remaining() as f64).sum();
        let mut heap: std::collections::BinaryHeap<Lazy> = all_by_price
            .iter()
            .map(|&c| Lazy {
                score: value_all / cols[c].price.max(1.0),
                price: cols[c].price,
                col: c,
                step: usize::MAX,
            })
            .collect();
        let mut step = 0usize;
        // The fills of the columns scored at this step.
        let mut fresh: BTreeMap<usize, (Vec<(usize, usize)>, Requirements)> = BTreeMap::new();
        loop {
            step += 1;
            let remaining: Vec<usize> = (0..groups.len())
                .filter(|&g| groups[g].remaining() > 0)
                .collect();
            if remaining.is_empty() {
                break;
            }
            // The step's best current entry.
            let mut best: Option<Lazy> = None;
            // Current entries popped below the best, to push back.
            let mut passed: Vec<Lazy> = Vec::new();
            while let Some(top) = heap.pop() {
                let c = top.col;
                if let Some(b) = &best {
                    if top.score * (1.0 + RISE) <= b.score {
                        heap.push(top);
                        break;
                    }
                }
                if top.step == step {
                    // (A column re-scored after the best may score more.)
                    if best.is_none_or(|b| top > b) {
                        best = Some(top);
                    }
                    passed.push(top);
                    continue;
                }
                if dominance.dominated(prep, cols, c) {
                    continue;
                }
                // (A column can die while packing: pool limits.)
                if !alive[c] || !sig.of(c).iter().any(|&g| groups[g].remaining() > 0) {
                    continue;
                }
                // A column whose own type the pool's limits no longer admit is dead for
                // the rest of the solve (usage only grows), as Karpenter drops the
                // instance types a pool's remaining limits exclude.
                if !limits.allows(&np.limits, pool, &prep.pts[cols[c].pt as usize].capacity) {
                    alive[c] = false;
                    continue;
                }
                let pt = &prep.pts[cols[c].pt as usize];
                let base_reqs = &base[capacity_rank(cols[c].ct) as usize];
                let fill = |proportional: bool| -> (Vec<(usize, usize)>, f64, Requirements) {
                    let mut free = pt.cap.clone();
                    let mut reqs = base_reqs.clone();
                    let mut take: Vec<(usize, usize)> = Vec::new();
                    let mut value = 0.0;
                    // 1. A slice of the remaining demand in proportion (the mix the LP
                    // would use), as large as fits: balanced use of every resource.
                    let prop: Vec<usize> = remaining
                        .iter()
                        .copied()
                        .filter(|&g| {
                            proportional
                                && groups[g].has(c)
                                && !groups[g].term.keys.contains_key(labels::ZONE)
                        })
                        .collect();
                    if prop.len() > 1 {
                        let mut parts: Vec<(&Resources, u64)> = Vec::with_capacity(prop.len());
                        let mut fits_at = |s: f64| -> bool {
                            parts.clear();
                            for &g in &prop {
                                let k = (s * groups[g].remaining() as f64).floor() as u64;
                                parts.push((&groups[g].req, k));
                            }
                            scaled_sum_fits(&parts, &pt.cap)
                        };
                        // The largest scale the sums fit at, exact but for rounding
                        // (the floors only take pods away); bisection if rounding broke it.
                        let direct = slice_scale(
                            prop.iter()
                                .map(|&g| (&groups[g].req, groups[g].remaining() as u64)),
                            &pt.cap,
                        );
                        let (mut lo, mut hi) = (0.0f64, 1.0f64);
                        if fits_at(direct) {
                            lo = direct;
                        } else if fits_at(hi) {
                            lo = hi;
                        } else {
                            for _ in 0..30 {
                                let mid = (lo + hi) / 2.0;
                                if fits_at(mid) {
                                    lo = mid;
                                } else {
                                    hi = mid;
                                }
                            }
                        }
                        for &g in &prop {
                            let k = (lo * groups[g].remaining() as f64).floor() as usize;
                            if k > 0 {
                                free = free.saturating_sub(&scaled(&groups[g].req, k));
                                value += groups[g].fair * k as f64;
                                take.push((g, k));
                            }
                        }
                    }
                    // 2. Top up, first fit decreasing.
                    for &g in &remaining {
                        let gr = &groups[g];
                        if !gr.has(c) {
                            continue;
                        }
                        let already = take.iter().find(|t| t.0 == g).map_or(0, |t| t.1);
                        let k = max_fit(&free, &gr.req, gr.remaining() - already);
                        if k == 0 {
                            continue;
                        }
                        // Only zone terms narrow the node's requirements.
                        let merged = gr
                            .term
                            .keys
                            .contains_key(labels::ZONE)
                            .then(|| reqs.intersect(&gr.term));
                        if pt
                            .offerings_for(merged.as_ref().unwrap_or(&reqs))
                            .next()
                            .is_none()
                        {
                            continue;
                        }
                        if let Some(m) = merged {
                            reqs = m;
                        }
                        free = free.saturating_sub(&scaled(&gr.req, k));
                        value += gr.fair * k as f64;
                        match take.iter_mut().find(|t| t.0 == g) {
                            Some(t) => t.1 += k,
                            None => take.push((g, k)),
                        }
                    }
                    (take, value, reqs)
                };
                // Both fills; keep the one that buys more fair cost (the proportional
                // slice needs two groups, else both fills are the same).
                let (t1, v1, r1) = fill(false);
                let sliced = remaining
                    .iter()
                    .filter(|&&g| {
                        groups[g].has(c) && !groups[g].term.keys.contains_key(labels::ZONE)
                    })
                    .nth(1)
                    .is_some();
                let (take, value, reqs) = if !sliced {
                    (t1, v1, r1)
                } else {
                    let (t2, v2, r2) = fill(true);
                    if v2 > v1 {
                        (t2, v2, r2)
                    } else {
                        (t1, v1, r1)
                    }
                };
                if take.is_empty() {
                    // Nothing left it can take now, nor later.
                    continue;
                }
                let price = self.price(prep, cols[c].pt, &reqs, take.iter().map(|t| t.1).sum());
                fresh.insert(c, (take, reqs));
                heap.push(Lazy {
                    score: value / price.max(1.0),
                    price,
                    col: c,
                    step,
                });
            }
            // Every current entry but the chosen column's (pushed back below) goes back.
            heap.extend(
                passed
                    .into_iter()
                    .filter(|l| best.is_none_or(|b| b.col != l.col)),
            );
            let best = best.map(|b| {
                let fill = fresh.remove(&b.col).expect("a current entry has its fill");
                (b, fill)
            });
            fresh.clear();
            let Some((chosen, (take, reqs))) = best else {
                // No live column can take any remaining pod: pool limits.
                for &g in &remaining {
                    left.extend(groups[g].pods[groups[g].next..].iter().copied());
                    groups[g].next = groups[g].pods.len();
                }
                break;
            };
            // The chosen column stays a candidate, its score now a bound.
            heap.push(chosen);
            let c = chosen.col;
            // The node carries its pods' node requirements (the fill merged only zone
            // terms), so that launch alternatives and growth respect them.
            let reqs = with_terms(reqs, take.iter().map(|t| &groups[t.0]));
            let repeat = take
                .iter()
                .map(|&(g, k)| groups[g].remaining() / k)
                .min()
                .unwrap_or(1)
                .max(1);
            for _ in 0..repeat {
                let mut node_pods = Vec::new();
                let mut requested = Resources::default();
                for &(g, k) in &take {
                    let gr = &mut groups[g];
                    let n = k.min(gr.remaining());
                    node_pods.extend(gr.pods[gr.next..gr.next + n].iter().copied());
                    gr.next += n;
                    requested = requested.saturating_add(&scaled(&gr.req, n));
                }
                if node_pods.is_empty() {
                    break;
                }
                // Right-size: the cheapest compatible pair of the pool that holds them.
                let gs: BTreeSet<usize> = take.iter().map(|t| t.0).collect();
                let pick = Cheapest {
                    cols,
                    order: all_by_price,
                    groups,
                }
                .column(
                    self,
                    prep,
                    &gs,
                    cols[c].ct,
                    &requested,
                    &reqs,
                    node_pods.len(),
                )
                .map_or(cols[c].pt, |(_, pt)| pt);
                // The column's own type holds the pods too; keep it when the limits
                // admit it and not the right-sized pick.
                let pick = if limits.allows(&np.limits, pool, &prep.pts[pick as usize].capacity) {
                    pick
                } else {
                    cols[c].pt
                };
                let cap = prep.pts[pick as usize].capacity.clone();
                if limits.exceeded(&np.limits, pool, &cap).is_some() {
                    // Put the pods back and stop using this column.
                    for &(g, k) in take.iter().rev() {
                        let gr = &mut groups[g];
                        let n = node_pods
                            .iter()
                            .filter(|p| gr.pods.contains(p))
                            .count()
                            .min(k);
                        gr.next -= n;
                    }
                    alive[c] = false;
                    break;
                }
                limits.add(pool, &cap);
                out.push(Packed {
                    pool,
                    pt: pick,
                    reqs: reqs.clone(),
                    pods: node_pods,
                    requested,
                });
            }
        }
        let cheapest = Cheapest {
            cols,
            order: all_by_price,
            groups,
        };
        self.merge_tail(prep, limits, pool, &cheapest, out);
        left
    }

    /// The pattern plan ([`patterns::plan`]) of the groups without zone terms: its
    /// nodes, how many of them are whole copies of LP patterns (the rest are single
    /// nodes for what those leave), and the groups, by the plan's item index.
    fn pattern_plan(
        &self,
        prep: &Prepared,
        pc: &PoolCols,
        groups: &[Group],
        dominance: &mut Dominance,
    ) -> (Vec<patterns::Node>, usize, bool, Vec<usize>) {
        let (cols, all_by_price) = (pc.cols, pc.by_price);
        let eligible: Vec<usize> = (0..groups.len())
            .filter(|&g| {
                groups[g].remaining() > 0 && !groups[g].term.keys.contains_key(labels::ZONE)
            })
            .collect();
        if eligible.is_empty() {
            return (Vec::new(), 0, false, eligible);
        }
        let items: Vec<patterns::Item> = eligible
            .iter()
            .map(|&g| patterns::Item {
                req: &groups[g].req,
                demand: groups[g].remaining(),
            })
            .collect();
        let mut bin_cols = Vec::new();
        let mut bins = Vec::new();
        for &c in all_by_price {
            if dominance.dominated(prep, cols, c) || !cols[c].price.is_finite() {
                continue;
            }
            let cap = &prep.pts[cols[c].pt as usize].cap;
            let its: Vec<usize> = eligible
                .iter()
                .enumerate()
                // (A group's columns are those whose pair holds its pod.)
                .filter(|(_, &g)| groups[g].has(c))
                .map(|(i, _)| i)
                .collect();
            if its.is_empty() {
                continue;
            }
            bin_cols.push(c);
            bins.push(patterns::Bin {
                cap,
                price: cols[c].price / 1e6,
                items: its,
            });
        }
        let (mut nodes, whole, cut) = patterns::plan(&items, &bins, patterns::BUDGET);
        // Bins back to columns.
        for n in nodes.iter_mut() {
            n.bin = bin_cols[n.bin];
        }
        (nodes, whole, cut, eligible)
    }

    /// Open `nodes` of a pattern plan (bins are columns), each right-sized like the
    /// greedy's; stops at the first node pool limits refuse.
    fn open_patterns(
        &self,
        prep: &Prepared,
        pc: &PoolCols,
        limits: &mut crate::prep::LimitTracker,
        groups: &mut [Group],
        eligible: &[usize],
        nodes: &[patterns::Node],
        out: &mut Vec<Packed>,
    ) {
        let PoolCols {
            pool,
            cols,
            by_price: all_by_price,
            base,
            ..
        } = *pc;
        let np = &prep.problem.nodepools[pool];
        for node in nodes {
            let c = node.bin;
            let ct = cols[c].ct;
            let reqs = &with_terms(
                base[capacity_rank(ct) as usize].clone(),
                node.take.iter().map(|t| &groups[eligible[t.0]]),
            );
            let mut node_pods = Vec::new();
            let mut requested = Resources::default();
            let mut gs = BTreeSet::new();
            for &(i, k) in &node.take {
                let gr = &groups[eligible[i]];
                let n = k.min(gr.remaining());
                node_pods.extend(gr.pods[gr.next..gr.next + n].iter().copied());
                requested = requested.saturating_add(&scaled(&gr.req, n));
                gs.insert(eligible[i]);
            }
            if node_pods.is_empty() {
                continue;
            }
            let pick = Cheapest {
                cols,
                order: all_by_price,
                groups,
            }
            .column(self, prep, &gs, ct, &requested, reqs, node_pods.len())
            .map_or(cols[c].pt, |(_, pt)| pt);
            let cap = &prep.pts[pick as usize].capacity;
            if limits.exceeded(&np.limits, pool, cap).is_some() {
                return;
            }
            limits.add(pool, cap);
            for &(i, k) in &node.take {
                let gr = &mut groups[eligible[i]];
                gr.next += k.min(gr.remaining());
            }
            out.push(Packed {
                pool,
                pt: pick,
                reqs: reqs.clone(),
                pods: node_pods,
                requested,
            });
        }
    }

    /// The greedy fill leaves its least utilized nodes last (the few pods no efficient
    /// fill could take): merge the `k` least utilized nodes of a capacity type into the
    /// one cheapest type of the pool that holds all their pods whenever that costs less,
    /// `k` from 2 to [`TAIL`], best saving first, until no merge saves anything. (Twelve
    /// 1-CPU pods: 7 + 3 + 1 + 1 on four types, $0.580/h, become one $0.544/h node.)
    /// `out` holds the pool's nodes only.
    fn merge_tail(
        &self,
        prep: &Prepared,
        limits: &mut crate::prep::LimitTracker,
        pool: usize,
        cheapest: &Cheapest,
        out: &mut Vec<Packed>,
    ) {
        let groups = cheapest.groups;
        let np = &prep.problem.nodepools[pool];
        let mut group_of: std::collections::HashMap<usize, usize> =
            std::collections::HashMap::new();
        for (g, gr) in groups.iter().enumerate() {
            for &p in &gr.pods {
                group_of.insert(p, g);
            }
        }
        for _ in 0..TAIL_ROUNDS {
            // (saving, nodes merged, merged node)
            let mut best: Option<(f64, Vec<usize>, Packed)> = None;
            for ct in [CapacityType::Spot, CapacityType::OnDemand] {
                let mut idx: Vec<(f64, usize)> = (0..out.len())
                    .filter(|&i| out[i].reqs.get(labels::CAPACITY_TYPE).has(ct.as_str()))
                    .map(|i| {
                        let cap = &prep.pts[out[i].pt as usize].cap;
                        (share(&out[i].requested, cap), i)
                    })
                    .collect();
                if idx.len() < 2 {
                    continue;
                }
                idx.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut reqs = out[idx[0].1].reqs.clone();
                let mut requested = out[idx[0].1].requested.clone();
                let mut gs: BTreeSet<usize> = BTreeSet::new();
                let mut pods = out[idx[0].1].pods.clone();
                let mut before =
                    self.price(prep, out[idx[0].1].pt, &out[idx[0].1].reqs, pods.len());
                for &p in &out[idx[0].1].pods {
                    gs.extend(group_of.get(&p).copied());
                }
                for k in 1..idx.len().min(TAIL) {
                    let pk = &out[idx[k].1];
                    reqs = reqs.intersect(&pk.reqs);
                    requested = requested.saturating_add(&pk.requested);
                    before += self.price(prep, pk.pt, &pk.reqs, pk.pods.len());
                    pods.extend(pk.pods.iter().copied());
                    for &p in &pk.pods {
                        gs.extend(group_of.get(&p).copied());
                    }
                    let Some((after, pt)) =
                        cheapest.column(self, prep, &gs, ct, &requested, &reqs, pods.len())
                    else {
                        continue;
                    };
                    let saving = before - after;
                    if saving > before * 1e-9 && best.as_ref().is_none_or(|b| saving > b.0) {
                        let nodes: Vec<usize> = idx[..=k].iter().map(|x| x.1).collect();
                        best = Some((
                            saving,
                            nodes,
                            Packed {
                                pool,
                                pt,
                                reqs: reqs.clone(),
                                pods: pods.clone(),
                                requested: requested.clone(),
                            },
                        ));
                    }
                }
            }
            let Some((_, mut nodes, merged)) = best else {
                break;
            };
            for &i in &nodes {
                limits.remove(pool, &prep.pts[out[i].pt as usize].capacity);
            }
            let cap = &prep.pts[merged.pt as usize].capacity;
            if limits.exceeded(&np.limits, pool, cap).is_some() {
                for &i in &nodes {
                    limits.add(pool, &prep.pts[out[i].pt as usize].capacity);
                }
                break;
            }
            limits.add(pool, cap);
            nodes.sort_unstable();
            for &i in nodes.iter().rev() {
                out.remove(i);
            }
            out.push(merged);
        }
    }
}

impl Nodepack {
    /// The lowest effective price of pair `pt` under `reqs` for a node of `pods` pods
    /// (infinite when no offering is allowed).
    fn price(&self, prep: &Prepared, pt: u32, reqs: &Requirements, pods: usize) -> f64 {
        prep.pts[pt as usize]
            .offerings_for(reqs)
            .map(|o| self.risk.effective(o, pods))
            .fold(f64::INFINITY, f64::min)
    }
}

/// The packer's columns in price order, for finding the cheapest one that holds a
/// node's pods.
struct Cheapest<'c> {
    cols: &'c [Col],
    /// Every column, by its price (cheapest effective price of its capacity type in any
    /// zone for one pod: a lower bound of its price under any requirements for any
    /// number of pods), then index.
    order: &'c [usize],
    groups: &'c [Group],
}

impl Cheapest<'_> {
    /// The cheapest column of capacity type `ct` that every group in `gs` may use and
    /// whose pair holds `requested`, priced under `reqs` for `pods` pods: (price, pair);
    /// ties go to the lower pair index.
    #[allow(clippy::too_many_arguments)]
    fn column(
        &self,
        np: &Nodepack,
        prep: &Prepared,
        gs: &BTreeSet<usize>,
        ct: CapacityType,
        requested: &Resources,
        reqs: &Requirements,
        pods: usize,
    ) -> Option<(f64, u32)> {
        let mut pick: Option<(f64, u32)> = None;
        for &d in self.order {
            let col = &self.cols[d];
            if pick.is_some_and(|(p, _)| col.price > p) {
                break;
            }
            if col.ct != ct
                || !gs.iter().all(|&g| self.groups[g].has(d))
                || !requested.fits(&prep.pts[col.pt as usize].cap)
            {
                continue;
            }
            let p = np.price(prep, col.pt, reqs, pods);
            if p.is_finite() && pick.is_none_or(|(q, t)| p < q || (p == q && col.pt < t)) {
                pick = Some((p, col.pt));
            }
        }
        pick
    }
}

/// At most this many nodes merged into one by [`Nodepack::merge_tail`].
const TAIL: usize = 8;
/// At most this many tail merges per pool.
const TAIL_ROUNDS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};
    use proptest::{prop_assert, prop_assert_eq, proptest};

    proptest! {
        /// Both ways of ranking options give the same list: any subset of the pairs,
        /// any limit, any offer masks (zone and capacity-type subsets).
        #[test]
        fn rank_by_walk_and_by_sort_agree(
            pick in proptest::collection::vec(proptest::bool::ANY, 64),
            limit in 0usize..12,
            zones in 0u64..16,
            cts in 0u8..8,
        ) {
            let (walk, sort) = crate::prep::tests::with_testkit_prep(|prep| {
                let options: Vec<u32> = (0..prep.pts.len() as u32)
                    .filter(|&o| pick[o as usize % 64])
                    .collect();
                let masks = (zones, cts);
                (
                    rank_by_walk(prep, masks, &options, limit),
                    rank_by_sort(prep, masks, &options, limit),
                )
            });
            prop_assert_eq!(&walk, &sort);
            if limit > 0 {
                prop_assert!(walk.len() <= limit);
            }
        }

        /// The blocks a pod skips hold no claim with room for it: the candidates are
        /// exactly the claims with enough of each resource free, in order, before and
        /// after a claim's room changes.
        #[test]
        fn room_candidates_are_the_claims_with_room(
            free in proptest::collection::vec(proptest::array::uniform3(0u64..8), 0..150),
            need in proptest::array::uniform3(0u64..8),
            change in (0usize..150, proptest::array::uniform3(0u64..8)),
        ) {
            let mut free = free;
            let mut room = Room::new(free.clone());
            let fits = |f: &[[u64; 3]]| -> Vec<usize> {
                (0..f.len()).filter(|&c| (0..3).all(|k| f[c][k] >= need[k])).collect()
            };
            prop_assert_eq!(room.candidates(need).collect::<Vec<_>>(), fits(&free));
            if !free.is_empty() {
                let c = change.0 % free.len();
                free[c] = change.1;
                room.set(c, change.1);
                prop_assert_eq!(room.candidates(need).collect::<Vec<_>>(), fits(&free));
            }
        }
    }

    #[test]
    fn price_key_orders_as_total_cmp() {
        let xs = [
            -f64::INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            0.5,
            3.0,
            1e12,
            f64::INFINITY,
        ];
        let mut checked = 0;
        for a in xs {
            for b in xs {
                assert_eq!(
                    price_key(a).cmp(&price_key(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn scaled_sum_fits_agrees_with_building_the_sum() {
        let a = Resources::new(Millicores(1500), Bytes::from_gib(3))
            .with_pods(1)
            .with_extended("nvidia.com/gpu", 1);
        let b = Resources::new(Millicores(500), Bytes::from_gib(1)).with_pods(1);
        let cap = Resources::new(Millicores(8000), Bytes::from_gib(16))
            .with_pods(10)
            .with_extended("nvidia.com/gpu", 4);
        let mut both = 0;
        for ka in 0..8u64 {
            for kb in 0..8u64 {
                let built = scaled(&a, ka as usize).saturating_add(&scaled(&b, kb as usize));
                let fast = scaled_sum_fits(&[(&a, ka), (&b, kb)], &cap);
                assert_eq!(fast, built.fits(&cap), "{ka} x a + {kb} x b");
                both += fast as u32;
            }
        }
        // Some sums fit and some do not (GPUs, pods and cpu each bind somewhere).
        assert!(both > 0 && both < 64);
    }

    /// `cost_only` plans the same nodes at the same cost, without ranking alternatives.
    #[test]
    fn cost_only_keeps_the_plan_and_drops_alternatives() {
        use nodepack_testkit as tk;
        let catalog = tk::catalog();
        let mut pending = tk::pods("web", 30, 700, 1500);
        pending.extend(tk::pods("db", 7, 3100, 12_000));
        let pools = [nodepack_model::NodePool::new("default")];
        let problem = crate::Problem {
            pending: &pending,
            nodes: &[],
            nodepools: &pools,
            catalog: &catalog,
        };
        let full = Nodepack::default().solve(&problem);
        let quick = Nodepack {
            cost_only: true,
            ..Nodepack::default()
        }
        .solve(&problem);
        assert!(full.nodes.iter().any(|n| !n.alternatives.is_empty()));
        assert!(quick.nodes.iter().all(|n| n.alternatives.is_empty()));
        assert_eq!(full.cost_per_hour, quick.cost_per_hour);
        let shape = |p: &crate::Plan| -> Vec<(String, String, Vec<String>)> {
            p.nodes
                .iter()
                .map(|n| {
                    let pods = n.pods.iter().map(|id| id.to_string()).collect();
                    (n.instance_type.clone(), n.zone.clone(), pods)
                })
                .collect()
        };
        assert_eq!(shape(&full), shape(&quick));
        assert!(full.unschedulable.is_empty() && quick.unschedulable.is_empty());
    }
}
