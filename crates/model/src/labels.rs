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

/// Every label key Karpenter (v1, with its AWS provider) knows, so that a NodePool or a
/// pod may narrow its values: the core set (`WellKnownLabels` of `pkg/apis/v1/labels.go`
/// in kubernetes-sigs/karpenter) and the AWS provider's additions (its
/// `pkg/apis/v1/labels.go`).
pub const KARPENTER_WELL_KNOWN: &[&str] = &[
    NODEPOOL,
    ZONE,
    REGION,
    INSTANCE_TYPE,
    ARCH,
    OS,
    CAPACITY_TYPE,
    "node.kubernetes.io/windows-build",
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-type",
    "karpenter.k8s.aws/capacity-reservation-interruptible",
    INSTANCE_HYPERVISOR,
    "karpenter.k8s.aws/instance-encryption-in-transit-supported",
    "karpenter.k8s.aws/instance-nitro-enclaves-supported",
    INSTANCE_CATEGORY,
    "karpenter.k8s.aws/instance-capability-flex",
    INSTANCE_FAMILY,
    INSTANCE_GENERATION,
    INSTANCE_SIZE,
    INSTANCE_LOCAL_NVME,
    INSTANCE_CPU,
    INSTANCE_CPU_MANUFACTURER,
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    INSTANCE_MEMORY,
    "karpenter.k8s.aws/instance-ebs-bandwidth",
    INSTANCE_NETWORK_BANDWIDTH,
    INSTANCE_GPU_NAME,
    INSTANCE_GPU_MANUFACTURER,
    INSTANCE_GPU_COUNT,
    INSTANCE_GPU_MEMORY,
    INSTANCE_ACCELERATOR_NAME,
    "karpenter.k8s.aws/instance-accelerator-manufacturer",
    INSTANCE_ACCELERATOR_COUNT,
    ZONE_ID,
    "karpenter.k8s.aws/instance-tenancy",
    "karpenter.k8s.aws/placement-group-id",
    "karpenter.k8s.aws/placement-group-partition",
];

/// Label domains Karpenter reserves (`RestrictedLabelDomains`: `karpenter.sh`, and the
/// AWS provider's `karpenter.k8s.aws`): a requirement key in one of them, or in a
/// subdomain, must be one of [`KARPENTER_WELL_KNOWN`].
pub const RESTRICTED_DOMAINS: &[&str] = &["karpenter.sh", "karpenter.k8s.aws"];

/// Why a NodePool requirement on `key` is refused, as Karpenter's NodePool validation
/// refuses it (`IsRestrictedLabel`): a key in a restricted domain that Karpenter does
/// not know, or `kubernetes.io/hostname`. `None` when allowed.
pub fn restricted_requirement_key(key: &str) -> Option<String> {
    if KARPENTER_WELL_KNOWN.contains(&key) {
        return None;
    }
    if key == HOSTNAME {
        return Some(format!("label {HOSTNAME} is restricted"));
    }
    let domain = key.split_once('/').map(|(d, _)| d)?;
    let restricted = RESTRICTED_DOMAINS
        .iter()
        .find(|r| domain == **r || domain.ends_with(&format!(".{r}")))?;
    Some(format!(
        "label domain {restricted:?} is restricted: only Karpenter's well-known labels may be used in it{}",
        nearest_known_key(key)
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default()
    ))
}

/// The well-known key (Karpenter's, plus `kubernetes.io/hostname`) closest to `key` by
/// edit distance, when at most 3 edits away and not `key` itself: the suggestion for a
/// likely typo.
pub fn nearest_known_key(key: &str) -> Option<&'static str> {
    KARPENTER_WELL_KNOWN
        .iter()
        .chain(std::iter::once(&HOSTNAME))
        .filter(|k| **k != key)
        .map(|k| (strsim::levenshtein(k, key), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Karpenter's NodePool validation (`IsRestrictedLabel`, kubernetes-sigs/karpenter
    /// pkg/apis/v1/labels.go, with the AWS provider's `karpenter.k8s.aws` domain): keys
    /// in a restricted domain must be well known; other domains are custom labels.
    #[test]
    fn restricted_domains_allow_only_well_known_keys() {
        assert_eq!(restricted_requirement_key(INSTANCE_FAMILY), None);
        assert_eq!(restricted_requirement_key(CAPACITY_TYPE), None);
        assert_eq!(restricted_requirement_key("example.com/team"), None);
        assert_eq!(restricted_requirement_key("kubernetes.io/archh"), None);
        let e = restricted_requirement_key("karpenter.k8s.aws/instance-famly").unwrap();
        assert!(
            e.contains("did you mean karpenter.k8s.aws/instance-family?"),
            "{e}"
        );
        assert!(restricted_requirement_key("karpenter.sh/capacity").is_some());
        assert!(restricted_requirement_key("x.karpenter.sh/y").is_some());
        assert!(restricted_requirement_key(HOSTNAME).is_some());
    }

    #[test]
    fn typos_suggest_the_nearest_well_known_key() {
        assert_eq!(nearest_known_key("kubernetes.io/archh"), Some(ARCH));
        assert_eq!(nearest_known_key("topology.kubernetes.io/zon"), Some(ZONE));
        assert_eq!(nearest_known_key("example.com/team"), None);
        assert_ne!(nearest_known_key(ARCH), Some(ARCH));
    }
}
