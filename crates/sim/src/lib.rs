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
//! ```
//! use nodepack_model::{Millis, NodePool};
//! use nodepack_sim::{config::*, engine::{run, SimInput}, generate::generate};
//!
//! let catalog = nodepack_testkit::catalog();
//! let pools = vec![NodePool::new("default")];
//! let settings = Settings::new(Millis::from_mins(30), 7);
//! let g = Generator {
//!     services: vec![ServiceGen::new("web", 500, 512, 6)],
//!     jobs: vec![],
//! };
//! let trace = generate(&g, settings.horizon, settings.seed);
//! let input = SimInput { settings: &settings, nodepools: &pools, catalog: &catalog, trace: &trace, pdbs: &[] };
//! let mut a = nodepack_sim::autoscaler::by_name("nodepack").unwrap();
//! let r = run(input, a.as_mut());
//! assert_eq!(r.summary.pods_scheduled, 6);
//! assert!(r.summary.cost_usd >= r.summary.lower_bound_usd);
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
pub mod rng;
pub mod stats;

pub use autoscaler::{by_name, Autoscaler, AUTOSCALERS};
pub use engine::{run, run_with_pairs, SimInput, SimResult};
