//! The cloud: launch latency, insufficient capacity, spot interruptions, spot prices and
//! billing. Every draw comes from its own named stream (the private `rng` module).

use crate::config::CloudConfig;
use crate::rng::{counter_unit, fnv, Concern, Stream};
use nodepack_model::instance_type::InterruptionBucket;
use nodepack_model::{CapacityType, Millis, Money, Offering};
use std::collections::BTreeMap;

/// The interruption bucket with this Spot Advisor label.
pub fn bucket_by_label(label: &str) -> Option<InterruptionBucket> {
    (0..5)
        .filter_map(InterruptionBucket::from_index)
        .find(|b| b.label() == label)
}

/// The cloud's random state and configuration.
#[derive(Clone, Debug)]
pub struct Cloud {
    /// Configuration.
    pub config: CloudConfig,
    seed: u64,
    /// Insufficient-capacity draws, one per launch request (a node and its spares are one
    /// request).
    capacity: Stream,
    /// Launch draws for the nodes the autoscaler plans.
    planned: Draws,
    /// Nodes the autoscaler planned launched so far: a spare's draws are keyed by its
    /// planned node's count and its own index (see [`Launched::Spare`]).
    planned_launches: u64,
    /// Offerings that failed recently, until when: (type, zone, capacity type).
    unavailable: BTreeMap<(String, String, CapacityType), Millis>,
}

/// Which launches a draw is for: the nodes the autoscaler plans, or the hedge's spares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launched {
    /// A node the autoscaler planned (or headroom's warm node): the next draws of the
    /// launch and interruption streams (its capacity draw is [`Cloud::try_launch`]'s).
    Planned,
    /// Spare number `j` (from 0) of the node planned last: draws of its own, a pure
    /// function of the seed, that node's launch count and `j`, so the number of spares
    /// never shifts any other node's draws (a third spare leaves the first two and every
    /// planned node as they were).
    Spare(u32),
}

/// One set of launch streams: boot time and spot interruption.
#[derive(Clone, Debug)]
struct Draws {
    launch: Stream,
    interruption: Stream,
}

impl Draws {
    /// Spare `j` of planned launch number `planned`'s draws.
    fn spare(seed: u64, planned: u64, j: u32) -> Self {
        let key = crate::rng::mix(seed ^ crate::rng::mix(planned << 16 | u64::from(j)));
        Draws::new(key, [Concern::SpareLaunch, Concern::SpareInterruption])
    }

    fn new(seed: u64, [launch, interruption]: [Concern; 2]) -> Self {
        Draws {
            launch: Stream::new(seed, launch),
            interruption: Stream::new(seed, interruption),
        }
    }
}

/// The times of a node's life decided at launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchTimes {
    /// Registration.
    pub registered: Millis,
    /// Ready.
    pub ready: Millis,
    /// Spot interruption notice, if one comes.
    pub notice: Option<Millis>,
}

impl Cloud {
    /// A cloud for a seed.
    pub fn new(config: CloudConfig, seed: u64) -> Self {
        Cloud {
            config,
            seed,
            capacity: Stream::new(seed, Concern::Capacity),
            planned: Draws::new(seed, [Concern::Launch, Concern::Interruption]),
            planned_launches: 0,
            unavailable: BTreeMap::new(),
        }
    }

    /// Is the offering in the unavailable-offerings cache at `now`?
    pub fn cached_unavailable(&self, ty: &str, o: &Offering, now: Millis) -> bool {
        self.unavailable
            .get(&(ty.to_string(), o.zone.clone(), o.capacity_type))
            .is_some_and(|&until| until > now)
    }

    /// Try to launch an offering: `false` on an insufficient-capacity failure (which
    /// also puts the offering in the cache when `use_cache`).
    pub fn try_launch(&mut self, ty: &str, o: &Offering, now: Millis, use_cache: bool) -> bool {
        if self.capacity.chance(self.config.ice_rate) {
            if use_cache {
                let until = now + self.config.unavailable_for;
                self.unavailable
                    .insert((ty.to_string(), o.zone.clone(), o.capacity_type), until);
            }
            return false;
        }
        true
    }

    /// Draw the launch-to-ready time and, for spot, the interruption notice time.
    pub fn launch_times(&mut self, o: &Offering, now: Millis, who: Launched) -> LaunchTimes {
        let spot = o.capacity_type == CapacityType::Spot;
        let hazard = if spot { self.hazard_per_hour(o) } else { 0.0 };
        let c = &self.config;
        let mut own;
        let d = match who {
            Launched::Planned => {
                self.planned_launches += 1;
                &mut self.planned
            }
            Launched::Spare(j) => {
                own = Draws::spare(self.seed, self.planned_launches, j);
                &mut own
            }
        };
        let boot = if d.launch.chance(c.boot_tail_share) {
            d.launch
                .uniform(c.boot_max.secs_f64(), c.boot_tail_max.secs_f64())
        } else {
            d.launch
                .uniform(c.boot_min.secs_f64(), c.boot_max.secs_f64())
        };
        let ready = now + Millis((boot * 1000.0) as u64);
        let registered = now + Millis((boot * c.register_share * 1000.0) as u64);
        let notice = if spot {
            let hours = d.interruption.exponential(hazard);
            (hours.is_finite() && hours < 1e7).then(|| now + Millis((hours * 3.6e6) as u64))
        } else {
            None
        };
        LaunchTimes {
            registered,
            ready,
            notice,
        }
    }

    /// Spot interruption hazard per hour: the bucket's monthly reclaim rate spread over
    /// a 730-hour month, times `interruption_scale`.
    pub fn hazard_per_hour(&self, o: &Offering) -> f64 {
        let bucket = self
            .config
            .interruption_bucket
            .as_deref()
            .and_then(bucket_by_label)
            .or(o.spot_bucket());
        match bucket {
            Some(b) => {
                b.monthly_rate_permille() as f64 / 1000.0 / 730.0 * self.config.interruption_scale
            }
            None => 0.0,
        }
    }

    /// The spot price factor of an offering during hour `hour` of the run.
    pub fn price_factor(&self, ty: &str, o: &Offering, hour: u64) -> f64 {
        let v = self.config.spot_price_volatility;
        if v == 0.0 || o.capacity_type != CapacityType::Spot {
            return 1.0;
        }
        let key = fnv(ty) ^ fnv(&o.zone).rotate_left(17);
        1.0 - v + 2.0 * v * counter_unit(self.seed, Concern::Price, key, hour)
    }

    /// What a node costs from `start` to `end`: per-second billing with a minimum, spot
    /// prices changing by the hour.
    pub fn bill(&self, ty: &str, o: &Offering, start: Millis, end: Millis) -> Money {
        let min = self.config.billing_minimum;
        let end = end.max(start + min);
        let mut total = 0.0f64;
        let mut t = start.0;
        while t < end.0 {
            let hour = t / 3_600_000;
            let next = ((hour + 1) * 3_600_000).min(end.0);
            total +=
                o.price.0 as f64 * self.price_factor(ty, o, hour) * (next - t) as f64 / 3_600_000.0;
            t = next;
        }
        Money(total.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot(bucket: u8) -> Offering {
        Offering::new("z1", CapacityType::Spot, Money::from_usd(0.1))
            .with_interruption(InterruptionBucket::from_index(bucket))
    }

    #[test]
    fn billing_has_a_minimum_then_per_second() {
        let c = Cloud::new(CloudConfig::default(), 1);
        let o = spot(0);
        assert_eq!(
            c.bill("t", &o, Millis(0), Millis(1000)),
            Money::from_usd(0.1 / 60.0)
        );
        assert_eq!(
            c.bill("t", &o, Millis(0), Millis(3_600_000)),
            Money::from_usd(0.1)
        );
    }

    #[test]
    fn boot_times_stay_in_the_configured_range() {
        let mut c = Cloud::new(CloudConfig::default(), 2);
        let o = spot(0);
        let mut tail = 0;
        for _ in 0..2000 {
            let t = c.launch_times(&o, Millis(0), Launched::Planned);
            assert!(t.ready >= Millis(25_000) && t.ready <= Millis(120_000));
            assert!(t.registered < t.ready);
            if t.ready > Millis(60_000) {
                tail += 1;
            }
        }
        assert!((100..300).contains(&tail), "{tail}");
    }

    #[test]
    fn interruption_rate_follows_the_bucket() {
        let mut c = Cloud::new(CloudConfig::default(), 3);
        // ">20%" bucket: a quarter of the capacity per month; over 730 h about 1 - e^-0.25.
        let o = spot(4);
        let n = 4000;
        let month = Millis(730 * 3_600_000);
        let hit = (0..n)
            .filter(|_| {
                c.launch_times(&o, Millis(0), Launched::Planned)
                    .notice
                    .is_some_and(|t| t < month)
            })
            .count() as f64
            / n as f64;
        let expect = 1.0 - (-(c.hazard_per_hour(&o) * 730.0)).exp();
        assert!((hit - expect).abs() < 0.03, "{hit} vs {expect}");
        assert!(bucket_by_label(">20%").is_some() && bucket_by_label("30%").is_none());
    }

    #[test]
    fn ice_failures_populate_the_cache() {
        let cfg = CloudConfig {
            ice_rate: 1.0,
            ..CloudConfig::default()
        };
        let mut c = Cloud::new(cfg, 4);
        let o = spot(0);
        assert!(!c.try_launch("t", &o, Millis(0), true));
        assert!(c.cached_unavailable("t", &o, Millis(1000)));
        assert!(!c.cached_unavailable("t", &o, Millis(181_000)));
    }
}
