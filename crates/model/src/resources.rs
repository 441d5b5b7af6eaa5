//! Resource lists: cpu, memory, ephemeral storage, pods and extended resources such as
//! `nvidia.com/gpu`, with checked arithmetic.

use crate::units::{Bytes, Millicores};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Well-known resource name of NVIDIA GPUs.
pub const NVIDIA_GPU: &str = "nvidia.com/gpu";
/// Well-known resource name of AMD GPUs.
pub const AMD_GPU: &str = "amd.com/gpu";
/// Well-known resource name of AWS Neuron devices (Inferentia, Trainium).
pub const AWS_NEURON: &str = "aws.amazon.com/neuron";

/// A list of resource quantities: requests of a pod, capacity or allocatable of a node.
///
/// Extended resources are whole numbers (Kubernetes forbids fractions of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resources {
    /// CPU.
    pub cpu: Millicores,
    /// Memory.
    pub memory: Bytes,
    /// Local ephemeral storage.
    #[serde(default)]
    pub ephemeral_storage: Bytes,
    /// Pod slots (a pod request counts 1).
    #[serde(default)]
    pub pods: u64,
    /// Extended resources by name, e.g. `nvidia.com/gpu`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: BTreeMap<String, u64>,
}

/// Which resource of a [`Resources`] list was short, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Resource name (`cpu`, `memory`, `ephemeral-storage`, `pods` or an extended name).
    pub resource: String,
    /// What was asked.
    pub requested: u64,
    /// What was available.
    pub available: u64,
}

impl fmt::Display for Shortfall {
    /// With units: cores for cpu, bytes in the largest binary unit for memory and
    /// ephemeral storage, counts for pods and extended resources.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = |v: u64| match self.resource.as_str() {
            "cpu" => cores_text(v),
            "memory" | "ephemeral-storage" => bytes_text(v),
            _ => v.to_string(),
        };
        write!(
            f,
            "{} requested {} but only {} available",
            self.resource,
            amount(self.requested),
            amount(self.available)
        )
    }
}

/// Millicores as cores with their unit: `0.5 cores`, `96 cores`.
pub fn cores_text(m: u64) -> String {
    let whole = m / 1000;
    let frac = m % 1000;
    if frac == 0 {
        format!("{whole} cores")
    } else {
        let f = format!("{frac:03}");
        format!("{whole}.{} cores", f.trim_end_matches('0'))
    }
}

/// Bytes in the largest binary unit that keeps two decimals: `512 MiB`, `1.5 GiB`.
pub fn bytes_text(b: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let t = format!("{v:.2}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t} {}", UNITS[u])
}

impl Resources {
    /// A list with only cpu and memory set.
    pub fn new(cpu: Millicores, memory: Bytes) -> Self {
        Resources {
            cpu,
            memory,
            ..Default::default()
        }
    }

    /// Builder: set the pod count.
    pub fn with_pods(mut self, pods: u64) -> Self {
        self.pods = pods;
        self
    }

    /// Builder: set an extended resource.
    pub fn with_extended(mut self, name: &str, n: u64) -> Self {
        if n > 0 {
            self.extended.insert(name.to_string(), n);
        } else {
            self.extended.remove(name);
        }
        self
    }

    /// The amount of one extended resource (0 when absent).
    pub fn extended(&self, name: &str) -> u64 {
        self.extended.get(name).copied().unwrap_or(0)
    }

    /// True when every quantity is zero.
    pub fn is_zero(&self) -> bool {
        self.cpu.0 == 0
            && self.memory.0 == 0
            && self.ephemeral_storage.0 == 0
            && self.pods == 0
            && self.extended.values().all(|v| *v == 0)
    }

    /// Checked sum: `None` on overflow.
    pub fn checked_add(&self, o: &Resources) -> Option<Resources> {
        let mut extended = self.extended.clone();
        for (k, v) in &o.extended {
            let e = extended.entry(k.clone()).or_insert(0);
            *e = e.checked_add(*v)?;
        }
        Some(Resources {
            cpu: self.cpu.checked_add(o.cpu)?,
            memory: self.memory.checked_add(o.memory)?,
            ephemeral_storage: self.ephemeral_storage.checked_add(o.ephemeral_storage)?,
            pods: self.pods.checked_add(o.pods)?,
            extended,
        })
    }

    /// Sum that saturates at `u64::MAX` instead of overflowing.
    pub fn saturating_add(&self, o: &Resources) -> Resources {
        let mut sum = self.clone();
        sum.saturating_add_assign(o);
        sum
    }

    /// [`Resources::saturating_add`] in place: `self` becomes the sum (every extended
    /// name of `o` present, zero entries included), without copying `self`.
    pub fn saturating_add_assign(&mut self, o: &Resources) {
        self.cpu = Millicores(self.cpu.0.saturating_add(o.cpu.0));
        self.memory = Bytes(self.memory.0.saturating_add(o.memory.0));
        self.ephemeral_storage = Bytes(
            self.ephemeral_storage
                .0
                .saturating_add(o.ephemeral_storage.0),
        );
        self.pods = self.pods.saturating_add(o.pods);
        for (k, &v) in &o.extended {
            match self.extended.get_mut(k) {
                Some(e) => *e = e.saturating_add(v),
                None => {
                    self.extended.insert(k.clone(), v);
                }
            }
        }
    }

    /// Checked difference: `None` when any quantity would go below zero.
    pub fn checked_sub(&self, o: &Resources) -> Option<Resources> {
        let mut extended = self.extended.clone();
        for (k, v) in &o.extended {
            if *v == 0 {
                continue;
            }
            let e = extended.get_mut(k)?;
            *e = e.checked_sub(*v)?;
        }
        extended.retain(|_, v| *v > 0);
        Some(Resources {
            cpu: Millicores(self.cpu.0.checked_sub(o.cpu.0)?),
            memory: Bytes(self.memory.0.checked_sub(o.memory.0)?),
            ephemeral_storage: Bytes(
                self.ephemeral_storage
                    .0
                    .checked_sub(o.ephemeral_storage.0)?,
            ),
            pods: self.pods.checked_sub(o.pods)?,
            extended,
        })
    }

    /// Difference that stops at zero for each quantity.
    pub fn saturating_sub(&self, o: &Resources) -> Resources {
        let mut extended = self.extended.clone();
        for (k, v) in &o.extended {
            if let Some(e) = extended.get_mut(k) {
                *e = e.saturating_sub(*v);
            }
        }
        extended.retain(|_, v| *v > 0);
        Resources {
            cpu: self.cpu.saturating_sub(o.cpu),
            memory: self.memory.saturating_sub(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_sub(o.ephemeral_storage),
            pods: self.pods.saturating_sub(o.pods),
            extended,
        }
    }

    /// Does `self` (a request) fit in `available`? Every quantity must be at most the
    /// available one; an extended resource absent from `available` counts as zero.
    pub fn fits(&self, available: &Resources) -> bool {
        self.cpu <= available.cpu
            && self.memory <= available.memory
            && self.ephemeral_storage <= available.ephemeral_storage
            && self.pods <= available.pods
            && self
                .extended
                .iter()
                .all(|(k, v)| *v <= available.extended(k))
    }

    /// Whether `self + extra` fits within `available`, without building the sum.
    pub fn fits_with(&self, extra: &Resources, available: &Resources) -> bool {
        self.cpu.0.saturating_add(extra.cpu.0) <= available.cpu.0
            && self.memory.0.saturating_add(extra.memory.0) <= available.memory.0
            && self
                .ephemeral_storage
                .0
                .saturating_add(extra.ephemeral_storage.0)
                <= available.ephemeral_storage.0
            && self.pods.saturating_add(extra.pods) <= available.pods
            && self
                .extended
                .iter()
                .all(|(k, v)| v.saturating_add(extra.extended(k)) <= available.extended(k))
            && extra
                .extended
                .iter()
                .all(|(k, v)| v.saturating_add(self.extended(k)) <= available.extended(k))
    }

    /// The first resource that does not fit, if any, in a fixed order (cpu, memory,
    /// ephemeral-storage, pods, extended by name).
    pub fn shortfall(&self, available: &Resources) -> Option<Shortfall> {
        let scalar = [
            ("cpu", self.cpu.0, available.cpu.0),
            ("memory", self.memory.0, available.memory.0),
            (
                "ephemeral-storage",
                self.ephemeral_storage.0,
                available.ephemeral_storage.0,
            ),
            ("pods", self.pods, available.pods),
        ];
        for (name, r, a) in scalar {
            if r > a {
                return Some(Shortfall {
                    resource: name.into(),
                    requested: r,
                    available: a,
                });
            }
        }
        self.extended.iter().find_map(|(k, v)| {
            let a = available.extended(k);
            (*v > a).then(|| Shortfall {
                resource: k.clone(),
                requested: *v,
                available: a,
            })
        })
    }

    /// Element-wise maximum (used for init containers).
    pub fn max(&self, o: &Resources) -> Resources {
        let mut extended = self.extended.clone();
        for (k, v) in &o.extended {
            let e = extended.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        Resources {
            cpu: self.cpu.max(o.cpu),
            memory: self.memory.max(o.memory),
            ephemeral_storage: self.ephemeral_storage.max(o.ephemeral_storage),
            pods: self.pods.max(o.pods),
            extended,
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu={} memory={}", self.cpu, self.memory)?;
        if self.ephemeral_storage.0 > 0 {
            write!(f, " ephemeral-storage={}", self.ephemeral_storage)?;
        }
        if self.pods > 0 {
            write!(f, " pods={}", self.pods)?;
        }
        for (k, v) in &self.extended {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Regression (issue 22 item 15): a shortfall printed bare numbers ("cpu requested
    /// 9223372036854775807"); it now carries units.
    #[test]
    fn shortfalls_carry_units() {
        let s = Shortfall {
            resource: "cpu".into(),
            requested: 9_223_372_036_854_775_000,
            available: 382_970,
        };
        assert_eq!(
            s.to_string(),
            "cpu requested 9223372036854775 cores but only 382.97 cores available"
        );
        let m = Shortfall {
            resource: "memory".into(),
            requested: 3 << 29,
            available: 512 << 20,
        };
        assert_eq!(
            m.to_string(),
            "memory requested 1.5 GiB but only 512 MiB available"
        );
        assert_eq!(bytes_text(0), "0 B");
        assert_eq!(cores_text(500), "0.5 cores");
    }

    fn r(cpu: u64, mem: u64, gpu: u64) -> Resources {
        Resources::new(Millicores(cpu), Bytes(mem))
            .with_pods(1)
            .with_extended(NVIDIA_GPU, gpu)
    }

    #[test]
    fn fits_counts_missing_extended_as_zero() {
        let node = Resources::new(Millicores(4000), Bytes::from_gib(16)).with_pods(10);
        assert!(r(1000, 1, 0).fits(&node));
        assert!(!r(1000, 1, 1).fits(&node));
        assert_eq!(r(1000, 1, 1).shortfall(&node).unwrap().resource, NVIDIA_GPU);
        assert_eq!(r(5000, 1, 0).shortfall(&node).unwrap().resource, "cpu");
    }

    #[test]
    fn checked_sub_refuses_negative() {
        let a = r(1000, 10, 1);
        let b = r(2000, 10, 0);
        assert!(a.checked_sub(&b).is_none());
        assert!(r(0, 0, 0).checked_sub(&r(0, 0, 1)).is_none());
        assert_eq!(
            b.checked_sub(&r(1000, 10, 0)).unwrap(),
            r(1000, 0, 0).with_pods(0)
        );
    }

    #[test]
    fn checked_add_detects_overflow() {
        let a = Resources::new(Millicores(u64::MAX), Bytes(0));
        assert!(a.checked_add(&r(1, 0, 0)).is_none());
        assert_eq!(a.saturating_add(&r(1, 0, 0)).cpu, Millicores(u64::MAX));
    }

    proptest! {
        #[test]
        fn add_then_sub_round_trips(a in 0u64..1<<40, b in 0u64..1<<40, g in 0u64..8, h in 0u64..8) {
            let x = r(a, b, g);
            let y = r(b, a, h);
            let s = x.checked_add(&y).unwrap();
            prop_assert_eq!(s.checked_sub(&y).unwrap(), x.clone());
            prop_assert!(x.fits(&s));
            prop_assert!(y.fits(&s));
        }

        #[test]
        fn fits_with_matches_sum_then_fits(
            a in 0u64..5000, b in 0u64..5000, g in 0u64..3, h in 0u64..3,
            c in 0u64..9000, m in 0u64..9000, cg in 0u64..5,
        ) {
            let x = r(a, b, g);
            let y = r(b, a, h).with_extended("example.com/fpga", g);
            let cap = r(c, m, cg).with_pods(2);
            prop_assert_eq!(x.fits_with(&y, &cap), x.saturating_add(&y).fits(&cap));
            prop_assert_eq!(y.fits_with(&x, &cap), x.saturating_add(&y).fits(&cap));
        }

        /// The sum in place is the field-wise saturating sum, with every extended name
        /// of either side (zero entries kept): near-maximal values, names on one side
        /// only, zeros.
        #[test]
        fn summing_in_place_is_the_field_wise_saturating_sum(
            a in prop::collection::vec(0u64..4, 6), b in prop::collection::vec(0u64..4, 6),
            ea in prop::collection::btree_map("[abc]", 0u64..4, 0..3),
            eb in prop::collection::btree_map("[bcd]", 0u64..4, 0..3),
        ) {
            // 0..3 small, 3 near the top, so sums overflow.
            let v = |k: u64| if k == 3 { u64::MAX - 1 } else { k };
            let mk = |x: &[u64], e: &BTreeMap<String, u64>| Resources {
                cpu: Millicores(v(x[0])),
                memory: Bytes(v(x[1])),
                ephemeral_storage: Bytes(v(x[2])),
                pods: v(x[3]),
                extended: e.iter().map(|(k, &n)| (k.clone(), v(n))).collect(),
            };
            let (x, y) = (mk(&a, &ea), mk(&b, &eb));
            let mut names: Vec<&String> = x.extended.keys().chain(y.extended.keys()).collect();
            names.sort();
            names.dedup();
            let want = Resources {
                cpu: Millicores(x.cpu.0.saturating_add(y.cpu.0)),
                memory: Bytes(x.memory.0.saturating_add(y.memory.0)),
                ephemeral_storage: Bytes(x.ephemeral_storage.0.saturating_add(y.ephemeral_storage.0)),
                pods: x.pods.saturating_add(y.pods),
                extended: names
                    .into_iter()
                    .map(|k| (k.clone(), x.extended(k).saturating_add(y.extended(k))))
                    .collect(),
            };
            let mut z = x.clone();
            z.saturating_add_assign(&y);
            prop_assert_eq!(&z, &want);
            prop_assert_eq!(x.saturating_add(&y), want);
        }
    }
}
