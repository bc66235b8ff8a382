//! Plots and human-readable reports.

pub mod explain;
pub mod fleet;
pub mod plan;
pub mod plot;
pub mod sweep;
pub mod validation;
