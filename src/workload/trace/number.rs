//! Token counts read from trace fields, and why a field is not a usable number.

use super::snippet;

/// Why a field is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum NumErr {
    Empty,
    NotNumber,
    NotFinite,
    Negative,
    Fraction,
    TooLarge,
}

impl NumErr {
    pub(super) fn describe(self, raw: &str) -> String {
        let raw = snippet(raw);
        match self {
            NumErr::Empty => "is empty".to_string(),
            NumErr::NotNumber => format!("is `{raw}`, which is not a number"),
            NumErr::NotFinite => format!("is `{raw}`, which is not a finite number"),
            NumErr::Negative => format!("is `{raw}`, which is negative"),
            NumErr::Fraction => format!("is `{raw}`, which is not a whole number"),
            NumErr::TooLarge => format!("is `{raw}`, which is too large"),
        }
    }
}

/// A token count from text: a whole number (`12` or `12.0`), at most `u32::MAX`.
pub(super) fn count_from_str(s: &str) -> Result<u32, NumErr> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return u32::try_from(v).map_err(|_| NumErr::TooLarge);
    }
    match s.parse::<f64>() {
        Ok(f) => count_from_f64(f),
        Err(_) if s.is_empty() => Err(NumErr::Empty),
        Err(_) => Err(NumErr::NotNumber),
    }
}

fn count_from_f64(f: f64) -> Result<u32, NumErr> {
    if !f.is_finite() {
        Err(NumErr::NotFinite)
    } else if f < 0.0 {
        Err(NumErr::Negative)
    } else if f.fract() != 0.0 {
        Err(NumErr::Fraction)
    } else if f > u32::MAX as f64 {
        Err(NumErr::TooLarge)
    } else {
        Ok(f as u32)
    }
}

pub(super) fn count_from_json(n: &serde_json::Number) -> Result<u32, NumErr> {
    if let Some(v) = n.as_u64() {
        u32::try_from(v).map_err(|_| NumErr::TooLarge)
    } else if n.is_i64() {
        Err(NumErr::Negative)
    } else {
        count_from_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}
