//! Topology bookkeeping: pod counts per domain for spread constraints and pod
//! (anti-)affinity, and the domains a pod may go to.
//!
//! Mirrors Karpenter's topology rules: a spread constraint allows a domain when
//! `count + 1 - min <= maxSkew` (min over the pod's eligible domains; 0 for hostname,
//! since a new node is always an empty domain; 0 when fewer than minDomains domains
//! exist); required affinity allows only domains that hold a matching pod (any domain for
//! the first pod of a self-selecting group); required anti-affinity allows only domains
//! without matching pods, in both directions.
//!
//! Counts on the hostname key live with each node or claim ([`HostCounts`]), so that
//! checking a node costs a few integer comparisons; counts on other keys (zones, capacity
//! types, custom labels) live here per domain value.

use nodepack_model::pod::{PodAffinityTerm, TopologySpread, HOSTNAME_KEY};
use nodepack_model::{Pod, Requirements};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a group constrains.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Topology spread with max skew and min domains.
    Spread {
        /// maxSkew.
        max_skew: u32,
        /// minDomains.
        min_domains: Option<u32>,
    },
    /// Required pod affinity.
    Affinity,
    /// Required pod anti-affinity.
    AntiAffinity,
}

/// A set of pods (selector and namespaces) counted per domain of a topology key.
#[derive(Clone, Debug)]
pub struct Group {
    /// Kind.
    pub kind: Kind,
    /// Topology key.
    pub key: String,
    /// True when the key is the hostname (counts live on nodes).
    pub host: bool,
    /// Namespaces the selector applies to.
    pub namespaces: Vec<String>,
    /// Label selector.
    pub selector: Requirements,
    /// Matching pods per domain (non-hostname keys).
    pub counts: BTreeMap<String, u32>,
    /// Total matching pods placed.
    pub total: u32,
    /// For anti-affinity: pods that carry the term, per domain (non-hostname keys).
    pub owners: BTreeMap<String, u32>,
    /// For anti-affinity: how many pods carry the term at all.
    pub owner_total: u32,
}

impl Group {
    /// Does the group count this pod?
    pub fn selects(&self, pod: &Pod) -> bool {
        self.namespaces.contains(&pod.id.namespace) && self.selector.satisfied_by(&pod.labels)
    }
}

/// Per-node counts of hostname-keyed groups: `(group, matching pods, owners)`.
#[derive(Clone, Debug, Default)]
pub struct HostCounts(Vec<(u32, u32, u32)>);

impl HostCounts {
    /// The entries: (group, matching pods, owners).
    pub fn entries(&self) -> &[(u32, u32, u32)] {
        &self.0
    }
    fn get(&self, g: usize) -> (u32, u32) {
        self.0
            .iter()
            .find(|e| e.0 as usize == g)
            .map_or((0, 0), |e| (e.1, e.2))
    }
    fn bump(&mut self, g: usize, count: u32, owner: u32) {
        match self.0.iter_mut().find(|e| e.0 as usize == g) {
            Some(e) => {
                e.1 += count;
                e.2 += owner;
            }
            None => self.0.push((g as u32, count, owner)),
        }
    }
}

/// A hash of a group's identity (kind, key, namespaces, selector), computed from
/// borrowed parts; groups with the same hash are told apart by comparing the parts.
fn group_hash(kind: &Kind, key: &str, ns: &[String], selector: &Requirements) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (kind, key, ns, selector).hash(&mut h);
    h.finish()
}

/// All topology groups of a scheduling round.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// The groups.
    pub groups: Vec<Group>,
    index: HashMap<u64, Vec<usize>>,
    /// Groups by a label key their selector requires (a pod without that label is
    /// never selected), and the groups whose selector requires none.
    by_label: HashMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
    /// Per pod index: the groups that select it, computed once (with the group count
    /// it was computed for).
    selected: HashMap<usize, (usize, Vec<u32>)>,
    /// Whether some anti-affinity group has an owner (owners are only ever added): until
    /// then no pod has inverse anti-affinity groups.
    anti_owned: bool,
}

/// The constraints of a pod, as group indices.
#[derive(Clone, Debug, Default)]
pub struct PodGroups {
    /// Spread groups.
    pub spread: Vec<usize>,
    /// Affinity groups.
    pub affinity: Vec<usize>,
    /// Anti-affinity groups the pod carries.
    pub anti: Vec<usize>,
    /// Anti-affinity groups carried by placed pods that select this pod.
    pub inverse: Vec<usize>,
    /// Non-hostname keys on which the pod has a constraint.
    pub keys: BTreeSet<String>,
    /// Non-hostname keys on which some group counts the pod.
    pub counted_keys: BTreeSet<String>,
    /// For spread groups on non-hostname keys: the minimum count over the pod's
    /// eligible domains, fixed for one placement attempt ([`Topology::prepare_mins`]).
    pub mins: Vec<(usize, u32)>,
    /// For each non-hostname key with constraints: the domains of the pod's universe
    /// its constraints allow right now ([`Topology::prepare_mins`]).
    pub allowed: BTreeMap<String, BTreeSet<String>>,
}

impl PodGroups {
    /// True when the pod has no constraint and no one constrains it.
    #[cfg(test)]
    pub fn is_free(&self) -> bool {
        self.spread.is_empty()
            && self.affinity.is_empty()
            && self.anti.is_empty()
            && self.inverse.is_empty()
    }
}

/// Why a domain is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject(pub String);

/// Why a single domain is not allowed (cheap to build: no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// A spread constraint's skew would exceed maxSkew.
    Spread,
    /// Required affinity: no matching pod in the domain.
    Affinity,
    /// Required anti-affinity: a matching pod is in the domain.
    AntiAffinity,
    /// A pod in the domain has anti-affinity to this pod.
    InverseAntiAffinity,
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RejectKind::Spread => "topology spread would exceed maxSkew",
            RejectKind::Affinity => "pod affinity: no matching pod in the domain",
            RejectKind::AntiAffinity => "pod anti-affinity: a matching pod is in the domain",
            RejectKind::InverseAntiAffinity => "a pod in the domain has anti-affinity to this pod",
        })
    }
}

fn namespaces<'p>(pod: &'p Pod, t: &'p [String]) -> std::borrow::Cow<'p, [String]> {
    if t.is_empty() {
        std::borrow::Cow::Borrowed(std::slice::from_ref(&pod.id.namespace))
    } else {
        let mut v = t.to_vec();
        v.sort();
        v.dedup();
        std::borrow::Cow::Owned(v)
    }
}

impl Topology {
    fn group(&mut self, kind: Kind, key: &str, ns: &[String], selector: &Requirements) -> usize {
        let h = group_hash(&kind, key, ns, selector);
        if let Some(is) = self.index.get(&h) {
            for &i in is {
                let g = &self.groups[i];
                if g.kind == kind && g.key == key && g.namespaces == ns && g.selector == *selector {
                    return i;
                }
            }
        }
        let i = self.groups.len();
        self.groups.push(Group {
            kind,
            key: key.to_string(),
            host: key == HOSTNAME_KEY,
            namespaces: ns.to_vec(),
            selector: selector.clone(),
            counts: BTreeMap::new(),
            total: 0,
            owners: BTreeMap::new(),
            owner_total: 0,
        });
        self.index.entry(h).or_default().push(i);
        match selector.keys.iter().find(|(_, vs)| !vs.allow_absent) {
            Some((k, _)) => self.by_label.entry(k.clone()).or_default().push(i),
            None => self.unkeyed.push(i),
        }
        i
    }

    /// Register the groups of constraints before any pod is placed, so that pods placed
    /// earlier are counted (call for every pod's full constraint set first).
    pub fn declare(
        &mut self,
        pod: &Pod,
        spreads: &[&TopologySpread],
        affinity: &[&PodAffinityTerm],
        anti: &[&PodAffinityTerm],
    ) -> PodGroups {
        let mut g = PodGroups::default();
        for s in spreads {
            g.spread.push(self.group(
                Kind::Spread {
                    max_skew: s.max_skew,
                    min_domains: s.min_domains,
                },
                &s.topology_key,
                std::slice::from_ref(&pod.id.namespace),
                &s.selector,
            ));
        }
        for t in affinity {
            g.affinity.push(self.group(
                Kind::Affinity,
                &t.topology_key,
                &namespaces(pod, &t.namespaces),
                &t.selector,
            ));
        }
        for t in anti {
            g.anti.push(self.group(
                Kind::AntiAffinity,
                &t.topology_key,
                &namespaces(pod, &t.namespaces),
                &t.selector,
            ));
        }
        for &i in g.spread.iter().chain(&g.affinity).chain(&g.anti) {
            if !self.groups[i].host {
                g.keys.insert(self.groups[i].key.clone());
            }
        }
        g
    }

    /// Complete a pod's groups with the inverse anti-affinity groups and counted keys.
    pub fn complete(&mut self, pod_index: usize, pod: &Pod, g: &mut PodGroups) {
        self.ensure_selected(pod_index, pod);
        let sel = &self.selected[&pod_index].1;
        // The anti-affinity groups that select the pod, in group order, carried by some
        // placed pod.
        g.inverse = sel
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| {
                let grp = &self.groups[i];
                grp.kind == Kind::AntiAffinity && grp.owner_total > 0
            })
            .collect();
        for &i in &g.inverse {
            if !self.groups[i].host {
                g.keys.insert(self.groups[i].key.clone());
            }
        }
        g.counted_keys.clear();
        for &gi in sel {
            let grp = &self.groups[gi as usize];
            if !grp.host && !g.keys.contains(&grp.key) {
                g.counted_keys.insert(grp.key.clone());
            }
        }
    }

    /// Would [`Topology::complete`] give the pod inverse anti-affinity groups (a placed
    /// pod's required anti-affinity selects it)?
    pub fn has_inverse(&mut self, pod_index: usize, pod: &Pod) -> bool {
        // (Without any such group, no pod's groups need computing.)
        if !self.anti_owned {
            return false;
        }
        self.ensure_selected(pod_index, pod);
        self.selected[&pod_index].1.iter().any(|&i| {
            let g = &self.groups[i as usize];
            g.kind == Kind::AntiAffinity && g.owner_total > 0
        })
    }

    /// Compute the groups that select the pod, unless cached for the current groups.
    fn ensure_selected(&mut self, pod_index: usize, pod: &Pod) {
        let n = self.groups.len();
        if matches!(self.selected.get(&pod_index), Some((m, _)) if *m == n) {
            return;
        }
        // Only the groups that could select it: those keyed by one of its labels, and
        // those that require no label.
        let mut v: Vec<u32> = pod
            .labels
            .keys()
            .filter_map(|k| self.by_label.get(k))
            .flatten()
            .chain(&self.unkeyed)
            .copied()
            .filter(|&g| self.groups[g].selects(pod))
            .map(|g| g as u32)
            .collect();
        v.sort_unstable();
        self.selected.insert(pod_index, (n, v));
    }

    /// The groups that select the pod (cached per pod index).
    fn selected(&mut self, pod_index: usize, pod: &Pod) -> Vec<u32> {
        self.ensure_selected(pod_index, pod);
        self.selected[&pod_index].1.clone()
    }

    /// Is the pod selected by any pod affinity or anti-affinity group (so that where it
    /// goes matters to other pods)?
    pub fn referenced_by_affinity(&self, pod: &Pod) -> bool {
        self.groups
            .iter()
            .any(|g| matches!(g.kind, Kind::Affinity | Kind::AntiAffinity) && g.selects(pod))
    }

    /// Count a placed pod in every group that selects it, and as an owner of the
    /// anti-affinity groups it carries. `domain(key)` gives the node's domain for
    /// non-hostname keys; hostname counts go to `host`.
    pub fn record(
        &mut self,
        pod_index: usize,
        pod: &Pod,
        own_anti: &[usize],
        host: &mut HostCounts,
        domain: &dyn Fn(&str) -> Option<String>,
    ) {
        for gi in self.selected(pod_index, pod) {
            let gi = gi as usize;
            let g = &mut self.groups[gi];
            if g.host {
                host.bump(gi, 1, 0);
                g.total += 1;
            } else if let Some(d) = domain(&g.key) {
                *g.counts.entry(d).or_insert(0) += 1;
                g.total += 1;
            }
        }
        for &i in own_anti {
            let g = &mut self.groups[i];
            g.owner_total += 1;
            self.anti_owned |= g.kind == Kind::AntiAffinity;
            if g.host {
                host.bump(i, 0, 1);
            } else if let Some(d) = domain(&g.key) {
                *g.owners.entry(d).or_insert(0) += 1;
            }
        }
    }

    /// Hostname-keyed groups that make a node with enough matching pods (or owners)
    /// unusable for this pod: `(group, by_owners)`; the node is blocked when the group's
    /// count (owners when `by_owners`) reaches the limit of [`Topology::host_limit`].
    pub fn host_blockers(&self, pg: &PodGroups) -> Vec<(usize, bool)> {
        let mut v = Vec::new();
        for &i in pg.spread.iter().chain(&pg.anti) {
            if self.groups[i].host {
                v.push((i, false));
            }
        }
        for &i in &pg.inverse {
            if self.groups[i].host {
                v.push((i, true));
            }
        }
        v
    }

    /// The count at which a node is blocked for a group: maxSkew for a hostname spread
    /// (with min 0), 1 for anti-affinity; `None` for affinity groups.
    pub fn host_limit(&self, g: usize) -> Option<u32> {
        match self.groups[g].kind {
            Kind::Spread { max_skew, .. } => Some(max_skew),
            Kind::AntiAffinity => Some(1),
            Kind::Affinity => None,
        }
    }

    /// Check the pod's hostname-keyed constraints against a node's counts.
    pub fn host_ok(&self, pod: &Pod, pg: &PodGroups, host: &HostCounts) -> Result<(), RejectKind> {
        for &i in &pg.spread {
            let g = &self.groups[i];
            if let (true, Kind::Spread { max_skew, .. }) = (g.host, &g.kind) {
                if host.get(i).0 + 1 > *max_skew {
                    return Err(RejectKind::Spread);
                }
            }
        }
        for &i in &pg.affinity {
            let g = &self.groups[i];
            if g.host && !(g.total == 0 && g.selects(pod)) && host.get(i).0 == 0 {
                return Err(RejectKind::Affinity);
            }
        }
        for &i in &pg.anti {
            if self.groups[i].host && host.get(i).0 > 0 {
                return Err(RejectKind::AntiAffinity);
            }
        }
        for &i in &pg.inverse {
            if self.groups[i].host && host.get(i).1 > 0 {
                return Err(RejectKind::InverseAntiAffinity);
            }
        }
        Ok(())
    }

    /// Compute the spread minimums of a pod's non-hostname spread groups over its
    /// eligible domains (`universes` by key).
    pub fn prepare_mins(
        &self,
        pod: &Pod,
        pg: &mut PodGroups,
        universes: &BTreeMap<String, BTreeSet<String>>,
    ) {
        pg.mins.clear();
        for &i in &pg.spread {
            let g = &self.groups[i];
            let Kind::Spread { min_domains, .. } = g.kind else {
                continue;
            };
            if g.host {
                continue;
            }
            let Some(universe) = universes.get(&g.key) else {
                continue;
            };
            let min = if min_domains.is_some_and(|m| (universe.len() as u32) < m) {
                0
            } else {
                universe
                    .iter()
                    .map(|u| g.counts.get(u).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0)
            };
            pg.mins.push((i, min));
        }
        pg.allowed.clear();
        for (k, u) in universes {
            let ok = self.allowed(pod, pg, k, u, u).unwrap_or_default();
            pg.allowed.insert(k.clone(), ok);
        }
    }

    /// Check the pod's constraints on a non-hostname `key` for one domain `d` (after
    /// [`Topology::prepare_mins`]).
    pub fn allows_one(
        &self,
        pod: &Pod,
        pg: &PodGroups,
        key: &str,
        d: &str,
    ) -> Result<(), RejectKind> {
        let count = |g: &Group| g.counts.get(d).copied().unwrap_or(0);
        for &(i, min) in &pg.mins {
            let g = &self.groups[i];
            let Kind::Spread { max_skew, .. } = g.kind else {
                continue;
            };
            if g.key != key {
                continue;
            }
            if count(g) >= min + max_skew {
                return Err(RejectKind::Spread);
            }
        }
        for &i in &pg.affinity {
            let g = &self.groups[i];
            if g.key == key && !(g.total == 0 && g.selects(pod)) && count(g) == 0 {
                return Err(RejectKind::Affinity);
            }
        }
        for &i in &pg.anti {
            let g = &self.groups[i];
            if g.key == key && count(g) > 0 {
                return Err(RejectKind::AntiAffinity);
            }
        }
        for &i in &pg.inverse {
            let g = &self.groups[i];
            if g.key == key && g.owners.get(d).copied().unwrap_or(0) > 0 {
                return Err(RejectKind::InverseAntiAffinity);
            }
        }
        Ok(())
    }

    /// The domains of a non-hostname `key` among `candidates` where the pod may go.
    /// `universe` is the set of domains the pod could use at all (for the spread minimum).
    pub fn allowed(
        &self,
        pod: &Pod,
        pg: &PodGroups,
        key: &str,
        candidates: &BTreeSet<String>,
        universe: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Reject> {
        let mut ok: BTreeSet<String> = candidates.clone();
        let count = |g: &Group, d: &str| g.counts.get(d).copied().unwrap_or(0);
        for &i in &pg.spread {
            let g = &self.groups[i];
            let Kind::Spread {
                max_skew,
                min_domains,
            } = g.kind
            else {
                continue;
            };
            if g.key != key {
                continue;
            }
            let min = if min_domains.is_some_and(|m| (universe.len() as u32) < m) {
                0
            } else {
                universe.iter().map(|d| count(g, d)).min().unwrap_or(0)
            };
            ok.retain(|d| count(g, d) < min + max_skew);
            if ok.is_empty() {
                return Err(Reject(format!(
                    "topology spread on {key} (maxSkew {max_skew}) allows none of the candidate domains"
                )));
            }
        }
        for &i in &pg.affinity {
            let g = &self.groups[i];
            if g.key != key || (g.total == 0 && g.selects(pod)) {
                continue;
            }
            ok.retain(|d| count(g, d) > 0);
            if ok.is_empty() {
                return Err(Reject(format!(
                    "pod affinity on {key}: no candidate domain holds a matching pod"
                )));
            }
        }
        for &i in &pg.anti {
            let g = &self.groups[i];
            if g.key != key {
                continue;
            }
            ok.retain(|d| count(g, d) == 0);
            if ok.is_empty() {
                return Err(Reject(format!(
                    "pod anti-affinity on {key}: every candidate domain holds a matching pod"
                )));
            }
        }
        for &i in &pg.inverse {
            let g = &self.groups[i];
            if g.key != key {
                continue;
            }
            ok.retain(|d| g.owners.get(d).copied().unwrap_or(0) == 0);
            if ok.is_empty() {
                return Err(Reject(format!(
                    "anti-affinity of pods already placed on {key} excludes every candidate domain"
                )));
            }
        }
        Ok(ok)
    }

    /// The best domain among allowed ones: the lowest count in the pod's spread groups on
    /// that key, then the name.
    pub fn best(&self, pg: &PodGroups, key: &str, allowed: &BTreeSet<String>) -> Option<String> {
        allowed
            .iter()
            .min_by_key(|d| {
                let c: u32 = pg
                    .spread
                    .iter()
                    .filter(|&&i| self.groups[i].key == key)
                    .map(|&i| self.groups[i].counts.get(*d).copied().unwrap_or(0))
                    .sum();
                (c, (*d).clone())
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Operator, ValueSet};
    use nodepack_testkit as tk;
    use proptest::prelude::{prop_assert_eq, proptest};

    fn selector(terms: &[(usize, Operator, usize)]) -> Requirements {
        let mut r = Requirements::default();
        for &(k, op, v) in terms {
            let values = if matches!(op, Operator::Exists | Operator::DoesNotExist) {
                vec![]
            } else {
                vec![format!("v{v}")]
            };
            r.add(
                &format!("k{k}"),
                ValueSet::from_operator(op, &values).unwrap(),
            );
        }
        r
    }

    proptest! {
        /// The groups found through the label-key index are exactly the groups that
        /// select the pod, in order: selectors with In, NotIn, Exists and DoesNotExist
        /// terms (some require a label, some do not), pods with any labels.
        #[test]
        fn indexed_selection_is_every_selecting_group(
            selectors in proptest::collection::vec(
                proptest::collection::vec(
                    (0usize..3, proptest::sample::select(vec![
                        Operator::In, Operator::NotIn, Operator::Exists, Operator::DoesNotExist,
                    ]), 0usize..2),
                    0..3,
                ),
                1..8,
            ),
            labels in proptest::collection::vec(proptest::option::of(0usize..2), 3),
        ) {
            let mut topo = Topology::default();
            for (i, terms) in selectors.iter().enumerate() {
                let kind = if i % 2 == 0 { Kind::AntiAffinity } else { Kind::Affinity };
                topo.group(kind, "zone", &["default".to_string()], &selector(terms));
            }
            let mut pod = tk::pod("p", 100, 100);
            for (k, v) in labels.iter().enumerate() {
                if let Some(v) = v {
                    pod.labels.insert(format!("k{k}"), format!("v{v}"));
                }
            }
            let brute: Vec<u32> = (0..topo.groups.len())
                .filter(|&g| topo.groups[g].selects(&pod))
                .map(|g| g as u32)
                .collect();
            prop_assert_eq!(topo.selected(0, &pod), brute);
        }
    }
}
