//! Latency attribution: where a request's time went, in parts that add up exactly (integer
//! nanoseconds) to its TTFT and its end-to-end time, and the run's summary of which part
//! dominates its slowest requests, per replica and per class.
//!
//! The parts, in the order of a request's life:
//! - `network`: Nitro's per-request latency on the way in, and the client's network round trip
//!   (`workload.client_rtt`: half on the way in, half on the way back after the first token for
//!   TTFT and after the last for E2E);
//! - `frontend`: the front-end tier and the host's tokenizer (their queues included);
//! - `queue_step`: queued while the step in flight ran (an engine plans at step boundaries);
//! - `queue_slot`, `queue_kv`, `queue_budget`, `queue_admission`: queued while the head of the
//!   queue could not be admitted for want of a batch slot, of KV blocks, of the step's token
//!   budget, or because the policy admitted no new prompt (swapped sequences come back first, a
//!   preemption in the step, a static batch in progress);
//! - `prefill`: its prompt chunks' share of the steps that processed them (by tokens);
//! - `fetch`: its cached prefix swapped in from the host tier, fetched from the remote tier or read
//!   back from a KV offload tier;
//! - `other_work`: the rest of the steps it was in (other prompts' chunks, the prefill share of a
//!   mixed step while decoding, a prefill-only step while it waited to decode);
//! - `preempt`: from a preemption to its return (re-queue and recompute, or swap out and in);
//! - `kv_transfer`: its KV cache crossing to a decode replica (disaggregation), link queue too;
//! - `decode`: the decode rows' share of the steps it decoded in;
//! - `encode`: its images on the encode pool (`workload.multimodal.encoder = "pool"`): the
//!   pool's queue, the encoder and the embeddings' transfer to the LLM replica. Last in the
//!   list (and left out of the summary's means, the per-request rows' debug text and the
//!   requests table when zero) so that runs without an encode pool read exactly as before.

use serde::{Deserialize, Serialize};

/// The parts a request's time is split into (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Network,
    Frontend,
    QueueStep,
    QueueSlot,
    QueueKv,
    QueueBudget,
    QueueAdmission,
    Prefill,
    Fetch,
    OtherWork,
    Preempt,
    KvTransfer,
    Decode,
    Encode,
}

pub const PARTS: usize = 14;

impl Part {
    pub const ALL: [Part; PARTS] = [
        Part::Network,
        Part::Frontend,
        Part::QueueStep,
        Part::QueueSlot,
        Part::QueueKv,
        Part::QueueBudget,
        Part::QueueAdmission,
        Part::Prefill,
        Part::Fetch,
        Part::OtherWork,
        Part::Preempt,
        Part::KvTransfer,
        Part::Decode,
        Part::Encode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Network => "network",
            Part::Frontend => "frontend",
            Part::QueueStep => "queue_step",
            Part::QueueSlot => "queue_slot",
            Part::QueueKv => "queue_kv",
            Part::QueueBudget => "queue_budget",
            Part::QueueAdmission => "queue_admission",
            Part::Prefill => "prefill",
            Part::Fetch => "fetch",
            Part::OtherWork => "other_work",
            Part::Preempt => "preempt",
            Part::KvTransfer => "kv_transfer",
            Part::Decode => "decode",
            Part::Encode => "encode",
        }
    }

    /// What the part counts, as the module documentation says (the `ttft_<part>_ns` and
    /// `e2e_<part>_ns` column descriptions of requests.parquet).
    pub fn describe(self) -> &'static str {
        match self {
            Part::Network => {
                "Nitro's per-request latency on the way in, and the client's network round trip (workload.client_rtt), half in and half back"
            }
            Part::Frontend => "the front-end tier and the host's tokenizer, their queues included",
            Part::QueueStep => "queued while the step in flight ran (an engine plans at step boundaries)",
            Part::QueueSlot => "queued while the head of the queue could not be admitted for want of a batch slot",
            Part::QueueKv => "queued while the head of the queue could not be admitted for want of KV blocks",
            Part::QueueBudget => {
                "queued while the head of the queue could not be admitted for want of the step's token budget"
            }
            Part::QueueAdmission => {
                "queued while the policy admitted no new prompt (swapped sequences first, a preemption in the step, a static batch in progress)"
            }
            Part::Prefill => "its prompt chunks' share of the steps that processed them (by tokens)",
            Part::Fetch => {
                "its cached prefix swapped in from the host tier, fetched from the remote tier or read back from a KV offload tier"
            }
            Part::OtherWork => {
                "the rest of the steps it was in (other prompts' chunks, the prefill share of a mixed step while decoding, a prefill-only step while it waited to decode)"
            }
            Part::Preempt => "from a preemption to its return (re-queue and recompute, or swap out and in)",
            Part::KvTransfer => "its KV cache crossing to a decode replica (disaggregation), link queue too",
            Part::Decode => "the decode rows' share of the steps it decoded in",
            Part::Encode => {
                "its images on the encode pool (workload.multimodal.encoder = \"pool\"): the pool's queue, the encoder and the embeddings' transfer to the LLM replica"
            }
        }
    }

    /// The queue parts by reason, in the order of [`QueueReason`].
    pub fn queue(reason: QueueReason) -> Part {
        match reason {
            QueueReason::Slot => Part::QueueSlot,
            QueueReason::Kv => Part::QueueKv,
            QueueReason::Budget => Part::QueueBudget,
            QueueReason::Admission => Part::QueueAdmission,
        }
    }

    pub fn is_queue(self) -> bool {
        matches!(
            self,
            Part::QueueStep | Part::QueueSlot | Part::QueueKv | Part::QueueBudget | Part::QueueAdmission
        )
    }
}

/// Why the head of a replica's queue was not admitted when a step was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueReason {
    #[default]
    Slot,
    Kv,
    Budget,
    Admission,
}

pub const QUEUE_REASONS: usize = 4;

impl QueueReason {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Nanoseconds per part.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts(pub [u64; PARTS]);

/// As derived, without the `encode` part when it is zero (runs without an encode pool print
/// as they did before it existed).
impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.get(Part::Encode) == 0 {
            &self.0[..PARTS - 1]
        } else {
            &self.0[..]
        };
        f.debug_tuple("Parts").field(&shown).finish()
    }
}

impl Parts {
    pub fn get(&self, p: Part) -> u64 {
        self.0[p as usize]
    }
    pub fn add(&mut self, p: Part, ns: u64) {
        self.0[p as usize] += ns;
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn accumulate(&mut self, other: &Parts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    /// The largest part (the first of equals); `None` when every part is zero.
    pub fn dominant(&self) -> Option<Part> {
        let (i, &ns) = self.0.iter().enumerate().rev().max_by_key(|&(_, &ns)| ns)?;
        (ns > 0).then_some(Part::ALL[i])
    }
    /// The parts as (name, milliseconds), in order.
    pub fn ms(&self) -> Vec<(&'static str, f64)> {
        Part::ALL
            .iter()
            .map(|&p| (p.name(), self.get(p) as f64 * 1e-6))
            .collect()
    }
}

/// A request's attribution as it finished: its TTFT parts and its end-to-end parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestParts {
    pub ttft: Parts,
    pub e2e: Parts,
}

/// Mean parts of a group of requests and the one that dominates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupAttribution {
    /// Replica index or class name.
    pub group: String,
    pub requests: u64,
    /// The largest mean part.
    pub dominant: String,
    /// Mean milliseconds per part, in the order of the parts.
    pub mean_ms: PartsMs,
}

/// Milliseconds per part, written as an object keyed by the parts' names in their order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartsMs(pub Vec<f64>);

impl PartsMs {
    pub fn get(&self, p: Part) -> f64 {
        self.0.get(p as usize).copied().unwrap_or(0.0)
    }
}

impl Serialize for PartsMs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // `encode` only when an encode pool ran (see the module documentation).
        let shown = |(p, v): &(&Part, &f64)| **p != Part::Encode || **v != 0.0;
        let entries: Vec<_> = Part::ALL.iter().zip(&self.0).filter(shown).collect();
        let mut m = s.serialize_map(Some(entries.len()))?;
        for (p, v) in entries {
            m.serialize_entry(p.name(), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for PartsMs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::HashMap::<String, f64>::deserialize(d)?;
        Ok(PartsMs(
            Part::ALL
                .iter()
                .map(|p| m.get(p.name()).copied().unwrap_or(0.0))
                .collect(),
        ))
    }
}

/// Which part dominates the slowest requests (by TTFT and by E2E), overall, per replica and per
/// class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributionSummary {
    /// How many of the slowest requests each view reads: 1 % of the completed requests (at least
    /// one), at most [`SLOWEST_CAP`].
    pub slowest: u64,
    pub ttft: SlowestView,
    pub e2e: SlowestView,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlowestView {
    pub overall: GroupAttribution,
    pub by_replica: Vec<GroupAttribution>,
    pub by_class: Vec<GroupAttribution>,
}

/// The most slowest requests a run keeps (1 % of a million requests).
pub const SLOWEST_CAP: usize = 10_000;

/// The mean parts of `members` under `group`.
pub fn group(group: String, members: &[&Parts]) -> GroupAttribution {
    let mut sum = Parts::default();
    for p in members {
        sum.accumulate(p);
    }
    let n = members.len().max(1) as f64;
    GroupAttribution {
        group,
        requests: members.len() as u64,
        dominant: sum.dominant().map_or("none", Part::name).to_string(),
        mean_ms: PartsMs(sum.ms().into_iter().map(|(_, v)| v / n).collect()),
    }
}

/// One of the slowest requests in the heap: its latency (TTFT or E2E), its order, and the slot
/// of [`Slowest::kept`] that holds the rest (the heap moves 24 bytes, not the parts' 112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slow {
    ns: u64,
    seq: u64,
    slot: u32,
}

/// What the views read of a kept request: its replica, class and parts.
#[derive(Debug, Clone, Copy)]
struct Kept {
    replica: u32,
    class: u16,
    parts: Parts,
}

impl Ord for Slow {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Reversed: the heap's top is the fastest kept, the first to leave.
        (o.ns, o.seq).cmp(&(self.ns, self.seq))
    }
}
impl PartialOrd for Slow {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// The slowest requests by one latency, at most `cap` of them (memory stays bounded: INV-5).
#[derive(Debug, Clone, Default)]
pub struct Slowest {
    cap: usize,
    heap: std::collections::BinaryHeap<Slow>,
    /// The kept requests' replicas, classes and parts, by the slot their heap entry names; a
    /// request that leaves the heap gives its slot to the one that takes its place.
    kept: Vec<Kept>,
}

impl Slowest {
    /// Keeps 1 % of `requests` (at least one, at most [`SLOWEST_CAP`]).
    pub fn new(requests: u64) -> Slowest {
        Slowest {
            cap: (requests.div_ceil(100) as usize).clamp(1, SLOWEST_CAP),
            heap: std::collections::BinaryHeap::new(),
            kept: Vec::new(),
        }
    }

    /// Offers a request of latency `ns`; its `parts` are taken only if it is kept.
    #[inline]
    pub fn push(&mut self, ns: u64, seq: u64, replica: u32, class: u16, parts: impl FnOnce() -> Parts) {
        // Most requests are not among the slowest: decided before their parts are made.
        let full = self.heap.len() >= self.cap;
        if full && self.heap.peek().is_some_and(|top| (ns, seq) <= (top.ns, top.seq)) {
            return;
        }
        self.keep(ns, seq, replica, class, parts());
    }

    #[inline(never)]
    fn keep(&mut self, ns: u64, seq: u64, replica: u32, class: u16, parts: Parts) {
        let full = self.heap.len() >= self.cap;
        let kept = Kept { replica, class, parts };
        if full {
            if let Some(mut top) = self.heap.peek_mut() {
                let slot = top.slot;
                self.kept[slot as usize] = kept;
                *top = Slow { ns, seq, slot };
            }
        } else {
            let slot = self.kept.len() as u32;
            self.kept.push(kept);
            self.heap.push(Slow { ns, seq, slot });
        }
    }

    /// The slowest `n` requests' view: overall, per replica, per class (`classes` names them).
    pub fn view(&self, n: usize, classes: &[String]) -> SlowestView {
        let mut slowest: Vec<&Slow> = self.heap.iter().collect();
        slowest.sort();
        slowest.truncate(n);
        let v: Vec<&Kept> = slowest.iter().map(|s| &self.kept[s.slot as usize]).collect();
        let by = |key: &dyn Fn(&Kept) -> usize, name: &dyn Fn(usize) -> String| {
            let mut groups: std::collections::BTreeMap<usize, Vec<&Parts>> = Default::default();
            for s in &v {
                groups.entry(key(s)).or_default().push(&s.parts);
            }
            groups.into_iter().map(|(k, m)| group(name(k), &m)).collect()
        };
        SlowestView {
            overall: group("all".into(), &v.iter().map(|s| &s.parts).collect::<Vec<_>>()),
            by_replica: by(&|s| s.replica as usize, &|k| k.to_string()),
            by_class: by(&|s| s.class as usize, &|k| {
                classes.get(k).cloned().unwrap_or_else(|| "default".to_string())
            }),
        }
    }
}

/// The run's summary from its slowest requests by TTFT and by E2E, `completed` requests done.
pub fn summary(ttft: &Slowest, e2e: &Slowest, completed: u64, classes: &[String]) -> AttributionSummary {
    let n = (completed.div_ceil(100) as usize).clamp(1, SLOWEST_CAP);
    AttributionSummary {
        slowest: n.min(ttft.heap.len()) as u64,
        ttft: ttft.view(n, classes),
        e2e: e2e.view(n, classes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_name_the_largest() {
        let mut p = Parts::default();
        p.add(Part::QueueKv, 7);
        p.add(Part::Decode, 5);
        p.add(Part::Prefill, 7);
        assert_eq!(p.total(), 19);
        // Ties go to the earlier part in the request's life.
        assert_eq!(p.dominant(), Some(Part::QueueKv));
        assert_eq!(Parts::default().dominant(), None);
        let g = group("0".into(), &[&p, &p]);
        assert_eq!(g.requests, 2);
        assert_eq!(g.dominant, "queue_kv");
        assert!((g.mean_ms.get(Part::Decode) - 5e-6).abs() < 1e-15);
        let mut slow = Slowest::new(300);
        assert_eq!(slow.cap, 3);
        let mut q = Parts::default();
        q.add(Part::QueueSlot, 1);
        for (ns, replica) in [(5, 0), (9, 1), (1, 0), (7, 1), (8, 0)] {
            slow.push(ns, ns, replica, 0, || if replica == 1 { q } else { p });
        }
        // Kept: 9, 8, 7; the slowest two are 9 (replica 1) and 8 (replica 0).
        let view = slow.view(2, &[]);
        assert_eq!(view.overall.requests, 2);
        assert_eq!(view.by_replica.len(), 2);
        assert_eq!(view.by_replica[1].dominant, "queue_slot");
        assert_eq!(view.by_class[0].group, "default");
        let names: std::collections::HashSet<_> = Part::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names.len(), PARTS);
    }

    /// Without an encode pool the `encode` part shows nowhere: the debug text is the 13 parts'
    /// as before it existed, the means have no `encode` key; with one it shows.
    #[test]
    fn the_encode_part_shows_only_when_it_is_not_zero() {
        let mut p = Parts::default();
        p.add(Part::Decode, 3);
        assert_eq!(format!("{p:?}"), "Parts([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3])");
        let json = serde_json::to_string(&group("0".into(), &[&p]).mean_ms).unwrap();
        assert!(!json.contains("encode") && json.contains("\"decode\":3e-6"), "{json}");
        p.add(Part::Encode, 2);
        assert_eq!(format!("{p:?}"), "Parts([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2])");
        let json = serde_json::to_string(&group("0".into(), &[&p]).mean_ms).unwrap();
        assert!(json.ends_with("\"encode\":2e-6}"), "{json}");
    }
}
