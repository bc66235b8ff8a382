//! Round robin: each replica in turn.

#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    pub fn pick(&mut self, n: usize) -> usize {
        let i = self.next % n;
        self.next = (i + 1) % n;
        i
    }
}
