//! The label requirements algebra shared by node selectors, node affinity, Karpenter
//! NodePool requirements, instance types and label selectors.
//!
//! Each key maps to a [`ValueSet`] in a canonical form, so that two requirement sets that
//! allow the same labels compare equal. Operators follow Kubernetes and Karpenter v1:
//! `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, `Gte`, `Lte`. `NotIn` and
//! `DoesNotExist` are satisfied by a label set that lacks the key; the others are not.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// A requirement operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's value is an integer greater than the single value.
    Gt,
    /// The label's value is an integer less than the single value.
    Lt,
    /// The label's value is an integer greater than or equal to the single value.
    Gte,
    /// The label's value is an integer less than or equal to the single value.
    Lte,
}

impl FromStr for Operator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            "Gte" => Operator::Gte,
            "Lte" => Operator::Lte,
            _ => {
                return Err(format!(
                    "unknown operator {s:?} (expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte)"
                ))
            }
        })
    }
}

/// Why a requirement could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// `Gt`, `Lt`, `Gte` and `Lte` take exactly one integer value.
    #[error("operator {op:?} takes exactly one integer value, got {values:?}")]
    NotOneInteger {
        /// The operator.
        op: Operator,
        /// The values given.
        values: Vec<String>,
    },
    /// `Exists` and `DoesNotExist` take no values.
    #[error("operator {op:?} takes no values, got {values:?}")]
    UnexpectedValues {
        /// The operator.
        op: Operator,
        /// The values given.
        values: Vec<String>,
    },
    /// `In` and `NotIn` need at least one value.
    #[error("operator {op:?} needs at least one value")]
    NoValues {
        /// The operator.
        op: Operator,
    },
}

/// The set of values a key may take, in canonical form.
///
/// With `complement == false` the allowed values are exactly `values` (bounds are folded
/// into the set and then cleared). With `complement == true` any value is allowed except
/// `values`, and only integers strictly between `gt` and `lt` when those are set.
/// `allow_absent` says whether a label set without the key satisfies it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValueSet {
    /// Whether `values` is the excluded set (true) or the allowed set (false).
    pub complement: bool,
    /// The listed values.
    pub values: BTreeSet<String>,
    /// Exclusive integer lower bound.
    pub gt: Option<i64>,
    /// Exclusive integer upper bound.
    pub lt: Option<i64>,
    /// Whether an absent label satisfies the set.
    pub allow_absent: bool,
}

impl ValueSet {
    /// Any value, and absence too: the identity of intersection.
    pub fn any() -> Self {
        ValueSet {
            complement: true,
            values: BTreeSet::new(),
            gt: None,
            lt: None,
            allow_absent: true,
        }
    }

    /// Build from an operator and its values.
    pub fn from_operator(op: Operator, values: &[String]) -> Result<Self, RequirementError> {
        let set: BTreeSet<String> = values.iter().cloned().collect();
        let int = || -> Result<i64, RequirementError> {
            match values {
                [v] => v
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| RequirementError::NotOneInteger {
                        op,
                        values: values.to_vec(),
                    }),
                _ => Err(RequirementError::NotOneInteger {
                    op,
                    values: values.to_vec(),
                }),
            }
        };
        let none = |s: ValueSet| {
            if values.is_empty() {
                Ok(s)
            } else {
                Err(RequirementError::UnexpectedValues {
                    op,
                    values: values.to_vec(),
                })
            }
        };
        let bounded = |gt: Option<i64>, lt: Option<i64>| ValueSet {
            complement: true,
            values: BTreeSet::new(),
            gt,
            lt,
            allow_absent: false,
        };
        let vs = match op {
            Operator::In if set.is_empty() => return Err(RequirementError::NoValues { op }),
            Operator::NotIn if set.is_empty() => return Err(RequirementError::NoValues { op }),
            Operator::In => ValueSet {
                complement: false,
                values: set,
                gt: None,
                lt: None,
                allow_absent: false,
            },
            Operator::NotIn => ValueSet {
                complement: true,
                values: set,
                gt: None,
                lt: None,
                allow_absent: true,
            },
            Operator::Exists => none(bounded(None, None))?,
            Operator::DoesNotExist => none(ValueSet {
                complement: false,
                values: BTreeSet::new(),
                gt: None,
                lt: None,
                allow_absent: true,
            })?,
            Operator::Gt => bounded(Some(int()?), None),
            Operator::Lt => bounded(None, Some(int()?)),
            Operator::Gte => bounded(Some(int()?.saturating_sub(1)), None),
            Operator::Lte => bounded(None, Some(int()?.saturating_add(1))),
        };
        Ok(vs.canonical())
    }

    /// The set of exactly these values.
    pub fn in_values<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        ValueSet {
            complement: false,
            values: values.into_iter().map(Into::into).collect(),
            gt: None,
            lt: None,
            allow_absent: false,
        }
    }

    fn within_bounds(&self, v: &str) -> bool {
        if self.gt.is_none() && self.lt.is_none() {
            return true;
        }
        match v.parse::<i64>() {
            Ok(n) => self.gt.is_none_or(|g| n > g) && self.lt.is_none_or(|l| n < l),
            Err(_) => false,
        }
    }

    fn canonical(mut self) -> Self {
        if let (Some(g), Some(l)) = (self.gt, self.lt) {
            if l.saturating_sub(g) <= 1 {
                // No integer strictly between the bounds.
                if self.complement {
                    self.values.clear();
                }
                self.complement = false;
            }
        }
        let bounded = self.gt.is_some() || self.lt.is_some();
        if bounded {
            let (gt, lt) = (self.gt, self.lt);
            let probe = ValueSet {
                gt,
                lt,
                ..ValueSet::any()
            };
            self.values.retain(|v| probe.within_bounds(v));
        }
        if !self.complement {
            self.gt = None;
            self.lt = None;
        }
        self
    }

    /// Does a present label value satisfy the set?
    pub fn has(&self, v: &str) -> bool {
        if self.complement {
            !self.values.contains(v) && self.within_bounds(v)
        } else {
            self.values.contains(v)
        }
    }

    /// Does a label set with the key absent (`None`) or present with a value satisfy it?
    pub fn matches(&self, v: Option<&str>) -> bool {
        match v {
            Some(v) => self.has(v),
            None => self.allow_absent,
        }
    }

    /// The intersection: the values both sets allow.
    pub fn intersect(&self, o: &ValueSet) -> ValueSet {
        let gt = match (self.gt, o.gt) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let lt = match (self.lt, o.lt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let allow_absent = self.allow_absent && o.allow_absent;
        let r = match (self.complement, o.complement) {
            (true, true) => ValueSet {
                complement: true,
                values: self.values.union(&o.values).cloned().collect(),
                gt,
                lt,
                allow_absent,
            },
            (true, false) => ValueSet {
                complement: false,
                values: o.values.iter().filter(|v| self.has(v)).cloned().collect(),
                gt: None,
                lt: None,
                allow_absent,
            },
            (false, true) => ValueSet {
                complement: false,
                values: self.values.iter().filter(|v| o.has(v)).cloned().collect(),
                gt: None,
                lt: None,
                allow_absent,
            },
            (false, false) => ValueSet {
                complement: false,
                values: self.values.intersection(&o.values).cloned().collect(),
                gt: None,
                lt: None,
                allow_absent,
            },
        };
        r.canonical()
    }

    /// Do the two sets share a value (or both allow absence)? Same answer as
    /// `!self.intersect(o).is_empty()`, without allocating in the common cases.
    pub fn overlaps(&self, o: &ValueSet) -> bool {
        if self.allow_absent && o.allow_absent {
            return true;
        }
        match (self.complement, o.complement) {
            (false, false) => {
                let (small, big) = if self.values.len() <= o.values.len() {
                    (self, o)
                } else {
                    (o, self)
                };
                small.values.iter().any(|v| big.values.contains(v))
            }
            (false, true) => self.values.iter().any(|v| o.has(v)),
            (true, false) => o.values.iter().any(|v| self.has(v)),
            (true, true) => !self.intersect(o).is_empty(),
        }
    }

    /// True when no present value satisfies the set (absence may still).
    pub fn no_value(&self) -> bool {
        !self.complement && self.values.is_empty()
    }

    /// True when nothing satisfies the set, neither a value nor absence.
    pub fn is_empty(&self) -> bool {
        self.no_value() && !self.allow_absent
    }

    /// How many distinct values it allows, `None` when unbounded.
    pub fn len(&self) -> Option<usize> {
        (!self.complement).then_some(self.values.len())
    }

    /// A representative value: the smallest allowed listed value, if the set is finite.
    pub fn any_value(&self) -> Option<&str> {
        if self.complement {
            None
        } else {
            self.values.iter().next().map(String::as_str)
        }
    }

    /// The value a node's label gets from this requirement when nothing else sets it, or
    /// `None` when an absent label satisfies it: the smallest listed value of `In`; for
    /// `Exists`, `Gt` and `Lt`, the smallest integer within the bounds (or `0`) not
    /// excluded, else a generated `value-N`. Deterministic, where Karpenter picks any
    /// (`Requirement.Any`).
    pub fn representative(&self) -> Option<String> {
        if self.allow_absent {
            return None;
        }
        if !self.complement {
            return self.values.iter().next().cloned();
        }
        if self.gt.is_some() || self.lt.is_some() {
            // Upwards from just above `gt`, or downwards from just below `lt`.
            return (0..=self.values.len() as i64)
                .filter_map(|i| match self.gt {
                    Some(g) => g.checked_add(1 + i),
                    None => self.lt.and_then(|l| l.checked_sub(1 + i)),
                })
                .map(|n| n.to_string())
                .find(|v| self.has(v));
        }
        (0..=self.values.len())
            .map(|i| format!("value-{i}"))
            .find(|v| self.has(v))
    }

    /// The operator that best describes the set, for display.
    pub fn operator(&self) -> Operator {
        match (self.complement, self.values.is_empty(), self.allow_absent) {
            (false, true, true) => Operator::DoesNotExist,
            (false, _, _) => Operator::In,
            (true, true, false) if self.gt.is_some() => Operator::Gt,
            (true, true, false) if self.lt.is_some() => Operator::Lt,
            (true, true, false) => Operator::Exists,
            (true, _, _) => Operator::NotIn,
        }
    }
}

impl fmt::Display for ValueSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals: Vec<&str> = self.values.iter().map(String::as_str).collect();
        match self.operator() {
            Operator::DoesNotExist => write!(f, "DoesNotExist"),
            Operator::Exists => write!(f, "Exists"),
            op => {
                write!(f, "{op:?} [{}]", vals.join(","))?;
                if let Some(g) = self.gt {
                    write!(f, " >{g}")?;
                }
                if let Some(l) = self.lt {
                    write!(f, " <{l}")?;
                }
                Ok(())
            }
        }
    }
}

/// A conjunction of per-key value sets, with optional Karpenter `minValues` per key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requirements {
    /// The value set of each constrained key.
    pub keys: BTreeMap<String, ValueSet>,
    /// Karpenter `minValues`: at least this many distinct values of the key must remain
    /// among the instance types a claim may launch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min_values: BTreeMap<String, u32>,
}

impl Requirements {
    /// No constraint at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one requirement (intersecting with any existing one on the key).
    pub fn add(&mut self, key: &str, vs: ValueSet) {
        match self.keys.get_mut(key) {
            Some(cur) => *cur = cur.intersect(&vs),
            None => {
                self.keys.insert(key.to_string(), vs);
            }
        }
    }

    /// Builder: add `key op values`.
    pub fn with(
        mut self,
        key: &str,
        op: Operator,
        values: &[&str],
    ) -> Result<Self, RequirementError> {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        self.add(key, ValueSet::from_operator(op, &values)?);
        Ok(self)
    }

    /// Requirements that pin each label to its value (`key In [value]`).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let mut r = Requirements::new();
        for (k, v) in labels {
            r.add(k, ValueSet::in_values([v.clone()]));
        }
        r
    }

    /// The value set of a key (`ValueSet::any()` when unconstrained).
    pub fn get(&self, key: &str) -> ValueSet {
        self.keys.get(key).cloned().unwrap_or_else(ValueSet::any)
    }

    /// The value set of a key, if constrained.
    pub fn get_ref(&self, key: &str) -> Option<&ValueSet> {
        self.keys.get(key)
    }

    /// The intersection of two requirement sets; `minValues` keeps the larger per key.
    pub fn intersect(&self, o: &Requirements) -> Requirements {
        let mut r = self.clone();
        for (k, v) in &o.keys {
            r.add(k, v.clone());
        }
        for (k, m) in &o.min_values {
            let e = r.min_values.entry(k.clone()).or_insert(0);
            *e = (*e).max(*m);
        }
        r
    }

    /// Does the label set satisfy every requirement?
    pub fn satisfied_by(&self, labels: &BTreeMap<String, String>) -> bool {
        self.keys
            .iter()
            .all(|(k, vs)| vs.matches(labels.get(k).map(String::as_str)))
    }

    /// The first key whose requirement the label set does not satisfy.
    pub fn first_unsatisfied<'a>(&'a self, labels: &BTreeMap<String, String>) -> Option<&'a str> {
        self.keys
            .iter()
            .find(|(k, vs)| !vs.matches(labels.get(*k).map(String::as_str)))
            .map(|(k, _)| k.as_str())
    }

    /// Are two requirement sets compatible, i.e. is there a label set satisfying both?
    /// Returns the first key on which they conflict.
    pub fn conflict<'a>(&'a self, o: &Requirements) -> Option<&'a str> {
        self.keys
            .iter()
            .find(|(k, vs)| o.keys.get(*k).is_some_and(|ov| vs.intersect(ov).is_empty()))
            .map(|(k, _)| k.as_str())
    }

    /// True when [`Requirements::conflict`] finds no conflicting key.
    pub fn compatible(&self, o: &Requirements) -> bool {
        self.conflict(o).is_none()
    }

    /// Is any key unsatisfiable on its own?
    pub fn unsatisfiable_key(&self) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, v)| v.is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// True when nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.keys.iter().map(|(k, v)| format!("{k} {v}")).collect();
        write!(f, "{}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    /// The label a node gets from a requirement satisfies it, for every operator.
    #[test]
    fn representatives_satisfy_their_sets() {
        let vs = |op, v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            super::ValueSet::from_operator(op, &v).unwrap()
        };
        use super::Operator::*;
        assert_eq!(vs(In, &["b", "a"]).representative().as_deref(), Some("a"));
        assert_eq!(vs(NotIn, &["a"]).representative(), None);
        assert_eq!(vs(DoesNotExist, &[]).representative(), None);
        assert_eq!(vs(Gt, &["5"]).representative().as_deref(), Some("6"));
        assert_eq!(vs(Lt, &["-3"]).representative().as_deref(), Some("-4"));
        for set in [
            vs(Exists, &[]),
            vs(Gt, &["5"]),
            vs(Lt, &["0"]),
            vs(In, &["x"]),
        ] {
            let r = set.representative().unwrap();
            assert!(set.has(&r), "{set:?} {r}");
        }
        let mut ex = vs(Exists, &[]);
        ex.values.insert("value-0".into());
        assert_eq!(ex.representative().as_deref(), Some("value-1"));
    }

    use super::*;
    use proptest::prelude::*;

    fn vs(op: Operator, vals: &[&str]) -> ValueSet {
        let v: Vec<String> = vals.iter().map(|s| s.to_string()).collect();
        ValueSet::from_operator(op, &v).unwrap()
    }

    #[test]
    fn operators_match_kubernetes_semantics() {
        assert!(vs(Operator::In, &["a"]).matches(Some("a")));
        assert!(!vs(Operator::In, &["a"]).matches(None));
        assert!(vs(Operator::NotIn, &["a"]).matches(None));
        assert!(!vs(Operator::NotIn, &["a"]).matches(Some("a")));
        assert!(vs(Operator::Exists, &[]).matches(Some("x")));
        assert!(!vs(Operator::Exists, &[]).matches(None));
        assert!(vs(Operator::DoesNotExist, &[]).matches(None));
        assert!(!vs(Operator::DoesNotExist, &[]).matches(Some("x")));
        assert!(vs(Operator::Gt, &["4"]).matches(Some("5")));
        assert!(!vs(Operator::Gt, &["4"]).matches(Some("4")));
        assert!(!vs(Operator::Gt, &["4"]).matches(Some("five")));
        assert!(vs(Operator::Gte, &["4"]).matches(Some("4")));
        assert!(vs(Operator::Lte, &["4"]).matches(Some("4")));
        assert!(!vs(Operator::Lt, &["4"]).matches(Some("4")));
    }

    #[test]
    fn bad_operator_arguments_are_errors() {
        assert!(ValueSet::from_operator(Operator::Gt, &["x".into()]).is_err());
        assert!(ValueSet::from_operator(Operator::Gt, &[]).is_err());
        assert!(ValueSet::from_operator(Operator::Exists, &["x".into()]).is_err());
        assert!(ValueSet::from_operator(Operator::In, &[]).is_err());
        assert!("Like".parse::<Operator>().is_err());
    }

    #[test]
    fn intersection_of_bounds_and_values() {
        let r = vs(Operator::In, &["2", "4", "8", "x"]).intersect(&vs(Operator::Gt, &["3"]));
        assert_eq!(r, ValueSet::in_values(["4", "8"]));
        let empty = vs(Operator::Gt, &["3"]).intersect(&vs(Operator::Lt, &["4"]));
        assert!(empty.is_empty());
        let notin_exists = vs(Operator::NotIn, &["a"]).intersect(&vs(Operator::Exists, &[]));
        assert!(!notin_exists.matches(None));
        assert!(notin_exists.matches(Some("b")));
    }

    #[test]
    fn requirements_conflict_names_key() {
        let a = Requirements::new()
            .with("kubernetes.io/arch", Operator::In, &["arm64"])
            .unwrap();
        let b = Requirements::new()
            .with("kubernetes.io/arch", Operator::In, &["amd64"])
            .unwrap();
        assert_eq!(a.conflict(&b), Some("kubernetes.io/arch"));
        assert!(a.compatible(&Requirements::new()));
    }

    const VALUES: &[&str] = &["1", "2", "3", "5", "8", "a", "b"];

    fn arb_valueset() -> impl Strategy<Value = ValueSet> {
        let ops = prop_oneof![
            Just(Operator::In),
            Just(Operator::NotIn),
            Just(Operator::Exists),
            Just(Operator::DoesNotExist),
            Just(Operator::Gt),
            Just(Operator::Lt),
            Just(Operator::Gte),
            Just(Operator::Lte),
        ];
        (ops, proptest::sample::subsequence(VALUES, 1..4), 0i64..9).prop_map(|(op, vals, n)| {
            let vals: Vec<String> = vals.iter().map(|s| s.to_string()).collect();
            match op {
                Operator::Exists | Operator::DoesNotExist => {
                    ValueSet::from_operator(op, &[]).unwrap()
                }
                Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => {
                    ValueSet::from_operator(op, &[n.to_string()]).unwrap()
                }
                _ => ValueSet::from_operator(op, &vals).unwrap(),
            }
        })
    }

    fn arb_reqs() -> impl Strategy<Value = Requirements> {
        proptest::collection::vec((0usize..3, arb_valueset()), 0..4).prop_map(|v| {
            let mut r = Requirements::new();
            for (k, vs) in v {
                r.add(["k0", "k1", "k2"][k], vs);
            }
            r
        })
    }

    fn arb_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(
            proptest::sample::select(vec!["k0", "k1", "k2"]).prop_map(String::from),
            proptest::sample::select(VALUES.to_vec()).prop_map(String::from),
            0..3,
        )
    }

    proptest! {
        #[test]
        fn intersection_is_commutative(a in arb_reqs(), b in arb_reqs()) {
            prop_assert_eq!(a.intersect(&b).keys, b.intersect(&a).keys);
        }

        #[test]
        fn intersection_is_associative(a in arb_reqs(), b in arb_reqs(), c in arb_reqs()) {
            prop_assert_eq!(a.intersect(&b).intersect(&c).keys, a.intersect(&b.intersect(&c)).keys);
        }

        #[test]
        fn intersection_is_idempotent(a in arb_reqs()) {
            prop_assert_eq!(a.intersect(&a).keys, a.keys.clone());
        }

        #[test]
        fn satisfies_both_iff_satisfies_intersection(a in arb_reqs(), b in arb_reqs(), l in arb_labels()) {
            prop_assert_eq!(
                a.satisfied_by(&l) && b.satisfied_by(&l),
                a.intersect(&b).satisfied_by(&l)
            );
        }

        #[test]
        fn overlaps_agrees_with_intersect(a in arb_valueset(), b in arb_valueset()) {
            prop_assert_eq!(a.overlaps(&b), !a.intersect(&b).is_empty());
        }

        #[test]
        fn satisfied_by_implies_compatible(a in arb_reqs(), b in arb_reqs(), l in arb_labels()) {
            if a.satisfied_by(&l) && b.satisfied_by(&l) {
                prop_assert!(a.compatible(&b));
            }
        }

        #[test]
        fn empty_sets_match_nothing(a in arb_valueset(), v in proptest::sample::select(VALUES.to_vec())) {
            if a.is_empty() {
                prop_assert!(!a.matches(Some(v)) && !a.matches(None));
            }
        }
    }
}
