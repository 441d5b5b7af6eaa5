//! Karpenter v1 NodePools: requirements, labels, taints, limits, weight and disruption.

use crate::aws::KubeletConfig;
use crate::requirements::Requirements;
use crate::resources::Resources;
use crate::taints::Taint;
use crate::units::{Bytes, Millicores, Millis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Resource limits of a node pool: the sum of capacity of its nodes may not exceed them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Limits {
    /// CPU limit.
    #[serde(default)]
    pub cpu: Option<Millicores>,
    /// Memory limit.
    #[serde(default)]
    pub memory: Option<Bytes>,
    /// Ephemeral storage limit.
    #[serde(default)]
    pub ephemeral_storage: Option<Bytes>,
    /// Limits on extended resources (e.g. `nvidia.com/gpu`) and `nodes`.
    #[serde(default)]
    pub other: BTreeMap<String, u64>,
}

impl Limits {
    /// The first limit `used` exceeds, named, if any. `nodes` counts nodes.
    pub fn exceeded_by(&self, used: &Resources, nodes: u64) -> Option<String> {
        if let Some(c) = self.cpu {
            if used.cpu > c {
                return Some(format!("cpu limit {c} exceeded ({})", used.cpu));
            }
        }
        if let Some(m) = self.memory {
            if used.memory > m {
                return Some(format!("memory limit {m} exceeded ({})", used.memory));
            }
        }
        if let Some(e) = self.ephemeral_storage {
            if used.ephemeral_storage > e {
                return Some(format!("ephemeral-storage limit {e} exceeded"));
            }
        }
        for (k, v) in &self.other {
            let u = if k == "nodes" {
                nodes
            } else if k == "pods" {
                used.pods
            } else {
                used.extended(k)
            };
            if u > *v {
                return Some(format!("{k} limit {v} exceeded ({u})"));
            }
        }
        None
    }

    /// Whether `used + added` exceeds a limit (`nodes` counts nodes): the test of
    /// [`Limits::exceeded_by`] without building the sum or the message, for hot loops.
    pub fn exceeded_by_sum(&self, used: &Resources, added: &Resources, nodes: u64) -> bool {
        let over =
            |limit: Option<u64>, a: u64, b: u64| limit.is_some_and(|l| a.saturating_add(b) > l);
        over(self.cpu.map(|c| c.0), used.cpu.0, added.cpu.0)
            || over(self.memory.map(|m| m.0), used.memory.0, added.memory.0)
            || over(
                self.ephemeral_storage.map(|e| e.0),
                used.ephemeral_storage.0,
                added.ephemeral_storage.0,
            )
            || self.other.iter().any(|(k, v)| {
                let u = if k == "nodes" {
                    nodes
                } else if k == "pods" {
                    used.pods.saturating_add(added.pods)
                } else {
                    used.extended(k).saturating_add(added.extended(k))
                };
                u > *v
            })
    }

    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none()
            && self.memory.is_none()
            && self.ephemeral_storage.is_none()
            && self.other.is_empty()
    }

    /// Does some limit name an extended resource (not `nodes` nor `pods`)? Only then
    /// do the extended resources of a pool's nodes count against its limits.
    pub fn on_extended(&self) -> bool {
        self.other.keys().any(|k| k != "nodes" && k != "pods")
    }
}

/// When a node pool may consolidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsolidationPolicy {
    /// Only empty nodes.
    WhenEmpty,
    /// Empty or underutilized nodes (Karpenter's default).
    WhenEmptyOrUnderutilized,
    /// Moves whose savings share is at least half their disruption share.
    Balanced,
}

/// How many nodes a disruption budget allows to disrupt at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BudgetNodes {
    /// An absolute count.
    Count(u32),
    /// A percentage of the pool's nodes (rounded up, as Karpenter does).
    Percent(u32),
}

/// A disruption budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Budget {
    /// How many nodes.
    pub nodes: BudgetNodes,
    /// Cron schedule when the budget is active (with `duration`); always active if unset.
    #[serde(default)]
    pub schedule: Option<String>,
    /// How long the budget is active after each schedule hit.
    #[serde(default)]
    pub duration: Option<Millis>,
    /// Disruption reasons it applies to (`Empty`, `Drifted`, `Underutilized`); all if empty.
    #[serde(default)]
    pub reasons: Vec<String>,
}

impl Budget {
    /// A budget of `nodes`, always active, for every reason.
    pub fn new(nodes: BudgetNodes) -> Self {
        Budget {
            nodes,
            schedule: None,
            duration: None,
            reasons: vec![],
        }
    }

    /// Does it govern disruptions for `reason` (`Empty`, `Drifted`, `Underutilized`) at
    /// `now`? A budget with a schedule is active for `duration` after each hit of it (see
    /// [`crate::cron`]); one whose schedule does not parse counts as always active, so a
    /// typo never lifts a limit.
    pub fn applies(&self, reason: &str, now: Millis) -> bool {
        if !self.reasons.is_empty() && !self.reasons.iter().any(|r| r.eq_ignore_ascii_case(reason))
        {
            return false;
        }
        match (&self.schedule, self.duration) {
            (Some(s), Some(d)) => crate::cron::Cron::parse(s).map_or(true, |c| c.active(now, d)),
            _ => true,
        }
    }

    /// Nodes it lets be disrupted at once in a pool of `total` nodes (percentages round
    /// up).
    pub fn nodes_allowed(&self, total: u32) -> u32 {
        match self.nodes {
            BudgetNodes::Count(n) => n,
            BudgetNodes::Percent(p) => (u64::from(total) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

/// Disruption settings of a node pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Disruption {
    /// Consolidation policy.
    pub consolidation_policy: ConsolidationPolicy,
    /// How long a node must be consolidatable before it is; `None` means `Never`.
    pub consolidate_after: Option<Millis>,
    /// Budgets (Karpenter's default is one budget of 10%).
    pub budgets: Vec<Budget>,
}

impl Disruption {
    /// Nodes of a pool of `total` that may be disrupted at once for `reason` at `now`:
    /// the least any active budget allows (`u32::MAX` when none is active).
    pub fn allowed(&self, reason: &str, total: u32, now: Millis) -> u32 {
        self.budgets
            .iter()
            .filter(|b| b.applies(reason, now))
            .map(|b| b.nodes_allowed(total))
            .min()
            .unwrap_or(u32::MAX)
    }
}

impl Default for Disruption {
    fn default() -> Self {
        Disruption {
            consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
            consolidate_after: Some(Millis(0)),
            budgets: vec![Budget {
                nodes: BudgetNodes::Percent(10),
                schedule: None,
                duration: None,
                reasons: vec![],
            }],
        }
    }
}

/// A Karpenter NodePool, with the kubelet settings of its node class and the daemonset
/// overhead every node of it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodePool {
    /// Name.
    pub name: String,
    /// Weight: heavier pools are tried first.
    #[serde(default)]
    pub weight: i32,
    /// Requirements on instance type labels, zone and capacity type (with minValues).
    #[serde(default)]
    pub requirements: Requirements,
    /// Labels applied to nodes.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints applied to nodes.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Taints present at startup and removed by another agent; ignored for scheduling.
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Disruption settings.
    #[serde(default)]
    pub disruption: Disruption,
    /// `expireAfter`; `None` means `Never`.
    #[serde(default)]
    pub expire_after: Option<Millis>,
    /// Kubelet settings of the node class.
    #[serde(default)]
    pub kubelet: KubeletConfig,
    /// Requests of the daemonsets that run on every node of the pool.
    #[serde(default)]
    pub daemonset_overhead: Resources,
}

impl NodePool {
    /// A pool with no requirements, weight 0 and default disruption.
    pub fn new(name: &str) -> Self {
        NodePool {
            name: name.into(),
            weight: 0,
            requirements: Requirements::new(),
            labels: BTreeMap::new(),
            taints: vec![],
            startup_taints: vec![],
            limits: Limits::default(),
            disruption: Disruption::default(),
            expire_after: Some(Millis::from_mins(30 * 24 * 60)),
            kubelet: KubeletConfig::default(),
            daemonset_overhead: Resources::default(),
        }
    }

    /// The pool's requirements including its labels (`key In [value]`) and its name.
    pub fn node_requirements(&self) -> Requirements {
        let mut r = self
            .requirements
            .intersect(&Requirements::from_labels(&self.labels));
        r.add(
            crate::labels::NODEPOOL,
            crate::requirements::ValueSet::in_values([self.name.clone()]),
        );
        r
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn budget(nodes: BudgetNodes, schedule: Option<(&str, u64)>, reasons: &[&str]) -> Budget {
        Budget {
            nodes,
            schedule: schedule.map(|s| s.0.to_string()),
            duration: schedule.map(|s| Millis::from_mins(s.1)),
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn the_least_active_budget_wins() {
        let d = Disruption {
            budgets: vec![
                budget(BudgetNodes::Percent(10), None, &[]),
                // No underutilized disruption on weekdays 9:00-17:00.
                budget(
                    BudgetNodes::Count(0),
                    Some(("0 9 * * mon-fri", 8 * 60)),
                    &["Underutilized"],
                ),
            ],
            ..Disruption::default()
        };
        let monday_ten = Millis::from_mins(10 * 60);
        let monday_night = Millis::from_mins(20 * 60);
        // 10% of 25 nodes rounds up to 3.
        assert_eq!(d.allowed("Empty", 25, monday_ten), 3);
        assert_eq!(d.allowed("Underutilized", 25, monday_ten), 0);
        assert_eq!(d.allowed("underutilized", 25, monday_night), 3);
        let none = Disruption {
            budgets: vec![],
            ..Disruption::default()
        };
        assert_eq!(none.allowed("Empty", 5, Millis(0)), u32::MAX);
    }

    #[test]
    fn only_named_extended_resources_make_limits_look_at_them() {
        let mut l = Limits {
            cpu: Some(crate::Millicores(4_000_000)),
            ..Limits::default()
        };
        l.other.insert("nodes".into(), 10);
        l.other.insert("pods".into(), 100);
        assert!(!l.on_extended());
        l.other.insert("nvidia.com/gpu".into(), 64);
        assert!(l.on_extended());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast test agrees with the one that builds the sum and names the limit.
        #[test]
        fn exceeded_by_sum_agrees_with_exceeded_by(
            lim in proptest::collection::vec(proptest::option::of(0u64..100), 6),
            a in proptest::collection::vec(0u64..60, 5),
            b in proptest::collection::vec(0u64..60, 5),
            nodes in 0u64..100,
        ) {
            let mut limits = Limits {
                cpu: lim[0].map(Millicores),
                memory: lim[1].map(Bytes),
                ephemeral_storage: lim[2].map(Bytes),
                other: BTreeMap::new(),
            };
            for (k, l) in [("nodes", lim[3]), ("pods", lim[4]), ("nvidia.com/gpu", lim[5])] {
                if let Some(l) = l {
                    limits.other.insert(k.into(), l);
                }
            }
            let r = |v: &[u64]| Resources {
                ephemeral_storage: Bytes(v[4]),
                ..Resources::new(Millicores(v[0]), Bytes(v[1]))
                    .with_pods(v[2])
                    .with_extended("nvidia.com/gpu", v[3])
            };
            let (used, added) = (r(&a), r(&b));
            prop_assert_eq!(
                limits.exceeded_by_sum(&used, &added, nodes),
                limits.exceeded_by(&used.saturating_add(&added), nodes).is_some()
            );
        }
    }
}
