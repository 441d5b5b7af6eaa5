//! A deterministic discrete-event simulator of a Kubernetes cluster, its cloud and its
//! autoscaler: replay a trace (or a generated workload) and measure dollars, pod latency,
//! spot interruptions and churn, for several autoscalers driven by the same environment.
//!
//! - [`Replay`] (or [`run`] with a [`SimInput`]): the event loop (integer milliseconds;
//!   a heap ordered by time, phase and sequence number; the sorted trace merged in
//!   lazily).
//! - The cluster (its types in [`internals`]): pods and nodes with their lifecycles, and
//!   the kube-scheduler model.
//! - The cloud ([`config::CloudConfig`]): launch latency, insufficient capacity, spot
//!   interruptions and prices, billing.
//! - [`autoscaler`]: `karpenter`, `nodepack`, `cluster-autoscaler`, `static`.
//! - One named, portable random stream per concern (private).
//! - [`generate`]: workload generators; [`metrics`]: what a replay reports;
//!   [`stats`]: paired comparisons over seeds.
//!
//! No I/O, no clock, no thread-local randomness: the same input and seed give the same
//! result, byte for byte.
//!
//! Getting started: a [`Replay`] of a generated workload under an autoscaler.
//!
//! ```
//! use nodepack_model::*;
//! use nodepack_sim::config::{Generator, ServiceGen};
//! use nodepack_sim::Replay;
//!
//! let m5 = InstanceType::new("m.large", Resources::new(Millicores(2000), Bytes::from_gib(8)).with_pods(29))
//!     .with_offering(Offering::new("z1", CapacityType::OnDemand, Money::from_usd(0.096)));
//! let result = Replay::new(vec![NodePool::new("default")], Catalog::new("demo", vec![m5]))
//!     .generator(Generator { services: vec![ServiceGen::new("web", Millicores(500), Bytes::from_mib(512), 6)], jobs: vec![] })
//!     .autoscaler("nodepack")
//!     .horizon(Millis::from_mins(30))
//!     .seed(7)
//!     .run()
//!     .unwrap();
//! assert_eq!(result.summary.pods_scheduled, 6);
//! assert!(result.summary.cost.usd() >= result.summary.lower_bound.usd());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod autoscaler;
mod cloud;
mod cluster;
pub mod config;
mod engine;
mod generate;
pub mod metrics;
mod queue;
mod replay;
mod rng;
pub mod stats;

pub use replay::{Replay, ReplayError, MAX_HORIZON};

/// The simulator's parts, for custom autoscalers, tests and benchmarks: the cluster
/// state an autoscaler reads, the event queue, a replay that also returns the final
/// cluster. They change with the simulator: not part of the stable API.
pub mod internals {
    pub use crate::cluster::{Cluster, NodeLife, PodPhase, SimNode, SimPod};
    pub use crate::engine::run_debug;
    pub use crate::queue::{Next, Phase, Queue};
}

/// The names most programs need: `use nodepack_sim::prelude::*;`.
pub mod prelude {
    pub use crate::config::{Generator, JobGen, ServiceGen, Settings, TraceEvent};
    pub use crate::metrics::Summary;
    pub use crate::{Autoscaler, Replay, ReplayError, SimResult};
}

pub use autoscaler::{by_name, Autoscaler, AUTOSCALERS};
pub use engine::{run, run_with_pairs, SimInput, SimResult};
pub use generate::{budgets, generate, replicas_at};
