//! Simulation settings: the cloud model, the workload generator, the horizon and seed.
//! Every field has a documented default, so a scenario names only what it changes.

use nodepack_model::units::{hours, mib, secs, secs_pair, MIB};
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

fn d_boot_min() -> Millis {
    Millis::from_secs(25)
}
fn d_boot_max() -> Millis {
    Millis::from_secs(60)
}
fn d_tail_share() -> f64 {
    0.1
}
fn d_tail_max() -> Millis {
    Millis::from_secs(120)
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
fn d_notice() -> Millis {
    Millis::from_secs(120)
}
fn d_billing_min() -> Millis {
    Millis::from_secs(60)
}
fn d_start() -> Millis {
    Millis::from_secs(2)
}
fn d_unavail() -> Millis {
    Millis::from_secs(180)
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
    #[serde(rename = "boot_min_s", default = "d_boot_min", with = "secs")]
    pub boot_min: Millis,
    /// End of the common range, seconds.
    #[serde(rename = "boot_max_s", default = "d_boot_max", with = "secs")]
    pub boot_max: Millis,
    /// Share of launches in the heavy tail.
    #[serde(default = "d_tail_share")]
    pub boot_tail_share: f64,
    /// Slowest launch, seconds.
    #[serde(rename = "boot_tail_max_s", default = "d_tail_max", with = "secs")]
    pub boot_tail_max: Millis,
    /// Registration happens at this share of the launch-to-ready time.
    #[serde(default = "d_register")]
    pub register_share: f64,
    /// Probability that a launch request for an offering fails with insufficient
    /// capacity.
    #[serde(default = "d_ice")]
    pub ice_rate: f64,
    /// How long an offering that failed stays out of use (Karpenter's unavailable
    /// offerings cache: 3 minutes), seconds.
    #[serde(rename = "unavailable_for_s", default = "d_unavail", with = "secs")]
    pub unavailable_for: Millis,
    /// Multiplier of every spot interruption hazard.
    #[serde(default = "d_one")]
    pub interruption_scale: f64,
    /// Replace every spot offering's interruption bucket (`<5%`, `5-10%`, `10-15%`,
    /// `15-20%`, `>20%`), e.g. for a spot-storm day.
    #[serde(default)]
    pub interruption_bucket: Option<String>,
    /// Spot interruption notice, seconds (AWS: 2 minutes).
    #[serde(rename = "notice_s", default = "d_notice", with = "secs")]
    pub notice: Millis,
    /// Hourly spot price change: each offering's price is multiplied, each hour, by a
    /// factor uniform in [1 - v, 1 + v].
    #[serde(default)]
    pub spot_price_volatility: f64,
    /// Minimum billed time per node, seconds (per-second billing after it).
    #[serde(rename = "billing_minimum_s", default = "d_billing_min", with = "secs")]
    pub billing_minimum: Millis,
    /// Time from binding to running (image pull and container start), seconds.
    #[serde(rename = "pod_start_s", default = "d_start", with = "secs")]
    pub pod_start: Millis,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            boot_min: d_boot_min(),
            boot_max: d_boot_max(),
            boot_tail_share: d_tail_share(),
            boot_tail_max: d_tail_max(),
            register_share: d_register(),
            ice_rate: d_ice(),
            unavailable_for: d_unavail(),
            interruption_scale: d_one(),
            interruption_bucket: None,
            notice: d_notice(),
            spot_price_volatility: 0.0,
            billing_minimum: d_billing_min(),
            pod_start: d_start(),
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
        // cache or billing minimum is a typo.
        let day = Millis((MAX_SETTING_S * 1000.0) as u64);
        let within = |v: f64, lo: f64, hi: f64| (lo..=hi).contains(&v);
        let dur = |name: &'static str, v: Millis, lo: Millis, range: &'static str| {
            (name, v.secs_f64(), (lo..=day).contains(&v), range)
        };
        let checks: [(&'static str, f64, bool, &'static str); 12] = [
            dur("boot_min_s", self.boot_min, Millis(0), "0 to 86400 s"),
            dur(
                "boot_max_s",
                self.boot_max,
                self.boot_min,
                "boot_min_s to 86400 s",
            ),
            (
                "boot_tail_share",
                self.boot_tail_share,
                within(self.boot_tail_share, 0.0, 1.0),
                "0 to 1",
            ),
            dur(
                "boot_tail_max_s",
                self.boot_tail_max,
                self.boot_max,
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
            dur(
                "unavailable_for_s",
                self.unavailable_for,
                Millis(0),
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
            dur("notice_s", self.notice, Millis(0), "0 to 86400 s"),
            dur(
                "billing_minimum_s",
                self.billing_minimum,
                Millis(0),
                "0 to 86400 s",
            ),
            dur("pod_start_s", self.pod_start, Millis(0), "0 to 86400 s"),
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

fn d_period() -> Millis {
    Millis::from_mins(24 * 60)
}
fn d_step() -> Millis {
    Millis::from_secs(300)
}

/// Memory as generators hold it: whole MiB (the scenario field is `memory_mi`).
fn round_up_to_mib(b: Bytes) -> Bytes {
    Bytes(b.0.div_ceil(MIB).saturating_mul(MIB))
}

/// Serde of `[[seconds, replicas], ...]` as `(Millis, u32)` pairs.
mod secs_steps {
    use super::secs;
    use nodepack_model::Millis;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Step(#[serde(with = "secs")] Millis, u32);

    pub fn serialize<S: Serializer>(v: &[(Millis, u32)], s: S) -> Result<S::Ok, S::Error> {
        let steps: Vec<Step> = v.iter().map(|&(t, n)| Step(t, n)).collect();
        steps.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Millis, u32)>, D::Error> {
        let steps = Vec::<Step>::deserialize(d)?;
        Ok(steps.into_iter().map(|Step(t, n)| (t, n)).collect())
    }
}

/// A replicated service: its replica count over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceGen {
    /// Name (pods are `NAME-<n>`, label `app: NAME`).
    pub name: String,
    /// CPU request per pod (`cpu_m`: millicores).
    #[serde(rename = "cpu_m")]
    pub cpu: Millicores,
    /// Memory request per pod (`memory_mi`: MiB).
    #[serde(rename = "memory_mi", with = "mib")]
    pub memory: Bytes,
    /// GPUs per pod (`nvidia.com/gpu`).
    #[serde(default)]
    pub gpu: u64,
    /// Constant replica count (ignored when `diurnal` or `steps` is given).
    #[serde(default)]
    pub replicas: u32,
    /// A daily cycle between `min` and `max` replicas.
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Replica count from each time on (`[[seconds, replicas], ...]`).
    #[serde(default, with = "secs_steps")]
    pub steps: Vec<(Millis, u32)>,
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
            cpu,
            memory: round_up_to_mib(memory),
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
#[non_exhaustive]
pub struct Diurnal {
    /// Replicas at the trough.
    pub min: u32,
    /// Replicas at the peak.
    pub max: u32,
    /// Period (`period_h`: hours).
    #[serde(rename = "period_h", default = "d_period", with = "hours")]
    pub period: Millis,
    /// How often the replica count is updated (`step_s`: seconds).
    #[serde(rename = "step_s", default = "d_step", with = "secs")]
    pub step: Millis,
}

impl Diurnal {
    /// A cycle from `min` replicas (at time zero) to `max` and back every `period`,
    /// updated every `step`.
    pub fn new(min: u32, max: u32, period: Millis, step: Millis) -> Self {
        Diurnal {
            min,
            max,
            period,
            step,
        }
    }
}

/// Batch jobs arriving in bursts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobGen {
    /// Name prefix.
    pub name: String,
    /// CPU request per pod (`cpu_m`: millicores).
    #[serde(rename = "cpu_m")]
    pub cpu: Millicores,
    /// Memory request per pod (`memory_mi`: MiB).
    #[serde(rename = "memory_mi", with = "mib")]
    pub memory: Bytes,
    /// GPUs per pod.
    #[serde(default)]
    pub gpu: u64,
    /// A burst every this long (`every_s`: seconds).
    #[serde(rename = "every_s", with = "secs")]
    pub every: Millis,
    /// First burst (`start_s`: seconds).
    #[serde(rename = "start_s", default, with = "secs")]
    pub start: Millis,
    /// Pods per burst.
    pub count: u32,
    /// Running time per pod, uniform in [min, max] (`run_s`: `[seconds, seconds]`).
    #[serde(rename = "run_s", with = "secs_pair")]
    pub run: (Millis, Millis),
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
        JobGen {
            name: name.into(),
            cpu,
            memory: round_up_to_mib(memory),
            gpu: 0,
            every,
            start: Millis(0),
            count,
            run,
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
    /// Dollars an hour of one pod's pending time is worth: nodepack's launch hedge
    /// launches a spare only where the pending time it is expected to save, at this
    /// value, exceeds what the spare is billed (see `autoscaler::hedge::Pricing`).
    /// Scenario `hedge: {pending_value: 4}`; at most [`MAX_PENDING_VALUE`].
    #[serde(default = "d_pending_value")]
    pub pending_value: f64,
}

fn d_pending_value() -> f64 {
    crate::autoscaler::hedge::PENDING_VALUE
}

/// The largest value of an hour of one pod's pending time a scenario may set, in
/// dollars (a ceiling on input, far above any node's hourly price).
pub const MAX_PENDING_VALUE: f64 = 100_000.0;

/// Refuse a value of an hour of one pod's pending time outside 0 to
/// [`MAX_PENDING_VALUE`] dollars (NaN included), saying what it must be.
pub fn check_pending_value(v: f64) -> Result<f64, String> {
    if (0.0..=MAX_PENDING_VALUE).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "must be between 0 and {MAX_PENDING_VALUE} (dollars an hour of one pod's pending time)"
        ))
    }
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
            pending_value: d_pending_value(),
        }
    }
}
