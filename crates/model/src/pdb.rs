//! Pod disruption budgets (`policy/v1` PodDisruptionBudget): how many of a set of pods a
//! voluntary eviction (drain, consolidation, scale-down) may take down at once.

use crate::pod::Pod;
use crate::requirements::Requirements;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A count or a percentage of the expected pods (Kubernetes `IntOrString`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    /// A number of pods.
    Count(u32),
    /// A percentage (0-100) of the expected pods, rounded up.
    Percent(u32),
}

impl IntOrPercent {
    /// The number of pods out of `expected` (percentages round up, as Kubernetes'
    /// disruption controller does).
    pub fn of(self, expected: u32) -> u32 {
        match self {
            IntOrPercent::Count(n) => n,
            IntOrPercent::Percent(p) => (expected as u64 * p as u64).div_ceil(100) as u32,
        }
    }

    /// Parse `3` or `"25%"`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .map(IntOrPercent::Percent),
            None => s.parse().ok().map(IntOrPercent::Count),
        }
    }
}

impl std::fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Count(n) => s.serialize_u32(*n),
            IntOrPercent::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(IntOrPercent::Count(n)),
            Raw::S(s) => IntOrPercent::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a count or a percentage such as \"25%\", found {s:?}"
                ))
            }),
        }
    }
}

/// A pod disruption budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PodDisruptionBudget {
    /// Namespace (the budget covers pods of this namespace only).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Which pods it covers.
    pub selector: Requirements,
    /// `spec.minAvailable`.
    pub min_available: Option<IntOrPercent>,
    /// `spec.maxUnavailable`.
    pub max_unavailable: Option<IntOrPercent>,
}

impl PodDisruptionBudget {
    /// A budget over the pods `selector` picks in `namespace`, with neither
    /// `minAvailable` nor `maxUnavailable` set (set one).
    pub fn new(namespace: &str, name: &str, selector: Requirements) -> Self {
        PodDisruptionBudget {
            namespace: namespace.to_string(),
            name: name.to_string(),
            selector,
            min_available: None,
            max_unavailable: None,
        }
    }

    /// Does the budget cover `pod`?
    pub fn covers(&self, pod: &Pod) -> bool {
        pod.id.namespace == self.namespace && self.selector.satisfied_by(&pod.labels)
    }

    /// How many pods must stay healthy out of `expected` (Kubernetes' `desiredHealthy`;
    /// neither field set means none).
    pub fn desired_healthy(&self, expected: u32) -> u32 {
        match (self.max_unavailable, self.min_available) {
            (Some(m), _) => expected.saturating_sub(m.of(expected)),
            (None, Some(m)) => m.of(expected),
            (None, None) => 0,
        }
    }

    /// May one covered pod be evicted now, with `healthy` covered pods running out of
    /// `expected` live ones? A healthy pod needs a disruption to spare; an unhealthy one
    /// (not yet running) may go while the budget is met (`unhealthyPodEvictionPolicy:
    /// IfHealthyBudget`, the default).
    pub fn allows_eviction(&self, healthy: u32, expected: u32, pod_healthy: bool) -> bool {
        let desired = self.desired_healthy(expected);
        if pod_healthy {
            healthy > desired
        } else {
            healthy >= desired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(min: Option<&str>, max: Option<&str>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            namespace: "default".into(),
            name: "b".into(),
            selector: Requirements::new(),
            min_available: min.map(|s| IntOrPercent::parse(s).unwrap()),
            max_unavailable: max.map(|s| IntOrPercent::parse(s).unwrap()),
        }
    }

    #[test]
    fn percentages_round_up_like_kubernetes() {
        assert_eq!(IntOrPercent::Percent(50).of(5), 3);
        assert_eq!(IntOrPercent::Percent(0).of(5), 0);
        assert_eq!(IntOrPercent::Count(2).of(5), 2);
        // maxUnavailable 25% of 10 is 3, so 7 must stay healthy.
        assert_eq!(pdb(None, Some("25%")).desired_healthy(10), 7);
        assert_eq!(pdb(Some("80%"), None).desired_healthy(10), 8);
        assert_eq!(pdb(None, None).desired_healthy(10), 0);
        assert_eq!(IntOrPercent::parse("101%"), None);
        assert_eq!(IntOrPercent::parse("x"), None);
    }

    #[test]
    fn evictions_need_a_disruption_to_spare() {
        let b = pdb(None, Some("1"));
        // 4 expected, 4 healthy: one may go, then none until it is back.
        assert!(b.allows_eviction(4, 4, true));
        assert!(!b.allows_eviction(3, 4, true));
        // A pod that is not running may go while the budget holds.
        assert!(b.allows_eviction(3, 4, false));
        assert!(!b.allows_eviction(2, 4, false));
        let all = pdb(Some("100%"), None);
        assert!(!all.allows_eviction(4, 4, true));
    }

    #[test]
    fn serde_reads_counts_and_percentages() {
        let v: IntOrPercent = serde_json::from_str("\"30%\"").unwrap();
        assert_eq!(v, IntOrPercent::Percent(30));
        let v: IntOrPercent = serde_json::from_str("2").unwrap();
        assert_eq!(v, IntOrPercent::Count(2));
        assert!(serde_json::from_str::<IntOrPercent>("\"lots\"").is_err());
    }
}
