//! The domain model of nodepack: resources, the label requirements algebra, taints and
//! tolerations, pods, instance types and offerings, node pools and nodes, with Kubernetes
//! and Karpenter v1 semantics.
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
