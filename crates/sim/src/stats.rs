//! Statistics over replicated runs (the same scenario under several seeds): each
//! metric's mean with a 95% confidence interval (Student's t), and paired differences
//! between two strategies on the same seeds. Replays of one seed share every random draw
//! of the environment (common random numbers), so the paired interval is the one to
//! read when asking whether one strategy beats another.
//!
//! Sums run in the order of the runs given, so results do not depend on anything else.

use crate::metrics::Summary;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeMap;

/// The most seeds a comparison replays (each seed is a full replay per strategy).
pub const MAX_SEEDS: u64 = 1_000;

/// A sample's mean with its two-sided 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Sample size.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Lower end of the 95% interval (the mean itself when `n` is 1).
    pub ci95_low: f64,
    /// Upper end of the 95% interval.
    pub ci95_high: f64,
}

/// The two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(t) => t.inverse_cdf(0.975),
        Err(_) => f64::NAN,
    }
}

impl Interval {
    /// Mean and 95% t-interval of `xs` (`None` when empty).
    pub fn of(xs: &[f64]) -> Option<Interval> {
        let n = xs.len();
        if n == 0 {
            return None;
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Some(Interval {
                n,
                mean,
                ci95_low: mean,
                ci95_high: mean,
            });
        }
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        Some(Interval {
            n,
            mean,
            ci95_low: mean - half,
            ci95_high: mean + half,
        })
    }

    /// Does the interval exclude zero (a difference this sample resolves)?
    pub fn excludes_zero(&self) -> bool {
        self.ci95_low > 0.0 || self.ci95_high < 0.0
    }
}

/// The metrics the statistics cover, with how each is read off a summary.
pub const METRICS: &[(&str, fn(&Summary) -> f64)] = &[
    ("cost_usd", |s| s.cost.usd()),
    ("cost_on_demand_usd", |s| s.cost_on_demand.usd()),
    ("pending_p50_s", |s| s.pending.p50.secs_f64()),
    ("pending_p99_s", |s| s.pending.p99.secs_f64()),
    ("evictions_per_node_hour", |s| s.evictions_per_node_hour),
    ("nodes_launched", |s| s.nodes_launched as f64),
    ("pods_unschedulable", |s| s.pods_unschedulable as f64),
    ("deleted_before_binding", |s| {
        s.deleted_before_binding as f64
    }),
];

/// A paired difference of one metric: `strategy - against`, seed by seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedMetric {
    /// The absolute difference.
    #[serde(flatten)]
    pub diff: Interval,
    /// The relative difference `strategy / against - 1`, seed by seed (absent when
    /// `against` is 0 on some seed).
    pub relative: Option<Interval>,
}

/// Two strategies compared on the seeds both ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paired {
    /// The strategy.
    pub strategy: String,
    /// The one it is compared with.
    pub against: String,
    /// Per metric.
    pub metrics: BTreeMap<String, PairedMetric>,
}

/// Statistics of a set of runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statistics {
    /// Seeds per strategy.
    pub seeds: usize,
    /// Per strategy, per metric: mean and interval.
    pub strategies: BTreeMap<String, BTreeMap<String, Interval>>,
    /// Every pair of strategies (in the order first seen), compared seed by seed.
    pub paired: Vec<Paired>,
}

impl Statistics {
    /// Statistics of `runs` (strategies in the order they first appear).
    pub fn of(runs: &[Summary]) -> Statistics {
        let mut order: Vec<&str> = Vec::new();
        let mut by: BTreeMap<&str, BTreeMap<u64, &Summary>> = BTreeMap::new();
        for r in runs {
            if !order.contains(&r.strategy.as_str()) {
                order.push(&r.strategy);
            }
            by.entry(&r.strategy).or_default().insert(r.seed, r);
        }
        let strategies = order
            .iter()
            .map(|&s| {
                let rs: Vec<&Summary> = by[s].values().copied().collect();
                let m = METRICS
                    .iter()
                    .filter_map(|(name, f)| {
                        let xs: Vec<f64> = rs.iter().map(|r| f(r)).collect();
                        Interval::of(&xs).map(|i| (name.to_string(), i))
                    })
                    .collect();
                (s.to_string(), m)
            })
            .collect();
        let mut paired = Vec::new();
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i + 1..] {
                let common: Vec<(&Summary, &Summary)> = by[a]
                    .iter()
                    .filter_map(|(seed, ra)| by[b].get(seed).map(|rb| (*ra, *rb)))
                    .collect();
                let metrics = METRICS
                    .iter()
                    .filter_map(|(name, f)| {
                        let d: Vec<f64> = common.iter().map(|(x, y)| f(x) - f(y)).collect();
                        let rel: Option<Vec<f64>> = common
                            .iter()
                            .map(|(x, y)| (f(y) > 0.0).then(|| f(x) / f(y) - 1.0))
                            .collect();
                        Some((
                            name.to_string(),
                            PairedMetric {
                                diff: Interval::of(&d)?,
                                relative: rel.and_then(|r| Interval::of(&r)),
                            },
                        ))
                    })
                    .collect();
                paired.push(Paired {
                    strategy: a.to_string(),
                    against: b.to_string(),
                    metrics,
                });
            }
        }
        Statistics {
            seeds: by.values().map(|m| m.len()).max().unwrap_or(0),
            strategies,
            paired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    /// Against a known sample: 1..5 has mean 3, standard error sqrt(2.5/5) and
    /// t(0.975, 4) = 2.776, so the interval is 3 -/+ 1.963.
    #[test]
    fn interval_of_a_known_sample() {
        let i = Interval::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!(close(i.mean, 3.0));
        assert!(close(i.ci95_low, 1.0368), "{i:?}");
        assert!(close(i.ci95_high, 4.9632), "{i:?}");
        assert!(close(t975(1), 12.7062) && close(t975(9), 2.2622) && close(t975(1000), 1.9623));
        let one = Interval::of(&[7.0]).unwrap();
        assert_eq!((one.ci95_low, one.ci95_high), (7.0, 7.0));
        assert!(Interval::of(&[]).is_none());
    }

    fn run(strategy: &str, seed: u64, cost: f64) -> Summary {
        Summary {
            strategy: strategy.into(),
            seed,
            cost: nodepack_model::Money::from_usd(cost),
            ..Summary::default()
        }
    }

    /// Paired differences pair runs by seed: a constant 10% saving has a zero-width
    /// relative interval even though the costs vary a lot between seeds.
    #[test]
    fn paired_differences_pair_by_seed() {
        let runs: Vec<Summary> = [(1, 100.0), (2, 300.0), (3, 200.0)]
            .iter()
            .flat_map(|&(seed, c)| [run("a", seed, 0.9 * c), run("b", seed, c)])
            .collect();
        let s = Statistics::of(&runs);
        assert_eq!(s.seeds, 3);
        assert_eq!(s.paired.len(), 1);
        let p = &s.paired[0].metrics["cost_usd"];
        let rel = p.relative.unwrap();
        assert!(close(rel.mean, -0.1) && close(rel.ci95_low, -0.1) && close(rel.ci95_high, -0.1));
        assert!(close(p.diff.mean, -20.0));
        // Unpaired, the means' intervals overlap widely.
        let a = s.strategies["a"]["cost_usd"];
        let b = s.strategies["b"]["cost_usd"];
        assert!(a.ci95_high > b.ci95_low);
    }
}
