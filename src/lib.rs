//! Heimdall facade.
pub use heimdall_core as core;
