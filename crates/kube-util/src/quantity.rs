//! Kubernetes resource quantities, parsed exactly (no floating point), with the grammar of
//! `k8s.io/apimachinery/pkg/api/resource`:
//!
//! ```text
//! quantity ::= [+-] number suffix        number ::= digits | digits. | .digits | digits.digits
//! suffix   ::= "" | m | k | M | G | T | P | E          (decimal: 10^-3 … 10^18)
//!            | Ki | Mi | Gi | Ti | Pi | Ei             (binary: 2^10 … 2^60)
//!            | e<int> | E<int>                         (decimal exponent: 1e3, 5E-2)
//! ```
//!
//! A value is kept in thousandths of its unit, the finest precision Kubernetes keeps; a
//! finer fraction is rounded up in magnitude, as Kubernetes does (`0.0001` is `1m`).

/// A quantity, exactly, in thousandths of its unit (bytes for a storage size, cores for
/// CPU). Quantities compare by value: `1Gi == 1024Mi`, `50Gi > 50G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    millis: i128,
}

impl Quantity {
    /// Parses a quantity (`55Gi`, `500M`, `1.5Ti`, `100m`, `1e3`, `1024`; white space
    /// around it is ignored). `None` when it is not one, or too large to hold
    /// (beyond about 10^35 units).
    pub fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let (negative, unsigned) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let end = unsigned.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(end);
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return None;
        }
        let (multiplier, exp10) = suffix_value(suffix)?;
        // value = digits × 10^-frac × multiplier × 10^exp10, and ×10^3 for thousandths
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Some(Quantity { millis: 0 });
        }
        let mantissa = digits.parse::<i128>().ok()?.checked_mul(multiplier)?;
        let exp = exp10.checked_add(3)?.checked_sub(i32::try_from(frac.len()).ok()?)?;
        let magnitude = if exp >= 0 {
            mantissa.checked_mul(10i128.checked_pow(exp.unsigned_abs())?)?
        } else {
            div_ceil_pow10(mantissa, exp.unsigned_abs())
        };
        Some(Quantity {
            millis: if negative { -magnitude } else { magnitude },
        })
    }

    /// The quantity of `millis` thousandths.
    pub fn from_millis(millis: i128) -> Quantity {
        Quantity { millis }
    }

    /// The value in thousandths of the unit.
    pub fn millis(self) -> i128 {
        self.millis
    }

    /// The value in units (bytes, cores), as a float — for scripts, which have no wider
    /// integer; exact up to 2^53 thousandths.
    pub fn as_f64(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    /// The value in whole units (bytes for a storage size), rounded down; `None` when it
    /// is negative.
    pub fn bytes(self) -> Option<u128> {
        u128::try_from(self.millis / 1000).ok().filter(|_| self.millis >= 0)
    }
}

/// The suffix's factor: (binary multiplier, decimal exponent).
fn suffix_value(suffix: &str) -> Option<(i128, i32)> {
    Some(match suffix {
        "" => (1, 0),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        e if e.starts_with(['e', 'E']) => {
            let exp = &e[1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (1, exp.parse().ok()?)
        }
        _ => return None,
    })
}

/// ⌈n / 10^k⌉ for n > 0.
fn div_ceil_pow10(n: i128, k: u32) -> i128 {
    match 10i128.checked_pow(k) {
        Some(d) => n / d + i128::from(n % d != 0),
        // 10^k is beyond i128, so beyond n: a positive fraction below one thousandth.
        None => 1,
    }
}

impl std::str::FromStr for Quantity {
    type Err = String;

    fn from_str(s: &str) -> Result<Quantity, String> {
        Quantity::parse(s).ok_or_else(|| format!("`{s}` is not a Kubernetes quantity (e.g. 55Gi, 500m, 1e3)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|| panic!("`{s}` should parse"))
    }

    fn millis(s: &str) -> i128 {
        q(s).millis()
    }

    #[test]
    fn plain_numbers_are_units() {
        assert_eq!(millis("0"), 0);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("1024"), 1_024_000);
        assert_eq!(millis("+7"), 7000);
        assert_eq!(millis("-7"), -7000);
        assert_eq!(millis(" 42 "), 42_000);
        assert_eq!(millis("007"), 7000);
    }

    #[test]
    fn decimal_suffixes_are_powers_of_ten() {
        assert_eq!(millis("5m"), 5);
        assert_eq!(millis("1k"), 1_000_000);
        assert_eq!(millis("1M"), 10i128.pow(9));
        assert_eq!(millis("1G"), 10i128.pow(12));
        assert_eq!(millis("1T"), 10i128.pow(15));
        assert_eq!(millis("1P"), 10i128.pow(18));
        assert_eq!(millis("1E"), 10i128.pow(21));
        assert_eq!(q("1T"), q("1000G"));
    }

    #[test]
    fn binary_suffixes_are_powers_of_two() {
        for (i, s) in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].iter().enumerate() {
            assert_eq!(millis(&format!("1{s}")), 1000 << (10 * (i + 1)), "{s}");
        }
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("2Ti"), Quantity::from_millis(2 * 1024 * q("1Gi").millis()));
    }

    #[test]
    fn exponents_scale_by_ten() {
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E3"), q("1k"));
        assert_eq!(q("1e+3"), q("1k"));
        assert_eq!(q("5e-3"), q("5m"));
        assert_eq!(q("1.5e2"), q("150"));
        assert_eq!(q("1e0"), q("1"));
        // `E` alone is exa, not an exponent
        assert_eq!(q("2E"), q("2e18"));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis(".5"), 500);
        assert_eq!(millis("5."), 5000);
        assert_eq!(millis("1.5Gi"), 1536 * 1024 * 1024 * 1000);
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("0.5Ki"), q("512"));
        assert_eq!(q("100m"), Quantity::from_millis(q("1").millis() / 10));
        assert!(q("1.5Gi") > q("1Gi") && q("1.5Gi") < q("2Gi"));
        // below a thousandth: rounded up in magnitude, as Kubernetes does
        assert_eq!(millis("0.30000000000000004"), 301);
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(millis("-0.0001"), -1);
        assert_eq!(millis("1e-50"), 1);
        assert_eq!(millis("0.000"), 0);
        assert_eq!(millis("0e99"), 0);
    }

    #[test]
    fn storage_sizes_compare_across_suffixes() {
        assert!(q("55Gi") > q("50Gi"));
        assert!(q("50Gi") > q("50G"));
        assert!(q("1G") < q("1Gi"));
        assert_eq!(q("51200Mi"), q("50Gi"));
        assert!(q("-1Gi") < q("0"));
    }

    #[test]
    fn conversions() {
        assert_eq!(q("1Gi").as_f64(), 1073741824.0);
        assert_eq!(q("100m").as_f64(), 0.1);
        assert_eq!(q("-2k").as_f64(), -2000.0);
        assert_eq!(q("55Gi").bytes(), Some(55 << 30));
        assert_eq!(q("1.9").bytes(), Some(1));
        assert_eq!(q("500m").bytes(), Some(0));
        assert_eq!(q("-1Gi").bytes(), None);
        assert_eq!("55Gi".parse::<Quantity>(), Ok(q("55Gi")));
        assert_eq!(
            "5K".parse::<Quantity>(),
            Err("`5K` is not a Kubernetes quantity (e.g. 55Gi, 500m, 1e3)".to_owned())
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        for bad in [
            "", " ", ".", "+", "-", "--1", "+-1", "-+1", "1.2.3", "lots", "bogus", "Gi", "5Xi", "5K", "5ki", "5gi", "5GI", "5 Gi", "1Gi5",
            "1GiB", "e3", "1e", "1e+", "1e3.5", "1e3k", "1ee3", "0x10", "1,5", "1_000", "∞", "NaN",
        ] {
            assert_eq!(Quantity::parse(bad), None, "`{bad}` must be refused");
        }
    }

    #[test]
    fn values_too_large_to_hold_are_refused() {
        assert_eq!(Quantity::parse("1e40"), None);
        assert_eq!(Quantity::parse("1000000000000000000000Ei"), None);
        assert_eq!(Quantity::parse(&"9".repeat(40)), None);
        assert_eq!(Quantity::parse("1e2147483647"), None);
        assert_eq!(Quantity::parse("1e99999999999"), None);
        // the largest that fit
        assert_eq!(millis("1e35"), 10i128.pow(38));
        assert!(Quantity::parse("100000Ei").is_some());
    }
}
