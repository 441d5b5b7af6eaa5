//! Every file format nodepack reads: Kubernetes manifests (Pod, Deployment, ReplicaSet,
//! StatefulSet, Job, DaemonSet, Node, `List`s, multi-document YAML or JSON), Karpenter
//! NodePool and EC2NodeClass YAML, instance type catalogs (the embedded AWS us-east-1
//! catalog, nodepack's native JSON, Karpenter's KWOK `instance_types.json`) and
//! Kubernetes quantities.
//!
//! Getting started: the embedded catalog, a Deployment and a NodePool.
//!
//! ```
//! let catalog = nodepack_formats::aws_us_east_1();
//! let deployment = "
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata: {name: api, namespace: shop}
//! spec:
//!   replicas: 3
//!   selector: {matchLabels: {app: api}}
//!   template:
//!     metadata: {labels: {app: api}}
//!     spec:
//!       containers: [{name: api, image: api, resources: {requests: {cpu: 250m, memory: 1Gi}}}]
//! ";
//! let workload = nodepack_formats::read_workload("api.yaml", deployment)?;
//! assert_eq!(workload.pending.len(), 3);
//! let nodepool = "
//! apiVersion: karpenter.sh/v1
//! kind: NodePool
//! metadata: {name: general}
//! spec:
//!   template:
//!     spec:
//!       requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, values: [m5]}]
//! ";
//! let (pools, warnings) = nodepack_formats::read_nodepools("pool.yaml", nodepool)?;
//! assert_eq!(pools[0].name, "general");
//! assert!(warnings.is_empty());
//! assert!(catalog.get("m5.large").is_some());
//! // Bad input names the file, the field path and the value.
//! let e = nodepack_formats::read_workload("bad.yaml", &deployment.replace("250m", "lots")).unwrap_err();
//! assert!(e.to_string().contains("bad.yaml"), "{e}");
//! # Ok::<(), nodepack_formats::FormatError>(())
//! ```
//!
//! Features: `kube` (default) reads Kubernetes manifests with k8s-openapi's Kubernetes
//! 1.33 types; `kube-any-version` instead leaves k8s-openapi's version feature to the
//! application; `sim` adds scenario YAML, JSONL traces and the public-trace importers
//! (it builds `nodepack-sim`).
//!
//! Functions take the file's name and text and return model values, or a
//! [`FormatError`] naming the file, the document, the field path and the value. They do
//! no I/O themselves: the CLI reads the files. Fields that are not understood come back as
//! [`Warning`]s, never silently dropped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod catalog;
pub mod docs;
mod error;
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

/// Helpers for programs that read values outside files (command-line flags) with the
/// same errors as the file formats: [`internals::Ctx`] names where a value came from.
/// They change with the formats: not part of the stable API.
pub mod internals {
    pub use crate::error::Ctx;
}
#[cfg(feature = "kube-any-version")]
pub use kube::{read_workload, Workload};
pub use nodepool::read_nodepools;
pub use quantity::Quantity;
pub use scenario::{read_scenario, Scenario};
#[cfg(feature = "sim")]
pub use sim_scenario::{read_sim_scenario, SimScenario, WorkloadSource};
#[cfg(feature = "sim")]
pub use trace::{read_trace, write_trace_line};

/// The names most programs need: `use nodepack_formats::prelude::*;`.
pub mod prelude {
    pub use crate::{aws_us_east_1, read_catalog, read_nodepools, FormatError, Warning};
    #[cfg(feature = "kube-any-version")]
    pub use crate::{read_workload, Workload};
}
