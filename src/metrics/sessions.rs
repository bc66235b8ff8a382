//! What the multi-turn sessions of a run did (`[workload.sessions]`), for the summary.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionsResult {
    /// Sessions that sent their first turn.
    pub started: u64,
    /// Sessions that sent and completed every turn.
    pub completed: u64,
    /// Sessions ended because a turn's prompt plus its max_tokens would not fit the context.
    pub ended_by_context: u64,
    /// Sessions ended because a turn was dropped or rejected.
    pub ended_turned_away: u64,
    /// Turns sent, and completed.
    pub turns_sent: u64,
    pub turns_completed: u64,
    /// Turns per started session.
    pub mean_turns: f64,
    /// Mean duration of the completed sessions, first send to last completion, s (0: none).
    pub mean_duration_s: f64,
}
