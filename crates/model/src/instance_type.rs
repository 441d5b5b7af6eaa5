//! Instance types, their offerings and catalogs.

use crate::aws::{AwsShape, KubeletConfig};
use crate::labels;
use crate::requirements::{Requirements, ValueSet};
use crate::resources::Resources;
use crate::units::Money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How an offering is bought.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityType {
    /// Reserved capacity (capacity reservations); Karpenter prefers it first.
    Reserved,
    /// Spot: cheap, can be interrupted with a 2-minute notice.
    Spot,
    /// On-demand.
    OnDemand,
}

impl CapacityType {
    /// The label value (`reserved`, `spot`, `on-demand`).
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::Reserved => "reserved",
            CapacityType::Spot => "spot",
            CapacityType::OnDemand => "on-demand",
        }
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CapacityType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reserved" => Ok(CapacityType::Reserved),
            "spot" => Ok(CapacityType::Spot),
            "on-demand" => Ok(CapacityType::OnDemand),
            _ => Err(format!(
                "unknown capacity type {s:?} (expected spot, on-demand or reserved)"
            )),
        }
    }
}

/// AWS Spot Instance Advisor interruption-frequency bucket: the share of capacity
/// reclaimed per month over the trailing 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InterruptionBucket {
    /// Less than 5% per month.
    Under5,
    /// 5-10% per month.
    From5To10,
    /// 10-15% per month.
    From10To15,
    /// 15-20% per month.
    From15To20,
    /// More than 20% per month.
    Over20,
    /// The type has a spot price but the Spot Advisor feed has no bucket for it (types
    /// newer than the feed). Never read as the safest bucket: the risk model, the spot
    /// allocation model and the simulator treat it as [`InterruptionBucket::UNKNOWN_AS`].
    Unknown,
}

impl InterruptionBucket {
    /// What an unknown bucket is treated as: 15-20%, the bucket that holds the mean
    /// monthly rate of the bucketed types of the us-east-1 2026-08 Spot Advisor feed
    /// (15.2%, taking each bucket at its middle and >20% at 25%).
    pub const UNKNOWN_AS: InterruptionBucket = InterruptionBucket::From15To20;

    /// The bucket the models use: itself, or [`InterruptionBucket::UNKNOWN_AS`] for
    /// an unknown one.
    pub fn effective(self) -> Self {
        match self {
            InterruptionBucket::Unknown => Self::UNKNOWN_AS,
            b => b,
        }
    }

    /// From the Spot Advisor range index 0-4.
    pub fn from_index(i: u8) -> Option<Self> {
        Some(match i {
            0 => InterruptionBucket::Under5,
            1 => InterruptionBucket::From5To10,
            2 => InterruptionBucket::From10To15,
            3 => InterruptionBucket::From15To20,
            4 => InterruptionBucket::Over20,
            _ => return None,
        })
    }

    /// The Spot Advisor range index 0-4 (`None` for an unknown bucket).
    pub fn index(self) -> Option<u8> {
        (self != InterruptionBucket::Unknown).then_some(self as u8)
    }

    /// A representative monthly interruption rate in per-mille (the middle of the bucket;
    /// 25% for the open-ended top bucket; an unknown bucket's is that of
    /// [`InterruptionBucket::UNKNOWN_AS`]).
    pub fn monthly_rate_permille(self) -> u32 {
        [25, 75, 125, 175, 250][self.effective() as usize]
    }

    /// The label AWS shows (`unknown` for an unknown bucket).
    pub fn label(self) -> &'static str {
        ["<5%", "5-10%", "10-15%", "15-20%", ">20%", "unknown"][self as usize]
    }
}

/// A way to buy an instance type: a zone, a capacity type and a price.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Offering {
    /// Zone name, e.g. `us-east-1a`.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Price per hour.
    pub price: Money,
    /// Whether the offering can be launched now.
    #[serde(default = "yes")]
    pub available: bool,
    /// Spot interruption bucket (spot offerings only).
    #[serde(default)]
    pub interruption: Option<InterruptionBucket>,
}

fn yes() -> bool {
    true
}

impl Offering {
    /// The interruption bucket the models use: for a spot offering its bucket, or
    /// [`InterruptionBucket::Unknown`] when it has none (a missing bucket is not the
    /// safest one); `None` for other capacity types.
    pub fn spot_bucket(&self) -> Option<InterruptionBucket> {
        (self.capacity_type == CapacityType::Spot)
            .then(|| self.interruption.unwrap_or(InterruptionBucket::Unknown))
    }

    /// The labels an offering adds to its node: zone and capacity type.
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::new();
        r.add(labels::ZONE, ValueSet::in_values([self.zone.clone()]));
        r.add(
            labels::CAPACITY_TYPE,
            ValueSet::in_values([self.capacity_type.as_str()]),
        );
        r
    }
}

/// The kubelet's reservations on a node; allocatable is capacity minus all three.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Overhead {
    /// kube-reserved.
    pub kube_reserved: Resources,
    /// system-reserved.
    pub system_reserved: Resources,
    /// Hard eviction thresholds.
    pub eviction_threshold: Resources,
}

impl Overhead {
    /// The sum of the three reservations.
    pub fn total(&self) -> Resources {
        self.kube_reserved
            .saturating_add(&self.system_reserved)
            .saturating_add(&self.eviction_threshold)
    }
}

/// An instance type: labels, capacity, overhead and offerings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceType {
    /// Name, e.g. `m5.large`.
    pub name: String,
    /// Well-known labels of the type (instance type, arch, os, family, cpu, ...).
    pub labels: BTreeMap<String, String>,
    /// Capacity as the kubelet reports it.
    pub capacity: Resources,
    /// Reservations.
    pub overhead: Overhead,
    /// Offerings.
    pub offerings: Vec<Offering>,
    /// For AWS types, the shape the capacity and overhead were computed from, so that
    /// node class kubelet settings can recompute them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_shape: Option<AwsShape>,
}

impl InstanceType {
    /// An AWS instance type with capacity and overhead computed by Karpenter's formulas
    /// under the given kubelet settings.
    pub fn aws(
        name: &str,
        labels: BTreeMap<String, String>,
        shape: AwsShape,
        kubelet: &KubeletConfig,
        offerings: Vec<Offering>,
    ) -> Self {
        let (capacity, overhead) = crate::aws::capacity_and_overhead(&shape, kubelet);
        InstanceType {
            name: name.into(),
            labels,
            capacity,
            overhead,
            offerings,
            aws_shape: Some(shape),
        }
    }

    /// The same type under other kubelet settings (only AWS types change; others are
    /// returned as they are).
    pub fn with_kubelet(&self, kubelet: &KubeletConfig) -> InstanceType {
        match &self.aws_shape {
            Some(shape) => {
                let (capacity, overhead) = crate::aws::capacity_and_overhead(shape, kubelet);
                InstanceType {
                    capacity,
                    overhead,
                    ..self.clone()
                }
            }
            None => self.clone(),
        }
    }

    /// Allocatable: capacity minus overhead.
    pub fn allocatable(&self) -> Resources {
        self.capacity.saturating_sub(&self.overhead.total())
    }

    /// The type's labels as requirements, plus the zones and capacity types of its
    /// available offerings.
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::from_labels(&self.labels);
        let zones: Vec<String> = self
            .offerings
            .iter()
            .filter(|o| o.available)
            .map(|o| o.zone.clone())
            .collect();
        let cts: Vec<&str> = self
            .offerings
            .iter()
            .filter(|o| o.available)
            .map(|o| o.capacity_type.as_str())
            .collect();
        r.add(labels::ZONE, ValueSet::in_values(zones));
        r.add(labels::CAPACITY_TYPE, ValueSet::in_values(cts));
        r
    }

    /// Available offerings compatible with the requirements (zone and capacity type).
    pub fn compatible_offerings<'a>(
        &'a self,
        reqs: &'a Requirements,
    ) -> impl Iterator<Item = &'a Offering> + 'a {
        let zone = reqs.get_ref(labels::ZONE);
        let ct = reqs.get_ref(labels::CAPACITY_TYPE);
        self.offerings.iter().filter(move |o| {
            o.available
                && zone.is_none_or(|z| z.has(&o.zone))
                && ct.is_none_or(|c| c.has(o.capacity_type.as_str()))
        })
    }

    /// The cheapest available offering compatible with the requirements.
    pub fn cheapest_offering<'a>(&'a self, reqs: &'a Requirements) -> Option<&'a Offering> {
        self.compatible_offerings(reqs)
            .min_by(|a, b| a.price.cmp(&b.price).then_with(|| a.zone.cmp(&b.zone)))
    }

    /// The label value of a key, if the type sets it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A catalog: the instance types of a region (or a synthetic set).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Catalog {
    /// Name, e.g. `aws/us-east-1`.
    pub name: String,
    /// Region label value, if any.
    #[serde(default)]
    pub region: Option<String>,
    /// The instance types, sorted by name.
    pub instance_types: Vec<InstanceType>,
    /// When its data was collected (free text, e.g. per source), if known.
    #[serde(default)]
    pub data_date: Option<String>,
}

impl Catalog {
    /// Look a type up by name.
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.instance_types
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.instance_types[i])
    }

    /// Sort the types by name (required by [`Catalog::get`]).
    pub fn sort(&mut self) {
        self.instance_types.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The types whose labels and offerings are compatible with the requirements.
    pub fn matching<'a>(
        &'a self,
        reqs: &'a Requirements,
    ) -> impl Iterator<Item = &'a InstanceType> {
        self.instance_types.iter().filter(move |t| {
            let own = Requirements::from_labels(&t.labels);
            reqs.keys.iter().all(|(k, vs)| match own.get_ref(k) {
                Some(v) => !v.intersect(vs).is_empty(),
                None if k == labels::ZONE || k == labels::CAPACITY_TYPE => true,
                None => vs.allow_absent,
            }) && t.compatible_offerings(reqs).next().is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::Operator;
    use crate::units::{Bytes, Millicores};

    fn it(name: &str, arch: &str, prices: &[(&str, CapacityType, i64)]) -> InstanceType {
        InstanceType {
            name: name.into(),
            labels: [
                (labels::INSTANCE_TYPE.to_string(), name.to_string()),
                (labels::ARCH.to_string(), arch.to_string()),
            ]
            .into(),
            capacity: Resources::new(Millicores(2000), Bytes::from_gib(4)).with_pods(10),
            overhead: Overhead::default(),
            offerings: prices
                .iter()
                .map(|(z, c, p)| Offering {
                    zone: z.to_string(),
                    capacity_type: *c,
                    price: Money(*p),
                    available: true,
                    interruption: None,
                })
                .collect(),
            aws_shape: None,
        }
    }

    #[test]
    fn cheapest_offering_respects_requirements() {
        let t = it(
            "a",
            "amd64",
            &[
                ("z1", CapacityType::Spot, 10),
                ("z2", CapacityType::OnDemand, 30),
                ("z1", CapacityType::OnDemand, 20),
            ],
        );
        assert_eq!(
            t.cheapest_offering(&Requirements::new()).unwrap().price,
            Money(10)
        );
        let od = Requirements::new()
            .with(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])
            .unwrap();
        assert_eq!(t.cheapest_offering(&od).unwrap().price, Money(20));
        let z2 = od.with(labels::ZONE, Operator::In, &["z2"]).unwrap();
        assert_eq!(t.cheapest_offering(&z2).unwrap().price, Money(30));
    }

    #[test]
    fn catalog_matching_filters_on_labels() {
        let mut c = Catalog {
            name: "t".into(),
            region: None,
            instance_types: vec![
                it("b", "arm64", &[("z1", CapacityType::Spot, 1)]),
                it("a", "amd64", &[("z1", CapacityType::Spot, 1)]),
            ],
            data_date: None,
        };
        c.sort();
        assert_eq!(c.get("b").unwrap().label(labels::ARCH), Some("arm64"));
        let arm = Requirements::new()
            .with(labels::ARCH, Operator::In, &["arm64"])
            .unwrap();
        let names: Vec<_> = c.matching(&arm).map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        let od = Requirements::new()
            .with(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])
            .unwrap();
        assert_eq!(c.matching(&od).count(), 0);
    }
}
