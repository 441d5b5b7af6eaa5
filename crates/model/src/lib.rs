//! The domain model of nodepack: resources, the label requirements algebra, taints and
//! tolerations, pods, instance types and offerings, node pools and nodes, with Kubernetes
//! and Karpenter v1 semantics.
//!
//! Getting started: pods, a node pool and an instance type, built in code.
//!
//! ```
//! use nodepack_model::*;
//!
//! let pod = Pod::builder("shop", "web-0")
//!     .requests("500m", "1Gi")
//!     .label("app", "web")
//!     .zone_spread(1)
//!     .build()?;
//! let pool = NodePool::builder("general")
//!     .requirement("kubernetes.io/arch In amd64,arm64")
//!     .cpu_limit("1000")
//!     .build()?;
//! let m5 = InstanceType::new("m5.large", Resources::new(Millicores(2000), Bytes::from_gib(8)).with_pods(29))
//!     .with_label(labels::ARCH, "amd64")
//!     .with_offering(Offering::new("us-east-1a", CapacityType::Spot, Money::from_usd(0.035)));
//! assert!(pool.requirements.satisfied_by(&m5.labels));
//! assert!(!Requirements::parse("kubernetes.io/arch In arm64")?.satisfied_by(&m5.labels));
//! assert!(pod.requests.fits(&m5.allocatable()));
//! let catalog = Catalog::new("demo", vec![m5]);
//! assert_eq!(catalog.get("m5.large").unwrap().offerings[0].price.usd(), 0.035);
//! # Ok::<(), BuildError>(())
//! ```
//!
//! Architecture invariant: this crate does no I/O, reads no clock, has no randomness and
//! no unsafe code. It depends on serde only for deriving.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aws;
pub mod builder;
pub mod cron;
pub mod instance_type;
pub mod labels;
pub mod node;
pub mod nodepool;
pub mod pdb;
pub mod pod;
pub mod quantity;
pub mod requirements;
pub mod resources;
pub mod taints;
pub mod units;

pub use builder::{BuildError, NodePoolBuilder, PodBuilder};
pub use instance_type::{
    CapacityType, Catalog, InstanceType, InterruptionBucket, Offering, Overhead,
};
pub use node::{Node, NodeState};
pub use nodepool::{Disruption, Limits, NodePool};
pub use pdb::{IntOrPercent, PodDisruptionBudget};
pub use pod::{LabelMap, Pod, PodId};
pub use quantity::{Quantity, QuantityError};
pub use requirements::{Operator, Requirements, ValueSet};
pub use resources::Resources;
pub use taints::{Effect, Taint, Toleration};
pub use units::{Bytes, Millicores, Millis, Money};

/// The names most programs need: `use nodepack_model::prelude::*;`.
pub mod prelude {
    pub use crate::{
        labels, BuildError, Bytes, CapacityType, Catalog, InstanceType, Millicores, Millis, Money,
        Node, NodePool, Offering, Pod, PodId, Requirements, Resources, Taint, Toleration,
    };
}
