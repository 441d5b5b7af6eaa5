//! Karpenter v1.14's disruption controller, reimplemented from its documented rules.
//!
//! Candidates: managed, initialized, not being deleted, no `do-not-disrupt` on the node
//! or its pods, pod disruption budgets allowing their eviction, and unchanged for the
//! pool's `consolidateAfter`. Expired nodes (`expireAfter`) go first and regardless of
//! budgets. Then the methods in order, the first that finds something wins the pass (one
//! command per pass):
//! 1. emptiness: every empty candidate within the `Empty` budgets;
//! 2. drift: the first drifted candidate, replaced by whatever its pods need;
//! 3. multi-node consolidation (pools with `WhenEmptyOrUnderutilized` or `Balanced`):
//!    candidates ordered by price / (1 + disruption cost), at most 100, a binary search
//!    for the longest prefix that can be deleted or replaced by one cheaper node;
//! 4. single-node consolidation: every candidate of a pool with budget left, in the
//!    same order and interleaved across pools; the first that can be deleted or
//!    replaced by one cheaper node.
//!
//! A replacement must be cheaper than the candidates: when the pods the other nodes
//! cannot take fit no instance type cheaper than the candidates, the move is refused
//! without simulating the replacement's launch (Karpenter keeps only the replacement's
//! instance types cheaper than the candidates, and refuses when none remains).
//! Replacements are never more nodes than they replace (1 -> 2 is refused); an
//! on-demand node replaced by spot is pinned to spot; spot nodes whose replacement may
//! be spot take the spot -> spot path whatever its cheapest option (so with the
//! `SpotToSpotConsolidation` gate off they are only ever deleted, and no replacement is
//! simulated for them); spot -> spot needs at least 15
//! instance types cheaper than the candidates, and for a single node its own type may
//! not be among the 15 cheapest (the replacement keeps those 15 as its options).
//! `Balanced` pools take a move only when its share of the pool's cost saved is at least
//! half its share of the pool's disruption cost. The caller waits 15 s and calls
//! [`Consolidator::revalidate`] before acting, then launches replacements, waits for
//! them to be ready and drains.

use super::{
    empties, expirations, ConsolidationPlan, ConsolidationProblem, Consolidator, Fleet, Move,
    Outcome, Reason,
};
use nodepack_model::nodepool::ConsolidationPolicy;
use nodepack_model::{labels, CapacityType, Money};

/// At most this many candidates in a multi-node consolidation.
pub const MAX_MULTI: usize = 100;
/// Spot -> spot consolidation needs this many cheaper instance types.
pub const MIN_SPOT_TO_SPOT_TYPES: usize = 15;

/// Karpenter's disruption controller.
#[derive(Clone, Copy, Debug, Default)]
pub struct KarpenterConsolidation;

const SOLVER: &str = "karpenter";

/// Candidates for underutilized consolidation (settled, not blocked, in a pool that
/// allows it), most savings per disruption first: price / (1 + disruption cost),
/// Karpenter's `SavingsRatio`, descending.
fn ranked(fleet: &Fleet) -> Vec<usize> {
    let mut c: Vec<(f64, usize)> = (0..fleet.p.nodes.len())
        .filter(|&i| {
            fleet.blocked(i).is_none()
                && fleet.settled(i)
                && fleet.pool[i].is_some_and(|k| {
                    fleet.p.nodepools[k].disruption.consolidation_policy
                        != ConsolidationPolicy::WhenEmpty
                })
        })
        .map(|i| {
            let price = fleet.p.nodes[i].node.price.usd();
            (price / (1.0 + fleet.disruption_cost(i).max(0.0)), i)
        })
        .collect();
    c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    c.into_iter().map(|(_, i)| i).collect()
}

/// Candidates for multi-node consolidation: the `ranked` candidates within each pool's
/// `Underutilized` budget (a multi-node command disrupts all of them).
fn candidates(fleet: &Fleet, ranked: &[usize]) -> Vec<usize> {
    let mut per_pool = vec![0u32; fleet.p.nodepools.len()];
    ranked
        .iter()
        .copied()
        .filter(|&i| {
            fleet.pool[i].is_some_and(|k| {
                let ok = per_pool[k] < fleet.budget_left(k, Reason::Underutilized);
                per_pool[k] += u32::from(ok);
                ok
            })
        })
        .collect()
}

/// Candidates for single-node consolidation: every `ranked` candidate whose pool has
/// `Underutilized` budget left, interleaved across pools (the first of each pool, in
/// pool order, then the second, ...). A single-node command disrupts one node, so
/// Karpenter's `SingleNodeConsolidation.ComputeCommands` walks all of them and skips
/// only pools whose budget is spent.
fn single_candidates(fleet: &Fleet, ranked: &[usize]) -> Vec<usize> {
    let mut per_pool: Vec<Vec<usize>> = vec![Vec::new(); fleet.p.nodepools.len()];
    for &i in ranked {
        if let Some(k) = fleet.pool[i] {
            if fleet.budget_left(k, Reason::Underutilized) > 0 {
                per_pool[k].push(i);
            }
        }
    }
    let longest = per_pool.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|r| per_pool.iter().filter_map(move |c| c.get(r).copied()))
        .collect()
}

/// Can `nodes` be deleted, or replaced by one cheaper node, under Karpenter's rules?
/// The outcome, with a spot -> spot replacement's options cut to the 15 cheapest.
pub fn evaluate(fleet: &Fleet, nodes: &[usize], single: bool) -> Option<Outcome> {
    // Each candidate's pods may be evicted on their own; together they must fit too.
    if !fleet.pdbs_allow(nodes) {
        return None;
    }
    // A single node that no cheaper type could hold can only be deleted.
    let all_spot = nodes
        .iter()
        .all(|&i| fleet.p.nodes[i].node.capacity_type == CapacityType::Spot);
    // Spot nodes whose replacement could only be spot-to-spot, with that gate off,
    // can only be deleted.
    let spot_locked = all_spot && !fleet.p.spot_to_spot && spot_everywhere(fleet, nodes);
    let allow_new = !spot_locked && (!single || fleet.replacement_headroom(nodes[0]) > 0);
    let before: Money = nodes.iter().map(|&i| fleet.p.nodes[i].node.price).sum();
    // Deleted, or replaced by one node cheaper than `before`: nothing else is taken.
    let mut out = fleet.simulate_below(nodes, SOLVER, allow_new, Some(before))?;
    match out.new_nodes.len() {
        0 => {}
        1 => {
            let n = &out.new_nodes[0];
            if n.price >= before {
                return None;
            }
            // On-demand -> [on-demand, spot]: Karpenter pins the replacement to spot
            // ("if spot capacity is insufficient we don't replace the node with a more
            // expensive on-demand node. Instead the launch should fail", disruption
            // controller, computeConsolidation). A replacement that may be spot but
            // would launch on-demand (no spot offering among its options) fails.
            if !all_spot && n.capacity_type == CapacityType::OnDemand && may_be_spot(fleet, &out) {
                return None;
            }
            // All spot, and a replacement that may be spot: Karpenter's spot-to-spot
            // path, whichever capacity type the replacement's cheapest option has.
            if all_spot && may_be_spot(fleet, &out) {
                // Spot -> spot consolidation is behind the SpotToSpotConsolidation
                // feature gate, off by default (Karpenter docs, "Disruption":
                // "Spot consolidation ... feature flag").
                if !fleet.p.spot_to_spot {
                    return None;
                }
                let prices = fleet.spot_prices(n);
                let cheaper: Vec<&str> = prices
                    .iter()
                    .filter(|(p, _)| *p < before)
                    .map(|(_, t)| *t)
                    .take(MIN_SPOT_TO_SPOT_TYPES)
                    .collect();
                if cheaper.len() < MIN_SPOT_TO_SPOT_TYPES {
                    return None;
                }
                let own = &fleet.p.nodes[nodes[0]].node.instance_type;
                if single && cheaper.contains(&own.as_str()) {
                    return None;
                }
                let keep: Vec<String> = cheaper
                    .iter()
                    .filter(|t| **t != n.instance_type)
                    .map(|t| t.to_string())
                    .collect();
                out.new_nodes[0].alternatives = keep;
            }
        }
        _ => return None,
    }
    balanced_ok(fleet, nodes, &out).then_some(out)
}

/// Does every pool allow spot, and every pod of `nodes`? Then any replacement of them
/// may be spot.
fn spot_everywhere(fleet: &Fleet, nodes: &[usize]) -> bool {
    fleet.p.nodepools.iter().all(pool_allows_spot)
        && nodes
            .iter()
            .all(|&i| fleet.p.nodes[i].pods.iter().all(|q| allows_spot(q)))
}

/// May the single replacement of `out` be spot: its pool and every pod moving onto it
/// allow the spot capacity type?
fn may_be_spot(fleet: &Fleet, out: &Outcome) -> bool {
    let Some(n) = out.new_nodes.first() else {
        return false;
    };
    let pool_ok = fleet
        .p
        .nodepools
        .iter()
        .find(|p| p.name == n.nodepool)
        .is_some_and(pool_allows_spot);
    pool_ok && out.to_new.iter().all(|(q, _, _)| allows_spot(q))
}

/// Do the pool's requirements allow the spot capacity type?
fn pool_allows_spot(p: &nodepack_model::NodePool) -> bool {
    p.requirements
        .get(labels::CAPACITY_TYPE)
        .has(CapacityType::Spot.as_str())
}

/// Does some node requirement term of the pod allow the spot capacity type?
fn allows_spot(q: &nodepack_model::Pod) -> bool {
    let spot = CapacityType::Spot.as_str();
    q.node_requirement_terms()
        .iter()
        .any(|t| t.get(labels::CAPACITY_TYPE).has(spot))
}

/// `Balanced` pools: the move's share of the pool's cost saved must be at least half its
/// share of the pool's disruption cost.
pub fn balanced_ok(fleet: &Fleet, nodes: &[usize], out: &Outcome) -> bool {
    let Some(k) = nodes.first().and_then(|&i| fleet.pool[i]) else {
        return true;
    };
    if fleet.p.nodepools[k].disruption.consolidation_policy != ConsolidationPolicy::Balanced {
        return true;
    }
    let in_pool = |i: &usize| fleet.pool[*i] == Some(k) && !fleet.gone[*i];
    let all: Vec<usize> = (0..fleet.p.nodes.len()).filter(in_pool).collect();
    let pool_cost: f64 = all.iter().map(|&i| fleet.p.nodes[i].node.price.usd()).sum();
    let pool_disruption: f64 = all.iter().map(|&i| fleet.disruption_cost(i)).sum();
    let saved: f64 = nodes
        .iter()
        .map(|&i| fleet.p.nodes[i].node.price.usd())
        .sum::<f64>()
        - out.new_cost().usd();
    let disruption: f64 = nodes.iter().map(|&i| fleet.disruption_cost(i)).sum();
    if pool_cost <= 0.0 || saved <= 0.0 {
        return false;
    }
    if disruption <= 0.0 || pool_disruption <= 0.0 {
        return true;
    }
    (saved / pool_cost) / (disruption / pool_disruption) >= 0.5
}

fn plan(fleet: &Fleet, moves: Vec<Move>, candidates: usize) -> ConsolidationPlan {
    let cost_before: Money = (0..fleet.p.nodes.len())
        .filter(|&i| !super::status(fleet.p, i).deleting)
        .map(|i| fleet.p.nodes[i].node.price)
        .sum();
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
        repack_cost: None,
        candidates,
    }
}

impl Consolidator for KarpenterConsolidation {
    fn name(&self) -> &'static str {
        SOLVER
    }

    fn consolidate(&self, problem: &ConsolidationProblem) -> ConsolidationPlan {
        let mut fleet = Fleet::new(problem);
        let mut moves = expirations(&mut fleet);
        // 1. Emptiness.
        let empty = empties(&fleet);
        if !empty.is_empty() {
            moves.push(fleet.make_move(Reason::Empty, &empty, &Outcome::default()));
            return plan(&fleet, moves, empty.len());
        }
        // 2. Drift.
        for i in 0..problem.nodes.len() {
            if fleet.blocked(i).is_some()
                || !fleet.drifted(i)
                || !fleet.budgets_allow(&[i], Reason::Drifted)
            {
                continue;
            }
            if let Some(out) = fleet.simulate(&[i], SOLVER) {
                moves.push(fleet.make_move(Reason::Drifted, &[i], &out));
                return plan(&fleet, moves, 1);
            }
        }
        // Ranked once for both methods (each candidate's disruption cost walks its pods).
        let order = ranked(&fleet);
        let cands = candidates(&fleet, &order);
        // 3. Multi-node: the longest valid prefix, by binary search.
        let max = cands.len().min(MAX_MULTI);
        if max >= 2 {
            let (mut lo, mut hi) = (2usize, max);
            let mut best: Option<(usize, Outcome)> = None;
            while lo <= hi {
                let mid = (lo + hi) / 2;
                match evaluate(&fleet, &cands[..mid], false) {
                    Some(out) => {
                        best = Some((mid, out));
                        lo = mid + 1;
                    }
                    None => hi = mid - 1,
                }
            }
            if let Some((k, out)) = best {
                moves.push(fleet.make_move(Reason::Underutilized, &cands[..k], &out));
                return plan(&fleet, moves, cands.len());
            }
        }
        // 4. Single-node: every candidate whose pool has budget left, not only the
        // first `budget_left` (a single-node command disrupts one node).
        for i in single_candidates(&fleet, &order) {
            if let Some(out) = evaluate(&fleet, &[i], true) {
                moves.push(fleet.make_move(Reason::Underutilized, &[i], &out));
                return plan(&fleet, moves, cands.len());
            }
        }
        plan(&fleet, moves, cands.len())
    }

    fn revalidate(&self, problem: &ConsolidationProblem, m: &Move) -> Option<Move> {
        let fleet = Fleet::new(problem);
        let nodes = fleet.indices(&m.nodes)?;
        if m.reason == Reason::Expired {
            return fleet.still_expired(&nodes);
        }
        let ok = nodes.iter().all(|&i| {
            fleet.blocked(i).is_none() && (m.reason == Reason::Drifted || fleet.settled(i))
        });
        if !ok || !fleet.budgets_allow(&nodes, m.reason) {
            return None;
        }
        let out = match m.reason {
            Reason::Empty => (fleet.pod_count(&nodes) == 0).then(Outcome::default)?,
            Reason::Drifted => fleet.simulate(&nodes, SOLVER)?,
            _ => evaluate(&fleet, &nodes, nodes.len() == 1)?,
        };
        if m.reason == Reason::Underutilized
            && (out.new_nodes.len() > m.replacements.len()
                || out.new_cost() > m.replacements.iter().map(|n| n.price).sum())
        {
            return None;
        }
        Some(fleet.make_move(m.reason, &nodes, &out))
    }
}
