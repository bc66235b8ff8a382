//! Plots and human-readable reports.

pub mod plan;
pub mod plot;
pub mod sweep;
pub mod validation;
