//! Column generation over packing patterns, for the plain pods of one pool.
//!
//! The greedy packer of [`super::NodepackStrategy`] opens one node type at a time; on a catalog
//! of hundreds of types and a mix of pod shapes its choices add up to several percent
//! over the LP bound. Here the pods are split into items (pods with the same requests
//! and the same launch options) and the nodes into bins (a pair and a capacity type, at
//! its cheapest effective price). A pattern is one node of a bin with a count of pods of
//! each item that fits it. The pattern LP, `min sum_p price_p x_p` subject to every item's
//! demand being covered (`sum_p count_gp x_p >= demand_g`), is solved by column
//! generation (Gilmore and Gomory's method for cutting stock):
//!
//! 1. Seed: for every item, the bin holding the most of its pods per dollar, filled with
//!    that item alone.
//! 2. Solve the restricted LP over the known patterns ([`Master`], with this crate's
//!    small simplex, [`super::simplex`]): its duals `u_g` are what one pod of item `g`
//!    is worth.
//! 3. Price: for every bin, the most valuable filling of one node at those values
//!    ([`best_fill`]: none when an upper bound of its worth (each resource alone, then
//!    CPU and memory shares mixed into one constraint, filled fractionally) is not over
//!    the bin's price; else greedy fills in 14 orders of value per unit of room, then, for
//!    bins whose greedy fill comes within [`CLOSE`] of their price, the continuous
//!    knapsack rounded down and a bounded depth-first search); the [`PER_ROUND`] most
//!    valuable per dollar of those worth more than their bin's price become patterns
//!    (new columns, added to the solved LP so the simplex resumes from its basis).
//!    Stop when no bin has one, or after [`MAX_ROUNDS`] rounds.
//! 4. Take the LP's copies of the patterns found and open `floor(x_p)` of each (each
//!    on the cheapest bin that holds it), fit the pods left into the room of the open
//!    nodes, and go round again with the patterns kept. When no pattern is used a whole
//!    time, open single nodes: the used pattern whose pods left (on the cheapest bin
//!    holding them) cost least over their value, one per round, until the LP of the
//!    pods left is below [`TAIL_SHARE`] of what it was when the single nodes began;
//!    the rest is the caller's. The caller also tries its greedy packer in place of the
//!    single nodes and keeps the cheaper plan.
//!
//! Every plan has a work budget ([`BUDGET`], counted in operations, never in time): when a
//! generation runs out of it, the plan ends with the nodes opened before it (none if the
//! first generation did not end), and the caller packs the rest with its greedy, which
//! it also tries alone. The first generation also keeps to a pace (each round a
//! [`MAX_ROUNDS`]th of the budget, with one share of slack; its first LP within one
//! share): many pod shapes (hundreds of items) make every round price hundreds of items
//! on every bin, and a generation that falls behind stops at once, with the budget
//! unspent, instead of spending it all on no plan.
//!
//! The pricing is a heuristic (the exact one is a multi-dimensional knapsack), so the LP
//! optimum is not proven; the plan is still valid, as every node is checked to hold its
//! pods. Pure and deterministic: no clock, no randomness, ties broken by index.

use super::simplex::Simplex;
use crate::prep::ratio;
use nodepack_model::Resources;

/// The work budget of one plan (see [`Work`]): about a tenth of a second on this
/// project's machine.
/// A generation it cuts short is dropped, and the caller's greedy plan stands.
pub(super) const BUDGET: u64 = 20_000_000;
/// Operations one simplex pivot counts per row or column of its LP (its pricing of the
/// columns, its update of the basis inverse).
const LP_PIVOT: u64 = 6;
/// Column-generation rounds per solve of the restricted LP.
const MAX_ROUNDS: usize = 60;
/// New patterns added per round (the most valuable per dollar).
const PER_ROUND: usize = 12;
/// Times the pods left go round again (each pass opens at least one node).
const MAX_PASSES: usize = 400;
/// Single nodes stop when the LP of the pods left falls below this share of what it was
/// when they began (the greedy packer does better on the last few pods).
const TAIL_SHARE: f64 = 0.1;

/// Pods with the same requests and the same launch options.
pub(super) struct Item<'a> {
    /// Requests of one pod.
    pub req: &'a Resources,
    /// Number of pods.
    pub demand: usize,
}

/// A kind of node: a pair and a capacity type.
pub(super) struct Bin<'a> {
    /// Usable capacity (allocatable minus daemonset overhead).
    pub cap: &'a Resources,
    /// Price per hour (any unit, the same for every bin).
    pub price: f64,
    /// The items that may use it, ascending.
    pub items: Vec<usize>,
}

impl Bin<'_> {
    /// May item `g` use it?
    fn allows(&self, g: usize) -> bool {
        self.items.binary_search(&g).is_ok()
    }
}

/// A node to open: its bin and how many pods of each item it holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Node {
    /// Index into the bins.
    pub bin: usize,
    /// (item, pods), by item.
    pub take: Vec<(usize, usize)>,
}

/// Is a paced generation's first LP, of `rows` patterns over `items` items (about a
/// pivot per row, each [`LP_PIVOT`] times the LP's size), over one round's share of
/// `budget` (see [`generate`])? [`plan`] first asks it of a row per item (its seed patterns): when
/// even that is over, it seeds and prices nothing and returns no nodes, cut short
/// (callers may skip building its bins).
pub(super) fn first_lp_over_pace(rows: usize, items: usize, budget: u64) -> bool {
    (rows as u64)
        .saturating_mul(rows as u64 + items as u64)
        .saturating_mul(LP_PIVOT)
        > budget / MAX_ROUNDS as u64
}

/// The nodes for the items' pods, how many of them (first) are whole copies of LP
/// patterns (the others are single nodes for the pods those leave), and whether the
/// work budget ran out or could not cover the first generation (see [`generate`]).
/// Pods of items no bin holds are not placed (the caller packs what is left its own
/// way), nor are the last few (see [`TAIL_SHARE`]); an LP failure returns the nodes
/// found so far.
pub(super) fn plan(items: &[Item], bins: &[Bin], budget: u64) -> (Vec<Node>, usize, bool) {
    if first_lp_over_pace(items.len(), items.len(), budget) {
        return (Vec::new(), 0, true);
    }
    let mut work = Work { left: budget };
    let dense = Dense::new(items, bins);
    // Items no bin holds are left to the caller.
    let mut demand: Vec<usize> = (0..items.len())
        .map(|g| {
            let held = bins
                .iter()
                .enumerate()
                .any(|(bi, b)| b.allows(g) && fit(&dense.caps[bi], &dense.items[g], 1) == 1);
            if held {
                items[g].demand
            } else {
                0
            }
        })
        .collect();
    let mut patterns: Vec<Node> = Vec::new();
    let mut out = Vec::new();
    let mut start_lp: Option<f64> = None;
    // Nodes before the first single node.
    let mut whole: Option<usize> = None;
    let mut first = true;
    // The first generation fell behind its pace.
    let mut short = false;
    for _ in 0..MAX_PASSES {
        if demand.iter().all(|&d| d == 0) {
            break;
        }
        if work.spent() {
            break;
        }
        seed(&dense, bins, &demand, &mut patterns);
        // Only the first generation keeps to a pace: without it there is no plan.
        let paced = std::mem::take(&mut first);
        let Some((value, x)) = generate(&dense, bins, &demand, &mut patterns, &mut work, paced)
        else {
            short |= paced;
            break;
        };
        if work.spent() {
            // Patterns of a generation cut short are no plan.
            break;
        }
        let trimmed = |p: usize, demand: &[usize]| -> Vec<(usize, usize)> {
            patterns[p]
                .take
                .iter()
                .map(|&(g, n)| (g, n.min(demand[g])))
                .filter(|&(_, n)| n > 0)
                .collect()
        };
        // Whole copies of the patterns.
        let mut opened = false;
        for (p, &v) in x.iter().enumerate() {
            for _ in 0..(v + 1e-6).floor() as usize {
                let take = trimmed(p, &demand);
                if take.is_empty() {
                    break;
                }
                for &(g, n) in &take {
                    demand[g] -= n;
                }
                let bin = smallest(&dense, bins, &take).unwrap_or(patterns[p].bin);
                out.push(Node { bin, take });
                opened = true;
            }
        }
        if opened {
            fill_room(&dense, bins, &mut demand, &mut out);
            continue;
        }
        if work.spent() {
            break;
        }
        // No whole copy left: one node of the used pattern whose pods (what is left of
        // them), on the cheapest bin that holds them, cost least over their value;
        // until the LP of the pods left is below TAIL_SHARE of what it was when the
        // whole copies ran out.
        let lp: f64 = x
            .iter()
            .zip(&patterns)
            .map(|(v, p)| v * bins[p.bin].price)
            .sum();
        if lp < *start_lp.get_or_insert(lp) * TAIL_SHARE {
            break;
        }
        let best = x
            .iter()
            .enumerate()
            .filter(|(_, &v)| v > 1e-9)
            .filter_map(|(p, _)| {
                let take = trimmed(p, &demand);
                let bin = smallest(&dense, bins, &take)?;
                let worth: f64 = take.iter().map(|&(g, n)| value[g] * n as f64).sum();
                Some((bins[bin].price - worth, p, bin, take))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let Some((_, _, bin, take)) = best else {
            break;
        };
        for &(g, n) in &take {
            demand[g] -= n;
        }
        whole.get_or_insert(out.len());
        out.push(Node { bin, take });
    }
    let whole = whole.unwrap_or(out.len());
    (out, whole, work.spent() || short)
}

/// Put pods left over into the room the open nodes have (largest pods first, each on
/// the first node with room), without changing any node's bin.
fn fill_room(dense: &Dense, bins: &[Bin], demand: &mut [usize], out: &mut [Node]) {
    let mut left: Vec<usize> = (0..demand.len()).filter(|&g| demand[g] > 0).collect();
    if left.is_empty() {
        return;
    }
    left.sort_by_key(|&g| std::cmp::Reverse(dense.items[g].clone()));
    for node in out.iter_mut() {
        let mut free = dense.caps[node.bin].clone();
        for &(g, n) in &node.take {
            take_from(&mut free, &dense.items[g], n);
        }
        for &g in &left {
            if demand[g] == 0 || !bins[node.bin].allows(g) {
                continue;
            }
            let k = fit(&free, &dense.items[g], demand[g]);
            if k == 0 {
                continue;
            }
            take_from(&mut free, &dense.items[g], k);
            demand[g] -= k;
            match node.take.iter_mut().find(|t| t.0 == g) {
                Some(t) => t.1 += k,
                None => {
                    node.take.push((g, k));
                    node.take.sort_unstable();
                }
            }
        }
    }
}

/// The cheapest bin every item of `take` may use that holds them all (lowest index on
/// ties); `None` for an empty `take`.
fn smallest(dense: &Dense, bins: &[Bin], take: &[(usize, usize)]) -> Option<usize> {
    if take.is_empty() {
        return None;
    }
    let mut need = vec![0u64; dense.caps.first().map_or(0, |c| c.len())];
    for &(g, n) in take {
        for (x, r) in need.iter_mut().zip(&dense.items[g]) {
            *x += r * n as u64;
        }
    }
    // (The first in price order that holds them.)
    dense.by_price.iter().copied().find(|&bi| {
        take.iter().all(|t| bins[bi].allows(t.0))
            && dense.caps[bi].iter().zip(&need).all(|(c, x)| x <= c)
    })
}

/// Add, for every item with pods left that no known pattern covers, the bin holding the
/// most of its pods per unit of price, filled with that item alone.
fn seed(dense: &Dense, bins: &[Bin], demand: &[usize], patterns: &mut Vec<Node>) {
    let covered = covered(demand.len(), patterns);
    for (g, &d) in demand.iter().enumerate() {
        if d == 0 || covered[g] {
            continue;
        }
        let best = bins
            .iter()
            .enumerate()
            .filter(|(_, b)| b.allows(g))
            .filter_map(|(bi, b)| {
                let k = fit(&dense.caps[bi], &dense.items[g], d);
                (k > 0).then(|| (b.price / k as f64, bi, k))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((_, bin, k)) = best {
            patterns.push(Node {
                bin,
                take: vec![(g, k)],
            });
        }
    }
}

/// Column generation on the dual: adds patterns until no bin prices out, or
/// [`MAX_ROUNDS`]; returns the last duals (each item's value per pod). `None` when
/// the LP fails, no pattern covers an item with pods left, or a `paced` generation
/// falls behind its pace: each of its rounds may spend a [`MAX_ROUNDS`]th of the work
/// left when it began (rounds that spend less leave the rest to the next ones, and one
/// extra share is slack), and its first LP, expected to take a pivot per pattern, must
/// fit one such share. A generation behind that pace could not run its rounds within
/// the budget; dropped early, it leaves the budget unspent instead of spending it on no
/// plan.
fn generate(
    dense: &Dense,
    bins: &[Bin],
    demand: &[usize],
    patterns: &mut Vec<Node>,
    work: &mut Work,
    paced: bool,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let n_items = dense.items.len();
    let start = work.left;
    let share = start / MAX_ROUNDS as u64;
    // Behind the pace after `rounds` rounds begun (one share of slack: the first round
    // prices every bin against the seed patterns' high values)?
    let behind = |work: &Work, rounds: u64| paced && start - work.left > (rounds + 1) * share;
    if paced && first_lp_over_pace(patterns.len(), n_items, start) {
        return None;
    }
    let mut master = Master::new(demand, patterns, bins)?;
    work.charge_lp(master.lp.pivots, patterns.len() + n_items);
    let mut known: std::collections::BTreeSet<Node> = patterns.iter().cloned().collect();
    let mut per = PerUnit::default();
    let mut scratch = Scratch::default();
    for round in 1..=MAX_ROUNDS as u64 {
        if work.spent() {
            break;
        }
        if behind(work, round) {
            return None;
        }
        let value = master.values();
        per.price(dense, demand, &value);
        let mut found: Vec<(f64, Node)> = Vec::new();
        for (bi, b) in bins.iter().enumerate() {
            if work.spent() || behind(work, round) {
                return None;
            }
            let best_per = per.of(dense, bi);
            if let Some((worth, node)) =
                best_fill(dense, b, bi, demand, &value, best_per, &mut scratch, work)
            {
                if worth > b.price * (1.0 + 1e-6) && !known.contains(&node) {
                    found.push((worth / b.price.max(1e-12), node));
                }
            }
        }
        if found.is_empty() {
            break;
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        found.dedup_by(|a, b| a.1 == b.1);
        let before = master.lp.pivots;
        for (_, node) in found.into_iter().take(PER_ROUND) {
            master.add(&node, bins[node.bin].price);
            known.insert(node.clone());
            patterns.push(node);
        }
        master.lp.optimize(master.most()).ok()?;
        work.charge_lp(master.lp.pivots - before, patterns.len() + n_items);
    }
    Some((master.values(), master.copies()))
}

/// The restricted master LP: `min sum_p price_p x_p` subject to `sum_p count_gp x_p -
/// s_g = demand_g` (`s_g >= 0`, the pods over the demand) for the items with pods left
/// (an item without is worth nothing to a fill), solved by [`Simplex`]. It starts from
/// each row's cheapest pattern per pod that holds its item alone (a seed), or an
/// artificial column where there is none; a phase one drives the artificials to zero,
/// then they are fixed there. An item no pattern covers keeps its artificial column,
/// free and of no cost: its row asks nothing and its pods are worth nothing.
struct Master {
    lp: Simplex,
    /// Each item's row, if it has pods left.
    row: Vec<Option<usize>>,
    rows: usize,
    /// The first pattern column (columns before it are the artificials, then the
    /// surpluses, one of each per row).
    first: usize,
}

impl Master {
    fn new(demand: &[usize], patterns: &[Node], bins: &[Bin]) -> Option<Self> {
        let mut row = vec![None; demand.len()];
        let mut rhs = Vec::new();
        for (g, &d) in demand.iter().enumerate() {
            if d > 0 {
                row[g] = Some(rhs.len());
                rhs.push(d as f64);
            }
        }
        let rows = rhs.len();
        let mut covered = vec![false; rows];
        for t in patterns.iter().flat_map(|p| &p.take) {
            if let Some(r) = row[t.0] {
                covered[r] = true;
            }
        }
        let mut lp = Simplex::new(rhs);
        for (r, &c) in covered.iter().enumerate() {
            // Phase one: the covered rows' artificials cost one.
            lp.add(
                vec![(r, 1.0)],
                if c { 1.0 } else { 0.0 },
                0.0,
                f64::INFINITY,
            );
        }
        for r in 0..rows {
            lp.add(vec![(r, -1.0)], 0.0, 0.0, f64::INFINITY);
        }
        let mut master = Master {
            lp,
            row,
            rows,
            first: 2 * rows,
        };
        // The first basis: each row's cheapest seed per pod, else its artificial.
        let mut basis: Vec<(f64, usize)> = (0..rows).map(|r| (f64::INFINITY, r)).collect();
        for (p, node) in patterns.iter().enumerate() {
            let j = master.add(node, 0.0);
            if let [(g, n)] = node.take[..] {
                if let Some(r) = master.row[g] {
                    let per = bins[node.bin].price / n as f64;
                    if per < basis[r].0 {
                        basis[r] = (per, j);
                    }
                }
            }
            debug_assert_eq!(j, master.first + p);
        }
        let unit: Vec<usize> = basis.iter().map(|b| b.1).collect();
        if !master.lp.start(&unit) {
            return None;
        }
        master.lp.optimize(master.most()).ok()?;
        if master.lp.objective() > 1e-7 * (1.0 + master.lp.rhs_sum()) {
            // Some covered item's pods cannot be covered: no plan.
            return None;
        }
        for (r, &c) in covered.iter().enumerate() {
            master.lp.set_cost(r, 0.0);
            if c {
                master.lp.set_hi(r, 0.0);
            }
        }
        for (p, node) in patterns.iter().enumerate() {
            master.lp.set_cost(master.first + p, bins[node.bin].price);
        }
        master.lp.optimize(master.most()).ok()?;
        Some(master)
    }

    /// Add a pattern's column; its index.
    fn add(&mut self, p: &Node, price: f64) -> usize {
        let entries = p
            .take
            .iter()
            .filter_map(|&(g, n)| self.row[g].map(|r| (r, n as f64)))
            .collect();
        self.lp.add(entries, price, 0.0, f64::INFINITY)
    }

    /// A ceiling on the pivots of the LP so far: far more than a simplex takes.
    fn most(&self) -> u64 {
        self.lp.pivots + 50 * (self.rows as u64 + self.lp.columns() as u64) + 1_000
    }

    /// What one pod of each item is worth (its row's dual, at least zero; nothing
    /// for an item without pods left).
    fn values(&self) -> Vec<f64> {
        let y = self.lp.duals();
        self.row
            .iter()
            .map(|r| r.map_or(0.0, |r| y[r].max(0.0)))
            .collect()
    }

    /// Copies of each pattern.
    fn copies(&self) -> Vec<f64> {
        (self.first..self.lp.columns())
            .map(|j| self.lp.value(j).max(0.0))
            .collect()
    }
}

/// Which of the `n` items some pattern holds.
fn covered(n: usize, patterns: &[Node]) -> Vec<bool> {
    let mut covered = vec![false; n];
    for t in patterns.iter().flat_map(|p| &p.take) {
        covered[t.0] = true;
    }
    covered
}

/// The work budget of one plan, in operations: a simplex pivot counts [`LP_PIVOT`] times
/// the rows plus the columns of its LP, each step of a bin's pricing (a bound, a greedy
/// fill, a node of the search) the items it looks at. Counted, never
/// timed, so that a plan is the same on every machine.
struct Work {
    left: u64,
}

impl Work {
    fn charge(&mut self, times: u64, size: usize) {
        self.left = self.left.saturating_sub(times.saturating_mul(size as u64));
    }

    /// A simplex pivot of an LP of `size` rows plus columns: [`LP_PIVOT`] times `size`.
    fn charge_lp(&mut self, pivots: u64, size: usize) {
        self.charge(pivots.saturating_mul(LP_PIVOT), size);
    }

    fn spent(&self) -> bool {
        self.left == 0
    }
}

/// Requests and capacities as dense vectors: CPU, memory, pod slots, ephemeral
/// storage, then each extended resource any item requests.
struct Dense {
    items: Vec<Vec<u64>>,
    caps: Vec<Vec<u64>>,
    /// The shares of each bin's items (in the bin's order) of its capacity.
    shares: Vec<Vec<Shares>>,
    /// Bin indices by price, then index.
    by_price: Vec<usize>,
    /// The distinct item sets of the bins, and each bin's index into them.
    sets: Vec<Vec<usize>>,
    set_of: Vec<usize>,
}

impl Dense {
    fn new(items: &[Item], bins: &[Bin]) -> Self {
        let names: std::collections::BTreeSet<&String> =
            items.iter().flat_map(|it| it.req.extended.keys()).collect();
        let dense = |r: &Resources| -> Vec<u64> {
            let mut v = vec![r.cpu.0, r.memory.0, r.pods, r.ephemeral_storage.0];
            v.extend(names.iter().map(|n| r.extended(n)));
            v
        };
        let items: Vec<Vec<u64>> = items.iter().map(|it| dense(it.req)).collect();
        let caps: Vec<Vec<u64>> = bins.iter().map(|b| dense(b.cap)).collect();
        let shares = bins
            .iter()
            .zip(&caps)
            .map(|(b, cap)| b.items.iter().map(|&g| shares(&items[g], cap)).collect())
            .collect();
        let mut by_price: Vec<usize> = (0..bins.len()).collect();
        by_price.sort_by(|&a, &b| bins[a].price.total_cmp(&bins[b].price).then(a.cmp(&b)));
        let mut index: std::collections::BTreeMap<&[usize], usize> = Default::default();
        let mut sets: Vec<Vec<usize>> = Vec::new();
        let set_of = bins
            .iter()
            .map(|b| {
                *index.entry(&b.items).or_insert_with(|| {
                    sets.push(b.items.clone());
                    sets.len() - 1
                })
            })
            .collect();
        Dense {
            items,
            caps,
            shares,
            by_price,
            sets,
            set_of,
        }
    }
}

/// How many pods of `req` fit in `free` (at most `limit`).
fn fit(free: &[u64], req: &[u64], limit: usize) -> usize {
    let mut k = limit as u64;
    for (f, r) in free.iter().zip(req) {
        // (Not one: no division needed.)
        if f < r || k == 0 {
            return 0;
        }
        if let Some(q) = f.checked_div(*r) {
            k = k.min(q);
        }
    }
    k as usize
}

/// Take `k` pods of `req` from `free` (they fit).
fn take_from(free: &mut [u64], req: &[u64], k: usize) {
    for (f, r) in free.iter_mut().zip(req) {
        *f -= r * k as u64;
    }
}

/// Return `k` pods of `req` to `free`.
fn give_back(free: &mut [u64], req: &[u64], k: usize) {
    for (f, r) in free.iter_mut().zip(req) {
        *f += r * k as u64;
    }
}

/// Orders tried by [`best_fill`]: the dominant share, then `a` CPU share plus `1 - a`
/// memory share for these `a` (other resources' shares always added).
const MIXES: [f64; 13] = [
    0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0,
];
/// The LP fill and the search run only on bins whose best greedy fill is worth at
/// least this share of their price.
const CLOSE: f64 = 0.85;
/// Nodes of the branch-and-bound in [`best_fill`], per bin and round.
const SEARCH_STEPS: usize = 300;

/// The most valuable filling of one node of bin `bi` at the items' values: (value,
/// node); `None` when no filling could be worth more than the bin's price (the bounds
/// of each resource alone, then [`surrogate`]'s mixes, settle most bins). Greedy fills
/// in several orders (value per unit of a measure of room: the dominant share, and CPU
/// and memory shares mixed in [`MIXES`]); the continuous
/// knapsack's solution rounded down and topped up ([`lp_fill`]); then a depth-first
/// search over the counts from the best greedy's order, bounded by [`SEARCH_STEPS`]
/// and pruned by what the room left could hold at the best value per unit of CPU and
/// of memory.
#[allow(clippy::too_many_arguments)]
fn best_fill(
    dense: &Dense,
    b: &Bin,
    bi: usize,
    demand: &[usize],
    value: &[f64],
    best_per: Option<&[Option<f64>]>,
    scratch: &mut Scratch,
    work: &mut Work,
) -> Option<(f64, Node)> {
    let cap = &dense.caps[bi];
    work.charge(1, b.items.len());
    // No live item (one with pods left and some value): nothing to fill.
    let best_per = best_per?;
    // An upper bound: the room of any one resource filled at the best value per unit
    // of it (settled here, before the fits below, when that is not over the price),
    // and no more pods than fit alone.
    let mut bound = f64::INFINITY;
    for (&c, v) in cap.iter().zip(best_per) {
        if let Some(v) = v {
            bound = bound.min(v * c as f64);
        }
    }
    if bound <= b.price * (1.0 + 1e-6) {
        return None;
    }
    let Scratch { live, most, mixed } = scratch;
    live.clear();
    live.extend(
        b.items
            .iter()
            .zip(&dense.shares[bi])
            .filter(|(&g, _)| demand[g] > 0 && value[g] > 0.0)
            .map(|(&g, &s)| (g, s)),
    );
    let live = &live[..];
    // The most pods of each live item one node holds.
    most.clear();
    most.extend(
        live.iter()
            .map(|&(g, _)| fit(cap, &dense.items[g], demand[g])),
    );
    let most = &most[..];
    let alone: f64 = live
        .iter()
        .zip(most)
        .map(|(&(g, _), &k)| value[g] * k as f64)
        .sum();
    if bound.min(alone) <= b.price * (1.0 + 1e-6) {
        return None;
    }
    // A tighter one: CPU and memory shares mixed into one constraint (what fits the
    // node takes at most its whole share), filled fractionally by value per share.
    // Every fill is worth at most the least of these; a bin that cannot price out
    // returns here, before its greedy fills, the LP fill and the search.
    for &a in &SURROGATE {
        work.charge(1, live.len());
        // (Raised by a relative margin far above the rounding of the shares' sums, so
        // that rounding never settles a bin that prices out.)
        if surrogate(live, most, value, a, mixed) * (1.0 + 1e-9) <= b.price * (1.0 + 1e-6) {
            return None;
        }
    }
    work.charge(MIXES.len() as u64 + 1, live.len());
    let (mut worth, mut take, order) = greedy_fills(dense, cap, demand, value, live)?;
    if worth < b.price * CLOSE {
        return None;
    }
    if let Some((w, t)) = lp_fill(dense, bi, demand, value, &order, work) {
        if w > worth * (1.0 + 1e-12) {
            worth = w;
            take = t;
        }
    }
    // Branch and bound from the best greedy's order.
    let per: Vec<[f64; 2]> = order
        .iter()
        .map(|&g| {
            let r = &dense.items[g];
            let f = |a: u64| {
                if a == 0 {
                    f64::INFINITY
                } else {
                    value[g] / a as f64
                }
            };
            [f(r[0]), f(r[1])]
        })
        .collect();
    // Best value per unit of CPU and of memory among the items from position k on.
    let mut tail = vec![[0.0f64; 2]; order.len() + 1];
    for k in (0..order.len()).rev() {
        tail[k] = [tail[k + 1][0].max(per[k][0]), tail[k + 1][1].max(per[k][1])];
    }
    let mut search = Search {
        dense,
        demand,
        value,
        order: &order,
        tail: &tail,
        steps: 0,
        best: worth,
        best_take: None,
        path: Vec::new(),
    };
    let mut free = cap.clone();
    search.dfs(0, &mut free, 0.0);
    work.charge(search.steps as u64, cap.len());
    if let Some(t) = search.best_take {
        worth = search.best;
        take = t;
    }
    take.sort_unstable();
    Some((worth, Node { bin: bi, take }))
}

/// A greedy fill: its worth, its take (item, pods) and the order of items it followed.
type Greedy = (f64, Vec<(usize, usize)>, Vec<usize>);

/// The best of the greedy fills of a node of capacity `cap` with the `live` items, one
/// per order: by value per largest share, then by value per share of each mix of CPU
/// and memory ([`MIXES`]); a later order's fill wins only if worth more.
fn greedy_fills(
    dense: &Dense,
    cap: &[u64],
    demand: &[usize],
    value: &[f64],
    live: &[(usize, Shares)],
) -> Option<Greedy> {
    let mut best: Option<Greedy> = None;
    // (value per room, item, its shares). Each mix re-sorts the last mix's order: the
    // mixes go from CPU to memory in small steps, so it is nearly sorted already.
    let mut order: Vec<(f64, usize, Shares)> = live.iter().map(|&(g, s)| (0.0, g, s)).collect();
    let mut free = cap.to_vec();
    for m in 0..=MIXES.len() {
        for (key, g, s) in order.iter_mut() {
            let room = match m {
                0 => s.most,
                _ => MIXES[m - 1] * s.cpu + (1.0 - MIXES[m - 1]) * s.mem + s.other,
            };
            *key = value[*g] / room.max(1e-12);
        }
        // (Items are distinct: the order is total.)
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        free.copy_from_slice(cap);
        let mut take = Vec::new();
        let mut worth = 0.0;
        for &(_, g, _) in &order {
            let k = fit(&free, &dense.items[g], demand[g]);
            if k > 0 {
                take_from(&mut free, &dense.items[g], k);
                worth += value[g] * k as f64;
                take.push((g, k));
            }
        }
        if best
            .as_ref()
            .is_none_or(|(w, ..)| worth > *w * (1.0 + 1e-12))
        {
            best = Some((worth, take, order.iter().map(|o| o.1).collect()));
        }
    }
    best
}

/// [`best_fill`]'s buffers, kept from one bin to the next.
#[derive(Default)]
struct Scratch {
    live: Vec<(usize, Shares)>,
    most: Vec<usize>,
    /// [`surrogate`]'s.
    mixed: Vec<(f64, f64, f64, f64)>,
}

/// One round's best value per unit of each resource over the live items (those with
/// pods left and a positive value) of each set of items some bin holds, for the
/// bound [`best_fill`] tries first: `None` for a resource some live item does not
/// request (it bounds nothing), and no entry at all for a set without live items.
/// Bins of the same items (most bins: they differ in size and price, not in what
/// fits) share one entry.
#[derive(Default)]
struct PerUnit {
    /// Per item set (`Dense::sets`): the best value per unit of each resource.
    best: Vec<Option<Vec<Option<f64>>>>,
}

impl PerUnit {
    fn price(&mut self, dense: &Dense, demand: &[usize], value: &[f64]) {
        self.best.clear();
        let dims = dense.items.first().map_or(0, Vec::len);
        for set in &dense.sets {
            let live: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&g| demand[g] > 0 && value[g] > 0.0)
                .collect();
            if live.is_empty() {
                self.best.push(None);
                continue;
            }
            let best = (0..dims)
                .map(|d| {
                    live.iter().try_fold(0.0f64, |m, &g| {
                        let r = dense.items[g][d];
                        (r > 0).then(|| m.max(value[g] / r as f64))
                    })
                })
                .collect();
            self.best.push(Some(best));
        }
    }

    /// Bin `bi`'s entry.
    fn of(&self, dense: &Dense, bi: usize) -> Option<&[Option<f64>]> {
        self.best[dense.set_of[bi]].as_deref()
    }
}

/// The mixes of CPU share `a` and memory share `1 - a` whose fractional fills bound a
/// bin's worth in [`best_fill`] (the even mix first: it settles most bins).
const SURROGATE: [f64; 5] = [0.5, 0.25, 0.75, 0.0, 1.0];

/// The fractional knapsack of one constraint, `sum (a cpu_g + (1 - a) mem_g) x_g <= 1`
/// over shares of the node, `0 <= x_g <= most_g`: an upper bound on the worth of any
/// fill of the node (every fill meets the CPU and the memory constraint, hence their
/// mix). Items by value per share of the mix, the last one taken in part.
fn surrogate(
    live: &[(usize, Shares)],
    most: &[usize],
    value: &[f64],
    a: f64,
    order: &mut Vec<(f64, f64, f64, f64)>,
) -> f64 {
    // (value per share, share, value, most pods) of the items that take some of the
    // mixed room; the others are taken whole. (An item of which no pod fits adds
    // nothing; its share may be infinite.)
    let mut worth = 0.0;
    order.clear();
    for (&(g, s), &k) in live.iter().zip(most).filter(|(_, &k)| k > 0) {
        let room = a * s.cpu + (1.0 - a) * s.mem;
        if room > 0.0 {
            order.push((value[g] / room, room, value[g], k as f64));
        } else {
            worth += value[g] * k as f64;
        }
    }
    order.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
    let mut left = 1.0f64;
    for &(_, room, v, k) in order.iter() {
        if left <= 0.0 {
            break;
        }
        let x = k.min(left / room);
        worth += v * x;
        left -= room * x;
    }
    worth
}

/// The continuous knapsack of one node (each resource a constraint, counts up to the
/// demand) solved as an LP, its counts rounded down, then topped up in `order`: the
/// mixes of CPU-heavy and memory-heavy pods no greedy order finds.
fn lp_fill(
    dense: &Dense,
    bi: usize,
    demand: &[usize],
    value: &[f64],
    order: &[usize],
    work: &mut Work,
) -> Option<(f64, Vec<(usize, usize)>)> {
    let cap = &dense.caps[bi];
    // Rows: the resources some item requests, each as shares of the node (at most 1).
    let rows: Vec<usize> = (0..cap.len())
        .filter(|&d| order.iter().any(|&g| dense.items[g][d] > 0))
        .collect();
    let mut lp = Simplex::new(vec![1.0; rows.len()]);
    let vars: Vec<(usize, usize)> = order
        .iter()
        .map(|&g| {
            let hi = fit(cap, &dense.items[g], demand[g]) as f64;
            let entries = rows
                .iter()
                .enumerate()
                .filter(|&(_, &d)| dense.items[g][d] > 0)
                .map(|(i, &d)| (i, dense.items[g][d] as f64 / (cap[d] as f64).max(1.0)))
                .collect();
            (g, lp.add(entries, -value[g], 0.0, hi))
        })
        .collect();
    let slacks: Vec<usize> = (0..rows.len())
        .map(|i| lp.add(vec![(i, 1.0)], 0.0, 0.0, f64::INFINITY))
        .collect();
    if !lp.start(&slacks) {
        return None;
    }
    let most = 50 * (rows.len() + order.len()) as u64 + 1_000;
    lp.optimize(most).ok()?;
    work.charge_lp(lp.pivots.max(1), order.len() + cap.len());
    let mut free = cap.clone();
    let mut count = vec![0usize; dense.items.len()];
    for &(g, v) in &vars {
        let want = (lp.value(v) + 1e-9).floor().max(0.0) as usize;
        let k = fit(&free, &dense.items[g], want.min(demand[g]));
        take_from(&mut free, &dense.items[g], k);
        count[g] = k;
    }
    for &g in order {
        let k = fit(&free, &dense.items[g], demand[g] - count[g]);
        take_from(&mut free, &dense.items[g], k);
        count[g] += k;
    }
    let take: Vec<(usize, usize)> = order
        .iter()
        .filter(|&&g| count[g] > 0)
        .map(|&g| (g, count[g]))
        .collect();
    let worth = take.iter().map(|&(g, k)| value[g] * k as f64).sum();
    Some((worth, take))
}

/// The depth-first search of [`best_fill`].
struct Search<'a> {
    dense: &'a Dense,
    demand: &'a [usize],
    value: &'a [f64],
    order: &'a [usize],
    tail: &'a [[f64; 2]],
    steps: usize,
    best: f64,
    best_take: Option<Vec<(usize, usize)>>,
    path: Vec<(usize, usize)>,
}

impl Search<'_> {
    fn dfs(&mut self, k: usize, free: &mut [u64], acc: f64) {
        self.steps += 1;
        if acc > self.best * (1.0 + 1e-9) {
            self.best = acc;
            self.best_take = Some(self.path.clone());
        }
        if k == self.order.len() || self.steps > SEARCH_STEPS {
            return;
        }
        let bound = acc + (free[0] as f64 * self.tail[k][0]).min(free[1] as f64 * self.tail[k][1]);
        if bound <= self.best * (1.0 + 1e-9) {
            return;
        }
        let g = self.order[k];
        let req = &self.dense.items[g];
        let most = fit(free, req, self.demand[g]);
        take_from(free, req, most);
        for n in (0..=most).rev() {
            // Here `free` is the room less `n` pods of `req`.
            if self.steps > SEARCH_STEPS {
                give_back(free, req, n);
                return;
            }
            if n > 0 {
                self.path.push((g, n));
                self.dfs(k + 1, free, acc + self.value[g] * n as f64);
                self.path.pop();
                give_back(free, req, 1);
            } else {
                self.dfs(k + 1, free, acc);
            }
        }
    }
}

/// The room one pod takes on a node, as shares of the node's capacity.
#[derive(Clone, Copy)]
struct Shares {
    cpu: f64,
    mem: f64,
    /// Pod slots, ephemeral storage and extended resources, summed.
    other: f64,
    /// The largest share of any resource.
    most: f64,
}

fn shares(req: &[u64], cap: &[u64]) -> Shares {
    let all: Vec<f64> = req.iter().zip(cap).map(|(a, b)| ratio(*a, *b)).collect();
    Shares {
        cpu: all[0],
        mem: all[1],
        other: all[2..].iter().sum(),
        most: all.iter().copied().fold(0.0, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scaled;
    use super::*;
    use nodepack_model::{Bytes, Millicores};

    /// A node's capacity (110 pod slots).
    fn res(cpu: u64, gib: u64) -> Resources {
        Resources::new(Millicores(cpu), Bytes::from_gib(gib)).with_pods(110)
    }

    /// A pod's requests (one pod slot).
    fn pod(cpu: u64, gib: u64) -> Resources {
        Resources::new(Millicores(cpu), Bytes::from_gib(gib)).with_pods(1)
    }

    /// `demand` pods of `req`.
    fn item(req: &Resources, demand: usize) -> Item<'_> {
        Item { req, demand }
    }

    /// Checks every node (its bin allowed for its items, within capacity) and that no
    /// item is placed more than its demand; returns the cost and the pods placed.
    fn check(items: &[Item], bins: &[Bin], nodes: &[Node]) -> (f64, Vec<usize>) {
        let mut placed = vec![0; items.len()];
        let mut cost = 0.0;
        for n in nodes {
            let b = &bins[n.bin];
            let mut used = Resources::default();
            for &(g, k) in &n.take {
                assert!(b.items.contains(&g), "item {g} may not use bin {}", n.bin);
                used = used.saturating_add(&scaled(items[g].req, k));
                placed[g] += k;
            }
            assert!(used.fits(b.cap), "node {n:?} over capacity");
            cost += b.price;
        }
        for (g, it) in items.iter().enumerate() {
            assert!(
                placed[g] <= it.demand,
                "item {g} placed {} times",
                placed[g]
            );
        }
        (cost, placed)
    }

    #[test]
    fn mixes_cpu_and_memory_heavy_pods_on_one_balanced_type() {
        // CPU-heavy (3 CPU, 1 GiB) and memory-heavy (1 CPU, 7 GiB) pods: a balanced 4 CPU /
        // 8 GiB node ($2) holds one of each; the compute (12 CPU / 4 GiB) and memory
        // (4 CPU / 32 GiB) types hold four of one shape for $5 ($1.25 a pod, $2.50 a
        // pair).
        let cpu_heavy = pod(3000, 1);
        let mem_heavy = pod(1000, 7);
        let (c, m, bal) = (res(12_000, 4), res(4000, 32), res(4000, 8));
        let items = [item(&cpu_heavy, 40), item(&mem_heavy, 40)];
        let bins = [
            Bin {
                cap: &c,
                price: 5.0,
                items: vec![0, 1],
            },
            Bin {
                cap: &m,
                price: 5.0,
                items: vec![0, 1],
            },
            Bin {
                cap: &bal,
                price: 2.0,
                items: vec![0, 1],
            },
        ];
        let (nodes, whole, _) = plan(&items, &bins, BUDGET);
        let (cost, placed) = check(&items, &bins, &nodes);
        assert_eq!(placed, vec![40, 40]);
        assert_eq!(cost, 40.0 * 2.0, "{nodes:?}");
        assert!(nodes.iter().all(|n| n.bin == 2));
        assert_eq!(whole, nodes.len(), "the LP's optimum is whole");
    }

    #[test]
    fn finds_the_optimum_of_a_small_fractional_case() {
        // 40.5 CPUs of pods; 8-CPU nodes ($3) are the cheaper CPU, 4-CPU ones cost $2,
        // and only small pods may use those.
        let small = pod(500, 1);
        let big = pod(2000, 2);
        let (a, b2) = (res(4000, 16), res(8000, 16));
        let items = [item(&small, 37), item(&big, 11)];
        let bins = [
            Bin {
                cap: &a,
                price: 2.0,
                items: vec![0],
            },
            Bin {
                cap: &b2,
                price: 3.0,
                items: vec![0, 1],
            },
        ];
        let (nodes, whole, _) = plan(&items, &bins, BUDGET);
        let (cost, placed) = check(&items, &bins, &nodes);
        assert!(whole <= nodes.len());
        // The optimum: five 8-CPU nodes hold 40 CPUs (all 11 big pods and 36 small
        // ones), one 4-CPU node the last small pod ($17; six 8-CPU nodes cost $18).
        assert_eq!(placed, vec![37, 11], "{nodes:?}");
        assert_eq!(cost, 5.0 * 3.0 + 2.0, "{nodes:?}");
        // A budget spent before the generation ends opens nothing (the caller's greedy
        // plan stands).
        assert_eq!(plan(&items, &bins, 10), (Vec::new(), 0, true));
    }

    /// Many shapes: 60 items of distinct requests and 40 bins. A paced first generation
    /// whose first LP alone would take more than its share of the budget stops before
    /// spending any; unpaced, the same generation spends the whole budget and ends with
    /// no duals.
    #[test]
    fn a_first_generation_behind_its_pace_stops_before_spending_the_budget() {
        let reqs: Vec<Resources> = (0..60).map(|i| pod(300 + 37 * i, 1 + i % 5)).collect();
        let caps: Vec<Resources> = (0..40).map(|j| res(2000 + 1000 * j, 4 + 4 * j)).collect();
        let items: Vec<Item> = reqs.iter().map(|r| item(r, 3)).collect();
        let bins: Vec<Bin> = caps
            .iter()
            .enumerate()
            .map(|(j, c)| Bin {
                cap: c,
                price: 1.0 + 0.9 * j as f64,
                items: (0..60).collect(),
            })
            .collect();
        let dense = Dense::new(&items, &bins);
        let demand: Vec<usize> = items.iter().map(|it| it.demand).collect();
        let budget = 120_000;
        for paced in [true, false] {
            let mut patterns = Vec::new();
            seed(&dense, &bins, &demand, &mut patterns);
            let mut work = Work { left: budget };
            let duals = generate(&dense, &bins, &demand, &mut patterns, &mut work, paced);
            assert!(duals.is_none(), "paced {paced}");
            if paced {
                assert_eq!(work.left, budget, "nothing spent");
            } else {
                assert!(work.spent());
            }
        }
        // The plan is then empty and says the budget could not cover it (60 items:
        // 43,200 for the first LP against a share of 2,000).
        assert_eq!(plan(&items, &bins, budget), (Vec::new(), 0, true));
        // With a budget whose share covers the first LP, the generation runs.
        let (nodes, _, cut) = plan(&items, &bins, 10 * BUDGET);
        assert!(!cut && !nodes.is_empty());
    }

    proptest::proptest! {
        /// The master LP ends optimal, with its own certificate: its copies cover every
        /// item's pods, its values are at least zero and price no pattern below its
        /// bin's price, and both sides agree (the copies' cost is the pods' worth).
        /// Items without pods left are worth nothing. Patterns added to a solved master
        /// resume it to the optimum of the larger LP.
        #[test]
        fn the_master_lp_ends_with_a_certificate_of_optimality(
            demand in proptest::collection::vec(0usize..30, 1..7),
            extra in proptest::collection::vec(
                (proptest::collection::vec(0usize..4, 7), 0usize..3), 0..12),
            prices in proptest::collection::vec(1u32..40, 3),
            split in 0usize..12,
        ) {
            let cap = res(1000, 1);
            let bins: Vec<Bin> = prices
                .iter()
                .map(|&p| Bin { cap: &cap, price: f64::from(p) / 4.0, items: Vec::new() })
                .collect();
            let n = demand.len();
            // A seed per item with pods left (one to three pods alone), then mixes.
            let mut patterns: Vec<Node> = (0..n)
                .filter(|&g| demand[g] > 0)
                .map(|g| Node { bin: g % 3, take: vec![(g, 1 + g % 3)] })
                .collect();
            let mixes: Vec<Node> = extra
                .iter()
                .map(|(counts, bin)| Node {
                    bin: *bin,
                    take: counts[..n].iter().enumerate().filter(|(_, &k)| k > 0).map(|(g, &k)| (g, k)).collect(),
                })
                .filter(|p| !p.take.is_empty())
                .collect();
            let (first, later) = mixes.split_at(split.min(mixes.len()));
            patterns.extend(first.iter().cloned());
            let mut master = Master::new(&demand, &patterns, &bins).unwrap();
            for p in later {
                master.add(p, bins[p.bin].price);
                patterns.push(p.clone());
            }
            master.lp.optimize(master.most()).unwrap();
            let (value, x) = (master.values(), master.copies());
            let mut covered = vec![0.0; n];
            let mut cost = 0.0;
            for (p, &k) in patterns.iter().zip(&x) {
                proptest::prop_assert!(k >= 0.0);
                cost += k * bins[p.bin].price;
                let worth: f64 = p.take.iter().map(|&(g, c)| value[g] * c as f64).sum();
                proptest::prop_assert!(worth <= bins[p.bin].price + 1e-7, "{p:?} worth {worth}");
                for &(g, c) in &p.take {
                    covered[g] += k * c as f64;
                }
            }
            let mut worth = 0.0;
            for g in 0..n {
                proptest::prop_assert!(covered[g] >= demand[g] as f64 - 1e-7);
                proptest::prop_assert!(value[g] >= 0.0);
                if demand[g] == 0 {
                    proptest::prop_assert_eq!(value[g], 0.0);
                }
                worth += value[g] * demand[g] as f64;
            }
            proptest::prop_assert!((cost - worth).abs() < 1e-7 * (1.0 + cost), "{cost} vs {worth}");
        }
    }

    proptest::proptest! {
        /// The mixed bounds of [`surrogate`] are upper bounds: no fill of the node
        /// (every count tried, up to each item's demand) is worth more than any of them.
        /// Items may request no CPU or no memory (or neither: they take no mixed room).
        #[test]
        fn no_fill_is_worth_more_than_a_surrogate_bound(
            shapes in proptest::collection::vec((0u64..5, 0u64..5, 1usize..5, 1u32..20), 1..5),
            cap_cpu in 1u64..12,
            cap_gib in 1u64..12,
        ) {
            let reqs: Vec<Resources> = shapes
                .iter()
                .map(|&(c, m, _, _)| Resources::new(Millicores(c * 1000), Bytes::from_gib(m)))
                .collect();
            let cap = Resources::new(Millicores(cap_cpu * 1000), Bytes::from_gib(cap_gib))
                .with_pods(6);
            let items: Vec<Item> = reqs
                .iter()
                .zip(&shapes)
                .map(|(r, s)| item(r, s.2))
                .collect();
            let bins = [Bin { cap: &cap, price: 1.0, items: (0..items.len()).collect() }];
            let dense = Dense::new(&items, &bins);
            let value: Vec<f64> = shapes.iter().map(|s| s.3 as f64 / 4.0).collect();
            let demand: Vec<usize> = items.iter().map(|it| it.demand).collect();
            let live: Vec<(usize, Shares)> =
                (0..items.len()).map(|g| (g, dense.shares[0][g])).collect();
            let most: Vec<usize> =
                (0..items.len()).map(|g| fit(&dense.caps[0], &dense.items[g], demand[g])).collect();
            // Every fill, by brute force.
            let mut best = 0.0f64;
            let mut count = vec![0usize; items.len()];
            loop {
                let mut free = dense.caps[0].clone();
                let fits = count.iter().enumerate().all(|(g, &k)| {
                    let ok = fit(&free, &dense.items[g], k) == k;
                    if ok {
                        take_from(&mut free, &dense.items[g], k);
                    }
                    ok
                });
                if fits {
                    best = best.max(count.iter().zip(&value).map(|(&k, v)| k as f64 * v).sum());
                }
                let Some(g) = (0..count.len()).find(|&g| count[g] < demand[g]) else { break };
                count[g] += 1;
                for c in &mut count[..g] {
                    *c = 0;
                }
            }
            for a in SURROGATE {
                let bound = surrogate(&live, &most, &value, a, &mut Vec::new());
                proptest::prop_assert!(bound >= best * (1.0 - 1e-12), "mix {a}: {bound} < {best}");
            }
        }
    }

    /// A bin whose every fill is worth less than its price, though each resource alone
    /// would allow more: the mixed bound settles it before any fill is tried (no
    /// greedy, LP fill or search is charged), and a cheaper price lets it through.
    #[test]
    fn the_mixed_bound_settles_a_bin_that_cannot_price_out() {
        // 4 CPU / 4 GiB. A CPU pod (2 CPU, 1 GiB) and a memory pod (1 CPU, 2 GiB) are
        // worth 1 each: CPU alone bounds the worth at 4 (four memory pods), memory alone
        // at 4 (four CPU pods), but at most 2 CPU pods, 2 memory pods, or one of each
        // plus a little fit: the even mix bounds it at 8/3.
        let (cpu_pod, mem_pod) = (pod(2000, 1), pod(1000, 2));
        let cap = res(4000, 4);
        let items = [item(&cpu_pod, 4), item(&mem_pod, 4)];
        let mut bins = [Bin {
            cap: &cap,
            price: 3.0,
            items: vec![0, 1],
        }];
        let demand = [4, 4];
        let value = [1.0, 1.0];
        // One bin's best fill at a price, and the work it charged.
        let fill = |bins: &[Bin]| {
            let dense = Dense::new(&items, bins);
            let mut work = Work { left: BUDGET };
            let mut per = PerUnit::default();
            per.price(&dense, &demand, &value);
            let best_per = per.of(&dense, 0);
            let out = best_fill(
                &dense,
                &bins[0],
                0,
                &demand,
                &value,
                best_per,
                &mut Scratch::default(),
                &mut work,
            );
            (out, BUDGET - work.left)
        };
        let (out, charged) = fill(&bins);
        assert!(out.is_none());
        // Charged the first bound and the even mix (which settles it), no more.
        assert_eq!(charged, 2 + 2);
        bins[0].price = 1.5;
        let (worth, _) = fill(&bins).0.unwrap();
        assert_eq!(worth, 2.0);
    }

    /// The first LP's expected charge weighs each pivot as [`LP_PIVOT`] pricing steps
    /// per row or column: 10 seed rows over 10 items, a pivot a row, is 10 x 20 x 6 =
    /// 1,200 operations against a round's share of the budget.
    #[test]
    fn the_first_lp_is_charged_as_weighted_pivots() {
        let share = |s: u64| s * MAX_ROUNDS as u64;
        assert!(first_lp_over_pace(10, 10, share(1_199)));
        assert!(!first_lp_over_pace(10, 10, share(1_200)));
        let mut work = Work { left: 10_000 };
        work.charge_lp(10, 20);
        assert_eq!(work.left, 10_000 - 1_200);
    }

    proptest::proptest! {
        /// The smallest bin is the cheapest (lowest index on ties) of those every item
        /// of the take may use that hold it all, as a scan of every bin finds it.
        #[test]
        fn smallest_is_the_cheapest_bin_that_holds_the_take(
            caps in proptest::collection::vec((1u64..64, 1u64..256), 1..12),
            take in proptest::collection::vec((0usize..3, 1usize..4), 0..4),
        ) {
            let reqs = [pod(1, 2), pod(2, 8), pod(4, 4)];
            let items: Vec<Item> = reqs.iter().map(|req| item(req, 8)).collect();
            let caps: Vec<Resources> = caps.iter().map(|&(c, g)| res(c, g)).collect();
            let bins: Vec<Bin> = caps
                .iter()
                .enumerate()
                .map(|(i, cap)| Bin {
                    cap,
                    // Few distinct prices: ties are common.
                    price: ((i * 7) % 3) as f64,
                    // Some bins refuse item 0.
                    items: (0..items.len()).filter(|&g| g != 0 || i % 3 != 0).collect(),
                })
                .collect();
            let dense = Dense::new(&items, &bins);
            let mut take: Vec<(usize, usize)> = take;
            take.sort_unstable();
            take.dedup_by_key(|t| t.0);
            let need: Vec<u64> = (0..dense.items[0].len())
                .map(|d| take.iter().map(|&(g, n)| dense.items[g][d] * n as u64).sum())
                .collect();
            let want = (0..bins.len())
                .filter(|&bi| {
                    take.iter().all(|t| bins[bi].allows(t.0))
                        && dense.caps[bi].iter().zip(&need).all(|(c, x)| x <= c)
                })
                .min_by(|&a, &b| bins[a].price.total_cmp(&bins[b].price).then(a.cmp(&b)));
            let want = if take.is_empty() { None } else { want };
            proptest::prop_assert_eq!(smallest(&dense, &bins, &take), want);
        }
    }

    #[test]
    fn items_without_a_bin_are_left_to_the_caller() {
        let huge = pod(64_000, 1);
        let small = pod(1000, 1);
        let cap = res(4000, 16);
        let items = [item(&huge, 2), item(&small, 4)];
        let bins = [Bin {
            cap: &cap,
            price: 1.0,
            items: vec![0, 1],
        }];
        let (nodes, _, _) = plan(&items, &bins, BUDGET);
        assert_eq!(
            nodes,
            vec![Node {
                bin: 0,
                take: vec![(1, 4)]
            }]
        );
    }

    proptest::proptest! {
        /// A round's best value per unit of each resource, shared by the bins of one
        /// item set, is what each bin's own live items give: the best of value over
        /// request (`None` when a live item does not request the resource), and no
        /// entry when the bin has no live item. Items may request no CPU or memory;
        /// bins hold overlapping sets.
        #[test]
        fn the_shared_value_per_unit_is_each_bins_own(
            shapes in proptest::collection::vec((0u64..5, 0u64..5, 0usize..4, 0u32..6), 1..7),
            sets in proptest::collection::vec(proptest::collection::vec(proptest::bool::ANY, 7), 1..9),
        ) {
            let reqs: Vec<Resources> = shapes
                .iter()
                .map(|&(c, m, _, _)| pod(c * 1000, m))
                .collect();
            let items: Vec<Item> = reqs.iter().zip(&shapes).map(|(r, s)| item(r, s.2)).collect();
            let cap = res(16_000, 64);
            let bins: Vec<Bin> = sets
                .iter()
                .map(|set| Bin {
                    cap: &cap,
                    price: 1.0,
                    items: (0..items.len()).filter(|&g| set[g]).collect(),
                })
                .collect();
            let dense = Dense::new(&items, &bins);
            let demand: Vec<usize> = items.iter().map(|it| it.demand).collect();
            let value: Vec<f64> = shapes.iter().map(|s| f64::from(s.3) / 4.0).collect();
            let mut per = PerUnit::default();
            per.price(&dense, &demand, &value);
            for (bi, b) in bins.iter().enumerate() {
                let live: Vec<usize> = b
                    .items
                    .iter()
                    .copied()
                    .filter(|&g| demand[g] > 0 && value[g] > 0.0)
                    .collect();
                let want: Option<Vec<Option<f64>>> = (!live.is_empty()).then(|| {
                    (0..dense.caps[bi].len())
                        .map(|d| {
                            let mut best = 0.0f64;
                            for &g in &live {
                                let r = dense.items[g][d];
                                if r == 0 {
                                    return None;
                                }
                                best = best.max(value[g] / r as f64);
                            }
                            Some(best)
                        })
                        .collect()
                });
                proptest::prop_assert_eq!(per.of(&dense, bi), want.as_deref(), "bin {}", bi);
            }
        }
    }

    proptest::proptest! {
        /// The greedy fills re-sort one order from mix to mix; they find what sorting
        /// each mix's order afresh finds: the same best worth, take and order.
        #[test]
        fn the_greedy_fills_are_those_of_fresh_orders(
            shapes in proptest::collection::vec((0u64..9, 0u64..9, 1usize..6, 1u32..20), 1..9),
            cap_cpu in 1u64..24,
            cap_gib in 1u64..24,
        ) {
            let reqs: Vec<Resources> = shapes
                .iter()
                .map(|&(c, m, _, _)| pod(c * 500, m))
                .collect();
            let items: Vec<Item> = reqs.iter().zip(&shapes).map(|(r, s)| item(r, s.2)).collect();
            let cap = res(cap_cpu * 1000, cap_gib);
            let bins = [Bin { cap: &cap, price: 1.0, items: (0..items.len()).collect() }];
            let dense = Dense::new(&items, &bins);
            let demand: Vec<usize> = items.iter().map(|it| it.demand).collect();
            let value: Vec<f64> = shapes.iter().map(|s| f64::from(s.3) / 4.0).collect();
            let live: Vec<(usize, Shares)> =
                (0..items.len()).map(|g| (g, dense.shares[0][g])).collect();
            let got = greedy_fills(&dense, &dense.caps[0], &demand, &value, &live);
            let mut want: Option<Greedy> = None;
            for m in 0..=MIXES.len() {
                let mut order: Vec<(f64, usize)> = live
                    .iter()
                    .map(|&(g, s)| {
                        let room = if m == 0 {
                            s.most
                        } else {
                            MIXES[m - 1] * s.cpu + (1.0 - MIXES[m - 1]) * s.mem + s.other
                        };
                        (value[g] / room.max(1e-12), g)
                    })
                    .collect();
                order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut free = dense.caps[0].clone();
                let (mut worth, mut take) = (0.0, Vec::new());
                for &(_, g) in &order {
                    let k = fit(&free, &dense.items[g], demand[g]);
                    if k > 0 {
                        take_from(&mut free, &dense.items[g], k);
                        worth += value[g] * k as f64;
                        take.push((g, k));
                    }
                }
                if want.as_ref().is_none_or(|(w, ..)| worth > *w * (1.0 + 1e-12)) {
                    want = Some((worth, take, order.iter().map(|o| o.1).collect()));
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }
}
