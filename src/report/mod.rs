//! Plots and human-readable reports.

pub mod plot;
pub mod sweep;
