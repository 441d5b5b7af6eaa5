//! What a replay measures: dollars, pod latency, disruption and utilization, and the
//! time series behind the charts.

use nodepack_model::units::{hours, secs, usd};
use nodepack_model::{Millis, Money};
use serde::{Deserialize, Serialize};

/// Percentiles of a latency distribution (JSON: seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    #[serde(with = "secs")]
    pub p50: Millis,
    /// 90th percentile.
    #[serde(with = "secs")]
    pub p90: Millis,
    /// 99th percentile.
    #[serde(with = "secs")]
    pub p99: Millis,
    /// Maximum.
    #[serde(with = "secs")]
    pub max: Millis,
}

impl Percentiles {
    /// Nearest-rank percentiles of `v` (milliseconds).
    pub fn of(v: &mut [u64]) -> Self {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            Millis(v[rank - 1])
        };
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Millis(v[v.len() - 1]),
        }
    }
}

/// A pod that never ran, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unscheduled {
    /// namespace/name.
    pub pod: String,
    /// Why.
    pub reason: String,
}

/// One point of the time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sample {
    /// Time since the start (JSON: seconds).
    #[serde(with = "secs")]
    pub t: Millis,
    /// Cost rate of the live nodes per hour (JSON: dollars).
    #[serde(with = "usd")]
    pub cost_per_hour: Money,
    /// Cumulative cost billed so far (nodes still running count up to `t`; JSON:
    /// dollars).
    #[serde(with = "usd")]
    pub cost_so_far: Money,
    /// Live spot nodes, held ones apart.
    pub nodes_spot: u32,
    /// Live on-demand nodes, held ones apart.
    pub nodes_on_demand: u32,
    /// Live held nodes: the launch hedge's spares and headroom's warm nodes (billed, but
    /// no pod runs on them).
    pub nodes_held: u32,
    /// Pending pods.
    pub pending: u32,
    /// Running pods.
    pub running: u32,
    /// Requested over allocatable CPU on ready nodes.
    pub cpu_utilization: f64,
    /// Requested over allocatable memory on ready nodes.
    pub memory_utilization: f64,
}

/// The summary of one replay (the `--output json` object of `replay` and `compare`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// Autoscaler.
    pub strategy: String,
    /// Seed.
    pub seed: u64,
    /// Pods created by the trace.
    pub pods_total: u64,
    /// Pods that were bound at least once.
    pub pods_scheduled: u64,
    /// Pods never bound by the horizon (each listed in `unschedulable` with a reason).
    pub pods_unschedulable: u64,
    /// Pods the trace deleted before they were ever bound (they waited until then).
    /// Every pod is in exactly one of `pods_scheduled`, `pods_unschedulable` and this:
    /// `pods_total = pods_scheduled + pods_unschedulable + deleted_before_binding`.
    pub deleted_before_binding: u64,
    /// Pods that ran to completion.
    pub pods_completed: u64,
    /// Pods deleted by the trace.
    pub pods_deleted: u64,
    /// Pods running (or bound) at the horizon.
    pub pods_running_at_end: u64,
    /// Total cost (`cost_usd`).
    #[serde(rename = "cost_usd", with = "usd")]
    pub cost: Money,
    /// Spot part (`cost_spot_usd`).
    #[serde(rename = "cost_spot_usd", with = "usd")]
    pub cost_spot: Money,
    /// On-demand part (`cost_on_demand_usd`).
    #[serde(rename = "cost_on_demand_usd", with = "usd")]
    pub cost_on_demand: Money,
    /// Integrated fractional-LP lower bound of the pods kept running, rounded down to
    /// the micro-dollar (`lower_bound_usd`).
    #[serde(rename = "lower_bound_usd", with = "usd")]
    pub lower_bound: Money,
    /// Pod creation to first binding (`pending_seconds`).
    #[serde(rename = "pending_seconds")]
    pub pending: Percentiles,
    /// Pod creation to first running (`running_seconds`).
    #[serde(rename = "running_seconds")]
    pub running: Percentiles,
    /// Node time billed (`node_hours`).
    #[serde(rename = "node_hours", with = "hours")]
    pub node_time: Millis,
    /// Nodes launched.
    pub nodes_launched: u64,
    /// Nodes terminated before the horizon.
    pub nodes_terminated: u64,
    /// Launch attempts that failed for insufficient capacity.
    pub launch_failures: u64,
    /// Spot interruption notices.
    pub spot_interruptions: u64,
    /// Pod evictions (drains, interruptions, scale-down).
    pub pods_evicted: u64,
    /// Evictions caused by spot interruptions.
    pub interruption_restarts: u64,
    /// Eviction attempts a pod disruption budget refused (each retry counts).
    pub evictions_blocked: u64,
    /// Nodes disrupted voluntarily, by reason (`empty`, `underutilized`, `drifted`,
    /// `expired`).
    pub disruptions: std::collections::BTreeMap<String, u64>,
    /// Evictions by voluntary disruption (consolidation, drift, expiry, scale-down).
    pub evictions_disruption: u64,
    /// Voluntary evictions per node-hour billed.
    pub evictions_per_node_hour: f64,
    /// Estimated saving of consolidation: each executed move's drop in price per hour
    /// times the time left until the horizon (`consolidation_savings_usd`).
    #[serde(rename = "consolidation_savings_usd", with = "usd")]
    pub consolidation_savings: Money,
    /// Replacements that could not launch (the nodes they were to replace stayed).
    pub replacements_failed: u64,
    /// Churn: nodes launched per simulated hour.
    pub nodes_launched_per_hour: f64,
    /// Mean over the lower-bound samples of how much the live fleet's price per hour
    /// exceeds packing the running pods from scratch with the `nodepack` solver
    /// (0.10 = 10% over).
    pub repack_gap: f64,
    /// The same at the horizon: how far the fleet converged.
    pub repack_gap_end: f64,
    /// Time-weighted requested / allocatable CPU on ready nodes.
    pub cpu_utilization: f64,
    /// Time-weighted requested / allocatable memory on ready nodes.
    pub memory_utilization: f64,
    /// Simulated time (`sim_seconds`).
    #[serde(rename = "sim_seconds", with = "secs")]
    pub sim_time: Millis,
    /// Wall-clock seconds (filled in by the caller; the simulator reads no clock).
    pub wall_seconds: f64,
    /// Events processed.
    pub events: u64,
    /// Pods never scheduled, with reasons.
    pub unschedulable: Vec<Unscheduled>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max),
            (
                Millis::from_secs(50),
                Millis::from_secs(90),
                Millis::from_secs(99),
                Millis::from_secs(100)
            )
        );
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
