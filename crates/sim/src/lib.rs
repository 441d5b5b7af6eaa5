//! A deterministic discrete-event simulator of a Kubernetes cluster, its cloud and its
//! autoscaler: replay a trace (or a generated workload) and measure dollars, pod latency,
//! spot interruptions and churn, for several autoscalers driven by the same environment.
//!
//! - [`engine`]: the event loop (integer milliseconds; a heap ordered by time, phase and
//!   sequence number; the sorted trace merged in lazily).
//! - [`cluster`]: pods and nodes with their lifecycles, and the kube-scheduler model.
//! - [`cloud`]: launch latency, insufficient capacity, spot interruptions and prices,
//!   billing.
//! - [`autoscaler`]: `karpenter`, `nodepack`, `cluster-autoscaler`, `static`.
//! - [`rng`]: one named, portable random stream per concern.
//! - [`generate`]: workload generators; [`metrics`]: what a replay reports.
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
//!     .generator(Generator { services: vec![ServiceGen::new("web", 500, 512, 6)], jobs: vec![] })
//!     .autoscaler("nodepack")
//!     .horizon(Millis::from_mins(30))
//!     .seed(7)
//!     .run()
//!     .unwrap();
//! assert_eq!(result.summary.pods_scheduled, 6);
//! assert!(result.summary.cost_usd >= result.summary.lower_bound_usd);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod autoscaler;
pub mod cloud;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod generate;
pub mod metrics;
pub mod queue;
mod replay;
pub mod rng;
pub mod stats;

pub use replay::{Replay, ReplayError, MAX_HORIZON};

pub use autoscaler::{by_name, Autoscaler, AUTOSCALERS};
pub use engine::{run, run_with_pairs, SimInput, SimResult};
