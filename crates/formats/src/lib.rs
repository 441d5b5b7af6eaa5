//! Every file format nodepack reads: Kubernetes manifests (Pod, Deployment, ReplicaSet,
//! StatefulSet, Job, DaemonSet, Node, `List`s, multi-document YAML or JSON), Karpenter
//! NodePool and EC2NodeClass YAML, instance type catalogs (the embedded AWS us-east-1
//! catalog, nodepack's native JSON, Karpenter's KWOK `instance_types.json`) and
//! Kubernetes quantities.
//!
//! Functions take the file's name and text and return model values, or a
//! [`FormatError`] naming the file, the document, the field path and the value. They do
//! no I/O themselves: the CLI reads the files. Fields that are not understood come back as
//! [`Warning`]s, never silently dropped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod catalog;
pub mod docs;
pub mod error;
#[cfg(feature = "sim")]
pub mod import;
#[cfg(feature = "kube-any-version")]
pub mod kube;
#[cfg(feature = "kube-any-version")]
mod names;
pub mod nodepool;
pub mod quantity;
pub mod scenario;
#[cfg(feature = "sim")]
pub mod sim_scenario;
#[cfg(feature = "sim")]
pub mod trace;

pub use catalog::{aws_us_east_1, read_catalog, DEFAULT_CATALOG};
pub use error::{FormatError, Warning};
#[cfg(feature = "kube-any-version")]
pub use kube::{read_workload, Workload};
pub use nodepool::read_nodepools;
pub use quantity::Quantity;
pub use scenario::{read_scenario, Scenario};
#[cfg(feature = "sim")]
pub use sim_scenario::{read_sim_scenario, SimScenario, WorkloadSource};
#[cfg(feature = "sim")]
pub use trace::{read_trace, write_trace_line};
