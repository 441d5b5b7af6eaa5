//! The plan validator: checks a plan against the cluster, the pools and the catalog.
//!
//! It is written independently of the strategies (it shares only the model), so that it
//! can catch their mistakes: every pending pod is accounted for exactly once; every bound
//! pod fits (all resources, max pods, daemonset overhead), satisfies its node selector,
//! required node affinity, taints and tolerations; new nodes use an existing, available
//! offering at its price and satisfy their pool's requirements; pool limits hold; and,
//! replaying the plan's placement order, every pod's hard topology spread, pod affinity
//! and pod anti-affinity (both directions) held when it was placed.

use crate::{Plan, Problem};
use nodepack_model::pod::HOSTNAME_KEY;
use nodepack_model::taints::first_untolerated;
use nodepack_model::{labels, Pod, PodId, Requirements, Resources};
use std::collections::{BTreeMap, BTreeSet, HashMap};

struct Placed<'a> {
    labels: &'a BTreeMap<String, String>,
}

/// Which rule a plan breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rule {
    /// Two pending pods share a namespace/name.
    DuplicatePending,
    /// The plan places or reports a pod that is not pending.
    NotPending,
    /// A pending pod is neither placed nor reported unschedulable.
    Unaccounted,
    /// A pod appears more than once in the plan.
    CountedTwice,
    /// An unschedulable pod has no reason.
    NoReason,
    /// A pod is bound to a node the cluster does not have.
    UnknownNode,
    /// A pod is bound to a cordoned or deleting node.
    UnschedulableNode,
    /// A pod does not tolerate a taint of its node or pool.
    Taint,
    /// A pod's node selector or required node affinity does not hold on its node.
    NodeAffinity,
    /// A node's pods (with daemonset overhead) exceed its allocatable resources.
    Capacity,
    /// A new node's name is not unique.
    NodeName,
    /// A new node names a pool the problem does not have.
    UnknownPool,
    /// A new node names an instance type the catalog does not have.
    UnknownInstanceType,
    /// A new node's offering does not exist or is not available.
    Offering,
    /// A new node's price differs from its offering's.
    Price,
    /// A new node's labels are not the ones it would get.
    Labels,
    /// A new node's labels do not satisfy its pool's requirements.
    PoolRequirements,
    /// A new node's launch options do not keep a requirement's `minValues`.
    MinValues,
    /// A pool's limits are exceeded.
    PoolLimits,
    /// The plan's placement order does not list exactly the placed pods.
    PlacementOrder,
    /// A hard topology spread, pod affinity or anti-affinity rule broke when a pod was
    /// placed.
    Topology,
}

/// One way a plan breaks the rules.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What broke it, naming the pod, node or pool.
    pub message: String,
}

impl Violation {
    fn new(rule: Rule, message: String) -> Self {
        Violation { rule, message }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Validate a plan; returns the violations found (empty when valid).
pub fn validate(problem: &Problem, plan: &Plan) -> Vec<Violation> {
    let mut errs = Vec::new();
    let pending: HashMap<&PodId, &Pod> = problem.pending.iter().map(|p| (&p.id, p)).collect();
    if pending.len() != problem.pending.len() {
        errs.push(Violation::new(
            Rule::DuplicatePending,
            "pending pods have duplicate namespace/name".into(),
        ));
    }
    // 1. Every pending pod exactly once.
    let mut seen: BTreeMap<&PodId, usize> = BTreeMap::new();
    let all = plan
        .existing
        .iter()
        .map(|b| &b.pod)
        .chain(plan.nodes.iter().flat_map(|n| n.pods.iter()))
        .chain(plan.unschedulable.iter().map(|u| &u.pod));
    for id in all {
        *seen.entry(id).or_insert(0) += 1;
        if !pending.contains_key(id) {
            errs.push(Violation::new(
                Rule::NotPending,
                format!("pod {id} is in the plan but not pending"),
            ));
        }
    }
    for p in problem.pending {
        match seen.get(&p.id) {
            None => errs.push(Violation::new(
                Rule::Unaccounted,
                format!("pod {} is neither placed nor reported unschedulable", p.id),
            )),
            Some(n) if *n > 1 => errs.push(Violation::new(
                Rule::CountedTwice,
                format!("pod {} appears {n} times in the plan", p.id),
            )),
            _ => {}
        }
    }
    for u in &plan.unschedulable {
        if u.reason.to_string().trim().is_empty() {
            errs.push(Violation::new(
                Rule::NoReason,
                format!("pod {} is unschedulable without a reason", u.pod),
            ));
        }
    }
    let mut where_: HashMap<&PodId, Placed> = HashMap::new();
    // 2. Existing nodes.
    let mut extra: BTreeMap<&str, Resources> = BTreeMap::new();
    for b in &plan.existing {
        let Some(pod) = pending.get(&b.pod) else {
            continue;
        };
        let Some(n) = problem.nodes.iter().find(|n| n.node.name == b.node) else {
            errs.push(Violation::new(
                Rule::UnknownNode,
                format!("pod {} bound to unknown node {}", b.pod, b.node),
            ));
            continue;
        };
        if !n.node.schedulable() {
            errs.push(Violation::new(
                Rule::UnschedulableNode,
                format!("pod {} bound to unschedulable node {}", b.pod, b.node),
            ));
        }
        if let Some(t) = first_untolerated(&n.node.taints, &pod.tolerations) {
            errs.push(Violation::new(
                Rule::Taint,
                format!(
                    "pod {} does not tolerate taint {t} of node {}",
                    b.pod, b.node
                ),
            ));
        }
        if !pod.node_labels_ok(&n.node.labels) {
            errs.push(Violation::new(
                Rule::NodeAffinity,
                format!(
                    "pod {} node selector/affinity not satisfied by node {}",
                    b.pod, b.node
                ),
            ));
        }
        let e = extra.entry(n.node.name.as_str()).or_default();
        e.saturating_add_assign(&pod.requests);
        where_.insert(
            &pod.id,
            Placed {
                labels: &n.node.labels,
            },
        );
    }
    for n in problem.nodes {
        let Some(add) = extra.get(n.node.name.as_str()) else {
            continue;
        };
        let used = n
            .pods
            .iter()
            .fold(add.clone(), |acc, p| acc.saturating_add(&p.requests));
        if let Some(s) = used.shortfall(&n.node.allocatable) {
            errs.push(Violation::new(
                Rule::Capacity,
                format!("node {} over capacity: {s}", n.node.name),
            ));
        }
    }
    // 3. New nodes.
    let mut names = BTreeSet::new();
    let mut pool_use: BTreeMap<&str, (Resources, u64)> = BTreeMap::new();
    for n in &plan.nodes {
        if !names.insert(n.name.as_str()) || problem.nodes.iter().any(|e| e.node.name == n.name) {
            errs.push(Violation::new(
                Rule::NodeName,
                format!("node name {} is not unique", n.name),
            ));
        }
        let Some(pool) = problem.nodepools.iter().find(|p| p.name == n.nodepool) else {
            errs.push(Violation::new(
                Rule::UnknownPool,
                format!("node {} uses unknown pool {}", n.name, n.nodepool),
            ));
            continue;
        };
        let Some(it) = problem.catalog.get(&n.instance_type) else {
            errs.push(Violation::new(
                Rule::UnknownInstanceType,
                format!(
                    "node {} uses unknown instance type {}",
                    n.name, n.instance_type
                ),
            ));
            continue;
        };
        match it
            .offerings
            .iter()
            .find(|o| o.zone == n.zone && o.capacity_type == n.capacity_type)
        {
            None => errs.push(Violation::new(
                Rule::Offering,
                format!(
                    "node {}: {} has no {} offering in {}",
                    n.name, n.instance_type, n.capacity_type, n.zone
                ),
            )),
            Some(o) if !o.available => errs.push(Violation::new(
                Rule::Offering,
                format!("node {}: offering not available", n.name),
            )),
            Some(o) if o.price != n.price => errs.push(Violation::new(
                Rule::Price,
                format!(
                    "node {}: price {} differs from the offering's {}",
                    n.name, n.price, o.price
                ),
            )),
            _ => {}
        }
        // Labels the node really gets.
        let mut expect = it.labels.clone();
        expect.extend(pool.labels.clone());
        expect.insert(labels::ZONE.into(), n.zone.clone());
        expect.insert(
            labels::CAPACITY_TYPE.into(),
            n.capacity_type.as_str().into(),
        );
        expect.insert(labels::NODEPOOL.into(), pool.name.clone());
        for (k, v) in &expect {
            if n.labels.get(k) != Some(v) {
                errs.push(Violation::new(
                    Rule::Labels,
                    format!("node {}: label {k} should be {v}", n.name),
                ));
            }
        }
        if n.labels.get(labels::HOSTNAME) != Some(&n.name) {
            errs.push(Violation::new(
                Rule::Labels,
                format!("node {}: hostname label should be its name", n.name),
            ));
        }
        if !pool.requirements.satisfied_by(&n.labels) {
            errs.push(Violation::new(
                Rule::PoolRequirements,
                format!(
                    "node {}: labels do not satisfy pool {} requirements ({})",
                    n.name, pool.name, pool.requirements
                ),
            ));
        }
        // Karpenter's minValues: the node's launch options (its type and alternatives)
        // keep at least that many distinct values of each label key with a minimum.
        for (k, &m) in &pool.requirements.min_values {
            if k == labels::ZONE || k == labels::CAPACITY_TYPE {
                continue;
            }
            let values: BTreeSet<&str> = std::iter::once(&n.instance_type)
                .chain(n.alternatives.iter())
                .filter_map(|t| problem.catalog.get(t)?.label(k))
                .collect();
            if values.len() < m as usize {
                errs.push(Violation::new(
                    Rule::MinValues,
                    format!(
                        "node {}: minValues {m} of {k} not met by its launch options ({} value(s))",
                        n.name,
                        values.len()
                    ),
                ));
            }
        }
        let it = it.with_kubelet(&pool.kubelet);
        let mut used = pool.daemonset_overhead.clone();
        for id in &n.pods {
            let Some(pod) = pending.get(id) else { continue };
            used.saturating_add_assign(&pod.requests);
            if let Some(t) = first_untolerated(&pool.taints, &pod.tolerations) {
                errs.push(Violation::new(
                    Rule::Taint,
                    format!("pod {id} does not tolerate taint {t} of pool {}", pool.name),
                ));
            }
            if !pod.node_labels_ok(&n.labels) {
                errs.push(Violation::new(
                    Rule::NodeAffinity,
                    format!(
                        "pod {id}: node selector/affinity not satisfied by node {}",
                        n.name
                    ),
                ));
            }
            where_.insert(&pod.id, Placed { labels: &n.labels });
        }
        if let Some(s) = used.shortfall(&it.allocatable()) {
            errs.push(Violation::new(
                Rule::Capacity,
                format!("node {} ({}) over capacity: {s}", n.name, n.instance_type),
            ));
        }
        let e = pool_use.entry(pool.name.as_str()).or_default();
        e.0.saturating_add_assign(&it.capacity);
        e.1 += 1;
    }
    // 4. Pool limits.
    for (name, (new_cap, count)) in &pool_use {
        let Some(pool) = problem.nodepools.iter().find(|p| p.name == *name) else {
            continue;
        };
        let mut cap = new_cap.clone();
        let mut nodes = *count;
        for e in problem
            .nodes
            .iter()
            .filter(|e| e.node.nodepool.as_deref() == Some(name))
        {
            let c = problem
                .catalog
                .get(&e.node.instance_type)
                .map(|t| t.capacity.clone())
                .unwrap_or_else(|| e.node.allocatable.clone());
            cap = cap.saturating_add(&c);
            nodes += 1;
        }
        if let Some(why) = pool.limits.exceeded_by(&cap, nodes) {
            errs.push(Violation::new(
                Rule::PoolLimits,
                format!("pool {name}: {why}"),
            ));
        }
    }
    // 5. Topology, replayed in placement order.
    let placed_count = where_.len();
    if plan.order.len() != placed_count || plan.order.iter().any(|id| !where_.contains_key(id)) {
        errs.push(Violation::new(
            Rule::PlacementOrder,
            format!(
                "placement order lists {} pods but {placed_count} are placed",
                plan.order.len()
            ),
        ));
        return errs;
    }
    let mut replay = Replay::new(problem);
    for id in &plan.order {
        let pod = pending[id];
        let node_labels = where_[id].labels;
        if let Err(e) = replay.check(problem, pod, node_labels) {
            errs.push(Violation::new(Rule::Topology, format!("pod {id}: {e}")));
        }
        replay.add(pod, node_labels);
    }
    errs
}

/// Placed pods with their node labels, in order, and counts per selector and domain.
struct Replay<'a> {
    /// Placed pods and their node's labels (borrowed: a node's map is shared by its pods).
    pods: Vec<(&'a Pod, &'a BTreeMap<String, String>)>,
    /// Placed pods that carry required anti-affinity terms, by (term key, domain).
    owners: HashMap<(String, String), Vec<usize>>,
    /// The topology keys of those terms.
    owner_keys: BTreeSet<String>,
    /// (topology key, namespaces, selector) -> domain -> matching pods.
    counts: HashMap<(String, Vec<String>, Requirements), HashMap<String, usize>>,
    universes:
        HashMap<(Vec<Requirements>, Vec<nodepack_model::Toleration>, String), BTreeSet<String>>,
}

fn selects(term_ns: &[String], owner_ns: &str, selector: &Requirements, other: &Pod) -> bool {
    let ns_ok = if term_ns.is_empty() {
        other.id.namespace == owner_ns
    } else {
        term_ns.contains(&other.id.namespace)
    };
    ns_ok && selector.satisfied_by(&other.labels)
}

fn ns_list(term_ns: &[String], owner_ns: &str) -> Vec<String> {
    if term_ns.is_empty() {
        vec![owner_ns.to_string()]
    } else {
        let mut v = term_ns.to_vec();
        v.sort();
        v
    }
}

impl<'a> Replay<'a> {
    fn new(problem: &Problem<'a>) -> Self {
        let mut pods = Vec::new();
        for n in problem.nodes {
            for p in &n.pods {
                pods.push((&**p, &n.node.labels));
            }
        }
        let mut r = Replay {
            pods: Vec::new(),
            owners: HashMap::new(),
            owner_keys: BTreeSet::new(),
            counts: HashMap::new(),
            universes: HashMap::new(),
        };
        for (p, l) in pods {
            r.add(p, l);
        }
        r
    }

    fn add(&mut self, pod: &'a Pod, labels: &'a BTreeMap<String, String>) {
        for ((key, ns, sel), m) in self.counts.iter_mut() {
            if ns.contains(&pod.id.namespace) && sel.satisfied_by(&pod.labels) {
                if let Some(d) = labels.get(key) {
                    *m.entry(d.clone()).or_insert(0) += 1;
                }
            }
        }
        for t in &pod.pod_anti_affinity {
            if let Some(d) = labels.get(&t.topology_key) {
                self.owner_keys.insert(t.topology_key.clone());
                self.owners
                    .entry((t.topology_key.clone(), d.clone()))
                    .or_default()
                    .push(self.pods.len());
            }
        }
        self.pods.push((pod, labels));
    }

    /// Counts per domain of pods selected by (namespaces, selector) on `key`.
    fn counts(
        &mut self,
        key: &str,
        ns: Vec<String>,
        sel: &Requirements,
    ) -> &HashMap<String, usize> {
        let k = (key.to_string(), ns, sel.clone());
        if !self.counts.contains_key(&k) {
            let mut m = HashMap::new();
            for (p, l) in &self.pods {
                if k.1.contains(&p.id.namespace) && sel.satisfied_by(&p.labels) {
                    if let Some(d) = l.get(key) {
                        *m.entry(d.clone()).or_insert(0) += 1;
                    }
                }
            }
            self.counts.insert(k.clone(), m);
        }
        &self.counts[&k]
    }

    /// Domains the pod could use for a key: values on compatible existing nodes and in
    /// offerings of pools and types compatible with its required node terms.
    fn universe(&mut self, problem: &Problem, pod: &Pod, key: &str) -> BTreeSet<String> {
        let ck = (
            pod.node_requirement_terms(),
            pod.tolerations.clone(),
            key.to_string(),
        );
        if let Some(u) = self.universes.get(&ck) {
            return u.clone();
        }
        let mut u = BTreeSet::new();
        for n in problem.nodes {
            if pod.node_labels_ok(&n.node.labels) {
                if let Some(v) = n.node.labels.get(key) {
                    u.insert(v.clone());
                }
            }
        }
        let terms = pod.node_requirement_terms();
        for pool in problem.nodepools {
            if first_untolerated(&pool.taints, &pod.tolerations).is_some() {
                continue;
            }
            for t in &problem.catalog.instance_types {
                for o in t.offerings.iter().filter(|o| o.available) {
                    let mut l = t.labels.clone();
                    l.extend(pool.labels.clone());
                    l.insert(labels::ZONE.into(), o.zone.clone());
                    l.insert(
                        labels::CAPACITY_TYPE.into(),
                        o.capacity_type.as_str().into(),
                    );
                    l.insert(labels::NODEPOOL.into(), pool.name.clone());
                    if !pool.requirements.satisfied_by(&l) {
                        continue;
                    }
                    // Keys the node would not carry are judged as absent.
                    if terms.iter().any(|term| {
                        term.keys.iter().all(|(k, vs)| match l.get(k) {
                            Some(v) => vs.has(v),
                            None => {
                                vs.allow_absent
                                    || pool
                                        .requirements
                                        .get_ref(k)
                                        .is_some_and(|pv| !pv.intersect(vs).is_empty())
                            }
                        })
                    }) {
                        if let Some(v) = l.get(key) {
                            u.insert(v.clone());
                        }
                    }
                }
            }
        }
        self.universes.insert(ck, u.clone());
        u
    }

    fn check(
        &mut self,
        problem: &Problem,
        pod: &Pod,
        node: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let ns = pod.id.namespace.as_str();
        for s in pod.hard_spreads() {
            let key = s.topology_key.as_str();
            let Some(d) = node.get(key) else {
                return Err(format!(
                    "node has no {key} label for a topology spread constraint"
                ));
            };
            let universe = if key == HOSTNAME_KEY {
                BTreeSet::new()
            } else {
                self.universe(problem, pod, key)
            };
            let counts = self.counts(key, vec![ns.to_string()], &s.selector);
            let here = counts.get(d).copied().unwrap_or(0);
            let min = if key == HOSTNAME_KEY
                || s.min_domains.is_some_and(|md| (universe.len() as u32) < md)
            {
                0
            } else {
                universe
                    .iter()
                    .map(|x| counts.get(x).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0)
            };
            if here + 1 > min + s.max_skew as usize {
                return Err(format!(
                    "topology spread on {key}: domain {d} has {here} matching pods, min {min}, maxSkew {}",
                    s.max_skew
                ));
            }
        }
        for (t, anti) in pod
            .pod_affinity
            .iter()
            .map(|t| (t, false))
            .chain(pod.pod_anti_affinity.iter().map(|t| (t, true)))
        {
            let key = t.topology_key.as_str();
            let Some(d) = node.get(key) else {
                if anti {
                    continue;
                }
                return Err(format!("node has no {key} label for pod affinity"));
            };
            let counts = self.counts(key, ns_list(&t.namespaces, ns), &t.selector);
            let here = counts.get(d).copied().unwrap_or(0);
            let anywhere = counts.values().any(|c| *c > 0);
            if anti && here > 0 {
                return Err(format!(
                    "anti-affinity on {key}: domain {d} already has {here} matching pods"
                ));
            }
            if !anti && here == 0 && (anywhere || !selects(&t.namespaces, ns, &t.selector, pod)) {
                return Err(format!("affinity on {key}: domain {d} has no matching pod"));
            }
        }
        // Anti-affinity of pods placed earlier.
        for key in &self.owner_keys {
            let Some(d) = node.get(key) else { continue };
            let Some(list) = self.owners.get(&(key.clone(), d.clone())) else {
                continue;
            };
            for &i in list {
                let (q, _) = &self.pods[i];
                for t in q
                    .pod_anti_affinity
                    .iter()
                    .filter(|t| &t.topology_key == key)
                {
                    if selects(&t.namespaces, &q.id.namespace, &t.selector, pod) {
                        return Err(format!("pod {} has anti-affinity to it on {key}", q.id));
                    }
                }
            }
        }
        Ok(())
    }
}
