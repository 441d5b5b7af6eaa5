//! Why a plan looks the way it does: for each new node, why its instance type and
//! capacity type won over the next cheapest alternatives; for each unschedulable pod,
//! what ruled out each node pool and instance type.
//!
//! Pure: a function of the prepared problem and the plan. The reasons are recomputed
//! from the same compatibility rules the strategies use (node requirements, taints,
//! allocatable minus daemonset overhead, offerings), not recorded during the solve, so
//! an explanation never changes a plan.

use crate::nodepack::RiskModel;
use crate::prep::{taint_blocking, term_conflict, Prepared};
use crate::{NewNode, Plan};
use nodepack_model::{labels, CapacityType, Money, Offering, Pod, PodId, Requirements, Resources};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One priced offering of an instance type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Price per hour.
    pub price: Money,
    /// Price plus the expected cost of spot interruptions per hour, in dollars (the
    /// `nodepack` strategy's risk model; equal to the price for on-demand).
    pub effective_usd_per_hour: f64,
}

/// A cheaper offering that was not taken, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Passed {
    /// The offering.
    pub offering: Choice,
    /// Why not.
    pub reason: String,
}

impl std::fmt::Display for Passed {
    /// `type capacity-type zone $price/h: reason`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", describe(&self.offering), self.reason)
    }
}

/// Why a new node is what it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeExplanation {
    /// The node's placeholder name.
    pub node: String,
    /// Its pool.
    pub nodepool: String,
    /// Pods on it.
    pub pods: usize,
    /// What the pods (plus daemonset overhead) request.
    pub requested: Resources,
    /// The chosen offering.
    pub chosen: Choice,
    /// The cheapest offering of another instance type that holds the same pods.
    pub next_type: Option<Choice>,
    /// The cheapest offering of the other capacity type (spot vs on-demand) that holds
    /// the same pods.
    pub other_capacity_type: Option<Choice>,
    /// The cheapest passed-over offering of each kind of reason, cheapest first (at
    /// most 5).
    pub cheaper: Vec<Passed>,
    /// All cheaper offerings ruled out, counted by reason.
    pub cheaper_by_reason: BTreeMap<String, u32>,
    /// One sentence.
    pub summary: String,
}

/// What ruled out one node pool for a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolVerdict {
    /// The pool.
    pub nodepool: String,
    /// A reason that rules out the whole pool (taint, requirements), if any.
    pub pool_reason: Option<String>,
    /// Instance types of the pool ruled out, counted by reason, with up to three
    /// example types.
    pub types_by_reason: BTreeMap<String, (u32, Vec<String>)>,
    /// Instance types that could hold the pod alone (the pod was left out for another
    /// reason: topology, limits, or the pool's other pods).
    pub types_that_fit: u32,
}

/// Why a pod was not scheduled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodExplanation {
    /// The pod.
    pub pod: PodId,
    /// The strategy's reason.
    pub reason: String,
    /// Each pool, in Karpenter's order (weight, then name).
    pub pools: Vec<PoolVerdict>,
}

/// A plan explained.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// Strategy.
    pub strategy: String,
    /// New nodes.
    pub nodes: Vec<NodeExplanation>,
    /// Unschedulable pods.
    pub unschedulable: Vec<PodExplanation>,
}

/// Why the pods' node requirements reject a node of requirements `reqs`, if they do.
/// Pods with their node requirement alternatives, computed once per explanation.
type Needs<'a> = [(&'a Pod, Vec<Requirements>)];

fn requirement_conflict(pods: &Needs, reqs: &Requirements) -> Option<String> {
    for (p, terms) in pods {
        let conflicts: Vec<String> = terms
            .iter()
            .filter_map(|t| term_conflict(t, reqs))
            .collect();
        if conflicts.len() == terms.len() {
            return conflicts
                .into_iter()
                .next()
                .map(|c| format!("pod {}: {c}", p.id));
        }
    }
    None
}

/// Does every pod allow this offering's zone and capacity type?
fn offering_conflict(pods: &Needs, o: &Offering) -> Option<String> {
    for (p, terms) in pods {
        let ok = terms.iter().any(|t| {
            t.get_ref(labels::ZONE).is_none_or(|z| z.has(&o.zone))
                && t.get_ref(labels::CAPACITY_TYPE)
                    .is_none_or(|c| c.has(o.capacity_type.as_str()))
        });
        if !ok {
            return Some(format!(
                "zone or capacity type: pod {} does not allow {} {}",
                p.id,
                o.zone,
                o.capacity_type.as_str()
            ));
        }
    }
    None
}

fn choice(name: &str, o: &Offering, risk: &RiskModel, pods: usize) -> Choice {
    Choice {
        instance_type: name.to_string(),
        zone: o.zone.clone(),
        capacity_type: o.capacity_type,
        price: o.price,
        effective_usd_per_hour: risk.effective(o, pods) / 1e6,
    }
}

fn usd(m: Money) -> String {
    format!("${:.4}/h", m.usd())
}

fn describe(c: &Choice) -> String {
    format!(
        "{} {} {} {}",
        c.instance_type,
        c.capacity_type.as_str(),
        c.zone,
        usd(c.price)
    )
}

/// Explain one new node.
fn explain_node(
    prep: &Prepared,
    strategy: &str,
    n: &NewNode,
    pods: &[&Pod],
) -> Option<NodeExplanation> {
    let pool = prep
        .problem
        .nodepools
        .iter()
        .position(|p| p.name == n.nodepool)?;
    let info = &prep.pools[pool];
    let risk = RiskModel::default();
    let need = pods
        .iter()
        .fold(Resources::default(), |a, p| a.saturating_add(&p.requests));
    let chosen_pt = (info.start..info.end).find(|&i| prep.pool_types[i].name == n.instance_type)?;
    let chosen_o = prep.pool_types[chosen_pt]
        .offerings
        .iter()
        .find(|o| o.zone == n.zone && o.capacity_type == n.capacity_type)?;
    let chosen = choice(&n.instance_type, chosen_o, &risk, pods.len());
    // Every offering of the pool with its verdict: None = it holds these pods.
    let needs: Vec<(&Pod, Vec<Requirements>)> = pods
        .iter()
        .map(|p| (*p, p.node_requirement_terms()))
        .collect();
    let mut all: Vec<(Choice, Option<String>)> = Vec::new();
    for i in info.start..info.end {
        let pt = &prep.pool_types[i];
        let type_reason = requirement_conflict(&needs, &pt.reqs)
            .map(|c| format!("requirement: {c}"))
            .or_else(|| {
                need.shortfall(&pt.usable)
                    .map(|s| format!("too small: {}", s.resource))
            });
        for o in &pt.offerings {
            let reason = type_reason.clone().or_else(|| offering_conflict(&needs, o));
            all.push((choice(&pt.name, o, &risk, pods.len()), reason));
        }
    }
    all.sort_by(|a, b| {
        a.0.price
            .cmp(&b.0.price)
            .then_with(|| a.0.instance_type.cmp(&b.0.instance_type))
            .then_with(|| a.0.zone.cmp(&b.0.zone))
    });
    let fits = |c: &&(Choice, Option<String>)| c.1.is_none();
    let next_type = all
        .iter()
        .filter(fits)
        .filter(|c| c.0.instance_type != chosen.instance_type && c.0.price >= chosen.price)
        .map(|c| c.0.clone())
        .next();
    let other_ct = all
        .iter()
        .filter(fits)
        .filter(|c| c.0.capacity_type != chosen.capacity_type)
        .map(|c| c.0.clone())
        .next();
    let mut examples: BTreeMap<String, Passed> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, u32> = BTreeMap::new();
    for (c, reason) in all.iter().filter(|c| c.0.price < chosen.price) {
        let reason = match reason {
            Some(r) => r.clone(),
            None if c.capacity_type == CapacityType::Spot
                && strategy == "nodepack"
                && c.effective_usd_per_hour > chosen.effective_usd_per_hour =>
            {
                format!(
                    "spot risk: ${:.4}/h with the expected cost of interruptions, more than the chosen ${:.4}/h",
                    c.effective_usd_per_hour, chosen.effective_usd_per_hour
                )
            }
            None if strategy == "karpenter"
                && chosen.capacity_type == CapacityType::Spot
                && c.capacity_type == CapacityType::OnDemand =>
            {
                "Karpenter launches spot whenever the pool allows it, before on-demand".into()
            }
            None if c.zone != chosen.zone => format!(
                "zone {}: the plan put this node in {} (topology spread, zone balance or the zones other nodes of the claim allow)",
                c.zone, chosen.zone
            ),
            None => format!(
                "holds these pods, but the {strategy} strategy packed them onto {} as part of its plan for all pods",
                chosen.instance_type
            ),
        };
        let key = reason
            .split(':')
            .next()
            .unwrap_or(&reason)
            .trim()
            .to_string();
        *by_reason.entry(key.clone()).or_default() += 1;
        // The cheapest example of each kind of reason.
        examples.entry(key).or_insert_with(|| Passed {
            offering: c.clone(),
            reason,
        });
    }
    let mut cheaper: Vec<Passed> = examples.into_values().collect();
    cheaper.sort_by_key(|p| p.offering.price);
    cheaper.truncate(5);
    let mut summary = format!("{}: {} for {} pods", n.name, describe(&chosen), pods.len());
    if let Some(t) = &next_type {
        summary.push_str(&format!(
            "; next cheapest type that holds them: {} (+${:.4}/h)",
            describe(t),
            (t.price.0 - chosen.price.0) as f64 / 1e6
        ));
    }
    if let Some(o) = &other_ct {
        summary.push_str(&format!(
            "; cheapest {} that holds them: {}",
            o.capacity_type.as_str(),
            describe(o)
        ));
        if chosen.capacity_type == CapacityType::Spot {
            summary.push_str(&format!(
                " (spot saves {:.0}%, expected interruption cost ${:.5}/h)",
                (1.0 - chosen.price.0 as f64 / o.price.0.max(1) as f64) * 100.0,
                chosen.effective_usd_per_hour - chosen.price.usd()
            ));
        }
    }
    if !by_reason.is_empty() {
        let parts: Vec<String> = by_reason.iter().map(|(r, c)| format!("{c} {r}")).collect();
        summary.push_str(&format!(
            "; {} cheaper offerings passed over: {}",
            by_reason.values().sum::<u32>(),
            parts.join(", ")
        ));
    }
    Some(NodeExplanation {
        node: n.name.clone(),
        nodepool: n.nodepool.clone(),
        pods: pods.len(),
        requested: n.requested.clone(),
        chosen,
        next_type,
        other_capacity_type: other_ct,
        cheaper,
        cheaper_by_reason: by_reason,
        summary,
    })
}

/// Explain why one pod fits nowhere.
fn explain_pod(prep: &Prepared, pod: &Pod, reason: &str) -> PodExplanation {
    let needs = [(pod, pod.node_requirement_terms())];
    let mut pools = Vec::new();
    for &pi in &prep.pool_order {
        let np = &prep.problem.nodepools[pi];
        let info = &prep.pools[pi];
        let mut v = PoolVerdict {
            nodepool: np.name.clone(),
            pool_reason: None,
            types_by_reason: BTreeMap::new(),
            types_that_fit: 0,
        };
        if let Some(t) = taint_blocking(&np.taints, &pod.tolerations, false) {
            v.pool_reason = Some(format!("taint {t} not tolerated"));
            pools.push(v);
            continue;
        }
        let terms = &needs[0].1;
        if let Some(c) = terms
            .iter()
            .map(|t| t.conflict(&info.reqs).map(|k| (k.to_string(), t.get(k))))
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().next())
        {
            v.pool_reason = Some(format!(
                "requirement {} {} conflicts with the pool's {}",
                c.0,
                c.1,
                info.reqs.get(&c.0)
            ));
            pools.push(v);
            continue;
        }
        if info.start == info.end {
            v.pool_reason = Some(
                info.why_empty
                    .clone()
                    .unwrap_or_else(|| "the pool has no instance type".into()),
            );
        }
        for i in info.start..info.end {
            let pt = &prep.pool_types[i];
            let why = requirement_conflict(&needs, &pt.reqs)
                .map(|c| {
                    // Group by the requirement key: "requirement <key>".
                    let key = c
                        .split("requirement ")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .unwrap_or("node requirements");
                    format!("requirement {key}")
                })
                .or_else(|| {
                    pod.requests
                        .shortfall(&pt.usable)
                        .map(|s| format!("too small: {}", s.resource))
                })
                .or_else(|| {
                    pt.offerings
                        .iter()
                        .all(|o| offering_conflict(&needs, o).is_some())
                        .then(|| {
                            "no offering in the zones and capacity types the pod allows".to_string()
                        })
                });
            match why {
                Some(w) => {
                    let e = v.types_by_reason.entry(w).or_default();
                    e.0 += 1;
                    if e.1.len() < 3 {
                        e.1.push(pt.name.clone());
                    }
                }
                None => v.types_that_fit += 1,
            }
        }
        pools.push(v);
    }
    PodExplanation {
        pod: pod.id.clone(),
        reason: reason.to_string(),
        pools,
    }
}

/// Explain a plan of `prep`'s problem.
pub fn explain(prep: &Prepared, plan: &Plan) -> Explanation {
    let by_id: HashMap<&PodId, &Pod> = prep.problem.pending.iter().map(|p| (&p.id, p)).collect();
    let nodes = plan
        .nodes
        .iter()
        .filter_map(|n| {
            let pods: Vec<&Pod> = n
                .pods
                .iter()
                .filter_map(|id| by_id.get(id).copied())
                .collect();
            explain_node(prep, &plan.strategy, n, &pods)
        })
        .collect();
    let unschedulable = plan
        .unschedulable
        .iter()
        .filter_map(|u| {
            by_id
                .get(&u.pod)
                .map(|p| explain_pod(prep, p, &u.reason.to_string()))
        })
        .collect();
    Explanation {
        strategy: plan.strategy.clone(),
        nodes,
        unschedulable,
    }
}

#[cfg(test)]
mod tests;
