//! Builders for what users write in code: pods, node pools, instance types, and
//! requirements from their text form (`"karpenter.k8s.aws/instance-family In m5,c5"`).
//!
//! ```
//! use nodepack_model::{NodePool, Pod};
//!
//! let pod = Pod::builder("shop", "web-0")
//!     .requests("500m", "1Gi")
//!     .label("app", "web")
//!     .zone_spread(1)
//!     .build()
//!     .unwrap();
//! assert_eq!(pod.requests.cpu.0, 500);
//! assert_eq!(pod.topology_spread[0].max_skew, 1);
//!
//! let pool = NodePool::builder("general")
//!     .requirement("karpenter.k8s.aws/instance-family In m5,c5")
//!     .requirement("karpenter.sh/capacity-type In spot,on-demand")
//!     .cpu_limit("1000")
//!     .build()
//!     .unwrap();
//! assert_eq!(pool.limits.cpu.unwrap().0, 1_000_000);
//! ```

use crate::pod::{Owner, PodAffinityTerm, TopologySpread, WhenUnsatisfiable, HOSTNAME_KEY};
use crate::quantity::{Quantity, QuantityError};
use crate::requirements::{Operator, RequirementError, ValueSet};
use crate::{
    labels, Bytes, CapacityType, Catalog, InstanceType, Millicores, Money, NodePool, Offering,
    Overhead, Pod, Requirements, Resources, Taint, Toleration,
};
use std::sync::Arc;

/// Why a builder could not build its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A quantity does not parse.
    #[error("{field}: {source}")]
    Quantity {
        /// The field (`cpu`, `memory`, `limits.cpu`...).
        field: &'static str,
        /// The parse error.
        source: QuantityError,
    },
    /// A quantity is negative or does not fit in 64 bits.
    #[error("{field}: {value:?} is negative or too large")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// A requirement's text does not parse.
    #[error("requirement {text:?}: {why}")]
    Requirement {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

fn quantity(field: &'static str, text: &str, milli: bool) -> Result<u64, BuildError> {
    let q = Quantity::parse(text).map_err(|source| BuildError::Quantity { field, source })?;
    let v = if milli { q.milli_value() } else { q.value() };
    v.filter(|_| !q.is_negative())
        .ok_or_else(|| BuildError::OutOfRange {
            field,
            value: text.to_string(),
        })
}

fn cpu_memory(cpu: &str, memory: &str) -> Result<(Millicores, Bytes), BuildError> {
    Ok((
        Millicores(quantity("cpu", cpu, true)?),
        Bytes(quantity("memory", memory, false)?),
    ))
}

impl Requirements {
    /// Parse requirements from their text form: `key Operator value,value`, several
    /// separated by `;` (`"kubernetes.io/arch In arm64; karpenter.k8s.aws/instance-cpu Gt
    /// 4"`). `Exists` and `DoesNotExist` take no values.
    pub fn parse(text: &str) -> Result<Requirements, BuildError> {
        let mut r = Requirements::new();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = |why: String| BuildError::Requirement {
                text: item.to_string(),
                why,
            };
            let mut words = item.split_whitespace();
            let (Some(key), Some(op)) = (words.next(), words.next()) else {
                return Err(bad("expected `key Operator [values]`".into()));
            };
            let op: Operator = op.parse().map_err(bad)?;
            let values: Vec<String> = words
                .flat_map(|w| w.split(','))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect();
            let vs = ValueSet::from_operator(op, &values)
                .map_err(|e: RequirementError| bad(e.to_string()))?;
            r.add(key, vs);
        }
        Ok(r)
    }
}

impl std::str::FromStr for Requirements {
    type Err = BuildError;
    fn from_str(s: &str) -> Result<Self, BuildError> {
        Requirements::parse(s)
    }
}

/// Builds a [`Pod`]: start with [`Pod::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PodBuilder {
    pod: Pod,
    spreads: Vec<(String, u32)>,
    host_anti_affinity: bool,
    error: Option<BuildError>,
}

impl Pod {
    /// A builder for a pod with no requests yet (`pods: 1`).
    pub fn builder(namespace: &str, name: &str) -> PodBuilder {
        PodBuilder {
            pod: Pod::new(namespace, name, Resources::default()),
            spreads: vec![],
            host_anti_affinity: false,
            error: None,
        }
    }
}

/// Keep the first error a builder meets.
fn keep_first(slot: &mut Option<BuildError>, r: Result<(), BuildError>) {
    if let (Err(e), None) = (r, &slot) {
        *slot = Some(e);
    }
}

impl PodBuilder {
    fn keep(mut self, r: Result<(), BuildError>) -> Self {
        keep_first(&mut self.error, r);
        self
    }

    /// CPU and memory requests as Kubernetes quantities (`"500m"`, `"1Gi"`).
    pub fn requests(mut self, cpu: &str, memory: &str) -> Self {
        let r = cpu_memory(cpu, memory).map(|(c, m)| {
            self.pod.requests.cpu = c;
            self.pod.requests.memory = m;
        });
        self.keep(r)
    }

    /// A request of an extended resource (`"nvidia.com/gpu"`, 1).
    pub fn extended(mut self, name: &str, count: u64) -> Self {
        if count > 0 {
            self.pod.requests.extended.insert(name.to_string(), count);
        }
        self
    }

    /// A label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.pod.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// A node selector entry.
    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        self.pod
            .node_selector
            .insert(key.to_string(), value.to_string());
        self
    }

    /// A required node affinity requirement in text form (see [`Requirements::parse`]);
    /// all of them hold together (one term).
    pub fn requirement(mut self, text: &str) -> Self {
        let r = Requirements::parse(text).map(|req| {
            match self.pod.node_affinity_required.first_mut() {
                Some(t) => *t = t.intersect(&req),
                None => self.pod.node_affinity_required.push(req),
            }
        });
        self.keep(r)
    }

    /// A toleration.
    pub fn toleration(mut self, t: Toleration) -> Self {
        self.pod.tolerations.push(t);
        self
    }

    /// A hard spread over zones among the pods with this pod's labels.
    pub fn zone_spread(mut self, max_skew: u32) -> Self {
        self.spreads.push((labels::ZONE.to_string(), max_skew));
        self
    }

    /// A hard spread over nodes among the pods with this pod's labels.
    pub fn hostname_spread(mut self, max_skew: u32) -> Self {
        self.spreads.push((HOSTNAME_KEY.to_string(), max_skew));
        self
    }

    /// Required anti-affinity to the pods with this pod's labels on the same node (one
    /// per node).
    pub fn one_per_node(mut self) -> Self {
        self.host_anti_affinity = true;
        self
    }

    /// The owning controller (`"ReplicaSet"`, `"web-7d4f"`).
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        self.pod.owner = Some(Arc::new(Owner {
            kind: kind.to_string(),
            name: name.to_string(),
        }));
        self
    }

    /// Priority (higher is more important).
    pub fn priority(mut self, priority: i32) -> Self {
        self.pod.priority = priority;
        self
    }

    /// The pod, or the first error met.
    pub fn build(self) -> Result<Pod, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut pod = self.pod;
        let selector = Requirements::from_labels(&pod.labels);
        for (key, max_skew) in self.spreads {
            pod.topology_spread.push(TopologySpread {
                max_skew,
                topology_key: key,
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                selector: selector.clone(),
                min_domains: None,
            });
        }
        if self.host_anti_affinity {
            pod.pod_anti_affinity.push(PodAffinityTerm {
                selector,
                topology_key: HOSTNAME_KEY.to_string(),
                namespaces: vec![],
            });
        }
        Ok(pod)
    }
}

/// Builds a [`NodePool`]: start with [`NodePool::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct NodePoolBuilder {
    pool: NodePool,
    error: Option<BuildError>,
}

impl NodePool {
    /// A builder for a pool with no requirements, weight 0 and default disruption.
    pub fn builder(name: &str) -> NodePoolBuilder {
        NodePoolBuilder {
            pool: NodePool::new(name),
            error: None,
        }
    }
}

impl NodePoolBuilder {
    fn keep(mut self, r: Result<(), BuildError>) -> Self {
        keep_first(&mut self.error, r);
        self
    }

    /// A requirement in text form (see [`Requirements::parse`]).
    pub fn requirement(mut self, text: &str) -> Self {
        let r = Requirements::parse(text).map(|req| {
            self.pool.requirements = self.pool.requirements.intersect(&req);
        });
        self.keep(r)
    }

    /// Karpenter's `minValues` for a requirement key.
    pub fn min_values(mut self, key: &str, n: u32) -> Self {
        self.pool.requirements.min_values.insert(key.to_string(), n);
        self
    }

    /// Weight: heavier pools are tried first.
    pub fn weight(mut self, weight: i32) -> Self {
        self.pool.weight = weight;
        self
    }

    /// A label on every node.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.pool.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// A taint on every node.
    pub fn taint(mut self, taint: Taint) -> Self {
        self.pool.taints.push(taint);
        self
    }

    /// The pool's CPU limit as a quantity (`"1000"`).
    pub fn cpu_limit(mut self, cpu: &str) -> Self {
        let r =
            quantity("limits.cpu", cpu, true).map(|m| self.pool.limits.cpu = Some(Millicores(m)));
        self.keep(r)
    }

    /// The pool's memory limit as a quantity (`"4Ti"`).
    pub fn memory_limit(mut self, memory: &str) -> Self {
        let r = quantity("limits.memory", memory, false)
            .map(|b| self.pool.limits.memory = Some(Bytes(b)));
        self.keep(r)
    }

    /// The requests of the daemonsets on every node, as quantities.
    pub fn daemonset_overhead(mut self, cpu: &str, memory: &str) -> Self {
        let r = cpu_memory(cpu, memory).map(|(c, m)| {
            self.pool.daemonset_overhead.cpu = c;
            self.pool.daemonset_overhead.memory = m;
        });
        self.keep(r)
    }

    /// The pool, or the first error met.
    pub fn build(self) -> Result<NodePool, BuildError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.pool),
        }
    }
}

impl InstanceType {
    /// A type with the given capacity, no overhead, no offerings yet and the
    /// instance-type label.
    pub fn new(name: &str, capacity: Resources) -> Self {
        InstanceType {
            name: name.to_string(),
            labels: [(labels::INSTANCE_TYPE.to_string(), name.to_string())].into(),
            capacity,
            overhead: Overhead::default(),
            offerings: vec![],
            aws_shape: None,
        }
    }

    /// With one more offering.
    #[must_use]
    pub fn with_offering(mut self, offering: Offering) -> Self {
        self.offerings.push(offering);
        self
    }

    /// With one more label.
    #[must_use]
    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
}

impl Offering {
    /// An available offering with an unknown interruption bucket.
    pub fn new(zone: &str, capacity_type: CapacityType, price: Money) -> Self {
        Offering {
            zone: zone.to_string(),
            capacity_type,
            price,
            available: true,
            interruption: None,
        }
    }

    /// The same offering with this spot interruption bucket (`None`: unknown).
    pub fn with_interruption(mut self, bucket: Option<crate::InterruptionBucket>) -> Self {
        self.interruption = bucket;
        self
    }
}

impl Catalog {
    /// A catalog of the given types (sorted by name, as catalogs are).
    pub fn new(name: &str, mut instance_types: Vec<InstanceType>) -> Self {
        instance_types.sort_by(|a, b| a.name.cmp(&b.name));
        Catalog {
            name: name.to_string(),
            region: None,
            instance_types,
            data_date: None,
        }
    }

    /// The same catalog with a region label value and a data date.
    pub fn with_source(mut self, region: Option<String>, data_date: Option<String>) -> Self {
        self.region = region;
        self.data_date = data_date;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_text_parses_like_the_yaml_form() {
        let r = Requirements::parse(
            "karpenter.k8s.aws/instance-family In m5,c5; kubernetes.io/arch Exists",
        )
        .unwrap();
        let want = Requirements::new()
            .with(
                "karpenter.k8s.aws/instance-family",
                Operator::In,
                &["m5", "c5"],
            )
            .unwrap()
            .with("kubernetes.io/arch", Operator::Exists, &[])
            .unwrap();
        assert_eq!(r, want);
        let gt: Requirements = "karpenter.k8s.aws/instance-cpu Gt 4".parse().unwrap();
        assert!(gt.get("karpenter.k8s.aws/instance-cpu").has("8"));
        assert!(!gt.get("karpenter.k8s.aws/instance-cpu").has("4"));
    }

    #[test]
    fn bad_requirement_text_names_the_text() {
        for bad in [
            "arch",
            "arch Into amd64",
            "cpu Gt four",
            "arch Exists amd64",
            "arch In",
        ] {
            let e = Requirements::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn pod_builder_matches_the_literal() {
        let pod = Pod::builder("ns", "p")
            .requests("1500m", "2Gi")
            .extended("nvidia.com/gpu", 1)
            .label("app", "web")
            .zone_spread(2)
            .one_per_node()
            .build()
            .unwrap();
        assert_eq!(pod.requests.cpu, Millicores(1500));
        assert_eq!(pod.requests.memory, Bytes::from_gib(2));
        assert_eq!(pod.requests.pods, 1);
        assert_eq!(pod.requests.extended("nvidia.com/gpu"), 1);
        let sel = Requirements::from_labels(&[("app".to_string(), "web".to_string())].into());
        assert_eq!(pod.topology_spread[0].selector, sel);
        assert_eq!(pod.topology_spread[0].topology_key, labels::ZONE);
        assert_eq!(pod.pod_anti_affinity[0].topology_key, HOSTNAME_KEY);
    }

    #[test]
    fn builders_report_the_first_bad_field() {
        let e = Pod::builder("ns", "p")
            .requests("1x", "1Gi")
            .build()
            .unwrap_err();
        assert!(
            matches!(e, BuildError::Quantity { field: "cpu", .. }),
            "{e}"
        );
        let e = Pod::builder("ns", "p")
            .requests("1", "-1Gi")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::OutOfRange {
                    field: "memory",
                    ..
                }
            ),
            "{e}"
        );
        let e = NodePool::builder("p")
            .cpu_limit("lots")
            .build()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("limits.cpu: invalid quantity \"lots\""),
            "{e}"
        );
    }
}
