//! How numbers are written for people (tables, labels, notes). One place, so the same value reads
//! the same in every report. A leaf.

/// A short, readable number: 4 significant digits, scientific notation outside [1e-3, 1e6).
/// `n/a` for a value that is not finite.
pub fn sig4(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    let a = rounded.abs();
    if !(1e-3..1e6).contains(&a) {
        format!("{rounded:e}")
    } else {
        format!("{rounded}")
    }
}

/// A number as written: integers bare, others to at most 3 decimals without trailing zeros.
pub fn plain(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A measured value with a precision suited to its size (ms and tok/s span 1 to 10^5): one
/// decimal from 100 up, two below.
pub fn measured(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_style_writes_what_it_promises() {
        assert_eq!(sig4(1234.5678), "1235");
        assert_eq!(sig4(0.000_123_46), "1.235e-4");
        assert_eq!(sig4(f64::NAN), "n/a");
        assert_eq!(plain(12.0), "12");
        assert_eq!(plain(0.1 + 0.2), "0.3");
        assert_eq!(plain(2.5), "2.5");
        assert_eq!(measured(123.456), "123.5");
        assert_eq!(measured(1.234), "1.23");
    }
}
