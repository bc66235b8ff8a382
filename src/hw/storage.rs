//! Storage tiers a replica reads from and writes to besides HBM: an instance's local NVMe, an
//! object store (S3) or a file system (FSx for Lustre), a pooled memory store over EFA. Each with
//! its bandwidth, first-byte latency and queue depth (`hw-profiles/storage.toml`, every number
//! with its source). LoRA adapters load from one; KV caches may spill to them.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One storage tier, as an instance sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTier {
    pub name: String,
    pub display_name: String,
    /// Read bandwidth one instance gets, GB/s.
    pub read_gb_s: f64,
    /// Write bandwidth one instance gets, GB/s.
    pub write_gb_s: f64,
    /// Time to the first byte of a read (or the acknowledgement of a write), µs.
    pub latency_us: f64,
    /// Requests the tier serves at once per instance; more wait in line.
    pub queue_depth: u32,
    /// Capacity one instance has (or, for a shared tier, contributes), GiB. Absent: unbounded
    /// (an object store or a file system that grows with use). Read by KV offload tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_gib: Option<f64>,
    /// A network store every instance reads and writes: a block one replica wrote another can
    /// read (S3, FSx, a pooled memory store). Default false (a local device).
    #[serde(default, skip_serializing_if = "is_false")]
    pub shared: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl StorageTier {
    /// Time to read `bytes` at `share` of the instance's bandwidth, ns: the first-byte latency,
    /// then the bytes.
    pub fn read_ns(&self, bytes: f64, share: f64) -> f64 {
        self.latency_us * 1e3 + bytes / (self.read_gb_s * share)
    }
}

pub(crate) fn validate(t: &StorageTier, file: &Path) -> Result<()> {
    let at = |k: &str| format!("storage `{}`.{k}", t.name);
    for (k, v) in [("read_gb_s", t.read_gb_s), ("write_gb_s", t.write_gb_s)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::input(
                file,
                at(k),
                format!("must be a finite number > 0, got {}", crate::error::given(v)),
            ));
        }
    }
    if !(t.latency_us.is_finite() && t.latency_us >= 0.0) {
        return Err(Error::input(
            file,
            at("latency_us"),
            format!(
                "must be a finite number >= 0, got {}",
                crate::error::given(t.latency_us)
            ),
        ));
    }
    if let Some(c) = t.capacity_gib.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(Error::input(
            file,
            at("capacity_gib"),
            format!(
                "must be a finite number > 0 (or absent: unbounded), got {}",
                crate::error::given(c)
            ),
        ));
    }
    if t.queue_depth == 0 {
        return Err(Error::input(file, at("queue_depth"), "must be at least 1, got 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_the_latency_then_the_bytes_at_the_share_of_bandwidth() {
        let t = StorageTier {
            name: "x".into(),
            display_name: "x".into(),
            read_gb_s: 8.0,
            write_gb_s: 4.0,
            latency_us: 150.0,
            queue_depth: 4,
            capacity_gib: None,
            shared: false,
        };
        // 1 GB at half of 8 GB/s = 250 ms, plus 150 µs.
        assert_eq!(t.read_ns(1e9, 0.5), 150e3 + 250e6);
    }

    #[test]
    fn the_shipped_tiers_parse_and_are_valid() {
        let c = crate::hw::Catalog::builtin().unwrap();
        for n in ["nvme", "s3", "fsx-lustre", "mooncake-pool"] {
            let t = c.storage(n).unwrap();
            validate(t, Path::new("x")).unwrap();
        }
    }
}
