//! The cost-driven packer for plain pods: columns of (instance type, capacity type),
//! pod groups, the pattern plan's nodes and the greedy fill, each node right-sized.

use super::*;
use crate::engine::Engine;
use crate::prep::{capacity_rank, Prepared};
use nodepack_model::{labels, CapacityType, Pod, Requirements, Resources};
use std::collections::{BTreeMap, BTreeSet};

/// How much a column's score may rise as pods are placed, for the greedy's lazy
/// evaluation (see [`NodepackStrategy::greedy`]): scores are not monotone (a proportional slice
/// grows when a scarce resource's hungriest pods are gone), so entries whose last score
/// is within this factor of the best current one are scored again.
pub(super) const RISE: f64 = 0.3;

/// A column in the greedy's lazy heap: its score when last computed (a bound on its
/// score now) at `step` (`usize::MAX`: never computed). The greatest score comes first,
/// then the lower price, then the lower column index.
#[derive(Clone, Copy)]
pub(super) struct Lazy {
    pub(super) score: f64,
    pub(super) price: f64,
    pub(super) col: usize,
    pub(super) step: usize,
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
pub(super) struct Dominance {
    pub(super) buckets: Vec<Vec<usize>>,
    pub(super) bucket_of: Vec<usize>,
    /// Next position to decide in each bucket.
    pub(super) pos: Vec<usize>,
    pub(super) kept: Vec<Vec<usize>>,
    /// The usable (cpu, memory, storage, pods) of each bucket's kept columns, beside
    /// `kept` (a quick test before the full one).
    kept_caps: Vec<Vec<[u64; 4]>>,
    /// 0: undecided, 1: kept, 2: dominated.
    pub(super) state: Vec<u8>,
}

impl Dominance {
    pub(super) fn new(prep: &Prepared, cols: &[Col], sig: &Sigs) -> Self {
        let mut by_sig: BTreeMap<(&[u64], CapacityType), Vec<usize>> = BTreeMap::new();
        for (c, col) in cols.iter().enumerate() {
            by_sig.entry((sig.of(c), col.ct)).or_default().push(c);
        }
        let size = |c: usize| -> u128 {
            let r = &prep.pool_types[cols[c].pt as usize].usable;
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
            kept_caps: vec![Vec::new(); buckets.len()],
            buckets,
            bucket_of,
            state: vec![0; cols.len()],
        }
    }

    /// Is column `c` dominated?
    pub(super) fn dominated(&mut self, prep: &Prepared, cols: &[Col], c: usize) -> bool {
        let b = self.bucket_of[c];
        while self.state[c] == 0 {
            let x = self.buckets[b][self.pos[b]];
            self.pos[b] += 1;
            // The price first, then the capacities (names of extended resources
            // compared as indices).
            let (a, px) = (cols[x].pt as usize, cols[x].price);
            let ca = prep.caps_of(a);
            let dominated = self.kept[b].iter().zip(&self.kept_caps[b]).any(|(&d, cd)| {
                cd.iter().zip(ca).all(|(h, w)| h >= w) && {
                    let (bd, pd) = (cols[d].pt as usize, cols[d].price);
                    pd <= px
                        && prep.usable_fits_in(a, bd)
                        && (pd < px || !prep.usable_eq(a, bd) || d < x)
                }
            });
            self.state[x] = if dominated { 2 } else { 1 };
            if !dominated {
                self.kept[b].push(x);
                self.kept_caps[b].push(*ca);
            }
        }
        self.state[c] == 2
    }
}

/// The groups that may use each column, as one bit set per column over the group
/// indices (column `c`'s words are `bits[c * words..(c + 1) * words]`).
pub(super) struct Sigs {
    pub(super) words: usize,
    pub(super) bits: Vec<u64>,
}

impl Sigs {
    pub(super) fn new(cols: usize, groups: &[Group]) -> Self {
        let words = groups.len().div_ceil(64);
        let mut bits = vec![0u64; cols * words];
        // A block of 64 groups by 64 columns at a time: its group rows (one word of each
        // group's column set) transposed into column rows.
        let mut block = [0u64; 64];
        for gw in 0..words {
            for cw in 0..cols.div_ceil(64) {
                for (r, x) in block.iter_mut().enumerate() {
                    *x = groups
                        .get(gw * 64 + r)
                        .and_then(|g| g.bits.get(cw))
                        .copied()
                        .unwrap_or(0);
                }
                if block.iter().all(|&x| x == 0) {
                    continue;
                }
                transpose64(&mut block);
                for (k, &x) in block.iter().enumerate() {
                    let c = cw * 64 + k;
                    if c < cols {
                        bits[c * words + gw] = x;
                    }
                }
            }
        }
        Sigs { words, bits }
    }

    /// The groups that may use column `c`, as a bit set.
    pub(super) fn of(&self, c: usize) -> &[u64] {
        &self.bits[c * self.words..(c + 1) * self.words]
    }
}

/// Transpose a 64 x 64 bit matrix in place (row `r` is word `r`, column `k` its bit
/// `k`): off-diagonal blocks swapped, halving the block size each round.
fn transpose64(a: &mut [u64; 64]) {
    let (mut j, mut m) = (32usize, 0x0000_0000_FFFF_FFFFu64);
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            // Bits j.. of row k trade places with bits ..j of row k + j (within each
            // block of 2j columns).
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// A bit set over group indices.
pub(super) fn bit_set(n: usize, mut member: impl FnMut(usize) -> bool) -> Vec<u64> {
    let mut bits = vec![0u64; n.div_ceil(64)];
    for i in 0..n {
        if member(i) {
            bits[i / 64] |= 1u64 << (i % 64);
        }
    }
    bits
}

/// The members of the word-wise `f` of bit sets, ascending.
pub(super) fn members<'a>(
    words: usize,
    f: impl Fn(usize) -> u64 + 'a,
) -> impl Iterator<Item = usize> + 'a {
    (0..words).flat_map(move |w| {
        let mut x = f(w);
        std::iter::from_fn(move || {
            (x != 0).then(|| {
                let b = x.trailing_zeros() as usize;
                x &= x - 1;
                w * 64 + b
            })
        })
    })
}

/// Same requests and node rules (node selector, required and preferred node affinity):
/// the packer's group key (requests and node term) is the same.
pub(super) fn same_node_rules(a: &Pod, b: &Pod) -> bool {
    a.requests == b.requests
        && a.node_selector == b.node_selector
        && a.node_affinity_required == b.node_affinity_required
        && a.node_affinity_preferred == b.node_affinity_preferred
}

/// `reqs` narrowed by the node terms of `groups` (each group's pods may use every
/// column the node could launch, so the terms are compatible with it).
pub(super) fn with_terms<'g>(
    reqs: Requirements,
    groups: impl Iterator<Item = &'g Group>,
) -> Requirements {
    // (Each distinct term once: intersecting again with one changes nothing.)
    let mut seen = BTreeSet::new();
    groups.fold(reqs, |r, g| {
        if seen.insert(g.term_id) {
            r.intersect(&g.term)
        } else {
            r
        }
    })
}

/// An integer that orders prices as `f64::total_cmp` does.
pub(super) fn price_key(p: f64) -> i64 {
    let b = p.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The packer's columns of one pool, fixed while it packs the pool.
#[derive(Clone, Copy)]
pub(super) struct PoolCols<'a> {
    pub(super) pool: usize,
    pub(super) cols: &'a [Col],
    /// The groups that may use each column.
    pub(super) sig: &'a Sigs,
    /// Every column, cheapest first.
    pub(super) by_price: &'a [usize],
    /// The pool's requirements with each capacity type (by capacity rank).
    pub(super) base: &'a [Requirements],
}

/// A launch option of the packer: a pair and a capacity type.
pub(super) struct Col {
    pub(super) pt: u32,
    pub(super) ct: CapacityType,
    /// Cheapest effective price of that capacity type (any zone), micro-dollars.
    pub(super) price: f64,
}

/// The least fair cost of a request (a pair's price times the request's share of it)
/// over the pairs it may use, found without most shares: the pairs are walked by price
/// per unit of CPU or of memory, whichever the request's bound rises with faster, until
/// that bound (less a margin far above rounding) is not below the least so far; a pair
/// whose whole bound is not below it is passed over without its share.
pub(super) struct FairWalk {
    /// Each pair's cheapest price over its capacity types per unit of usable CPU and of
    /// memory (0 where undefined): a request's fair cost on the pair is at least its
    /// CPU, and its memory, times these.
    per_unit: Vec<[f64; 2]>,
    /// The pairs by each of the two, then index.
    walks: [Vec<u32>; 2],
    /// Each walk's middle value.
    middles: [f64; 2],
}

impl FairWalk {
    /// From each pair's cheapest price per capacity rank (infinite: none).
    pub(super) fn new(prep: &Prepared, prices: &[[f64; 3]]) -> Self {
        let per_unit: Vec<[f64; 2]> = prep
            .pool_types
            .iter()
            .zip(prices)
            .map(|(pt, p)| {
                let m = p[0].min(p[1]).min(p[2]);
                let per = |have: u64| {
                    if m.is_finite() && m >= 0.0 && have > 0 {
                        m / have as f64
                    } else {
                        0.0
                    }
                };
                [per(pt.usable.cpu.0), per(pt.usable.memory.0)]
            })
            .collect();
        let walks: [Vec<u32>; 2] = std::array::from_fn(|d| {
            let mut w: Vec<u32> = (0..per_unit.len() as u32).collect();
            w.sort_by(|&a, &b| {
                per_unit[a as usize][d]
                    .total_cmp(&per_unit[b as usize][d])
                    .then(a.cmp(&b))
            });
            w
        });
        let middles = std::array::from_fn(|d| {
            walks[d]
                .get(walks[d].len() / 2)
                .map_or(0.0, |&o| per_unit[o as usize][d])
        });
        FairWalk {
            per_unit,
            walks,
            middles,
        }
    }

    /// The least of `prices[pair][rank] * share` over the pairs that hold the request
    /// and the capacity ranks their `mask` bit admits (infinite: none).
    pub(super) fn least(
        &self,
        fit: &crate::prep::FitTest,
        req: &Resources,
        mask: &[u8],
        prices: &[[f64; 3]],
    ) -> f64 {
        let (cpu, mem) = (req.cpu.0 as f64, req.memory.0 as f64);
        let d = usize::from(mem * self.middles[1] > cpu * self.middles[0]);
        let lead = if d == 0 { cpu } else { mem };
        let mut fair = f64::INFINITY;
        for &o in &self.walks[d] {
            let u = self.per_unit[o as usize];
            if lead * u[d] * (1.0 - 1e-9) >= fair {
                break;
            }
            let m = mask[o as usize];
            if m == 0
                || (cpu * u[0]).max(mem * u[1]) * (1.0 - 1e-9) >= fair
                || !fit.fits(o as usize)
            {
                continue;
            }
            // (The request's share of the type, the same for each capacity type.)
            let sh = fit.share(o as usize);
            for (k, price) in prices[o as usize].iter().enumerate() {
                if m & (1 << k) != 0 {
                    fair = fair.min(price * sh);
                }
            }
        }
        fair
    }
}

/// The pairs a term and tolerations admit ([`NodepackStrategy::pack_pool`]): each with
/// its capacity types' bits (by capacity rank), in the compatibility cache's order; those
/// whose columns are not all numbered yet; and the bits by pair index (0: not admitted).
struct TermPairs {
    offered: Vec<(u32, u8)>,
    pending: Vec<(u32, u8)>,
    /// The largest usable capacity of the pending pairs in each plain dimension: a
    /// request over it in one fits none of them.
    pending_max: [u64; 4],
    mask: Vec<u8>,
}

/// The element-wise largest plain capacity ([`crate::prep::plain_dims`]) of `pairs`.
fn max_caps(prep: &Prepared, pairs: &[(u32, u8)]) -> [u64; 4] {
    let mut most = [0u64; 4];
    for &(o, _) in pairs {
        for (m, &c) in most.iter_mut().zip(prep.caps_of(o as usize)) {
            *m = (*m).max(c);
        }
    }
    most
}

/// The columns whose pair's usable capacity holds a request, as bit sets: for each plain
/// dimension (CPU, memory, ephemeral storage, pod slots), the distinct capacities of the
/// columns' pairs, ascending, each with the set of columns that have at least as much.
pub(super) struct ColFits {
    dims: [(Vec<u64>, Vec<Vec<u64>>); 4],
}

impl ColFits {
    /// From each column's plain capacities.
    pub(super) fn new(caps: &[[u64; 4]]) -> Self {
        let words = caps.len().div_ceil(64);
        ColFits {
            dims: std::array::from_fn(|d| {
                let mut by: Vec<(u64, usize)> =
                    caps.iter().enumerate().map(|(c, k)| (k[d], c)).collect();
                by.sort_unstable();
                let (mut values, mut sets) = (Vec::new(), Vec::new());
                let mut acc = vec![0u64; words];
                // From the largest capacity down, each set adds its value's columns.
                let mut i = by.len();
                while let Some(&(v, _)) = i.checked_sub(1).map(|j| &by[j]) {
                    while i > 0 && by[i - 1].0 == v {
                        let c = by[i - 1].1;
                        acc[c / 64] |= 1u64 << (c % 64);
                        i -= 1;
                    }
                    values.push(v);
                    sets.push(acc.clone());
                }
                values.reverse();
                sets.reverse();
                (values, sets)
            }),
        }
    }

    /// Keeps in `bits` only the columns whose plain capacities hold `r`'s.
    pub(super) fn keep_fitting(&self, r: &Resources, bits: &mut [u64]) {
        for ((values, sets), x) in self.dims.iter().zip(crate::prep::plain_dims(r)) {
            match sets.get(values.partition_point(|&v| v < x)) {
                Some(set) => {
                    for (b, w) in bits.iter_mut().zip(set) {
                        *b &= w;
                    }
                }
                None => {
                    bits.fill(0);
                    return;
                }
            }
        }
    }
}

/// Plain pods of one pool with identical requests and node requirements.
#[derive(Clone)]
pub(super) struct Group {
    pub(super) pods: Vec<usize>,
    pub(super) next: usize,
    pub(super) req: Resources,
    /// The group's node rules within the pool's (shared by the groups of one term).
    pub(super) term: std::sync::Arc<Requirements>,
    /// Equal for groups of equal terms.
    pub(super) term_id: usize,
    /// The columns the group's pods may use, as a bit set over column indices.
    pub(super) bits: Vec<u64>,
    pub(super) fair: f64,
}

impl Group {
    /// Can the group's pods use column `c`?
    #[cfg(test)]
    pub(super) fn has(&self, c: usize) -> bool {
        self.bits
            .get(c / 64)
            .is_some_and(|w| w & (1u64 << (c % 64)) != 0)
    }

    pub(super) fn remaining(&self) -> usize {
        self.pods.len() - self.next
    }
}

/// The free room (cpu, memory, pod slots) of a list of claims, with the largest of each
/// per block of [`Room::BLOCK`] claims, so that a pod looking for the first claim with
/// room skips whole blocks where no claim has enough of some resource.
pub(super) struct Room {
    pub(super) free: Vec<[u64; 3]>,
    pub(super) most: Vec<[u64; 3]>,
}

impl Room {
    const BLOCK: usize = 32;

    pub(super) fn new(free: Vec<[u64; 3]>) -> Self {
        let most = free.chunks(Self::BLOCK).map(Self::most_of).collect();
        Room { free, most }
    }

    /// The element-wise largest free room of a block.
    pub(super) fn most_of(block: &[[u64; 3]]) -> [u64; 3] {
        block.iter().fold([0; 3], |m, f| {
            [m[0].max(f[0]), m[1].max(f[1]), m[2].max(f[2])]
        })
    }

    /// The claims, in order, that may have `need` free: every claim of a block whose
    /// largest free room holds `need` in each resource (a necessary condition only).
    pub(super) fn candidates(&self, need: [u64; 3]) -> impl Iterator<Item = usize> + '_ {
        let n = self.free.len();
        self.most
            .iter()
            .enumerate()
            .filter(move |(_, m)| (0..3).all(|k| m[k] >= need[k]))
            .flat_map(move |(b, _)| b * Self::BLOCK..((b + 1) * Self::BLOCK).min(n))
            .filter(move |&c| (0..3).all(|k| self.free[c][k] >= need[k]))
    }

    /// Claim `c` now has `free` room.
    pub(super) fn set(&mut self, c: usize, free: [u64; 3]) {
        self.free[c] = free;
        let b = c / Self::BLOCK;
        let end = ((b + 1) * Self::BLOCK).min(self.free.len());
        self.most[b] = Self::most_of(&self.free[b * Self::BLOCK..end]);
    }
}

/// How many more pods of `req` fit in `free` (at most `limit`).
pub(super) fn max_fit(free: &Resources, req: &Resources, limit: usize) -> usize {
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

/// The summed demand of a set of groups (each request times its pods left), exact in
/// integers: what [`SliceSum::scale`] fits to a column's room. It depends on the set
/// only, so the greedy computes it once per set and step, not per column, from sums
/// per word of 64 groups ([`WordSums`]).
#[derive(Clone, Default)]
pub(super) struct SliceSum {
    cpu: u128,
    mem: u128,
    eph: u128,
    pods: u128,
    ext: Vec<(String, u128)>,
    /// How many parts, and the most copies of any.
    pub(super) parts: usize,
    pub(super) most: u64,
}

impl SliceSum {
    pub(super) fn new<'a>(parts: impl Iterator<Item = (&'a Resources, u64)>) -> Self {
        let mut sum = SliceSum::default();
        for (r, k) in parts {
            sum.parts += 1;
            sum.most = sum.most.max(k);
            let k = u128::from(k);
            sum.cpu += u128::from(r.cpu.0) * k;
            sum.mem += u128::from(r.memory.0) * k;
            sum.eph += u128::from(r.ephemeral_storage.0) * k;
            sum.pods += u128::from(r.pods) * k;
            for (name, v) in &r.extended {
                sum.add_ext(name, u128::from(*v) * k);
            }
        }
        sum
    }

    fn add_ext(&mut self, name: &str, v: u128) {
        match self.ext.iter_mut().find(|e| e.0 == name) {
            Some(e) => e.1 += v,
            None => self.ext.push((name.to_string(), v)),
        }
    }

    /// Adds another set's sum (of groups not in this one).
    fn merge(&mut self, o: &SliceSum) {
        self.parts += o.parts;
        self.most = self.most.max(o.most);
        self.cpu += o.cpu;
        self.mem += o.mem;
        self.eph += o.eph;
        self.pods += o.pods;
        for (name, v) in &o.ext {
            self.add_ext(name, *v);
        }
    }

    /// The largest `s` at most 1 such that `s` times the sum fits `cap`, resource by
    /// resource (in floating point).
    pub(super) fn scale(&self, cap: &Resources) -> f64 {
        let room = |need: f64, have: u64| {
            if need > 0.0 {
                have as f64 / need
            } else {
                f64::INFINITY
            }
        };
        let mut s = 1.0f64
            .min(room(self.cpu as f64, cap.cpu.0))
            .min(room(self.mem as f64, cap.memory.0))
            .min(room(self.eph as f64, cap.ephemeral_storage.0))
            .min(room(self.pods as f64, cap.pods));
        for (name, v) in &self.ext {
            s = s.min(room(*v as f64, cap.extended(name)));
        }
        s
    }
}

/// The greedy's slice sums per word of 64 groups, by the word's bits: valid while those
/// groups' pods left do not change ([`WordSums::forget`] the words whose do).
pub(super) struct WordSums {
    words: Vec<Vec<(u64, SliceSum)>>,
}

impl WordSums {
    pub(super) fn new(words: usize) -> Self {
        WordSums {
            words: vec![Vec::new(); words],
        }
    }

    /// The sum of the groups in `set` (a bit set over `groups`), each request times
    /// its pods left.
    pub(super) fn sum(&mut self, set: &[u64], groups: &[Group]) -> SliceSum {
        let mut sum = SliceSum::default();
        for (w, &bits) in set.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let known = &mut self.words[w];
            let at = match known.iter().position(|e| e.0 == bits) {
                Some(at) => at,
                None => {
                    let part = SliceSum::new(members(1, |_| bits).map(|i| {
                        let g = &groups[w * 64 + i];
                        (&g.req, g.remaining() as u64)
                    }));
                    known.push((bits, part));
                    known.len() - 1
                }
            };
            sum.merge(&known[at].1);
        }
        sum
    }

    /// Drops the sums of group `g`'s word.
    pub(super) fn forget(&mut self, g: usize) {
        if let Some(w) = self.words.get_mut(g / 64) {
            w.clear();
        }
    }
}

/// Whether the sum of `req * k` over `parts` fits in `cap`, without building the sum:
/// the proportional fill's binary search asks this some thirty times per column, and
/// building [`Resources`] with extended resources (GPUs) allocates each time.
pub(super) fn scaled_sum_fits(parts: &[(&Resources, u64)], cap: &Resources) -> bool {
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

pub(super) fn scaled(r: &Resources, k: usize) -> Resources {
    let k64 = k as u64;
    let mut s = Resources::new(
        nodepack_model::Millicores(r.cpu.0 * k64),
        nodepack_model::Bytes(r.memory.0 * k64),
    );
    s.ephemeral_storage = nodepack_model::Bytes(r.ephemeral_storage.0 * k64);
    s.pods = r.pods * k64;
    s.extended = r
        .extended
        .iter()
        .map(|(n, v)| (n.clone(), v * k64))
        .collect();
    s
}

/// `*free = free.saturating_sub(&scaled(r, k))` in place, without building either.
pub(super) fn take_scaled(free: &mut Resources, r: &Resources, k: usize) {
    let k64 = k as u64;
    free.cpu = free
        .cpu
        .saturating_sub(nodepack_model::Millicores(r.cpu.0 * k64));
    free.memory = free
        .memory
        .saturating_sub(nodepack_model::Bytes(r.memory.0 * k64));
    free.ephemeral_storage = free
        .ephemeral_storage
        .saturating_sub(nodepack_model::Bytes(r.ephemeral_storage.0 * k64));
    free.pods = free.pods.saturating_sub(r.pods * k64);
    if free.extended.is_empty() {
        return;
    }
    for (n, v) in &r.extended {
        if let Some(e) = free.extended.get_mut(n) {
            *e = e.saturating_sub(v * k64);
        }
    }
    free.extended.retain(|_, v| *v > 0);
}

impl NodepackStrategy {
    /// Pack the pods of one pool; returns the pods left over (limits).
    pub(super) fn pack_pool(
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
        let mut col_of: Vec<[u32; 3]> = vec![[u32::MAX; 3]; prep.pool_types.len()];
        // Each pair's cheapest effective price per capacity type (any zone, one pod).
        let col_prices = prep.shared_prices(self.risk.key(), |pairs| {
            pairs
                .pool_types
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
        let walk = FairWalk::new(prep, &col_prices);
        let mut groups: Vec<Group> = Vec::new();
        // Each distinct term (a pod's node rules within the pool's) gets an id, found
        // from the pod's own term without intersecting it again; by id: the term, its
        // groups by requests, and its pairs' index in `terms` by tolerations.
        type ByTerm = (
            std::sync::Arc<Requirements>,
            std::collections::HashMap<Resources, usize>,
            Vec<(Vec<nodepack_model::Toleration>, usize)>,
        );
        let mut term_ids: std::collections::HashMap<Requirements, usize> =
            std::collections::HashMap::new();
        let mut id_of_own: std::collections::HashMap<Requirements, usize> =
            std::collections::HashMap::new();
        let mut by_term: Vec<ByTerm> = Vec::new();
        // pods are in Karpenter order (largest first), so groups are too.
        let mut last: Option<(&Pod, usize)> = None;
        // The pairs of each term and tolerations, and each group's index in them.
        let mut terms: Vec<TermPairs> = Vec::new();
        let mut group_term: Vec<usize> = Vec::new();
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
            let own = &eng.base_view(pi).term;
            let id = match id_of_own.get(own) {
                Some(&id) => id,
                None => {
                    let term = own.intersect(&prep.pools[pool].reqs);
                    let id = *term_ids.entry(term.clone()).or_insert_with(|| {
                        by_term.push((std::sync::Arc::new(term), Default::default(), Vec::new()));
                        by_term.len() - 1
                    });
                    id_of_own.insert(own.clone(), id);
                    id
                }
            };
            let term = by_term[id].0.clone();
            if let Some(&g) = by_term[id].1.get(&pod.requests) {
                groups[g].pods.push(pi);
                last = Some((pod, g));
                continue;
            }
            last = Some((pod, groups.len()));
            // The pairs the term and tolerations admit, each with the capacity types of
            // its offerings the term allows (as bits by capacity rank; none: left out).
            let known = by_term[id]
                .2
                .iter()
                .find(|e| e.0 == pod.tolerations)
                .map(|e| e.1);
            let t = known.unwrap_or_else(|| {
                let list: &[u32] = match eng.cache.get(prep, pool, &term, &pod.tolerations, false) {
                    Ok(l) => l,
                    Err(_) => &[],
                };
                let (zones, cts) = prep.offer_masks(&term);
                let offered: Vec<(u32, u8)> = list
                    .iter()
                    .filter_map(|&o| {
                        let mask = prep.pool_types[o as usize]
                            .offer_bits
                            .iter()
                            .filter(|&&(z, c)| z & zones != 0 && c & cts != 0)
                            .fold(0u8, |m, &(_, c)| m | c);
                        (mask != 0).then_some((o, mask))
                    })
                    .collect();
                let mut mask = vec![0u8; prep.pool_types.len()];
                for &(o, m) in &offered {
                    mask[o as usize] = m;
                }
                terms.push(TermPairs {
                    pending_max: max_caps(prep, &offered),
                    pending: offered.clone(),
                    offered,
                    mask,
                });
                by_term[id]
                    .2
                    .push((pod.tolerations.clone(), terms.len() - 1));
                terms.len() - 1
            });
            let fit = prep.fit_test(&pod.requests);
            // Columns are numbered by first use: the pairs this group is the first of its
            // term to fit get theirs, in the order the term's pairs are listed. (None of
            // the pending pairs fits a request over their largest capacity in some
            // dimension: with many shapes most requests are, once the first few have
            // taken the pairs they fit.)
            let need = crate::prep::plain_dims(&pod.requests);
            let tp = &mut terms[t];
            if need.iter().zip(&tp.pending_max).all(|(n, m)| n <= m) {
                let before = tp.pending.len();
                tp.pending.retain(|&(o, mask)| {
                    if !fit.fits(o as usize) {
                        return true;
                    }
                    for ct in CT_ORDER {
                        let k = capacity_rank(ct) as usize;
                        let slot = &mut col_of[o as usize][k];
                        if mask & (1 << k) != 0 && *slot == u32::MAX {
                            let price = col_prices[o as usize][k];
                            cols.push(Col { pt: o, ct, price });
                            *slot = (cols.len() - 1) as u32;
                        }
                    }
                    false
                });
                if tp.pending.len() != before {
                    tp.pending_max = max_caps(prep, &tp.pending);
                }
            }
            let fair = walk.least(&fit, &pod.requests, &terms[t].mask, &col_prices);
            by_term[id].1.insert(pod.requests.clone(), groups.len());
            group_term.push(t);
            groups.push(Group {
                pods: vec![pi],
                next: 0,
                req: pod.requests.clone(),
                term,
                term_id: id,
                bits: Vec::new(),
                fair,
            });
        }
        // Each group's columns: its term's columns whose pair holds its request.
        let words = cols.len().div_ceil(64);
        let term_cols: Vec<Vec<u64>> = terms
            .iter()
            .map(|tp| {
                let mut b = vec![0u64; words];
                for &(o, mask) in &tp.offered {
                    for (k, &c) in col_of[o as usize].iter().enumerate() {
                        if mask & (1 << k) != 0 && c != u32::MAX {
                            b[c as usize / 64] |= 1u64 << (c % 64);
                        }
                    }
                }
                b
            })
            .collect();
        let caps: Vec<[u64; 4]> = cols
            .iter()
            .map(|c| crate::prep::plain_dims(&prep.pool_types[c.pt as usize].usable))
            .collect();
        let col_fits = ColFits::new(&caps);
        for (g, &t) in groups.iter_mut().zip(&group_term) {
            let mut b = term_cols[t].clone();
            col_fits.keep_fitting(&g.req, &mut b);
            if g.req.extended.values().any(|&v| v > 0) {
                let fit = prep.fit_test(&g.req);
                for (w, word) in b.iter_mut().enumerate() {
                    let mut rest = *word;
                    while rest != 0 {
                        let i = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        if !fit.fits(cols[w * 64 + i].pt as usize) {
                            *word &= !(1u64 << i);
                        }
                    }
                }
            }
            g.bits = b;
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
        // (Packing moves only each group's `next`: a completion starts by rewinding it.)
        let complete = |gs: &mut [Group],
                        dominance: &mut Dominance,
                        eligible: &[usize],
                        nodes: &[patterns::Node]|
         -> Variant {
            for g in gs.iter_mut() {
                g.next = 0;
            }
            let mut limits = eng.limits.clone();
            let mut alive = alive.clone();
            let mut mine = Vec::new();
            self.open_patterns(prep, &pc, &mut limits, gs, eligible, nodes, &mut mine);
            let left = self.greedy(prep, &pc, &mut limits, gs, dominance, &mut alive, &mut mine);
            let cost: f64 = mine
                .iter()
                .map(|pk| self.price(prep, pk.pt, &pk.reqs, pk.pods.len()))
                .sum();
            (cost, left, mine, limits)
        };
        // (With `greedy_only` the plan would be empty: not even its bins are built.)
        let (nodes, whole, cut, eligible) = if self.greedy_only {
            (Vec::new(), 0, false, Vec::new())
        } else {
            self.pattern_plan(prep, &pc, &groups, &mut dominance)
        };
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
            let v = complete(&mut groups, &mut dominance, &eligible, &nodes[..count]);
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
    /// included; [`NodepackStrategy::merge_tail`]). Returns the pods pool limits left over.
    pub(super) fn greedy(
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
        let words = sig.words;
        // Groups with a zone term, and each group's (cpu, memory, storage, pods)
        // request for a quick fit test (both fixed while packing).
        let zoned = bit_set(groups.len(), |g| {
            groups[g].term.keys.contains_key(labels::ZONE)
        });
        let small: Vec<[u64; 4]> = groups
            .iter()
            .map(|g| {
                let r = &g.req;
                [r.cpu.0, r.memory.0, r.ephemeral_storage.0, r.pods]
            })
            .collect();
        // The least of each of those over each word's 64 groups: a word none of whose
        // groups passes the quick test is skipped whole.
        let word_min: Vec<[u64; 4]> = small
            .chunks(64)
            .map(|c| {
                c.iter().fold([u64::MAX; 4], |m, q| {
                    [
                        m[0].min(q[0]),
                        m[1].min(q[1]),
                        m[2].min(q[2]),
                        m[3].min(q[3]),
                    ]
                })
            })
            .collect();
        let too_big = |q: &[u64; 4], free: &Resources| {
            q[0] > free.cpu.0
                || q[1] > free.memory.0
                || q[2] > free.ephemeral_storage.0
                || q[3] > free.pods
        };
        // The fills of the columns scored at this step.
        // (`None`: the column's base requirements, not copied for every fill.)
        let mut fresh: BTreeMap<usize, (Vec<(usize, usize)>, Option<Requirements>)> =
            BTreeMap::new();
        // The groups with pods left, and the slice sums by word (both kept up to date
        // for the groups each step takes pods of).
        let mut live = bit_set(groups.len(), |g| groups[g].remaining() > 0);
        let mut word_sums = WordSums::new(words);
        loop {
            step += 1;
            if live.iter().all(|&w| w == 0) {
                break;
            }
            // The proportional slices' summed demand at this step, by set of groups.
            // (Sets are compared word by word: cheaper than hashing them.)
            let mut slices: BTreeMap<Vec<u64>, SliceSum> = BTreeMap::new();
            let mut set: Vec<u64> = vec![0; words];
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
                let col = sig.of(c);
                if !alive[c] || !col.iter().zip(&live).any(|(a, b)| a & b != 0) {
                    continue;
                }
                // A column whose own type the pool's limits no longer admit is dead for
                // the rest of the solve (usage only grows), as Karpenter drops the
                // instance types a pool's remaining limits exclude.
                if !limits.allows(
                    &np.limits,
                    pool,
                    &prep.pool_types[cols[c].pt as usize].capacity,
                ) {
                    alive[c] = false;
                    continue;
                }
                let pt = &prep.pool_types[cols[c].pt as usize];
                let base_reqs = &base[capacity_rank(cols[c].ct) as usize];
                let mut fill =
                    |proportional: bool| -> (Vec<(usize, usize)>, f64, Option<Requirements>) {
                        let mut free = pt.usable.clone();
                        let mut reqs: Option<Requirements> = None;
                        // Whether `reqs` has an offering of the pair (asked once per value).
                        let mut offered_now: Option<bool> = None;
                        let mut take: Vec<(usize, usize)> = Vec::new();
                        let mut value = 0.0;
                        // 1. A slice of the remaining demand in proportion (the mix the LP
                        // would use), as large as fits: balanced use of every resource.
                        let sum = proportional.then(|| {
                            for (w, x) in set.iter_mut().enumerate() {
                                *x = live[w] & col[w] & !zoned[w];
                            }
                            if !slices.contains_key(set.as_slice()) {
                                let sum = word_sums.sum(&set, groups);
                                slices.insert(set.clone(), sum);
                            }
                            &slices[set.as_slice()]
                        });
                        if let Some(sum) = sum.filter(|s| s.parts > 1) {
                            // The largest scale the sums fit at, exact but for rounding
                            // (the floors only take pods away); bisection if rounding
                            // broke it. Below one pod of the largest remainder every floor
                            // is 0: the slice takes nothing.
                            let direct = sum.scale(&pt.usable);
                            if direct * sum.most as f64 >= 1.0 {
                                // (The set the sum was keyed by.)
                                let prop: Vec<usize> = members(words, |w| set[w]).collect();
                                let mut parts: Vec<(&Resources, u64)> =
                                    Vec::with_capacity(prop.len());
                                let mut fits_at = |s: f64| -> bool {
                                    parts.clear();
                                    for &g in &prop {
                                        let k = (s * groups[g].remaining() as f64).floor() as u64;
                                        parts.push((&groups[g].req, k));
                                    }
                                    scaled_sum_fits(&parts, &pt.usable)
                                };
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
                                        take_scaled(&mut free, &groups[g].req, k);
                                        value += groups[g].fair * k as f64;
                                        take.push((g, k));
                                    }
                                }
                            }
                        }
                        // 2. Top up, first fit decreasing.
                        // (The slice's entries are by ascending group; the top-up meets
                        // each group once.)
                        let sliced_len = take.len();
                        for w in 0..words {
                            if too_big(&word_min[w], &free) {
                                continue;
                            }
                            let mut bits = live[w] & col[w];
                            while bits != 0 {
                                let g = w * 64 + bits.trailing_zeros() as usize;
                                bits &= bits - 1;
                                if too_big(&small[g], &free) {
                                    continue;
                                }
                                let gr = &groups[g];
                                let at = take[..sliced_len].binary_search_by_key(&g, |t| t.0);
                                let already = at.map_or(0, |i| take[i].1);
                                let k = max_fit(&free, &gr.req, gr.remaining() - already);
                                if k == 0 {
                                    continue;
                                }
                                // Only zone terms narrow the node's requirements.
                                let now = reqs.as_ref().unwrap_or(base_reqs);
                                let merged = gr
                                    .term
                                    .keys
                                    .contains_key(labels::ZONE)
                                    .then(|| now.intersect(&gr.term));
                                let offered = match &merged {
                                    Some(m) => pt.offerings_for(m).next().is_some(),
                                    // The same requirements as the last take: the same answer.
                                    None => *offered_now.get_or_insert_with(|| {
                                        pt.offerings_for(now).next().is_some()
                                    }),
                                };
                                if !offered {
                                    continue;
                                }
                                if merged.is_some() {
                                    reqs = merged;
                                    offered_now = Some(true);
                                }
                                take_scaled(&mut free, &gr.req, k);
                                value += gr.fair * k as f64;
                                match at {
                                    Ok(i) => take[i].1 += k,
                                    Err(_) => take.push((g, k)),
                                }
                            }
                        }
                        (take, value, reqs)
                    };
                // Both fills; keep the one that buys more fair cost (the proportional
                // slice needs two groups, else both fills are the same).
                let (t1, v1, r1) = fill(false);
                let sliced = members(words, |w| live[w] & col[w] & !zoned[w])
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
                let price = self.price(
                    prep,
                    cols[c].pt,
                    reqs.as_ref().unwrap_or(base_reqs),
                    take.iter().map(|t| t.1).sum(),
                );
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
                for g in members(words, |w| live[w]) {
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
            let reqs = reqs.unwrap_or_else(|| base[capacity_rank(cols[c].ct) as usize].clone());
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
                let pick =
                    if limits.allows(&np.limits, pool, &prep.pool_types[pick as usize].capacity) {
                        pick
                    } else {
                        cols[c].pt
                    };
                let cap = prep.pool_types[pick as usize].capacity.clone();
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
            for &(g, _) in &take {
                word_sums.forget(g);
                let bit = 1u64 << (g % 64);
                if groups[g].remaining() > 0 {
                    live[g / 64] |= bit;
                } else {
                    live[g / 64] &= !bit;
                }
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
    pub(super) fn pattern_plan(
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
        // (What the plan would return before looking at its bins.)
        if patterns::first_lp_over_pace(eligible.len(), eligible.len(), patterns::BUDGET) {
            return (Vec::new(), 0, true, eligible);
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
            let cap = &prep.pool_types[cols[c].pt as usize].usable;
            let col = pc.sig.of(c);
            let its: Vec<usize> = eligible
                .iter()
                .enumerate()
                // (A group's columns are those whose pair holds its pod.)
                .filter(|(_, &g)| col[g / 64] & (1u64 << (g % 64)) != 0)
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
    pub(super) fn open_patterns(
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
            let cap = &prep.pool_types[pick as usize].capacity;
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
}

/// The packer's columns in price order, for finding the cheapest one that holds a
/// node's pods.
pub(super) struct Cheapest<'c> {
    pub(super) cols: &'c [Col],
    /// Every column, by its price (cheapest effective price of its capacity type in any
    /// zone for one pod: a lower bound of its price under any requirements for any
    /// number of pods), then index.
    pub(super) order: &'c [usize],
    pub(super) groups: &'c [Group],
}

impl Cheapest<'_> {
    /// The cheapest column of capacity type `ct` that every group in `gs` may use and
    /// whose pair holds `requested`, priced under `reqs` for `pods` pods: (price, pair);
    /// ties go to the lower pair index.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn column(
        &self,
        np: &NodepackStrategy,
        prep: &Prepared,
        gs: &BTreeSet<usize>,
        ct: CapacityType,
        requested: &Resources,
        reqs: &Requirements,
        pods: usize,
    ) -> Option<(f64, u32)> {
        let mut pick: Option<(f64, u32)> = None;
        let fit = prep.fit_test(requested);
        // The columns every group of `gs` may use, as one bit set.
        let mut shared: Option<Vec<u64>> = None;
        for &g in gs {
            let bits = &self.groups[g].bits;
            match &mut shared {
                None => shared = Some(bits.clone()),
                Some(a) => a.iter_mut().zip(bits).for_each(|(x, y)| *x &= y),
            }
        }
        let all_may = |d: usize| {
            shared
                .as_ref()
                .is_none_or(|a| a.get(d / 64).is_some_and(|w| w & (1u64 << (d % 64)) != 0))
        };
        for &d in self.order {
            let col = &self.cols[d];
            if pick.is_some_and(|(p, _)| col.price > p) {
                break;
            }
            if col.ct != ct || !all_may(d) || !fit.fits(col.pt as usize) {
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
