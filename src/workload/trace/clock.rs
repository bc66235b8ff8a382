//! Timestamps: arrival order and the origin of a trace's clock, and the time formats traces use
//! (seconds, milliseconds, date-times).

use super::Ctx;
use super::number::NumErr;
use crate::error::Result;

/// Largest accepted timestamp, in seconds (about 31,700 years).
const MAX_SECONDS: f64 = 1e12;

/// Non-negative seconds (float) to nanoseconds.
pub(super) fn seconds_to_ns(s: &str) -> Result<i128, NumErr> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(f) if !f.is_finite() => Err(NumErr::NotFinite),
        Ok(f) if f < 0.0 => Err(NumErr::Negative),
        Ok(f) if f > MAX_SECONDS => Err(NumErr::TooLarge),
        Ok(f) => Ok((f * 1e9).round() as i128),
        Err(_) if s.is_empty() => Err(NumErr::Empty),
        Err(_) => Err(NumErr::NotNumber),
    }
}

/// Non-negative milliseconds (JSON number) to nanoseconds; exact for integers.
pub(super) fn millis_to_ns(n: &serde_json::Number) -> Result<i128, NumErr> {
    if let Some(v) = n.as_u64() {
        Ok(i128::from(v) * 1_000_000)
    } else if n.is_i64() {
        Err(NumErr::Negative)
    } else {
        match n.as_f64() {
            Some(f) if f < 0.0 => Err(NumErr::Negative),
            Some(f) if f.is_finite() && f <= MAX_SECONDS * 1e3 => Ok((f * 1e6).round() as i128),
            Some(f) if f.is_finite() => Err(NumErr::TooLarge),
            _ => Err(NumErr::NotFinite),
        }
    }
}

/// Tracks arrival order and converts absolute timestamps to arrivals since the first request.
pub(super) struct Clock {
    origin: Option<i128>,
    prev: Option<(i128, usize)>,
}

impl Clock {
    pub(super) fn new() -> Self {
        Clock {
            origin: None,
            prev: None,
        }
    }

    /// Check `t` (from `line`) does not go backwards; `show` renders a timestamp for the message.
    pub(super) fn check_order(&mut self, ctx: &Ctx, line: usize, t: i128, show: impl Fn(i128) -> String) -> Result<()> {
        if let Some((p, pline)) = self.prev
            && t < p
        {
            return Err(ctx.err(
                line,
                format!(
                    "timestamp {} is earlier than {} on line {pline}; rows must be in arrival \
                     order: sort the file by its timestamp column (keeping the header first)",
                    show(t),
                    show(p)
                ),
            ));
        }
        self.prev = Some((t, line));
        Ok(())
    }

    /// Arrival of a request kept at absolute time `t` (the first kept request defines time 0).
    pub(super) fn arrival(&mut self, ctx: &Ctx, line: usize, t: i128) -> Result<u64> {
        let origin = *self.origin.get_or_insert(t);
        u64::try_from(t - origin).map_err(|_| {
            ctx.err(
                line,
                "timestamp is more than 584 years after the first request; check the time unit",
            )
        })
    }
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.f{0,9}][Z|±HH:MM|±HHMM|±HH]` to nanoseconds since 1970-01-01 UTC
/// (without an offset the time is taken as UTC). No leap seconds.
pub(super) fn parse_datetime(s: &str) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    let mut p = 0;
    let num = |digits: usize, p: &mut usize| -> Option<i64> {
        let end = *p + digits;
        let d = b.get(*p..end)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *p = end;
        Some(d.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
    };
    let expect = |c: &[u8], p: &mut usize| -> bool {
        if b.get(*p).is_some_and(|x| c.contains(x)) {
            *p += 1;
            true
        } else {
            false
        }
    };
    const SHAPE: &str = "not a date-time";
    let year = num(4, &mut p).ok_or(SHAPE)?;
    if !expect(b"-", &mut p) {
        return Err(SHAPE);
    }
    let month = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b"-", &mut p) {
        return Err(SHAPE);
    }
    let day = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b" T", &mut p) {
        return Err(SHAPE);
    }
    let hour = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b":", &mut p) {
        return Err(SHAPE);
    }
    let minute = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b":", &mut p) {
        return Err(SHAPE);
    }
    let second = num(2, &mut p).ok_or(SHAPE)?;
    let mut frac_ns = 0i64;
    if expect(b".", &mut p) {
        let start = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        let digits = &b[start..p];
        if digits.len() > 9 {
            return Err("more than 9 fractional digits");
        }
        let v = digits.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
        frac_ns = v * 10i64.pow(9 - digits.len() as u32);
    }
    let mut offset_s = 0i64;
    match b.get(p) {
        None => {}
        Some(b'Z' | b'z') if p + 1 == b.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            p += 1;
            let oh = num(2, &mut p).ok_or("bad UTC offset")?;
            expect(b":", &mut p);
            let om = if p < b.len() {
                num(2, &mut p).ok_or("bad UTC offset")?
            } else {
                0
            };
            if p != b.len() || oh > 23 || om > 59 {
                return Err("bad UTC offset");
            }
            offset_s = (oh * 3600 + om * 60) * if sign == b'+' { 1 } else { -1 };
        }
        Some(_) => return Err("unexpected text after the time"),
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day < 1 || day > month_days[month as usize - 1] {
        return Err("day out of range for the month");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + i128::from(frac_ns))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert_exactly() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_datetime("2023-11-16 18:15:46.6805900"),
            Ok(1_700_158_546_680_590_000)
        );
        assert_eq!(parse_datetime("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000_000_000));
        assert_eq!(parse_datetime("2024-02-29 00:00:00."), Ok(1_709_164_800_000_000_000));
        assert_eq!(
            parse_datetime("2024-02-29 01:00:00.123456789+0100"),
            Ok(1_709_164_800_123_456_789)
        );
        assert!(parse_datetime("2023-02-29 00:00:00").is_err());
        assert!(parse_datetime("2023-11-16 18:15:46.6805900123").is_err());
        assert!(parse_datetime("2023-11-16").is_err());
    }
}
