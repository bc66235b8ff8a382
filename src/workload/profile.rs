//! A time-varying arrival rate (`[workload.profile]`): a daily shape (hourly or finer values), a
//! weekly shape, compounded growth per week and spikes, multiplying the arrival's `rate_per_s`.
//!
//! The arrivals are a non-homogeneous process by inversion (a time change): the rate arrival's
//! homogeneous times `s` (at `rate_per_s`) map to `t = M⁻¹(s)`, where `M(t) = ∫₀ᵗ m(τ) dτ` is
//! the integrated multiplier. For Poisson arrivals this is exactly the non-homogeneous Poisson
//! process of rate `rate_per_s · m(t)` (Çinlar's inversion); for gamma or constant gaps it is the
//! same renewal process run on a clock that speeds up and slows down with the demand. The draws
//! are the rate arrival's own (same seed, same stream), so a profile of all ones maps every time
//! to itself exactly and the run is the run without a profile, byte for byte.
//!
//! The multiplier is piecewise constant between the daily grid's points, the days and the spike
//! edges, times `e^{r t}` with `r = ln(1 + growth_per_week) / week`; each piece inverts in closed
//! form, and arrivals come in order, so mapping one is O(1) amortised.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const DAY_S: f64 = 86_400.0;
const WEEK_S: f64 = 7.0 * DAY_S;

/// `[workload.profile]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Multipliers over one day, evenly spaced from the run's start (24 values: hourly; 96:
    /// every 15 minutes), each held until the next. Default: `[1.0]` (flat).
    #[serde(default = "flat")]
    pub daily: Vec<f64>,
    /// Multipliers of the seven days from the run's start (day 0 first). Default: all 1.
    #[serde(default)]
    pub weekly: Vec<f64>,
    /// Growth of the demand per week, compounded continuously (0.05: +5 % a week). Default 0.
    #[serde(default)]
    pub growth_per_week: f64,
    /// Intervals of extra (or less) demand, multiplying everything else.
    #[serde(default)]
    pub spikes: Vec<Spike>,
}

fn flat() -> Vec<f64> {
    vec![1.0]
}

/// A spike: the rate is multiplied by `factor` from `start_s` for `duration_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub start_s: f64,
    pub duration_s: f64,
    pub factor: f64,
}

impl ProfileSpec {
    /// Checks every value, naming the key (`workload.profile.*`) and what is accepted.
    pub fn check(&self, path: &Path) -> Result<()> {
        let key = "workload.profile";
        let bad = |k: &str, m: String| Err(Error::input(path, format!("{key}.{k}"), m));
        let shape = |k: &str, v: &[f64], len: Option<usize>| -> Result<()> {
            if let Some(n) = len
                && !v.is_empty()
                && v.len() != n
            {
                return bad(
                    k,
                    format!(
                        "has {} values; accepted: exactly {n} (one per day, day 0 first) or none",
                        v.len()
                    ),
                );
            }
            if v.is_empty() && len.is_none() {
                return bad(
                    k,
                    "is empty; accepted: one or more multipliers over a day (24: hourly)".into(),
                );
            }
            if v.len() > 86_400 {
                return bad(
                    k,
                    format!("has {} values; accepted: at most 86400 (one a second)", v.len()),
                );
            }
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !(x.is_finite() && **x >= 0.0)) {
                return bad(
                    &format!("{k}[{i}]"),
                    format!("is {x}; accepted: a finite multiplier >= 0"),
                );
            }
            if !v.is_empty() && v.iter().all(|&x| x == 0.0) {
                return bad(
                    k,
                    "is all zeros: no request would ever arrive; accepted: at least one value > 0".into(),
                );
            }
            Ok(())
        };
        shape("daily", &self.daily, None)?;
        shape("weekly", &self.weekly, Some(7))?;
        if !(self.growth_per_week.is_finite() && self.growth_per_week > -1.0 && self.growth_per_week <= 100.0) {
            return bad(
                "growth_per_week",
                format!(
                    "is {}; accepted: a fraction in (-1, 100] (0.05: +5 % a week)",
                    self.growth_per_week
                ),
            );
        }
        for (i, s) in self.spikes.iter().enumerate() {
            let k = format!("spikes[{i}]");
            if !(s.start_s.is_finite() && s.start_s >= 0.0) {
                return bad(
                    &format!("{k}.start_s"),
                    format!("is {}; accepted: seconds >= 0", s.start_s),
                );
            }
            if !(s.duration_s.is_finite() && s.duration_s > 0.0) {
                return bad(
                    &format!("{k}.duration_s"),
                    format!("is {}; accepted: seconds > 0", s.duration_s),
                );
            }
            if !(s.factor.is_finite() && s.factor >= 0.0) {
                return bad(
                    &format!("{k}.factor"),
                    format!("is {}; accepted: a finite multiplier >= 0", s.factor),
                );
            }
        }
        Ok(())
    }

    /// The multiplier at `t_s` seconds, without growth.
    pub fn shape_at(&self, t_s: f64) -> f64 {
        let day = (t_s / DAY_S).floor();
        let in_day = t_s - day * DAY_S;
        let slot = ((in_day / DAY_S * self.daily.len() as f64) as usize).min(self.daily.len() - 1);
        let weekly = match self.weekly.len() {
            7 => self.weekly[(day as i64).rem_euclid(7) as usize],
            _ => 1.0,
        };
        let spike: f64 = self
            .spikes
            .iter()
            .filter(|s| t_s >= s.start_s && t_s < s.start_s + s.duration_s)
            .map(|s| s.factor)
            .product();
        self.daily[slot] * weekly * spike
    }

    /// The multiplier at `t_s` seconds: the shape times the growth.
    pub fn multiplier_at(&self, t_s: f64) -> f64 {
        self.shape_at(t_s) * (self.growth_rate_per_s() * t_s).exp()
    }

    /// The mean multiplier over the first week (growth aside): `rate_per_s` times it is the
    /// run's mean rate in its first week.
    pub fn mean_over_week(&self) -> f64 {
        let daily = self.daily.iter().sum::<f64>() / self.daily.len() as f64;
        let weekly = if self.weekly.len() == 7 {
            self.weekly.iter().sum::<f64>() / 7.0
        } else {
            1.0
        };
        // Spikes are a small correction; the note says they are left out.
        daily * weekly
    }

    fn growth_rate_per_s(&self) -> f64 {
        (1.0 + self.growth_per_week).ln() / WEEK_S
    }

    /// The next edge of a piece after `t_s`: the daily grid, a day, or a spike's edge.
    fn next_edge(&self, t_s: f64) -> f64 {
        let step = DAY_S / self.daily.len() as f64;
        let mut next = ((t_s / step).floor() + 1.0) * step;
        if next <= t_s {
            next = t_s + step;
        }
        for s in &self.spikes {
            for e in [s.start_s, s.start_s + s.duration_s] {
                if e > t_s && e < next {
                    next = e;
                }
            }
        }
        next
    }
}

/// The time change `t = M⁻¹(s)`, walked forward as arrivals come in order.
#[derive(Debug, Clone)]
pub struct Warp {
    spec: ProfileSpec,
    /// Growth rate per ns (0: none).
    r: f64,
    /// The current piece `[a, b)` (ns), its shape multiplier and `M(a)` (ns of base time).
    a: f64,
    b: f64,
    m: f64,
    m_at_a: f64,
}

impl Warp {
    pub fn new(spec: &ProfileSpec) -> Warp {
        let mut w = Warp {
            spec: spec.clone(),
            r: spec.growth_rate_per_s() * 1e-9,
            a: 0.0,
            b: 0.0,
            m: 0.0,
            m_at_a: 0.0,
        };
        w.enter(0.0, 0.0);
        w
    }

    fn enter(&mut self, a_ns: f64, m_at_a: f64) {
        self.a = a_ns;
        self.m_at_a = m_at_a;
        self.m = self.spec.shape_at(a_ns * 1e-9);
        self.b = self.spec.next_edge(a_ns * 1e-9) * 1e9;
    }

    /// `∫ₐᵗ m` in base ns for `t` in the current piece.
    fn integral_to(&self, t_ns: f64) -> f64 {
        if self.r == 0.0 {
            self.m * (t_ns - self.a)
        } else {
            self.m * ((self.r * t_ns).exp() - (self.r * self.a).exp()) / self.r
        }
    }

    /// Maps a homogeneous arrival time (ns at the base rate) to the profile's time (ns).
    /// Calls must come in non-decreasing order of `s_ns`.
    pub fn map(&mut self, s_ns: f64) -> f64 {
        loop {
            let at_b = self.m_at_a + self.integral_to(self.b);
            if s_ns < at_b || self.b > 1e30 {
                break;
            }
            self.enter(self.b, at_b);
        }
        let left = s_ns - self.m_at_a;
        if self.r == 0.0 {
            // With m = 1 and integer edges, a + (s − a) is s exactly (Sterbenz): a flat profile
            // changes no arrival time.
            self.a + left / self.m
        } else {
            ((self.r * self.a).exp() + self.r * left / self.m).ln() / self.r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(daily: Vec<f64>) -> ProfileSpec {
        ProfileSpec {
            daily,
            weekly: Vec::new(),
            growth_per_week: 0.0,
            spikes: Vec::new(),
        }
    }

    #[test]
    fn a_flat_profile_maps_every_time_to_itself_exactly() {
        let mut w = Warp::new(&spec(vec![1.0; 24]));
        let mut s = 0.0;
        for i in 0..200_000u64 {
            s += 1.234_567e9 * ((i % 7) as f64 + 0.1);
            assert_eq!(w.map(s), s);
        }
    }

    #[test]
    fn a_half_rate_hour_stretches_time_by_two() {
        // Hour 0 at ×2, hour 1 at ×0.5, the rest ×1. Base time 3 h of unit rate: the first hour
        // uses 2 h of base time, the second 0.5 h, so 3 h of base lands at 2 h + 0.5 h left at
        // ×1 = 2.5 h of profile time.
        let mut d = vec![1.0; 24];
        d[0] = 2.0;
        d[1] = 0.5;
        let mut w = Warp::new(&spec(d));
        let h = 3600e9;
        assert!((w.map(1.0 * h) - 0.5 * h).abs() < 1.0);
        assert!((w.map(2.25 * h) - 1.5 * h).abs() < 1.0);
        assert!((w.map(3.0 * h) - 2.5 * h).abs() < 1.0);
    }

    #[test]
    fn growth_inverts_the_closed_form() {
        // M(t) = (e^{rt} − 1)/r for a flat shape: t = ln(1 + r s)/r.
        let mut p = spec(vec![1.0]);
        p.growth_per_week = 0.5;
        let r = p.growth_rate_per_s() * 1e-9;
        let mut w = Warp::new(&p);
        for k in 1..30 {
            let s = k as f64 * 1e14;
            let want = (1.0 + r * s).ln() / r;
            assert!((w.map(s) - want).abs() / want < 1e-9, "{k}");
        }
    }

    #[test]
    fn zero_hours_receive_nothing_and_spikes_multiply() {
        let mut d = vec![0.0; 24];
        d[12] = 1.0;
        let mut p = spec(d);
        p.spikes.push(Spike {
            start_s: 12.5 * 3600.0,
            duration_s: 1800.0,
            factor: 3.0,
        });
        let mut w = Warp::new(&p);
        let h = 3600e9;
        // 0.5 h of base time: all of 12:00–12:30 at ×1; 1.5 h more fills 12:30–13:00 at ×3.
        assert!((w.map(0.25 * h) - 12.25 * h).abs() < 1.0);
        let got = w.map(1.1 * h) / h;
        assert!((got - (12.5 + 0.6 / 3.0)).abs() < 1e-9, "{got}");
        // Past 2 h of base time the next arrival lands the next day at noon.
        let got = w.map(2.5 * h) / h;
        assert!((got - 36.5).abs() < 1e-9, "{got}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let p = |f: &dyn Fn(&mut ProfileSpec)| {
            let mut s = spec(vec![1.0; 24]);
            f(&mut s);
            s.check(Path::new("x.toml")).unwrap_err().to_string()
        };
        assert!(p(&|s| s.daily[3] = f64::NAN).contains("workload.profile.daily[3]"));
        assert!(p(&|s| s.daily = vec![0.0; 4]).contains("all zeros"));
        assert!(p(&|s| s.weekly = vec![1.0; 5]).contains("exactly 7"));
        assert!(p(&|s| s.growth_per_week = -1.0).contains("growth_per_week"));
        assert!(
            p(&|s| s.spikes.push(Spike {
                start_s: 0.0,
                duration_s: 0.0,
                factor: 1.0
            }))
            .contains("spikes[0].duration_s")
        );
    }
}
