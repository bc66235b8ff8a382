//! Metrics per time window (`[fleet] window_s`): what a run spanning days looks like minute by
//! minute, in memory bounded by the number of windows (latencies go into a fresh DDSketch per
//! window, never a sample per request).

use super::Sketch;
use polars::prelude::*;

/// One window `[start_s, end_s)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowRow {
    pub start_s: f64,
    pub end_s: f64,
    pub arrivals: u64,
    pub completions: u64,
    /// Replicas serving at the window's end, starting (booting, loading weights, warming up) and
    /// draining (no new requests; finishing those in flight).
    pub replicas_ready: u32,
    pub replicas_starting: u32,
    pub replicas_draining: u32,
    /// Requests waiting for a batch slot at the window's end, and all requests in the system.
    pub queued: u64,
    pub in_system: u64,
    /// The serving replicas' requests (queued or running) at the window's end over their batch
    /// slots (ready replicas × `max_batch`): what a target-utilization autoscaler reads (above
    /// 1 when requests queue). None: no replica ready.
    pub batch_slots_used: Option<f64>,
    /// The serving replicas' KV cache blocks held by their requests (prompts being prefilled,
    /// sequences decoding) at the window's end over their KV blocks: how close memory is to
    /// binding (a prefix cache's evictable blocks fill the rest and are not counted; swapped-out
    /// sequences hold host memory, not these blocks). None: no replica ready.
    pub kv_used: Option<f64>,
    /// Percentiles of the requests completed in the window (None: none completed).
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p50_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    /// Completed requests that met their SLO, over those completed (None: no SLO, or none
    /// completed).
    pub slo_attainment: Option<f64>,
    /// What the instances in service cost per hour during the window (time-weighted).
    pub usd_per_hour: f64,
    /// With `[fleet.purchase]`: what the window cost, USD, reserved / on demand / spot.
    pub part_usd: Option<[f64; 3]>,
    /// With `[fleet.purchase]` and an SLO: the window's width, minutes, if its SLO attainment
    /// fell below the target, else 0.
    pub slo_minutes_lost: Option<f64>,
}

/// What the replicas look like when a window closes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub ready: u32,
    pub starting: u32,
    pub draining: u32,
    pub queued: u64,
    pub in_system: u64,
    pub batch_slots_used: Option<f64>,
    pub kv_used: Option<f64>,
}

/// The open window's counters.
#[derive(Debug, Clone)]
pub struct Windows {
    pub width_ns: u64,
    /// End of the open window.
    pub end_ns: u64,
    arrivals: u64,
    completions: u64,
    met: u64,
    judged: u64,
    ttft: Sketch,
    tpot: Sketch,
    /// ∫ $/hour dt over the open window so far (dollar-hour·ns), and where it was last brought up to date.
    usd_ns: f64,
    last_ns: u64,
    pub usd_per_hour: f64,
    /// `[fleet.purchase]`: each part's $/hour, and its ∫ $/hour dt over the open window.
    part_usd_per_hour: Option<[f64; 3]>,
    part_usd_ns: [f64; 3],
    pub rows: Vec<WindowRow>,
}

impl Windows {
    pub fn new(width_ns: u64, usd_per_hour: f64) -> Windows {
        Windows {
            width_ns: width_ns.max(1),
            end_ns: width_ns.max(1),
            arrivals: 0,
            completions: 0,
            met: 0,
            judged: 0,
            ttft: Sketch::default(),
            tpot: Sketch::default(),
            usd_ns: 0.0,
            last_ns: 0,
            usd_per_hour,
            part_usd_per_hour: None,
            part_usd_ns: [0.0; 3],
            rows: Vec::new(),
        }
    }

    pub fn arrival(&mut self) {
        self.arrivals += 1;
    }

    /// A request completed; `met`: whether it met its SLO (None: it has none).
    pub fn completion(&mut self, ttft_ms: f64, tpot_ms: f64, met: Option<bool>) {
        self.completions += 1;
        self.ttft.add(ttft_ms, 1);
        if tpot_ms.is_finite() {
            self.tpot.add(tpot_ms, 1);
        }
        if let Some(m) = met {
            self.judged += 1;
            self.met += m as u64;
        }
    }

    /// The fleet's price per hour changes at `now_ns`.
    pub fn set_price(&mut self, now_ns: u64, usd_per_hour: f64) {
        self.accrue(now_ns);
        self.usd_per_hour = usd_per_hour;
    }

    /// The prices change at `now_ns`, part by part (`[fleet.purchase]`): the total and each of
    /// reserved, on demand and spot.
    pub fn set_part_prices(&mut self, now_ns: u64, usd_per_hour: f64, parts: [f64; 3]) {
        self.accrue(now_ns);
        self.usd_per_hour = usd_per_hour;
        self.part_usd_per_hour = Some(parts);
    }

    fn accrue(&mut self, now_ns: u64) {
        let t = now_ns.min(self.end_ns);
        if t > self.last_ns {
            let dt = (t - self.last_ns) as f64;
            self.usd_ns += self.usd_per_hour * dt;
            if let Some(p) = self.part_usd_per_hour {
                for (acc, usd) in self.part_usd_ns.iter_mut().zip(p) {
                    *acc += usd * dt;
                }
            }
            self.last_ns = t;
        }
    }

    /// Closes the open window at `end_ns` (its end, or the run's end for the last one).
    pub fn close(&mut self, end_ns: u64, s: Snapshot) {
        let start_ns = self.end_ns - self.width_ns;
        let end_ns = end_ns.clamp(start_ns, self.end_ns);
        self.accrue(end_ns);
        let q = |sk: &Sketch, p: f64| (sk.total() > 0).then(|| sk.quantile(p));
        let span = (end_ns - start_ns) as f64;
        self.rows.push(WindowRow {
            start_s: start_ns as f64 / 1e9,
            end_s: end_ns as f64 / 1e9,
            arrivals: self.arrivals,
            completions: self.completions,
            replicas_ready: s.ready,
            replicas_starting: s.starting,
            replicas_draining: s.draining,
            queued: s.queued,
            in_system: s.in_system,
            batch_slots_used: s.batch_slots_used,
            kv_used: s.kv_used,
            ttft_p50_ms: q(&self.ttft, 0.5),
            ttft_p99_ms: q(&self.ttft, 0.99),
            tpot_p50_ms: q(&self.tpot, 0.5),
            tpot_p99_ms: q(&self.tpot, 0.99),
            slo_attainment: (self.judged > 0).then(|| self.met as f64 / self.judged as f64),
            usd_per_hour: if span > 0.0 {
                self.usd_ns / span
            } else {
                self.usd_per_hour
            },
            part_usd: self.part_usd_per_hour.map(|_| self.part_usd_ns.map(|x| x / 3600e9)),
            slo_minutes_lost: None,
        });
        self.part_usd_ns = [0.0; 3];
        self.arrivals = 0;
        self.completions = 0;
        self.met = 0;
        self.judged = 0;
        self.usd_ns = 0.0;
        self.ttft = Sketch::default();
        self.tpot = Sketch::default();
        self.end_ns += self.width_ns;
        self.last_ns = self.end_ns - self.width_ns;
    }
}

/// The descriptions of the columns of [`windows_frame`], in its order (Parquet metadata).
pub fn windows_docs() -> super::table::Docs {
    [
        ("start_s", "start of the window, seconds since the run's start"),
        (
            "end_s",
            "end of the window (exclusive), seconds; the last window ends where the run's span ends",
        ),
        ("arrivals", "requests that arrived in the window"),
        ("completions", "requests that completed in the window"),
        ("replicas_ready", "replicas serving at the window's end"),
        (
            "replicas_starting",
            "replicas starting (instance boot, weight load, warm-up) at the window's end; 0 without [fleet.autoscale]",
        ),
        (
            "replicas_draining",
            "replicas draining (no new requests, finishing those in flight) at the window's end; 0 without [fleet.autoscale]",
        ),
        ("queued", "requests waiting for a batch slot at the window's end"),
        (
            "in_system",
            "requests in the system (front end, gateway, queues, running) at the window's end",
        ),
        (
            "batch_slots_used",
            "the ready replicas' requests (queued or running) at the window's end over their batch slots (ready replicas × max_batch), as a target-utilization autoscaler reads them; above 1 when requests queue (null: no replica ready)",
        ),
        (
            "kv_used",
            "the ready replicas' KV cache blocks held by their requests at the window's end over their KV blocks (a prefix cache's evictable blocks not counted; null: no replica ready)",
        ),
        (
            "ttft_p50_ms",
            "median time to first token of the requests completed in the window, ms (null: none completed)",
        ),
        (
            "ttft_p99_ms",
            "99th percentile time to first token of the requests completed in the window, ms (null: none completed)",
        ),
        (
            "tpot_p50_ms",
            "median time per output token of the requests completed in the window, ms (null: none completed)",
        ),
        (
            "tpot_p99_ms",
            "99th percentile time per output token of the requests completed in the window, ms (null: none completed)",
        ),
        (
            "slo_attainment",
            "share of the window's completed requests that met their SLO (null: no SLO, or none completed)",
        ),
        (
            "usd_per_hour",
            "what the instances provisioned (serving, starting or draining) cost per hour during the window, time-weighted",
        ),
        (
            "reserved_usd",
            "[fleet.purchase] only: what the reserved base cost in the window, USD (paid whether it served or not)",
        ),
        (
            "on_demand_usd",
            "[fleet.purchase] only: what the on-demand replicas provisioned cost in the window, USD",
        ),
        (
            "spot_usd",
            "[fleet.purchase] only: what the spot replicas provisioned cost in the window, USD",
        ),
        (
            "slo_minutes_lost",
            "[fleet.purchase] only: the window's width in minutes if its SLO attainment fell below the SLO's percentile / 100, else 0 (null: no SLO)",
        ),
    ]
    .into_iter()
    .map(|(c, d)| (c.to_string(), d.to_string()))
    .collect()
}

/// The windows as a table (Parquet/CSV through [`super::table`]); missing percentiles are nulls.
pub fn windows_frame(rows: &[WindowRow]) -> Result<DataFrame, PolarsError> {
    let f64s =
        |name: &str, f: &dyn Fn(&WindowRow) -> f64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let u64s =
        |name: &str, f: &dyn Fn(&WindowRow) -> u64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let u32s =
        |name: &str, f: &dyn Fn(&WindowRow) -> u32| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let opt = |name: &str, f: &dyn Fn(&WindowRow) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<Option<f64>>>())
    };
    let mut columns = vec![
        f64s("start_s", &|r| r.start_s),
        f64s("end_s", &|r| r.end_s),
        u64s("arrivals", &|r| r.arrivals),
        u64s("completions", &|r| r.completions),
        u32s("replicas_ready", &|r| r.replicas_ready),
        u32s("replicas_starting", &|r| r.replicas_starting),
        u32s("replicas_draining", &|r| r.replicas_draining),
        u64s("queued", &|r| r.queued),
        u64s("in_system", &|r| r.in_system),
        opt("batch_slots_used", &|r| r.batch_slots_used),
        opt("kv_used", &|r| r.kv_used),
        opt("ttft_p50_ms", &|r| r.ttft_p50_ms),
        opt("ttft_p99_ms", &|r| r.ttft_p99_ms),
        opt("tpot_p50_ms", &|r| r.tpot_p50_ms),
        opt("tpot_p99_ms", &|r| r.tpot_p99_ms),
        opt("slo_attainment", &|r| r.slo_attainment),
        f64s("usd_per_hour", &|r| r.usd_per_hour),
    ];
    if rows.first().is_some_and(|r| r.part_usd.is_some()) {
        for (k, name) in ["reserved_usd", "on_demand_usd", "spot_usd"].into_iter().enumerate() {
            columns.push(f64s(name, &|r| r.part_usd.map_or(0.0, |p| p[k])));
        }
        columns.push(opt("slo_minutes_lost", &|r| r.slo_minutes_lost));
    }
    DataFrame::new(rows.len(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of the windows table has its description, in the table's order.
    #[test]
    fn every_window_column_is_described() {
        let df = windows_frame(&[WindowRow::default()]).unwrap();
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        let described: Vec<String> = windows_docs().into_iter().map(|(c, _)| c).collect();
        assert_eq!(names, described[..names.len()]);
        let bought = WindowRow {
            part_usd: Some([0.0; 3]),
            ..WindowRow::default()
        };
        let df = windows_frame(&[bought]).unwrap();
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, described);
    }

    #[test]
    fn a_window_counts_its_own_requests_and_prices_time_weighted() {
        // 60 s windows at $10/h; the price doubles at 30 s: the first window averages $15/h.
        let s = 1_000_000_000;
        let mut w = Windows::new(60 * s, 10.0);
        w.arrival();
        w.arrival();
        w.completion(100.0, 10.0, Some(true));
        w.completion(300.0, f64::NAN, Some(false));
        w.set_price(30 * s, 20.0);
        w.close(60 * s, Snapshot::default());
        w.arrival();
        w.close(120 * s, Snapshot::default());
        let (a, b) = (&w.rows[0], &w.rows[1]);
        assert_eq!((a.arrivals, a.completions, b.arrivals, b.completions), (2, 2, 1, 0));
        assert!((a.usd_per_hour - 15.0).abs() < 1e-12, "{}", a.usd_per_hour);
        assert!((b.usd_per_hour - 20.0).abs() < 1e-12);
        assert_eq!(a.slo_attainment, Some(0.5));
        assert_eq!((b.ttft_p99_ms, b.slo_attainment), (None, None));
        // Two samples: p50 interpolates halfway, within the sketch's 0.1 %.
        assert!((a.ttft_p50_ms.unwrap() - 200.0).abs() < 0.4);
        assert!((a.tpot_p99_ms.unwrap() - 10.0).abs() < 0.02);
        assert_eq!(windows_frame(&w.rows).unwrap().height(), 2);
    }
}
