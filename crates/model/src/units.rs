//! Units as types: CPU in millicores, memory in bytes, time in milliseconds and money in
//! micro-dollars. All are integers, so totals never depend on summation order.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// CPU quantity in millicores (1 core = 1000).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millicores(pub u64);

/// Memory or storage quantity in bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

/// A duration or an instant in milliseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

/// An amount of US dollars in micro-dollars (1 USD = 1,000,000). Used both for amounts
/// and for prices per hour; the name of the field says which.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(pub i64);

/// One mebibyte in bytes.
pub const MIB: u64 = 1024 * 1024;
/// One gibibyte in bytes.
pub const GIB: u64 = 1024 * MIB;

impl Millicores {
    /// Whole cores, rounded down.
    pub fn cores(self) -> u64 {
        self.0 / 1000
    }
    /// From whole cores.
    pub fn from_cores(cores: u64) -> Self {
        Millicores(cores * 1000)
    }
    /// Checked addition.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        self.0.checked_add(o.0).map(Millicores)
    }
    /// Subtraction that stops at zero.
    pub fn saturating_sub(self, o: Self) -> Self {
        Millicores(self.0.saturating_sub(o.0))
    }
}

impl Bytes {
    /// From mebibytes.
    pub fn from_mib(mib: u64) -> Self {
        Bytes(mib * MIB)
    }
    /// From gibibytes.
    pub fn from_gib(gib: u64) -> Self {
        Bytes(gib * GIB)
    }
    /// Whole mebibytes, rounded down.
    pub fn mib(self) -> u64 {
        self.0 / MIB
    }
    /// Checked addition.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        self.0.checked_add(o.0).map(Bytes)
    }
    /// Subtraction that stops at zero.
    pub fn saturating_sub(self, o: Self) -> Self {
        Bytes(self.0.saturating_sub(o.0))
    }
}

impl Millis {
    /// From whole seconds.
    pub fn from_secs(s: u64) -> Self {
        Millis(s * 1000)
    }
    /// From whole minutes.
    pub fn from_mins(m: u64) -> Self {
        Millis(m * 60_000)
    }
    /// From seconds (fractions rounded down to the millisecond; negative is zero).
    pub fn from_secs_f64(s: f64) -> Self {
        Millis((s * 1000.0).max(0.0) as u64)
    }
    /// In seconds.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// Difference, zero if `o` is later.
    pub fn saturating_sub(self, o: Millis) -> Millis {
        Millis(self.0.saturating_sub(o.0))
    }
}

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money(0);
    /// Micro-dollars from a dollar amount, rounded to the nearest micro-dollar.
    pub fn from_usd(usd: f64) -> Self {
        Money((usd * 1e6).round() as i64)
    }
    /// The amount in dollars (for display and JSON only).
    pub fn usd(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The cost of running for `ms` milliseconds at this price per hour, rounded to the
    /// nearest micro-dollar.
    pub fn per_hour_for(self, ms: Millis) -> Money {
        let v = (self.0 as i128) * (ms.0 as i128);
        Money(((v + 1_800_000) / 3_600_000) as i64)
    }
}

macro_rules! arith {
    ($t:ident, $inner:ty) => {
        impl Add for $t {
            type Output = $t;
            fn add(self, o: $t) -> $t {
                $t(self.0 + o.0)
            }
        }
        impl AddAssign for $t {
            fn add_assign(&mut self, o: $t) {
                self.0 += o.0;
            }
        }
        impl Sub for $t {
            type Output = $t;
            fn sub(self, o: $t) -> $t {
                $t(self.0 - o.0)
            }
        }
        impl std::iter::Sum for $t {
            fn sum<I: Iterator<Item = $t>>(iter: I) -> $t {
                $t(iter.map(|x| x.0).sum::<$inner>())
            }
        }
    };
}
arith!(Millicores, u64);
arith!(Bytes, u64);
arith!(Millis, u64);
arith!(Money, i64);

impl fmt::Display for Millicores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(GIB) && self.0 > 0 {
            write!(f, "{}Gi", self.0 / GIB)
        } else if self.0.is_multiple_of(MIB) && self.0 > 0 {
            write!(f, "{}Mi", self.0 / MIB)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:06}", a / 1_000_000, a % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_display_and_hourly_cost() {
        assert_eq!(Money(96_000).to_string(), "$0.096000");
        assert_eq!(Money::from_usd(21.957642), Money(21_957_642));
        // 30 minutes at $0.096/h is $0.048.
        assert_eq!(
            Money(96_000).per_hour_for(Millis::from_mins(30)),
            Money(48_000)
        );
    }

    #[test]
    fn display_units() {
        assert_eq!(Millicores(1500).to_string(), "1500m");
        assert_eq!(Millicores(2000).to_string(), "2");
        assert_eq!(Bytes::from_gib(4).to_string(), "4Gi");
        assert_eq!(Bytes::from_mib(100).to_string(), "100Mi");
    }
}

/// Serde of [`Money`] as a number of dollars, for JSON fields whose name ends in `_usd`
/// (`#[serde(with = "nodepack_model::units::usd")]`): micro-dollars round-trip exactly.
pub mod usd {
    use super::Money;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write dollars.
    pub fn serialize<S: Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(m.usd())
    }

    /// Read dollars (finite, within the range of micro-dollars).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v.abs() > 9.0e12 {
            return Err(serde::de::Error::custom(format!(
                "{v} is not an amount of dollars (finite, at most 9e12)"
            )));
        }
        Ok(Money::from_usd(v))
    }
}

/// The longest duration a `_s`, `_h` or `_ms` field reads: 1e9 seconds (about 31
/// years), so that milliseconds never wrap; callers set tighter ceilings of their own.
pub const MAX_DURATION_SECS: f64 = 1.0e9;

fn duration_from<E: serde::de::Error>(v: f64, per_unit_ms: f64, unit: &str) -> Result<Millis, E> {
    let ms = v * per_unit_ms;
    if !v.is_finite() || v < 0.0 || ms > MAX_DURATION_SECS * 1000.0 {
        // Huge values in exponent form (`1e300`), others as written (`-1`, `2.5`).
        let shown = if v.abs() >= 1e15 {
            format!("{v:e}")
        } else {
            v.to_string()
        };
        return Err(E::custom(format!(
            "{shown} is not a duration in {unit} (0 to {} {unit})",
            MAX_DURATION_SECS * 1000.0 / per_unit_ms
        )));
    }
    Ok(Millis(ms.round() as u64))
}

/// Serde of [`Millis`] as a number of seconds, for fields whose name ends in `_s`
/// (`#[serde(with = "nodepack_model::units::secs")]`): reads a finite, non-negative
/// number up to [`MAX_DURATION_SECS`], rounded to the millisecond.
pub mod secs {
    use super::Millis;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write seconds.
    pub fn serialize<S: Serializer>(m: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(m.secs_f64())
    }

    /// Read seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        super::duration_from(f64::deserialize(d)?, 1000.0, "seconds")
    }
}

/// Serde of a `(min, max)` pair of [`Millis`] as `[seconds, seconds]` (see [`secs`]).
pub mod secs_pair {
    use super::Millis;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Write `[seconds, seconds]`.
    pub fn serialize<S: Serializer>(m: &(Millis, Millis), s: S) -> Result<S::Ok, S::Error> {
        (m.0.secs_f64(), m.1.secs_f64()).serialize(s)
    }

    /// Read `[seconds, seconds]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(Millis, Millis), D::Error> {
        let (a, b) = <(f64, f64)>::deserialize(d)?;
        Ok((
            super::duration_from(a, 1000.0, "seconds")?,
            super::duration_from(b, 1000.0, "seconds")?,
        ))
    }
}

/// Serde of [`Millis`] as a number of hours, for fields whose name ends in `_h`.
pub mod hours {
    use super::Millis;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write hours.
    pub fn serialize<S: Serializer>(m: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(m.0 as f64 / 3_600_000.0)
    }

    /// Read hours.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        super::duration_from(f64::deserialize(d)?, 3_600_000.0, "hours")
    }
}

/// Serde of [`Bytes`] as a whole number of MiB, for fields whose name ends in `_mi`.
pub mod mib {
    use super::{Bytes, MIB};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write MiB (rounded up).
    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(b.0.div_ceil(MIB))
    }

    /// Read MiB (at most 2^44, 16 EiB in bytes).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let v = u64::deserialize(d)?;
        v.checked_mul(MIB)
            .map(Bytes)
            .ok_or_else(|| serde::de::Error::custom(format!("{v} MiB is more memory than 16 EiB")))
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        #[serde(with = "secs")]
        a_s: Millis,
        #[serde(with = "secs_pair")]
        r_s: (Millis, Millis),
        #[serde(with = "hours")]
        p_h: Millis,
        #[serde(with = "mib")]
        m_mi: Bytes,
    }

    #[test]
    fn unit_keyed_fields_round_trip() {
        let t: T =
            serde_json::from_str(r#"{"a_s":2.5,"r_s":[60,600],"p_h":24,"m_mi":512}"#).unwrap();
        assert_eq!(
            t,
            T {
                a_s: Millis(2500),
                r_s: (Millis(60_000), Millis(600_000)),
                p_h: Millis(86_400_000),
                m_mi: Bytes::from_mib(512),
            }
        );
        let back: T = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_durations_and_sizes_name_the_value() {
        for (json, value) in [
            (r#"{"a_s":-1,"r_s":[1,2],"p_h":1,"m_mi":1}"#, "-1"),
            (r#"{"a_s":1e300,"r_s":[1,2],"p_h":1,"m_mi":1}"#, "1e300"),
            (r#"{"a_s":1,"r_s":[1,-2],"p_h":1,"m_mi":1}"#, "-2"),
            (
                r#"{"a_s":1,"r_s":[1,2],"p_h":1e12,"m_mi":1}"#,
                "1000000000000 is not",
            ),
            (
                r#"{"a_s":1,"r_s":[1,2],"p_h":1,"m_mi":18446744073709551615}"#,
                "18446744073709551615",
            ),
        ] {
            let e = serde_json::from_str::<T>(json).unwrap_err().to_string();
            assert!(e.contains(value), "{json}: {e}");
        }
    }
}
