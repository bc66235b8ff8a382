//! Plots and human-readable reports.

pub mod compare;
pub mod explain;
pub mod fleet;
pub mod markdown;
pub mod plan;
pub mod plan_horizon;
pub mod plot;
pub mod sweep;
pub mod validation;
