//! Taints and tolerations with Kubernetes semantics.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// New pods are not scheduled.
    NoSchedule,
    /// The scheduler tries to avoid the node (Karpenter treats it as a preference).
    PreferNoSchedule,
    /// New pods are not scheduled and running ones are evicted.
    NoExecute,
}

impl FromStr for Effect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "NoSchedule" => Ok(Effect::NoSchedule),
            "PreferNoSchedule" => Ok(Effect::PreferNoSchedule),
            "NoExecute" => Ok(Effect::NoExecute),
            _ => Err(format!(
                "unknown taint effect {s:?} (expected NoSchedule, PreferNoSchedule or NoExecute)"
            )),
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    #[serde(default)]
    pub value: String,
    /// Effect.
    pub effect: Effect,
}

impl Taint {
    /// A taint `key=value:effect`.
    pub fn new(key: &str, value: &str, effect: Effect) -> Self {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{:?}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{:?}", self.key, self.value, self.effect)
        }
    }
}

/// How a toleration matches a taint's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TolerationOperator {
    /// Key and value must be equal.
    Equal,
    /// Any value; with an empty key, any taint.
    Exists,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Toleration {
    /// Key; empty with `Exists` tolerates every key.
    #[serde(default)]
    pub key: String,
    /// Operator.
    pub operator: TolerationOperator,
    /// Value for `Equal`.
    #[serde(default)]
    pub value: String,
    /// Effect; `None` tolerates every effect.
    #[serde(default)]
    pub effect: Option<Effect>,
}

impl Toleration {
    /// Tolerates exactly `key=value` with any effect.
    pub fn equal(key: &str, value: &str) -> Self {
        Toleration {
            key: key.into(),
            operator: TolerationOperator::Equal,
            value: value.into(),
            effect: None,
        }
    }

    /// Tolerates any value of `key` (every taint when `key` is empty).
    pub fn exists(key: &str) -> Self {
        Toleration {
            key: key.into(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: None,
        }
    }

    /// Does this toleration tolerate the taint?
    pub fn tolerates(&self, t: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != t.effect) {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => self.key.is_empty() || self.key == t.key,
            TolerationOperator::Equal => self.key == t.key && self.value == t.value,
        }
    }
}

/// The first taint among `taints` with effect NoSchedule or NoExecute that no toleration
/// tolerates. PreferNoSchedule taints never block (see [`untolerated_preferred`]).
pub fn first_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        t.effect != Effect::PreferNoSchedule && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// The first PreferNoSchedule taint that no toleration tolerates.
pub fn untolerated_preferred<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        t.effect == Effect::PreferNoSchedule && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toleration_rules() {
        let gpu = Taint::new("nvidia.com/gpu", "true", Effect::NoSchedule);
        assert!(Toleration::exists("").tolerates(&gpu));
        assert!(Toleration::exists("nvidia.com/gpu").tolerates(&gpu));
        assert!(Toleration::equal("nvidia.com/gpu", "true").tolerates(&gpu));
        assert!(!Toleration::equal("nvidia.com/gpu", "false").tolerates(&gpu));
        let mut t = Toleration::exists("nvidia.com/gpu");
        t.effect = Some(Effect::NoExecute);
        assert!(!t.tolerates(&gpu));
        assert_eq!(
            first_untolerated(std::slice::from_ref(&gpu), &[]),
            Some(&gpu)
        );
        let soft = Taint::new("a", "", Effect::PreferNoSchedule);
        assert_eq!(first_untolerated(std::slice::from_ref(&soft), &[]), None);
        assert_eq!(
            untolerated_preferred(std::slice::from_ref(&soft), &[]),
            Some(&soft)
        );
    }
}
