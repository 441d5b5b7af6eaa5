//! Cron schedules of disruption budgets (`schedule` with `duration`), evaluated on the
//! simulation clock.
//!
//! Time zero of the clock is Monday 2024-01-01 00:00 UTC, so a budget scheduled
//! `0 9 * * mon-fri` with duration `8h` is active from 9:00 to 17:00 on weekdays of a
//! replay. Standard five fields (minute, hour, day of month, month, day of week) with
//! `*`, lists, ranges, steps and the names of months and days, plus the macros
//! `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`.
//! When both day fields are restricted, either may match (as in cron).

use crate::units::Millis;

/// Days from 1970-01-01 to time zero of the simulation clock (2024-01-01, a Monday).
const EPOCH_DAYS: i64 = 19_723;

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minute: u64,
    hour: u32,
    dom: u32,
    month: u16,
    dow: u8,
    dom_any: bool,
    dow_any: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn field(s: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Result<u64, String> {
    let value = |v: &str| -> Result<u32, String> {
        let lower = v.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + name_base);
        }
        let n: u32 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
        // Day of week 7 is Sunday too.
        let n = if hi == 6 && n == 7 { 0 } else { n };
        if n < lo || n > hi {
            return Err(format!("{n} is outside {lo}-{hi}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st
                    .parse()
                    .ok()
                    .filter(|&x| x > 0)
                    .ok_or_else(|| format!("bad step `{st}`"))?;
                (r, st)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if step > 1 { hi } else { a })
        };
        if a > b {
            return Err(format!("range {a}-{b} is empty"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// Why a cron schedule does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    /// Not five fields (after expanding `@daily` and the like).
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount {
        /// Fields found.
        found: usize,
    },
    /// One field is not valid.
    #[error("{field} field `{text}`: {why}")]
    Field {
        /// Which field (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`).
        field: &'static str,
        /// Its text.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

impl Cron {
    /// Parse a schedule; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Cron, CronError> {
        let s = s.trim();
        let expanded = match s {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        if f.len() != 5 {
            return Err(CronError::FieldCount { found: f.len() });
        }
        let named = |i: usize, field: &'static str, r: Result<u64, String>| {
            r.map_err(|why| CronError::Field {
                field,
                text: f[i].to_string(),
                why,
            })
        };
        Ok(Cron {
            minute: named(0, "minute", field(f[0], 0, 59, &[], 0))?,
            hour: named(1, "hour", field(f[1], 0, 23, &[], 0))? as u32,
            dom: named(2, "day-of-month", field(f[2], 1, 31, &[], 0))? as u32,
            month: named(3, "month", field(f[3], 1, 12, &MONTHS, 1))? as u16,
            dow: named(4, "day-of-week", field(f[4], 0, 6, &DAYS, 0))? as u8,
            dom_any: f[2] == "*",
            dow_any: f[4] == "*",
        })
    }

    /// Does the minute starting at `t` match?
    pub fn matches(&self, t: Millis) -> bool {
        let minutes = t.0 / 60_000;
        let (minute, hour) = (minutes % 60, (minutes / 60) % 24);
        if self.minute & (1 << minute) == 0 || self.hour & (1 << hour) == 0 {
            return false;
        }
        let days = (minutes / 1440) as i64;
        let (_, month, day) = civil(EPOCH_DAYS + days);
        if self.month & (1 << month) == 0 {
            return false;
        }
        // 2024-01-01 was a Monday (1).
        let dow = ((days + 1) % 7) as u32;
        let dom_ok = self.dom & (1 << day) != 0;
        let dow_ok = self.dow & (1 << dow) != 0;
        match (self.dom_any, self.dow_any) {
            (false, false) => dom_ok || dow_ok,
            _ => dom_ok && dow_ok,
        }
    }

    /// Is a window of `duration` opened by the schedule in progress at `now`: did it
    /// match at some minute in `(now - duration, now]`? Windows longer than 31 days are
    /// looked back over 31 days.
    pub fn active(&self, now: Millis, duration: Millis) -> bool {
        let look = duration.0.min(31 * 86_400_000);
        let mut m = now.0 / 60_000;
        loop {
            let t = m * 60_000;
            if t + look <= now.0 {
                return false;
            }
            if self.matches(Millis(t)) {
                return true;
            }
            if m == 0 {
                return false;
            }
            m -= 1;
        }
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (the proleptic
/// Gregorian calendar).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const DAY: u64 = 24 * H;

    #[test]
    fn calendar() {
        assert_eq!(civil(EPOCH_DAYS), (2024, 1, 1));
        assert_eq!(civil(EPOCH_DAYS + 59), (2024, 2, 29));
        assert_eq!(civil(0), (1970, 1, 1));
    }

    #[test]
    fn weekday_business_hours() {
        let c = Cron::parse("0 9 * * mon-fri").unwrap();
        let eight = Millis::from_mins(8 * 60);
        // Monday 9:00 to 17:00.
        assert!(!c.active(Millis(8 * H + 59 * 60_000), eight));
        assert!(c.active(Millis(9 * H), eight));
        assert!(c.active(Millis(16 * H + 59 * 60_000), eight));
        assert!(!c.active(Millis(17 * H), eight));
        // Saturday (day 5) never.
        assert!(!c.active(Millis(5 * DAY + 10 * H), eight));
        // Friday (day 4) yes.
        assert!(c.active(Millis(4 * DAY + 10 * H), eight));
    }

    #[test]
    fn steps_lists_names_and_macros() {
        let c = Cron::parse("*/15 0,12 1 jan *").unwrap();
        assert!(c.matches(Millis(0)));
        assert!(c.matches(Millis(12 * H + 45 * 60_000)));
        assert!(!c.matches(Millis(12 * H + 50 * 60_000)));
        assert!(!c.matches(Millis(DAY)));
        assert_eq!(
            Cron::parse("@daily").unwrap(),
            Cron::parse("0 0 * * *").unwrap()
        );
        // Sunday as 7 and as 0; the first Sunday is day 6.
        assert!(Cron::parse("0 0 * * 7").unwrap().matches(Millis(6 * DAY)));
        // Both day fields restricted: either matches (1st of the month or Monday).
        let either = Cron::parse("0 0 1 * mon").unwrap();
        assert!(either.matches(Millis(7 * DAY)));
        assert!(!either.matches(Millis(8 * DAY)));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Cron::parse("0 25 * * *").unwrap_err();
        assert!(e.to_string().contains("hour field `25`"), "{e}");
        assert!(matches!(e, CronError::Field { field: "hour", .. }));
        let e = Cron::parse("0 9 * *").unwrap_err();
        assert_eq!(e, CronError::FieldCount { found: 4 });
        assert!(e.to_string().contains("5 fields"));
        let e = Cron::parse("0 9 * * funday").unwrap_err();
        assert!(
            matches!(
                e,
                CronError::Field {
                    field: "day-of-week",
                    ..
                }
            ),
            "{e}"
        );
        assert!(Cron::parse("*/0 * * * *").is_err());
    }
}
