//! Simulation settings: the cloud model, the workload generator, the horizon and seed.
//! Every field has a documented default, so a scenario names only what it changes.

use nodepack_model::units::MIB;
use nodepack_model::{Bytes, IntOrPercent, Millicores, Millis, Pod, PodId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One event of a workload trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// When it happens.
    pub at: Millis,
    /// What happens.
    pub kind: TraceKind,
}

/// What a trace event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A pod is created; it completes `run_for` after it starts running (never, if
    /// `None`: a service pod that runs until deleted).
    Arrive {
        /// The pod, with `created` at the event's time; shared with the cluster state
        /// during a replay.
        pod: Arc<Pod>,
        /// Running time once started.
        run_for: Option<Millis>,
    },
    /// A pod is deleted (scale-in, or a user's delete).
    Delete(PodId),
}

/// Stable sort of a trace by time (lines may come unsorted; equal times keep file order).
pub fn sort_trace(trace: &mut [TraceEvent]) {
    trace.sort_by_key(|e| e.at);
}

fn d_boot_min() -> f64 {
    25.0
}
fn d_boot_max() -> f64 {
    60.0
}
fn d_tail_share() -> f64 {
    0.1
}
fn d_tail_max() -> f64 {
    120.0
}
fn d_register() -> f64 {
    0.6
}
fn d_ice() -> f64 {
    0.02
}
fn d_one() -> f64 {
    1.0
}
fn d_notice() -> f64 {
    120.0
}
fn d_billing_min() -> f64 {
    60.0
}
fn d_start() -> f64 {
    2.0
}
fn d_unavail() -> f64 {
    180.0
}

/// The most pods a generated service or job burst may have at once.
pub const MAX_REPLICAS: u32 = 100_000;

/// The most lower-bound intervals a replay integrates (one LP each).
pub const MAX_LB_SAMPLES: u32 = 10_000;

/// The ceiling of every duration setting of the cloud model: a day, in seconds.
pub const MAX_SETTING_S: f64 = 86_400.0;

/// The cloud model.
///
/// Launch-to-ready latency: with probability `1 - boot_tail_share` uniform in
/// [`boot_min_s`, `boot_max_s`], else uniform in [`boot_max_s`, `boot_tail_max_s`] (the
/// default, 25-60 s with a tail to 2 min, follows Karpenter's published node startup
/// figures). Nodes register at `register_share` of that time and become ready (startup
/// taints removed) at its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CloudConfig {
    /// Fastest launch-to-ready time, seconds.
    #[serde(default = "d_boot_min")]
    pub boot_min_s: f64,
    /// End of the common range, seconds.
    #[serde(default = "d_boot_max")]
    pub boot_max_s: f64,
    /// Share of launches in the heavy tail.
    #[serde(default = "d_tail_share")]
    pub boot_tail_share: f64,
    /// Slowest launch, seconds.
    #[serde(default = "d_tail_max")]
    pub boot_tail_max_s: f64,
    /// Registration happens at this share of the launch-to-ready time.
    #[serde(default = "d_register")]
    pub register_share: f64,
    /// Probability that a launch request for an offering fails with insufficient
    /// capacity.
    #[serde(default = "d_ice")]
    pub ice_rate: f64,
    /// How long an offering that failed stays out of use (Karpenter's unavailable
    /// offerings cache: 3 minutes), seconds.
    #[serde(default = "d_unavail")]
    pub unavailable_for_s: f64,
    /// Multiplier of every spot interruption hazard.
    #[serde(default = "d_one")]
    pub interruption_scale: f64,
    /// Replace every spot offering's interruption bucket (`<5%`, `5-10%`, `10-15%`,
    /// `15-20%`, `>20%`), e.g. for a spot-storm day.
    #[serde(default)]
    pub interruption_bucket: Option<String>,
    /// Spot interruption notice, seconds (AWS: 2 minutes).
    #[serde(default = "d_notice")]
    pub notice_s: f64,
    /// Hourly spot price change: each offering's price is multiplied, each hour, by a
    /// factor uniform in [1 - v, 1 + v].
    #[serde(default)]
    pub spot_price_volatility: f64,
    /// Minimum billed time per node, seconds (per-second billing after it).
    #[serde(default = "d_billing_min")]
    pub billing_minimum_s: f64,
    /// Time from binding to running (image pull and container start), seconds.
    #[serde(default = "d_start")]
    pub pod_start_s: f64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            boot_min_s: d_boot_min(),
            boot_max_s: d_boot_max(),
            boot_tail_share: d_tail_share(),
            boot_tail_max_s: d_tail_max(),
            register_share: d_register(),
            ice_rate: d_ice(),
            unavailable_for_s: d_unavail(),
            interruption_scale: d_one(),
            interruption_bucket: None,
            notice_s: d_notice(),
            spot_price_volatility: 0.0,
            billing_minimum_s: d_billing_min(),
            pod_start_s: d_start(),
        }
    }
}

/// A cloud model setting that is not valid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// A number outside its range.
    #[error("cloud.{field}: {value} is out of range (expected {expected})")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
        /// Its range, in words.
        expected: &'static str,
    },
    /// An interruption bucket that is not a Spot Advisor bucket.
    #[error("cloud.interruption_bucket: {0:?} is not one of <5%, 5-10%, 10-15%, 15-20%, >20%")]
    UnknownBucket(String),
}

impl CloudConfig {
    /// Check ranges; the error names the field and the value.
    pub fn validate(&self) -> Result<(), SettingError> {
        // Every duration has a ceiling of a day (MAX_SETTING_S): a longer boot, notice,
        // cache or billing minimum is a typo, and milliseconds must not wrap.
        let day = MAX_SETTING_S;
        let within = |v: f64, lo: f64, hi: f64| (lo..=hi).contains(&v);
        let checks: [(&'static str, f64, bool, &'static str); 12] = [
            (
                "boot_min_s",
                self.boot_min_s,
                within(self.boot_min_s, 0.0, day),
                "0 to 86400 s",
            ),
            (
                "boot_max_s",
                self.boot_max_s,
                within(self.boot_max_s, self.boot_min_s, day),
                "boot_min_s to 86400 s",
            ),
            (
                "boot_tail_share",
                self.boot_tail_share,
                within(self.boot_tail_share, 0.0, 1.0),
                "0 to 1",
            ),
            (
                "boot_tail_max_s",
                self.boot_tail_max_s,
                within(self.boot_tail_max_s, self.boot_max_s, day),
                "boot_max_s to 86400 s",
            ),
            (
                "register_share",
                self.register_share,
                within(self.register_share, 0.0, 1.0),
                "0 to 1",
            ),
            (
                "ice_rate",
                self.ice_rate,
                within(self.ice_rate, 0.0, 1.0),
                "0 to 1",
            ),
            (
                "unavailable_for_s",
                self.unavailable_for_s,
                within(self.unavailable_for_s, 0.0, day),
                "0 to 86400 s",
            ),
            (
                "interruption_scale",
                self.interruption_scale,
                within(self.interruption_scale, 0.0, 1000.0),
                "0 to 1000",
            ),
            (
                "spot_price_volatility",
                self.spot_price_volatility,
                (0.0..1.0).contains(&self.spot_price_volatility),
                "0 to below 1",
            ),
            (
                "notice_s",
                self.notice_s,
                within(self.notice_s, 0.0, day),
                "0 to 86400 s",
            ),
            (
                "billing_minimum_s",
                self.billing_minimum_s,
                within(self.billing_minimum_s, 0.0, day),
                "0 to 86400 s",
            ),
            (
                "pod_start_s",
                self.pod_start_s,
                within(self.pod_start_s, 0.0, day),
                "0 to 86400 s",
            ),
        ];
        for (name, v, ok, range) in checks {
            if !ok || !v.is_finite() {
                return Err(SettingError::OutOfRange {
                    field: name,
                    value: v,
                    expected: range,
                });
            }
        }
        if let Some(b) = &self.interruption_bucket {
            if crate::cloud::bucket_by_label(b).is_none() {
                return Err(SettingError::UnknownBucket(b.clone()));
            }
        }
        Ok(())
    }
}

fn d_zero() -> f64 {
    0.0
}
fn d_period() -> f64 {
    24.0
}
fn d_step() -> f64 {
    300.0
}

/// A replicated service: its replica count over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceGen {
    /// Name (pods are `NAME-<n>`, label `app: NAME`).
    pub name: String,
    /// CPU request per pod, millicores.
    pub cpu_m: u64,
    /// Memory request per pod, MiB.
    pub memory_mi: u64,
    /// GPUs per pod (`nvidia.com/gpu`).
    #[serde(default)]
    pub gpu: u64,
    /// Constant replica count (ignored when `diurnal` or `steps` is given).
    #[serde(default)]
    pub replicas: u32,
    /// A daily cycle between `min` and `max` replicas.
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Replica count from each time on: `[[seconds, replicas], ...]`.
    #[serde(default)]
    pub steps: Vec<(f64, u32)>,
    /// `spot` or `on-demand` to pin the capacity type (node selector); any otherwise.
    #[serde(default)]
    pub capacity_type: Option<String>,
    /// `amd64` or `arm64` to pin the architecture.
    #[serde(default)]
    pub arch: Option<String>,
    /// Spread replicas over zones (maxSkew 1, DoNotSchedule).
    #[serde(default)]
    pub zone_spread: bool,
    /// Pod priority.
    #[serde(default)]
    pub priority: i32,
    /// A pod disruption budget for the service: at most this many (or this share) of
    /// its pods unavailable during voluntary drains (`3` or `"25%"`).
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
}

impl ServiceGen {
    /// A service of `replicas` pods with these requests (memory in whole MiB, rounded
    /// up) and every option off.
    pub fn new(name: &str, cpu: Millicores, memory: Bytes, replicas: u32) -> Self {
        ServiceGen {
            name: name.into(),
            cpu_m: cpu.0,
            memory_mi: memory.0.div_ceil(MIB),
            gpu: 0,
            replicas,
            diurnal: None,
            steps: vec![],
            capacity_type: None,
            arch: None,
            zone_spread: false,
            priority: 0,
            max_unavailable: None,
        }
    }
}

/// A daily replica cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diurnal {
    /// Replicas at the trough.
    pub min: u32,
    /// Replicas at the peak.
    pub max: u32,
    /// Period, hours.
    #[serde(default = "d_period")]
    pub period_h: f64,
    /// How often the replica count is updated, seconds.
    #[serde(default = "d_step")]
    pub step_s: f64,
}

/// Batch jobs arriving in bursts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobGen {
    /// Name prefix.
    pub name: String,
    /// CPU request per pod, millicores.
    pub cpu_m: u64,
    /// Memory request per pod, MiB.
    pub memory_mi: u64,
    /// GPUs per pod.
    #[serde(default)]
    pub gpu: u64,
    /// A burst every this many seconds.
    pub every_s: f64,
    /// First burst, seconds.
    #[serde(default = "d_zero")]
    pub start_s: f64,
    /// Pods per burst.
    pub count: u32,
    /// Running time per pod, uniform in [min, max] seconds.
    pub run_s: (f64, f64),
    /// `spot` or `on-demand`.
    #[serde(default)]
    pub capacity_type: Option<String>,
    /// `amd64` or `arm64`.
    #[serde(default)]
    pub arch: Option<String>,
}

impl JobGen {
    /// Bursts of `count` pods every `every` from time zero, each running a time uniform
    /// in `run` (min, max), with these requests (memory in whole MiB, rounded up) and no
    /// pinning.
    pub fn new(
        name: &str,
        cpu: Millicores,
        memory: Bytes,
        every: Millis,
        count: u32,
        run: (Millis, Millis),
    ) -> Self {
        let s = |m: Millis| m.0 as f64 / 1000.0;
        JobGen {
            name: name.into(),
            cpu_m: cpu.0,
            memory_mi: memory.0.div_ceil(MIB),
            gpu: 0,
            every_s: s(every),
            start_s: 0.0,
            count,
            run_s: (s(run.0), s(run.1)),
            capacity_type: None,
            arch: None,
        }
    }
}

/// A workload generator: services and jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// Long-running services.
    #[serde(default)]
    pub services: Vec<ServiceGen>,
    /// Batch jobs.
    #[serde(default)]
    pub jobs: Vec<JobGen>,
}

fn d_lb_samples() -> u32 {
    24
}

/// Run settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// Simulated time.
    pub horizon: Millis,
    /// Seed of every random stream.
    pub seed: u64,
    /// The cloud model.
    pub cloud: CloudConfig,
    /// How many intervals the lower bound integrates over (one LP each).
    #[serde(default = "d_lb_samples")]
    pub lb_samples: u32,
    /// Time-series samples over the horizon (for charts).
    pub series_points: u32,
    /// Karpenter's `SpotToSpotConsolidation` feature gate: off by default, as in
    /// Karpenter (scenario `feature_gates: {spot_to_spot_consolidation: true}`).
    #[serde(default)]
    pub spot_to_spot_consolidation: bool,
}

impl Settings {
    /// Defaults for a horizon and seed.
    pub fn new(horizon: Millis, seed: u64) -> Self {
        Settings {
            horizon,
            seed,
            cloud: CloudConfig::default(),
            lb_samples: d_lb_samples(),
            series_points: 288,
            spot_to_spot_consolidation: false,
        }
    }
}
