//! The run-size limits: how much one scenario may ask for. Each keeps a run's memory and time
//! within a laptop's and its counts far from overflow; validation refuses a scenario beyond
//! one, naming the key, and the simulation relies on them holding.

/// The most requests one run accepts: beyond it memory and time are no longer a laptop's.
pub const MAX_REQUESTS: u64 = 100_000_000;
pub const MAX_REPLICAS: u32 = 100_000;
/// The most tensor-parallel ranks one instance may have (chips × ranks per chip, after overrides).
pub const MAX_RANKS_PER_INSTANCE: u32 = 4096;
/// The most ranks (replicas × tp × pp over every pool) one run accepts: far beyond any real fleet,
/// and small enough that rank and instance counts never overflow.
pub const MAX_RANKS: u64 = 1 << 20;
/// The most host vCPUs an instance may have (after overrides).
pub const MAX_HOST_VCPUS: u32 = 4096;
/// The largest KV block (tokens); each replica keeps a counter per token position of a block.
pub const MAX_BLOCK_TOKENS: u32 = 4096;

/// The most requests a run holds at once (queued, on the front-end path or running) before it
/// stops as overloaded: bounds memory (about 2 GB at this size) whatever the offered load.
pub const MAX_IN_SYSTEM: u64 = 1 << 21;

/// The most shared system prompts `[workload.prefix]` accepts.
pub const MAX_PREFIX_GROUPS: u32 = 1 << 20;
/// The most multi-turn sessions `[workload.prefix]` accepts.
pub const MAX_PREFIX_SESSIONS: u32 = 1 << 24;

/// The most instances a front-end tier may have.
pub const MAX_FRONTEND_INSTANCES: u32 = 10_000;
