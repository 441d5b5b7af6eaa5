//! Well-known label keys of Kubernetes, Karpenter and its AWS provider.

/// Instance type name.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// CPU architecture: `amd64` or `arm64`.
pub const ARCH: &str = "kubernetes.io/arch";
/// Operating system: `linux`.
pub const OS: &str = "kubernetes.io/os";
/// Zone.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Region.
pub const REGION: &str = "topology.kubernetes.io/region";
/// Node name.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// Capacity type: `spot`, `on-demand` or `reserved`.
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// The NodePool that made the node.
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// AWS zone id (e.g. `use1-az1`).
pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
/// Instance category (`c`, `m`, `r`, `g`, ...).
pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
/// Instance family (`m5`, `c7g`, ...).
pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
/// Instance generation (integer).
pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
/// Instance size (`large`, `2xlarge`, `metal`, ...).
pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
/// vCPU count (integer).
pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
/// CPU manufacturer.
pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
/// Memory in MiB (integer).
pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
/// Hypervisor (`nitro`, `xen`, empty for metal).
pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
/// Network bandwidth in Mbps.
pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
/// Local NVMe storage in GiB.
pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
/// GPU count (integer).
pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
/// GPU name (`a100`, `t4`, ...).
pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
/// GPU manufacturer.
pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
/// GPU memory per GPU in MiB.
pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
/// Accelerator (Inferentia/Trainium) name.
pub const INSTANCE_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
/// Accelerator count.
pub const INSTANCE_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";

/// Keys whose values come from the instance type, zone or capacity type rather than from
/// the node pool: a pod may require them even when the pool does not mention them.
pub fn is_well_known(key: &str) -> bool {
    matches!(
        key,
        INSTANCE_TYPE | ARCH | OS | ZONE | REGION | CAPACITY_TYPE | NODEPOOL | ZONE_ID
    ) || key.starts_with("karpenter.k8s.aws/")
}
