//! Exact parsing of Kubernetes resource quantities (`500m`, `1Gi`, `1.5`, `1e3`, `100M`).
//!
//! A quantity is `<sign><digits>[.<digits>]<suffix>` where the suffix is a binary SI
//! suffix (`Ki Mi Gi Ti Pi Ei`), a decimal SI suffix (`n u m "" k M G T P E`) or a decimal
//! exponent (`e3`, `E-2`). Values are kept exact (an integer mantissa and powers of 10 and
//! 1024) and rounded up only when converted, as Kubernetes' `Value()` and `MilliValue()` do.

/// A parsed quantity: `mantissa x 10^exp10 x 1024^exp1024`, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp1024: u32,
}

/// Why a quantity string is not valid: the text and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {text:?}: {why}")]
#[non_exhaustive]
pub struct QuantityError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Quantity {
    /// Parse a quantity string.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let err = |why: &'static str| QuantityError {
            text: s.to_string(),
            why,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (negative, rest) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(err("no digits"));
        }
        if num.matches('.').count() > 1 {
            return Err(err("more than one decimal point"));
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let mut mantissa: u128 = 0;
        for c in int_part.chars().chain(frac_part.chars()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(c as u128 - '0' as u128))
                .ok_or_else(|| err("too many digits"))?;
        }
        let mut exp10 = -(frac_part.len() as i32);
        let mut exp1024 = 0u32;
        match suffix {
            "" => {}
            "Ki" => exp1024 = 1,
            "Mi" => exp1024 = 2,
            "Gi" => exp1024 = 3,
            "Ti" => exp1024 = 4,
            "Pi" => exp1024 = 5,
            "Ei" => exp1024 = 6,
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            _ if suffix.starts_with(['e', 'E']) => {
                let e: i32 = suffix[1..]
                    .parse()
                    .map_err(|_| err("bad exponent or unknown suffix"))?;
                if !(-100..=100).contains(&e) {
                    return Err(err("exponent out of range"));
                }
                exp10 += e;
            }
            _ => {
                return Err(err(
                    "unknown suffix (expected one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an exponent)",
                ))
            }
        }
        Ok(Quantity {
            negative: negative && mantissa != 0,
            mantissa,
            exp10,
            exp1024,
        })
    }

    /// True when the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// `ceil(value x 10^scale)` as an unsigned integer; `None` when negative or too large.
    pub fn ceil_scaled(&self, scale: i32) -> Option<u64> {
        if self.negative {
            return None;
        }
        let mut num: u128 = self.mantissa;
        for _ in 0..self.exp1024 {
            num = num.checked_mul(1024)?;
        }
        let e = self.exp10 + scale;
        if e >= 0 {
            for _ in 0..e {
                num = num.checked_mul(10)?;
            }
            u64::try_from(num).ok()
        } else {
            let mut den: u128 = 1;
            for _ in 0..(-e) {
                den = match den.checked_mul(10) {
                    Some(d) => d,
                    // The value is below 1 at this scale: it rounds up to 1 unless zero.
                    None => return Some(u64::from(num > 0)),
                };
            }
            u64::try_from(num.div_ceil(den)).ok()
        }
    }

    /// The value rounded up to a whole unit (bytes, pods, GPUs), as `Value()`.
    pub fn value(&self) -> Option<u64> {
        self.ceil_scaled(0)
    }

    /// The value in thousandths rounded up (millicores), as `MilliValue()`.
    pub fn milli_value(&self) -> Option<u64> {
        self.ceil_scaled(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn milli(s: &str) -> u64 {
        Quantity::parse(s).unwrap().milli_value().unwrap()
    }
    fn val(s: &str) -> u64 {
        Quantity::parse(s).unwrap().value().unwrap()
    }

    #[test]
    fn kubernetes_examples() {
        assert_eq!(milli("500m"), 500);
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(milli("2"), 2000);
        assert_eq!(milli("0.1"), 100);
        assert_eq!(milli("1e3"), 1_000_000);
        assert_eq!(milli("100u"), 1); // rounds up
        assert_eq!(val("1Gi"), 1 << 30);
        assert_eq!(val("1.5Gi"), 3 << 29);
        assert_eq!(val("100M"), 100_000_000);
        assert_eq!(val("128974848"), 128_974_848);
        assert_eq!(val("129e6"), 129_000_000);
        assert_eq!(val("123Mi"), 123 << 20);
        assert_eq!(val("1k"), 1000);
        assert_eq!(val("1Ki"), 1024);
        assert_eq!(val("0.5"), 1); // rounds up
        assert_eq!(val("+3"), 3);
        assert_eq!(val("1E2"), 100);
    }

    #[test]
    fn rejects_bad_input() {
        for s in [
            "", "m", "1.2.3", "12x", "1Gb", "--1", "1e", "1e999", "abc", "1 Gi",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s} should fail");
        }
        assert!(Quantity::parse("-1").unwrap().value().is_none());
        assert!(Quantity::parse("99999999999Ei").unwrap().value().is_none());
    }

    proptest! {
        #[test]
        fn integers_round_trip(n in 0u64..1<<50) {
            prop_assert_eq!(val(&n.to_string()), n);
            prop_assert_eq!(milli(&format!("{n}m")), n);
            prop_assert_eq!(val(&format!("{n}Ki")), n * 1024);
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            if let Ok(q) = Quantity::parse(&s) {
                let _ = q.value();
                let _ = q.milli_value();
            }
        }
    }
}
