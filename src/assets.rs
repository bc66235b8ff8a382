//! Data shipped inside the binary: the hardware profiles (`hw-profiles/*.toml`) and the model
//! presets (`scenarios/models/*.toml`), embedded at build time by `build.rs` so that codesim runs
//! from any directory and never needs the network. A leaf: `hw` and `model` both read it.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Which engine and version produced each published validation case (`validation/engines.toml`).
pub const VALIDATION_ENGINES: &str = include_str!("../validation/engines.toml");

/// Ownership defaults per instance type and the rates owned servers pay (`costs/ownership.toml`).
pub const OWNERSHIP_COSTS: &str = include_str!("../costs/ownership.toml");

/// Managed endpoints' per-token prices (`costs/managed.toml`).
pub const MANAGED_PRICES: &str = include_str!("../costs/managed.toml");
