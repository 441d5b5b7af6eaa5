//! The front door of the simulator: a [`Replay`] built step by step (pools, catalog,
//! workload, autoscaler, seed, horizon) and run to a [`SimResult`].

use crate::autoscaler::{by_name, Autoscaler};
use crate::config::{Generator, Settings, TraceEvent};
use crate::engine::{run, SimInput, SimResult};
use nodepack_model::{Catalog, Millis, NodePool, PodDisruptionBudget};
use std::sync::Arc;

/// The longest horizon a replay accepts: ten years of simulated time.
pub const MAX_HORIZON: Millis = Millis(10 * 366 * 24 * 3_600_000);

/// Why a replay could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The autoscaler name is not known.
    #[error("unknown autoscaler {0:?} (known: {known})", known = crate::AUTOSCALERS.join(", "))]
    UnknownAutoscaler(String),
    /// No autoscaler was chosen.
    #[error("no autoscaler chosen")]
    NoAutoscaler,
    /// The horizon is zero or longer than [`MAX_HORIZON`].
    #[error("horizon {0} ms is outside (0, {max}] ms", max = MAX_HORIZON.0)]
    Horizon(u64),
}

enum Workload {
    Trace(Vec<TraceEvent>),
    Generated(Generator),
}

/// A replay to run: node pools and a catalog, a workload (a trace or a generator), an
/// autoscaler, a seed and a horizon (one hour and seed 1 unless set). It is `Send`, and
/// so is its result: replays run on worker threads.
///
/// See the crate's front page for an example.
#[must_use]
pub struct Replay {
    nodepools: Vec<NodePool>,
    catalog: Arc<Catalog>,
    settings: Settings,
    workload: Workload,
    pdbs: Vec<PodDisruptionBudget>,
    autoscaler: Result<Option<Box<dyn Autoscaler>>, ReplayError>,
}

impl Replay {
    /// A replay of an empty workload over one hour with seed 1 and no autoscaler yet.
    pub fn new(nodepools: Vec<NodePool>, catalog: impl Into<Arc<Catalog>>) -> Self {
        Replay {
            nodepools,
            catalog: catalog.into(),
            settings: Settings::new(Millis::from_mins(60), 1),
            workload: Workload::Trace(vec![]),
            pdbs: vec![],
            autoscaler: Ok(None),
        }
    }

    /// Replay these trace events (sorted by time, as [`crate::config::TraceEvent`]s).
    pub fn trace(mut self, events: Vec<TraceEvent>) -> Self {
        self.workload = Workload::Trace(events);
        self
    }

    /// Replay the workload this generator makes for the horizon and seed.
    pub fn generator(mut self, g: Generator) -> Self {
        self.workload = Workload::Generated(g);
        self
    }

    /// An autoscaler by name (`nodepack`, `nodepack-lean`, `karpenter`,
    /// `cluster-autoscaler`, `static`); an unknown name is an error when run.
    pub fn autoscaler(mut self, name: &str) -> Self {
        self.autoscaler = by_name(name)
            .map(Some)
            .ok_or_else(|| ReplayError::UnknownAutoscaler(name.to_string()));
        self
    }

    /// An autoscaler value (your own, or a configured built-in one).
    pub fn autoscaler_value(mut self, a: Box<dyn Autoscaler>) -> Self {
        self.autoscaler = Ok(Some(a));
        self
    }

    /// Simulated time.
    pub fn horizon(mut self, horizon: Millis) -> Self {
        self.settings.horizon = horizon;
        self
    }

    /// The seed of every random stream.
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = seed;
        self
    }

    /// Every setting at once (cloud model, samples...), horizon and seed included.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Pod disruption budgets.
    pub fn pdbs(mut self, pdbs: Vec<PodDisruptionBudget>) -> Self {
        self.pdbs = pdbs;
        self
    }

    /// Run the replay.
    pub fn run(self) -> Result<SimResult, ReplayError> {
        let h = self.settings.horizon;
        if h.0 == 0 || h > MAX_HORIZON {
            return Err(ReplayError::Horizon(h.0));
        }
        let mut autoscaler = self.autoscaler?.ok_or(ReplayError::NoAutoscaler)?;
        let generated;
        let trace = match &self.workload {
            Workload::Trace(t) => t.as_slice(),
            Workload::Generated(g) => {
                generated = crate::generate::generate(g, h, self.settings.seed);
                generated.as_slice()
            }
        };
        let input = SimInput {
            settings: &self.settings,
            nodepools: &self.nodepools,
            catalog: &self.catalog,
            trace,
            pdbs: &self.pdbs,
        };
        Ok(run(input, autoscaler.as_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn replays_and_results_cross_threads() {
        assert_send::<Replay>();
        assert_send::<SimResult>();
        assert_send::<Box<dyn Autoscaler>>();
    }

    /// A replay's summary reads back from its JSON (the `--output json` object).
    #[test]
    fn summaries_round_trip_through_json() {
        use nodepack_model::{
            Bytes, CapacityType, InstanceType, Millicores, Money, Offering, Resources,
        };
        let cap = Resources::new(Millicores(4000), Bytes::from_gib(16)).with_pods(58);
        let t = InstanceType::new("m.xlarge", cap)
            .with_offering(Offering::new(
                "z1",
                CapacityType::OnDemand,
                Money::from_usd(0.192),
            ))
            .with_offering(Offering::new(
                "z1",
                CapacityType::Spot,
                Money::from_usd(0.071),
            ));
        let g = Generator {
            services: vec![crate::config::ServiceGen::new(
                "web",
                Millicores(700),
                Bytes::from_mib(900),
                9,
            )],
            jobs: vec![],
        };
        let r = Replay::new(vec![NodePool::new("default")], Catalog::new("t", vec![t]))
            .generator(g)
            .autoscaler("nodepack")
            .horizon(Millis::from_mins(45))
            .run()
            .unwrap();
        assert!(r.summary.cost > nodepack_model::Money::ZERO);
        let json = serde_json::to_string(&r.summary).unwrap();
        let back: crate::metrics::Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r.summary);
    }

    #[test]
    fn bad_choices_are_errors() {
        let r = || Replay::new(vec![], Catalog::new("empty", vec![]));
        assert_eq!(r().run().err(), Some(ReplayError::NoAutoscaler));
        assert_eq!(
            r().autoscaler("karpentr").run().err(),
            Some(ReplayError::UnknownAutoscaler("karpentr".into()))
        );
        let e = ReplayError::UnknownAutoscaler("karpentr".into()).to_string();
        assert!(
            e.ends_with("(known: nodepack, nodepack-lean, karpenter, cluster-autoscaler, static)"),
            "{e}"
        );
        assert_eq!(
            r().autoscaler("static").horizon(Millis(0)).run().err(),
            Some(ReplayError::Horizon(0))
        );
    }
}
