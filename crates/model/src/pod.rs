//! Pods and their scheduling constraints, with Kubernetes semantics.

use crate::requirements::Requirements;
use crate::resources::Resources;
use crate::taints::Toleration;
use crate::units::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Well-known zone topology key.
pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";
/// Well-known hostname topology key.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
/// Karpenter's annotation that protects a pod (or node) from voluntary disruption.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Kubernetes' pod deletion cost annotation.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A pod's label map (labels, node selector), shared copy-on-write: pods of one
/// workload share one map, so a million pods do not hold a million copies. Reads go
/// through `Deref` to the `BTreeMap`; `insert` copies only a shared map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelMap(Arc<BTreeMap<String, String>>);

impl LabelMap {
    /// Set `key` to `value`.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        Arc::make_mut(&mut self.0).insert(key, value)
    }

    /// Remove `key`.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        Arc::make_mut(&mut self.0).remove(key)
    }

    /// Do both hold the same shared map (not merely equal ones)?
    pub fn shares_with(&self, other: &LabelMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for LabelMap {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<BTreeMap<String, String>> for LabelMap {
    fn from(m: BTreeMap<String, String>) -> Self {
        LabelMap(Arc::new(m))
    }
}

impl FromIterator<(String, String)> for LabelMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(it: I) -> Self {
        LabelMap(Arc::new(it.into_iter().collect()))
    }
}

/// A pod's identity: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodId {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl PodId {
    /// A new id.
    pub fn new(namespace: &str, name: &str) -> Self {
        PodId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What to do when a topology spread constraint cannot be met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WhenUnsatisfiable {
    /// Hard constraint.
    DoNotSchedule,
    /// Soft constraint: Karpenter treats it as a preference it may relax.
    ScheduleAnyway,
}

/// A topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopologySpread {
    /// Maximum permitted difference between the most and least loaded domains.
    pub max_skew: u32,
    /// Domain key: zone, hostname or capacity type.
    pub topology_key: String,
    /// Hard or soft.
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// Which pods count (label selector, in the pod's namespace).
    pub selector: Requirements,
    /// Minimum number of domains to spread over (hard constraints only).
    #[serde(default)]
    pub min_domains: Option<u32>,
}

/// A pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PodAffinityTerm {
    /// Which pods the term refers to.
    pub selector: Requirements,
    /// Domain key (zone or hostname).
    pub topology_key: String,
    /// Namespaces the selector applies to; empty means the pod's own namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
}

impl TopologySpread {
    /// A constraint over `topology_key` for the pods `selector` picks, with no minimum
    /// number of domains.
    pub fn new(
        max_skew: u32,
        topology_key: &str,
        when_unsatisfiable: WhenUnsatisfiable,
        selector: Requirements,
    ) -> Self {
        TopologySpread {
            max_skew,
            topology_key: topology_key.to_string(),
            when_unsatisfiable,
            selector,
            min_domains: None,
        }
    }
}

impl PodAffinityTerm {
    /// A term over `topology_key` for the pods `selector` picks in the pod's own
    /// namespace.
    pub fn new(selector: Requirements, topology_key: &str) -> Self {
        PodAffinityTerm {
            selector,
            topology_key: topology_key.to_string(),
            namespaces: vec![],
        }
    }

    /// Does the term select `other` (as seen from a pod in `own_namespace`)?
    pub fn selects(&self, own_namespace: &str, other: &Pod) -> bool {
        let ns_ok = if self.namespaces.is_empty() {
            other.id.namespace == own_namespace
        } else {
            self.namespaces.contains(&other.id.namespace)
        };
        ns_ok && self.selector.satisfied_by(&other.labels)
    }
}

/// A weighted preference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Weighted<T> {
    /// Weight 1-100; heavier preferences are kept longer.
    pub weight: i32,
    /// The preferred term.
    pub term: T,
}

/// The owner of a pod (its controller), if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Kind, e.g. `ReplicaSet`, `StatefulSet`, `Job`, `DaemonSet`.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// A pod as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pod {
    /// Namespace and name.
    pub id: PodId,
    /// Effective requests (see [`effective_requests`]); `pods` is 1.
    pub requests: Resources,
    /// Labels.
    #[serde(default)]
    pub labels: LabelMap,
    /// `spec.nodeSelector`.
    #[serde(default)]
    pub node_selector: LabelMap,
    /// Required node affinity: the pod needs a node satisfying at least one term (OR).
    #[serde(default)]
    pub node_affinity_required: Vec<Requirements>,
    /// Preferred node affinity terms.
    #[serde(default)]
    pub node_affinity_preferred: Vec<Weighted<Requirements>>,
    /// Tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints.
    #[serde(default)]
    pub topology_spread: Vec<TopologySpread>,
    /// Required pod affinity terms (all must hold).
    #[serde(default)]
    pub pod_affinity: Vec<PodAffinityTerm>,
    /// Preferred pod affinity terms.
    #[serde(default)]
    pub pod_affinity_preferred: Vec<Weighted<PodAffinityTerm>>,
    /// Required pod anti-affinity terms (all must hold).
    #[serde(default)]
    pub pod_anti_affinity: Vec<PodAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    #[serde(default)]
    pub pod_anti_affinity_preferred: Vec<Weighted<PodAffinityTerm>>,
    /// Priority (higher is more important).
    #[serde(default)]
    pub priority: i32,
    /// Creation time.
    #[serde(default)]
    pub created: Millis,
    /// Controller owner.
    #[serde(default)]
    pub owner: Option<Arc<Owner>>,
    /// `karpenter.sh/do-not-disrupt: "true"`.
    #[serde(default)]
    pub do_not_disrupt: bool,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    #[serde(default)]
    pub deletion_cost: i32,
}

impl Pod {
    /// A pod with only a name and requests (and `pods: 1`).
    pub fn new(namespace: &str, name: &str, requests: Resources) -> Self {
        Pod {
            id: PodId::new(namespace, name),
            requests: Resources {
                pods: 1,
                ..requests
            },
            labels: LabelMap::default(),
            node_selector: LabelMap::default(),
            node_affinity_required: vec![],
            node_affinity_preferred: vec![],
            tolerations: vec![],
            topology_spread: vec![],
            pod_affinity: vec![],
            pod_affinity_preferred: vec![],
            pod_anti_affinity: vec![],
            pod_anti_affinity_preferred: vec![],
            priority: 0,
            created: Millis(0),
            owner: None,
            do_not_disrupt: false,
            deletion_cost: 0,
        }
    }

    /// The node requirement alternatives of the pod: node selector intersected with each
    /// required node-affinity term (one alternative when there are no terms).
    pub fn node_requirement_terms(&self) -> Vec<Requirements> {
        let sel = Requirements::from_labels(&self.node_selector);
        if self.node_affinity_required.is_empty() {
            vec![sel]
        } else {
            self.node_affinity_required
                .iter()
                .map(|t| sel.intersect(t))
                .collect()
        }
    }

    /// Does a node with these labels satisfy the pod's node selector and required node
    /// affinity?
    pub fn node_labels_ok(&self, labels: &BTreeMap<String, String>) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && (self.node_affinity_required.is_empty()
                || self
                    .node_affinity_required
                    .iter()
                    .any(|t| t.satisfied_by(labels)))
    }

    /// True when the pod has any pod affinity, anti-affinity or topology spread
    /// constraint (hard or soft).
    pub fn has_topology(&self) -> bool {
        !self.topology_spread.is_empty()
            || !self.pod_affinity.is_empty()
            || !self.pod_anti_affinity.is_empty()
            || !self.pod_affinity_preferred.is_empty()
            || !self.pod_anti_affinity_preferred.is_empty()
    }

    /// The pod's hard (`DoNotSchedule`) topology spread constraints.
    pub fn hard_spreads(&self) -> impl Iterator<Item = &TopologySpread> {
        self.topology_spread
            .iter()
            .filter(|t| t.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
    }

    /// True when the pod has preferences Karpenter may relax.
    pub fn has_preferences(&self) -> bool {
        !self.node_affinity_preferred.is_empty()
            || !self.pod_affinity_preferred.is_empty()
            || !self.pod_anti_affinity_preferred.is_empty()
            || self
                .topology_spread
                .iter()
                .any(|t| t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
            || self.node_affinity_required.len() > 1
    }
}

/// The kind of a container, for the effective-request rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// A regular container (`spec.containers`).
    Regular,
    /// A classic init container: runs to completion before the regular containers.
    Init,
    /// A sidecar: an init container with `restartPolicy: Always`, running alongside.
    Sidecar,
}

/// The effective requests of a pod by Kubernetes rules.
///
/// Regular containers and sidecars add up; each classic init container needs its own
/// request plus the sidecars started before it; the pod needs the maximum of the two,
/// plus the pod overhead. `containers` is in spec order, init containers first as
/// Kubernetes starts them.
pub fn effective_requests(
    containers: &[(ContainerKind, Resources)],
    overhead: &Resources,
) -> Resources {
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    let mut regular = Resources::default();
    for (kind, req) in containers {
        match kind {
            ContainerKind::Sidecar => {
                sidecars = sidecars.saturating_add(req);
                init_peak = init_peak.max(&sidecars);
            }
            ContainerKind::Init => {
                init_peak = init_peak.max(&req.saturating_add(&sidecars));
            }
            ContainerKind::Regular => regular = regular.saturating_add(req),
        }
    }
    let running = regular.saturating_add(&sidecars);
    let mut r = running.max(&init_peak).saturating_add(overhead);
    r.pods = 1;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Bytes, Millicores};

    fn res(cpu: u64, mib: u64) -> Resources {
        Resources::new(Millicores(cpu), Bytes::from_mib(mib))
    }

    #[test]
    fn effective_requests_follow_kubernetes() {
        // Two containers add up; a bigger init container dominates cpu only.
        let c = [
            (ContainerKind::Init, res(2000, 100)),
            (ContainerKind::Regular, res(500, 256)),
            (ContainerKind::Regular, res(250, 256)),
        ];
        let r = effective_requests(&c, &Resources::default());
        assert_eq!(r.cpu, Millicores(2000));
        assert_eq!(r.memory, Bytes::from_mib(512));
        assert_eq!(r.pods, 1);
        // A sidecar adds to the regular containers and to later init containers.
        let c = [
            (ContainerKind::Sidecar, res(100, 64)),
            (ContainerKind::Init, res(1000, 64)),
            (ContainerKind::Regular, res(500, 256)),
        ];
        let r = effective_requests(&c, &res(10, 1));
        assert_eq!(r.cpu, Millicores(1100 + 10));
        assert_eq!(r.memory, Bytes::from_mib(320 + 1));
    }

    #[test]
    fn node_terms_are_ored() {
        let mut p = Pod::new("d", "p", res(1, 1));
        p.node_selector.insert("a".into(), "1".into());
        p.node_affinity_required = vec![
            Requirements::from_labels(&[("b".to_string(), "1".to_string())].into()),
            Requirements::from_labels(&[("b".to_string(), "2".to_string())].into()),
        ];
        let l = |b: &str| -> BTreeMap<String, String> {
            [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), b.to_string()),
            ]
            .into()
        };
        assert!(p.node_labels_ok(&l("1")));
        assert!(p.node_labels_ok(&l("2")));
        assert!(!p.node_labels_ok(&l("3")));
        assert_eq!(p.node_requirement_terms().len(), 2);
    }
}
