//! Tail merging: the least utilized nodes of a pool merged into one cheaper node
//! where one holds them.

use super::*;
use crate::prep::Prepared;
use nodepack_model::{labels, CapacityType};
use std::collections::BTreeSet;

impl NodepackStrategy {
    /// The greedy fill leaves its least utilized nodes last (the few pods no efficient
    /// fill could take): merge the `k` least utilized nodes of a capacity type into the
    /// one cheapest type of the pool that holds all their pods whenever that costs less,
    /// `k` from 2 to [`TAIL`], best saving first, until no merge saves anything. (Twelve
    /// 1-CPU pods: 7 + 3 + 1 + 1 on four types, $0.580/h, become one $0.544/h node.)
    /// `out` holds the pool's nodes only.
    pub(super) fn merge_tail(
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
                        (
                            prep.fit_test(&out[i].requested).share(out[i].pt as usize),
                            i,
                        )
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
                    requested.saturating_add_assign(&pk.requested);
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
                limits.remove(pool, &prep.pool_types[out[i].pt as usize].capacity);
            }
            let cap = &prep.pool_types[merged.pt as usize].capacity;
            if limits.exceeded(&np.limits, pool, cap).is_some() {
                for &i in &nodes {
                    limits.add(pool, &prep.pool_types[out[i].pt as usize].capacity);
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

/// At most this many nodes merged into one by [`NodepackStrategy::merge_tail`].
pub(super) const TAIL: usize = 8;
/// At most this many tail merges per pool.
pub(super) const TAIL_ROUNDS: usize = 4;
