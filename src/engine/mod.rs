//! The event queue and the clock. No LLM knowledge lives here.
//!
//! Invariants (DESIGN.md): time is an integer number of nanoseconds; the queue orders by
//! `(time, seq)` where `seq` counts insertions, so events at equal times pop in insertion order
//! whatever the heap does internally.

use std::fmt;

/// The longest simulated time a run may reach, seconds (about 31.7 years). Inputs that imply
/// more are refused at load; a run whose clock passes it stops with an error (never a clamp).
/// It keeps every time sum the metrics form (a few times the clock) inside `u64`.
pub const MAX_SIM_S: f64 = 1e9;
/// [`MAX_SIM_S`] in nanoseconds.
pub const MAX_SIM_NS: u64 = 1_000_000_000_000_000_000;

/// Simulated time in integer nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn from_secs_f64(s: f64) -> SimTime {
        SimTime(secs_to_ns(s))
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }
    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 * 1e-6
    }
    /// `self + d`, saturating: a clock never wraps.
    pub fn after(self, d_ns: u64) -> SimTime {
        SimTime(self.0.saturating_add(d_ns))
    }
    pub fn since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs_f64())
    }
}

/// Seconds (a float from a rate or a cost model) to whole nanoseconds, rounded to nearest.
/// Negative and NaN inputs become 0; values beyond u64 saturate.
pub fn secs_to_ns(s: f64) -> u64 {
    if s.is_nan() || s <= 0.0 {
        0
    } else {
        let ns = crate::float::round(s * 1e9);
        if ns >= u64::MAX as f64 { u64::MAX } else { ns as u64 }
    }
}

struct Entry<E> {
    /// `(time << 64) | seq`: the queue's order in one integer comparison.
    key: u128,
    event: E,
}

/// Children per node of the queue's heap. Four halves the depth of a binary heap, and a node's
/// children share a cache line or two: fewer levels to sift through at the cost of three
/// comparisons per level instead of one, a win for the event queue's small heaps (a few events
/// per replica).
const ARITY: usize = 4;

/// A future-event list ordered by `(time, insertion seq)`: a 4-ary min-heap. The order is total
/// (no two entries share a seq), so the pop order is the same whatever heap holds them.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    /// One event held beside the heap ([`EventQueue::push_side`]), in the same order.
    side: Option<Entry<E>>,
    seq: u64,
    now: SimTime,
    popped: u64,
    /// Pushes that asked for a time before `now` (clamped; see `push`).
    late: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::new(),
            side: None,
            seq: 0,
            now: SimTime::ZERO,
            popped: 0,
            late: 0,
        }
    }

    /// Schedules `event` at `time`. Scheduling in the past is a logic error in the caller; the
    /// event is clamped to `now` so time never moves backwards.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, event: E) {
        let entry = self.entry(time, event);
        self.push_entry(entry);
    }

    /// [`EventQueue::push`] for the next event of a stream that has at most one pending at a
    /// time (the next open-loop arrival): it waits beside the heap, keyed and popped exactly as
    /// if it were in it, and costs no heap insertion and removal. A second one pushes the
    /// first into the heap.
    pub fn push_side(&mut self, time: SimTime, event: E) {
        let entry = self.entry(time, event);
        if let Some(earlier) = self.side.replace(entry) {
            self.push_entry(earlier);
        }
    }

    /// The entry of `event` at `time` (clamped to `now`), with the next sequence number.
    fn entry(&mut self, time: SimTime, event: E) -> Entry<E> {
        debug_assert!(time >= self.now, "event scheduled in the past: {time} < {}", self.now);
        if time < self.now {
            self.late += 1;
        }
        let time = time.max(self.now);
        let key = ((time.0 as u128) << 64) | self.seq as u128;
        self.seq += 1;
        Entry { key, event }
    }

    #[inline(always)]
    fn push_entry(&mut self, entry: Entry<E>) {
        // Sift up from the end: swap with the parent while the parent comes later.
        let key = entry.key;
        let mut i = self.heap.len();
        self.heap.push(entry);
        let h = &mut self.heap;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if h[parent].key <= key {
                break;
            }
            h.swap(parent, i);
            i = parent;
        }
    }

    /// Pops the next event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let side_first = match (&self.side, self.heap.first()) {
            (Some(s), Some(h)) => s.key < h.key,
            (side, _) => side.is_some(),
        };
        let top = match self.side.take_if(|_| side_first) {
            Some(side) => side,
            None => {
                let last = self.heap.pop()?;
                if self.heap.is_empty() {
                    last
                } else {
                    let top = std::mem::replace(&mut self.heap[0], last);
                    self.sift_down_root();
                    top
                }
            }
        };
        let time = SimTime((top.key >> 64) as u64);
        self.now = time;
        self.popped += 1;
        Some((time, top.event))
    }

    /// Restores the heap order after the root was replaced.
    fn sift_down_root(&mut self) {
        let h = &mut self.heap;
        let n = h.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                return;
            }
            let end = (first + ARITY).min(n);
            let mut best = first;
            for c in first + 1..end {
                if h[c].key < h[best].key {
                    best = c;
                }
            }
            if h[i].key <= h[best].key {
                return;
            }
            h.swap(i, best);
            i = best;
        }
    }

    pub fn peek_time(&self) -> Option<SimTime> {
        let key = match (&self.side, self.heap.first()) {
            (Some(s), Some(h)) => s.key.min(h.key),
            (s, h) => s.as_ref().or(h)?.key,
        };
        Some(SimTime((key >> 64) as u64))
    }
    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn len(&self) -> usize {
        self.heap.len() + self.side.is_some() as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Events popped so far (the simulator's "events" figure).
    pub fn events_processed(&self) -> u64 {
        self.popped
    }
    /// Events that were scheduled in the past and clamped to `now` (a logic error upstream; in
    /// debug builds `push` asserts instead).
    pub fn late_pushes(&self) -> u64 {
        self.late
    }
}

/// Declares a typed index into a flat `Vec` (DESIGN.md: no pointer graphs).
#[macro_export]
macro_rules! typed_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u32);
        impl $name {
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), 'b');
        q.push(SimTime(1), 'a');
        q.push(SimTime(5), 'c');
        q.push(SimTime(5), 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
        assert_eq!(q.events_processed(), 4);
        assert_eq!(q.now(), SimTime(5));
    }

    #[test]
    fn time_never_moves_backwards() {
        let mut q = EventQueue::new();
        for t in [9u64, 3, 7, 3, 0, 12, 7] {
            q.push(SimTime(t), t);
        }
        let mut last = SimTime::ZERO;
        while let Some((t, _)) = q.pop() {
            assert!(t >= last);
            last = t;
        }
    }

    /// Interleaved pushes and pops against a reference: the entries sorted by (time, seq). Times
    /// repeat often (ties broken by insertion order) and the heap grows and shrinks through
    /// every depth of the 4-ary tree. A third of the pushes go to the side slot, which must
    /// keep the same order.
    #[test]
    fn interleaved_pushes_and_pops_follow_time_then_insertion_order() {
        let mut q = EventQueue::new();
        let mut reference: std::collections::BTreeSet<(u64, u64)> = Default::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut seq = 0u64;
        for round in 0..20_000u64 {
            // Phases of growth (mostly pushes) and shrinkage (mostly pops).
            let push = (next() % 100) < if (round / 2_000) % 2 == 0 { 70 } else { 30 };
            if push || reference.is_empty() {
                let t = q.now().0 + next() % 8;
                // A third go beside the heap (each pushing the one there before into it).
                match next() % 3 {
                    0 => q.push_side(SimTime(t), seq),
                    _ => q.push(SimTime(t), seq),
                }
                reference.insert((t, seq));
                seq += 1;
            } else {
                let want = reference.pop_first().unwrap();
                assert_eq!(q.peek_time(), Some(SimTime(want.0)));
                let (t, e) = q.pop().unwrap();
                assert_eq!((t.0, e), want);
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(want) = reference.pop_first() {
            let (t, e) = q.pop().unwrap();
            assert_eq!((t.0, e), want);
        }
        assert!(q.pop().is_none() && q.is_empty());
    }

    #[test]
    fn seconds_convert_to_rounded_nanoseconds() {
        assert_eq!(secs_to_ns(1.5e-9), 2);
        assert_eq!(secs_to_ns(-1.0), 0);
        assert_eq!(secs_to_ns(f64::NAN), 0);
        assert_eq!(secs_to_ns(1e30), u64::MAX);
        assert_eq!(SimTime::from_secs_f64(0.25).0, 250_000_000);
    }
}
