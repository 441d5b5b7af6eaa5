//! nodepack's consolidation: one global pass that plans many moves at once.
//!
//! 1. Expired nodes go (forceful), then every empty candidate within the `Empty`
//!    budgets.
//! 2. Nothing below runs while a node whose pods could move changed within its pool's
//!    `consolidateAfter` and would be a cheaper candidate than every settled one: it
//!    may be the one to go once settled. No pod is moved onto a node emptied within
//!    `consolidateAfter` (it goes as empty once settled, evicting nobody).
//! 3. Deletions: candidates in order of disruption cost per dollar saved; a node goes
//!    when its pods fit on the nodes that stay (counting the pods already moved there in
//!    this pass).
//! 4. The target: the running pods packed from scratch by the `nodepack` solver's
//!    greedy packer (without its pattern LP, which took most of a long replay's time
//!    here), computed only when a budget still allows more moves. When the fleet is within
//!    [`NodepackConsolidation::min_gap`] of it there is nothing worth the expensive
//!    searches below and the pass stops.
//! 5. Merges: the least utilized remaining candidates, the longest prefix (binary
//!    search, at most 100 nodes) whose pods fit on the others plus fewer, cheaper new
//!    nodes.
//! 6. Replacements: a single node by one cheaper node, which is how workloads move from
//!    on-demand back to spot once spot can be launched again (the replacement is pinned
//!    to spot).
//!
//! Every move must pay for itself: its savings over [`NodepackConsolidation::horizon`]
//! must exceed its disruption cost (the evicted pods' eviction costs, weighted by
//! priority and deletion cost, times [`NodepackConsolidation::eviction_usd`], plus the
//! price of the replacements while they boot). Candidates must have been unchanged for
//! their pool's `consolidateAfter`, so a replacement is never replaced again within it,
//! and each move strictly lowers the price, so moves cannot cycle; a node that receives
//! pods in a pass is not disrupted in the same pass, so no pod is evicted twice. Node disruption
//! budgets and pod disruption budgets are spent as moves are planned.

use super::{
    empties, expirations, greedy_repack_cost, ConsolidationPlan, ConsolidationProblem,
    Consolidator, Fleet, Move, Outcome, Reason,
};
use nodepack_model::nodepool::ConsolidationPolicy;
use nodepack_model::{Millis, Money};

const SOLVER: &str = "nodepack";

/// nodepack's consolidation settings.
#[derive(Clone, Copy, Debug)]
pub struct NodepackConsolidation {
    /// Savings are counted over this horizon.
    pub horizon: Millis,
    /// Dollars per unit of eviction cost (a plain pod costs 1 unit).
    pub eviction_usd: f64,
    /// Expected boot time of a replacement (both nodes are paid meanwhile).
    pub boot: Millis,
    /// Skip the pass when the fleet costs less than this fraction over its repacking.
    pub min_gap: f64,
    /// At most this many merge searches per pass.
    pub max_merges: usize,
    /// At most this many single-node replacements tried per pass (largest possible
    /// saving first).
    pub max_replacements_tried: usize,
    /// At most this many simulations through the full solver (pods with topology or
    /// pod-affinity rules) per pass.
    pub max_full_simulations: usize,
    /// Compute the repacking target and skip the pass when the fleet is close to it
    /// (off for quick passes that only delete).
    pub target: bool,
    /// The solver strategy that packs the pods of a merge or replacement onto new
    /// nodes (`karpenter`: one cheapest node per group, several times faster than
    /// `nodepack`'s search, whose greedy packer sets the target).
    pub move_solver: &'static str,
    /// Move no pods while a node with pods that could move has changed within its
    /// pool's `consolidateAfter` and would be a cheaper candidate than every settled
    /// one (it may be the one to go once it settles), and none onto a node emptied
    /// within it.
    pub wait_for_settling: bool,
}

impl Default for NodepackConsolidation {
    fn default() -> Self {
        NodepackConsolidation {
            horizon: Millis::from_mins(120),
            eviction_usd: 0.015,
            boot: Millis::from_secs(90),
            min_gap: 0.01,
            max_merges: 4,
            max_replacements_tried: 16,
            max_full_simulations: 8,
            target: true,
            move_solver: "karpenter",
            wait_for_settling: true,
        }
    }
}

impl NodepackConsolidation {
    /// Does a move saving `savings` per hour pay for evicting pods of `disruption`
    /// eviction cost and booting `out`'s replacements?
    pub fn worth(&self, savings: Money, disruption: f64, out: &Outcome) -> bool {
        let hours = |m: Millis| m.0 as f64 / 3_600_000.0;
        let gain = savings.usd() * hours(self.horizon);
        let cost =
            disruption.max(0.0) * self.eviction_usd + out.new_cost().usd() * hours(self.boot);
        savings > Money::ZERO && gain > cost
    }

    /// Check a move for `nodes`: pods fit, fewer and cheaper replacements, worth it,
    /// budgets allow.
    fn check(&self, fleet: &Fleet, nodes: &[usize], allow_new: bool) -> Option<Outcome> {
        // A node that receives pods in this pass keeps them: no pod moves twice.
        if nodes.iter().any(|&i| !fleet.moved_in[i].is_empty())
            || !fleet.budgets_allow(nodes, Reason::Underutilized)
            || !fleet.pdbs_allow(nodes)
        {
            return None;
        }
        // Fewer nodes than removed (one for one), and cheaper: a single node is deleted
        // or replaced by one node priced below it.
        let before: Money = nodes.iter().map(|&i| fleet.p.nodes[i].node.price).sum();
        let ceiling = (nodes.len() == 1).then_some(before);
        let out = fleet.simulate_below(nodes, self.move_solver, allow_new, ceiling)?;
        if out.new_nodes.len() > 1 && out.new_nodes.len() >= nodes.len() {
            return None;
        }
        let disruption: f64 = nodes.iter().map(|&i| fleet.disruption_cost(i)).sum();
        (self.worth(before - out.new_cost(), disruption, &out)
            && super::karpenter::balanced_ok(fleet, nodes, &out))
        .then_some(out)
    }
}

impl Consolidator for NodepackConsolidation {
    fn name(&self) -> &'static str {
        SOLVER
    }

    fn consolidate(&self, problem: &ConsolidationProblem) -> ConsolidationPlan {
        let mut fleet = Fleet::new(problem);
        fleet.full_budget.set(self.max_full_simulations);
        // A node emptied within its pool's `consolidateAfter` goes as empty once settled,
        // at no disruption: moving pods into its room now would trade that for evictions.
        for i in 0..problem.nodes.len() {
            fleet.keep_out[i] = self.wait_for_settling
                && fleet.pod_count(&[i]) == 0
                && !fleet.settled(i)
                && fleet.blocked(i).is_none()
                && fleet.pool[i]
                    .is_some_and(|k| problem.nodepools[k].disruption.consolidate_after.is_some());
        }
        let cost_before = fleet.cost();
        let mut moves = expirations(&mut fleet);
        let empty = empties(&fleet);
        if !empty.is_empty() {
            let out = Outcome::default();
            moves.push(fleet.make_move(Reason::Empty, &empty, &out));
            fleet.commit(&empty, &out);
        }
        // Nodes with pods that consolidation may move: managed by a pool that allows it,
        // not blocked.
        let movable: Vec<usize> = (0..problem.nodes.len())
            .filter(|&i| {
                fleet.pod_count(&[i]) > 0
                    && fleet.blocked(i).is_none()
                    && fleet.pool[i].is_some_and(|k| {
                        let d = &problem.nodepools[k].disruption;
                        d.consolidation_policy != ConsolidationPolicy::WhenEmpty
                            && d.consolidate_after.is_some()
                    })
            })
            .collect();
        // A node whose pods changed recently is no candidate yet, but it may be the
        // better one once settled (a scale-in leaves holes in many nodes at once): moving
        // the pods of settled nodes into those holes now evicts pods a later pass would
        // not. So moves of pods wait while an unsettled node would be a cheaper
        // candidate (less disruption per dollar) than every settled one.
        let key = |i: usize| fleet.disruption_cost(i) / fleet.p.nodes[i].node.price.usd().max(1e-9);
        let best = |settled: bool| {
            movable
                .iter()
                .filter(|&&i| fleet.settled(i) == settled)
                .map(|&i| key(i))
                .fold(f64::INFINITY, f64::min)
        };
        let settling = self.wait_for_settling && best(false) < best(true);
        let mut cands: Vec<usize> = if settling {
            vec![]
        } else {
            movable.into_iter().filter(|&i| fleet.settled(i)).collect()
        };
        let n_cands = cands.len();
        let finish = |moves: Vec<Move>, target: Option<Money>| {
            let saved: Money = moves
                .iter()
                .filter(|m| m.reason != Reason::Expired)
                .map(|m| m.savings_per_hour)
                .sum();
            ConsolidationPlan {
                strategy: SOLVER.into(),
                moves,
                cost_before,
                cost_after: cost_before - saved,
                repack_cost: target,
                candidates: n_cands,
            }
        };
        if cands.is_empty() {
            return finish(moves, None);
        }
        // Deletions: cheapest disruption per dollar first.
        cands.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        for &i in &cands {
            if let Some(out) = self.check(&fleet, &[i], false) {
                moves.push(fleet.make_move(Reason::Underutilized, &[i], &out));
                fleet.commit(&[i], &out);
            }
        }
        cands.retain(|&i| !fleet.gone[i]);
        // The target decides whether merges and replacements (the expensive searches)
        // are worth trying: only computed when some pool's budget still allows them.
        let budget_left = cands.iter().any(|&i| {
            fleet.pool[i].is_some_and(|k| fleet.budget_left(k, Reason::Underutilized) > 0)
        });
        if !budget_left {
            return finish(moves, None);
        }
        let target = if self.target {
            Some(greedy_repack_cost(&fleet))
        } else {
            None
        };
        if let Some(t) = target {
            let now = fleet.cost();
            if (now - t).usd() <= self.min_gap * now.usd() {
                return finish(moves, target);
            }
        }
        // Merges, within each pool and zone (pods keep their zone, so zone spreads
        // hold): the least utilized nodes first, the longest prefix that pays.
        let mut groups: std::collections::BTreeMap<(usize, &str), Vec<usize>> =
            std::collections::BTreeMap::new();
        for &i in &cands {
            if let Some(k) = fleet.pool[i] {
                groups
                    .entry((k, problem.nodes[i].node.zone.as_str()))
                    .or_default()
                    .push(i);
            }
        }
        let mut merges = 0;
        for ((pool, _), mut group) in groups {
            group.sort_by_cached_key(|&i| {
                let n = &fleet.p.nodes[i].node;
                let used = n.allocatable.saturating_sub(&fleet.free[i]);
                (super::share(&used, &n.allocatable), i)
            });
            while merges < self.max_merges {
                group.retain(|&i| !fleet.gone[i] && fleet.moved_in[i].is_empty());
                let budget = fleet.budget_left(pool, Reason::Underutilized) as usize;
                let max = group.len().min(super::karpenter::MAX_MULTI).min(budget);
                if max < 2 {
                    break;
                }
                merges += 1;
                let (mut lo, mut hi) = (2usize, max);
                let mut best: Option<(usize, Outcome)> = None;
                while lo <= hi {
                    let mid = (lo + hi) / 2;
                    match self.check(&fleet, &group[..mid], true) {
                        Some(out) => {
                            best = Some((mid, out));
                            lo = mid + 1;
                        }
                        None => hi = mid - 1,
                    }
                }
                let Some((k, out)) = best else { break };
                let nodes: Vec<usize> = group[..k].to_vec();
                moves.push(fleet.make_move(Reason::Underutilized, &nodes, &out));
                fleet.commit(&nodes, &out);
            }
        }
        // Single-node replacements (on-demand back to spot among them), largest
        // possible saving first.
        cands.retain(|&i| !fleet.gone[i]);
        let mut by_headroom: Vec<(i64, usize)> = cands
            .iter()
            .map(|&i| (fleet.replacement_headroom(i), i))
            .filter(|(h, _)| *h > 0)
            .collect();
        by_headroom.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in by_headroom.iter().take(self.max_replacements_tried) {
            if let Some(out) = self.check(&fleet, &[i], true) {
                if out.new_nodes.len() == 1 {
                    moves.push(fleet.make_move(Reason::Underutilized, &[i], &out));
                    fleet.commit(&[i], &out);
                }
            }
        }
        finish(moves, target)
    }

    fn revalidate(&self, problem: &ConsolidationProblem, m: &Move) -> Option<Move> {
        let fleet = Fleet::new(problem);
        let nodes = fleet.indices(&m.nodes)?;
        if m.reason == Reason::Expired {
            return fleet.still_expired(&nodes);
        }
        if !nodes
            .iter()
            .all(|&i| fleet.blocked(i).is_none() && fleet.settled(i))
        {
            return None;
        }
        let out = match m.reason {
            Reason::Empty => (fleet.pod_count(&nodes) == 0
                && fleet.budgets_allow(&nodes, Reason::Empty))
            .then(Outcome::default)?,
            _ => self.check(&fleet, &nodes, !m.replacements.is_empty())?,
        };
        Some(fleet.make_move(m.reason, &nodes, &out))
    }
}
