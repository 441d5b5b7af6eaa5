//! Karpenter's AWS formulas for node capacity and overhead, and the kubelet settings of
//! an `EC2NodeClass` that override them.
//!
//! Mirrors karpenter-provider-aws v1.14 behaviour as documented: the VM memory overhead
//! is 7.5% of the reported memory (rounded up to a MiB); kube-reserved CPU is 6% of the
//! first core, 1% of the second, 0.5% of cores 3-4 and 0.25% of each further core;
//! kube-reserved memory is 11 MiB per max pod plus 255 MiB; kube-reserved ephemeral
//! storage is 1 GiB; the hard eviction threshold is 100 MiB of memory and 10% of the
//! root volume; max pods is the VPC CNI ENI limit unless the kubelet says otherwise.

use crate::instance_type::Overhead;
use crate::resources::Resources;
use crate::units::{Bytes, Millicores, GIB, MIB};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// VM memory overhead in per-mille of the reported memory (Karpenter's default 0.075).
pub const VM_MEMORY_OVERHEAD_PERMILLE: u64 = 75;
/// Extra memory overhead of arm64 types, in MiB. Karpenter's documented allocatable of
/// every one of the 396 arm64 types (and of no amd64 type) is 59 MiB below what the 7.5%
/// VM overhead formula gives; we model that as a constant, measured from the data.
pub const ARM64_EXTRA_MEMORY_OVERHEAD_MIB: u64 = 59;
/// Default root volume size of an AL2023 node (20 GiB).
pub const DEFAULT_ROOT_VOLUME: Bytes = Bytes(20 * GIB);

/// A hard eviction threshold: an absolute amount or a share of capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Threshold {
    /// An absolute amount in the resource's unit (bytes).
    Amount(u64),
    /// A share of capacity in hundredths of a percent (basis points).
    BasisPoints(u32),
}

impl Threshold {
    fn of(self, capacity: u64) -> u64 {
        match self {
            Threshold::Amount(a) => a,
            Threshold::BasisPoints(bp) => ((capacity as u128 * bp as u128).div_ceil(10_000)) as u64,
        }
    }
}

/// Kubelet settings of a node class (`EC2NodeClass.spec.kubelet`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KubeletConfig {
    /// `maxPods`.
    #[serde(default)]
    pub max_pods: Option<u64>,
    /// `podsPerCore`.
    #[serde(default)]
    pub pods_per_core: Option<u64>,
    /// `kubeReserved`, replacing the computed values for the resources it names.
    #[serde(default)]
    pub kube_reserved: Option<Resources>,
    /// `systemReserved`.
    #[serde(default)]
    pub system_reserved: Option<Resources>,
    /// `evictionHard` by signal: `memory.available`, `nodefs.available`, ...
    #[serde(default)]
    pub eviction_hard: BTreeMap<String, Threshold>,
}

/// The facts about an AWS instance type that the formulas need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsShape {
    /// vCPUs.
    pub vcpu: u64,
    /// Memory as EC2 reports it, in MiB.
    pub memory_mib: u64,
    /// Max pods by the VPC CNI ENI formula: ENIs x (IPv4 per ENI - 1) + 2.
    pub eni_max_pods: u64,
    /// Extended resources the type exposes (GPUs, Neuron, EFA, pod ENIs).
    pub extended: BTreeMap<String, u64>,
    /// Graviton (arm64) type: see [`ARM64_EXTRA_MEMORY_OVERHEAD_MIB`].
    #[serde(default)]
    pub arm64: bool,
}

/// Max pods: ENIs x (IPv4 addresses per ENI - 1) + 2 (VPC CNI formula).
pub fn eni_max_pods(enis: u64, ipv4_per_eni: u64) -> u64 {
    enis * ipv4_per_eni.saturating_sub(1) + 2
}

/// kube-reserved CPU for `vcpu` cores.
pub fn kube_reserved_cpu(vcpu: u64) -> Millicores {
    // In tenths of a millicore per core: 6% of 1000m = 600, 1% = 100, 0.5% = 50,
    // 0.25% = 25.
    let mut tenths = 0u64;
    for core in 0..vcpu {
        tenths += match core {
            0 => 600,
            1 => 100,
            2 | 3 => 50,
            _ => 25,
        };
    }
    Millicores(tenths / 10)
}

/// kube-reserved memory for a node with `max_pods` pods: 11 MiB x pods + 255 MiB.
pub fn kube_reserved_memory(max_pods: u64) -> Bytes {
    Bytes::from_mib(11 * max_pods + 255)
}

/// Capacity and overhead of an AWS instance type under the given kubelet settings.
pub fn capacity_and_overhead(shape: &AwsShape, kubelet: &KubeletConfig) -> (Resources, Overhead) {
    let mut vm_overhead_mib = (shape.memory_mib * VM_MEMORY_OVERHEAD_PERMILLE).div_ceil(1000);
    if shape.arm64 {
        vm_overhead_mib += ARM64_EXTRA_MEMORY_OVERHEAD_MIB;
    }
    let mut pods = shape.eni_max_pods;
    if let Some(ppc) = kubelet.pods_per_core {
        pods = pods.min(ppc * shape.vcpu);
    }
    if let Some(mp) = kubelet.max_pods {
        pods = mp;
    }
    let capacity = Resources {
        cpu: Millicores::from_cores(shape.vcpu),
        memory: Bytes::from_mib(shape.memory_mib.saturating_sub(vm_overhead_mib)),
        ephemeral_storage: DEFAULT_ROOT_VOLUME,
        pods,
        extended: shape.extended.clone(),
    };
    let mut kube = Resources {
        cpu: kube_reserved_cpu(shape.vcpu),
        memory: kube_reserved_memory(pods),
        ephemeral_storage: Bytes::from_gib(1),
        ..Default::default()
    };
    if let Some(kr) = &kubelet.kube_reserved {
        override_nonzero(&mut kube, kr);
    }
    let system = kubelet.system_reserved.clone().unwrap_or_default();
    let mem_evict = kubelet
        .eviction_hard
        .get("memory.available")
        .copied()
        .unwrap_or(Threshold::Amount(100 * MIB));
    let fs_evict = kubelet
        .eviction_hard
        .get("nodefs.available")
        .copied()
        .unwrap_or(Threshold::BasisPoints(1000));
    let eviction = Resources {
        memory: Bytes(mem_evict.of(capacity.memory.0)),
        ephemeral_storage: Bytes(fs_evict.of(capacity.ephemeral_storage.0)),
        ..Default::default()
    };
    (
        capacity,
        Overhead {
            kube_reserved: kube,
            system_reserved: system,
            eviction_threshold: eviction,
        },
    )
}

fn override_nonzero(base: &mut Resources, o: &Resources) {
    if o.cpu.0 > 0 {
        base.cpu = o.cpu;
    }
    if o.memory.0 > 0 {
        base.memory = o.memory;
    }
    if o.ephemeral_storage.0 > 0 {
        base.ephemeral_storage = o.ephemeral_storage;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(vcpu: u64, mib: u64, pods: u64) -> Resources {
        let (c, o) = capacity_and_overhead(
            &AwsShape {
                vcpu,
                memory_mib: mib,
                eni_max_pods: pods,
                extended: BTreeMap::new(),
                arm64: false,
            },
            &KubeletConfig::default(),
        );
        c.saturating_sub(&o.total())
    }

    #[test]
    fn m5_large_matches_karpenter_docs() {
        // Karpenter docs: m5.large allocatable 1930m / 6903Mi / 17Gi / 29 pods.
        let a = alloc(2, 8192, eni_max_pods(3, 10));
        assert_eq!(a.cpu, Millicores(1930));
        assert_eq!(a.memory, Bytes::from_mib(6903));
        assert_eq!(a.ephemeral_storage, Bytes::from_gib(17));
        assert_eq!(a.pods, 29);
    }

    #[test]
    fn kubelet_overrides_apply() {
        let shape = AwsShape {
            vcpu: 2,
            memory_mib: 8192,
            eni_max_pods: 29,
            extended: BTreeMap::new(),
            arm64: false,
        };
        let k = KubeletConfig {
            max_pods: Some(110),
            kube_reserved: Some(Resources::new(Millicores(200), Bytes(0))),
            eviction_hard: [("memory.available".to_string(), Threshold::BasisPoints(500))].into(),
            ..Default::default()
        };
        let (c, o) = capacity_and_overhead(&shape, &k);
        assert_eq!(c.pods, 110);
        assert_eq!(o.kube_reserved.cpu, Millicores(200));
        assert_eq!(o.kube_reserved.memory, kube_reserved_memory(110));
        assert_eq!(
            o.eviction_threshold.memory.0,
            (c.memory.0 * 5).div_ceil(100)
        );
        let ppc = KubeletConfig {
            pods_per_core: Some(4),
            ..Default::default()
        };
        assert_eq!(capacity_and_overhead(&shape, &ppc).0.pods, 8);
    }

    #[test]
    fn cpu_reservation_steps() {
        assert_eq!(kube_reserved_cpu(1), Millicores(60));
        assert_eq!(kube_reserved_cpu(2), Millicores(70));
        assert_eq!(kube_reserved_cpu(4), Millicores(80));
        assert_eq!(kube_reserved_cpu(96), Millicores(310));
    }
}
