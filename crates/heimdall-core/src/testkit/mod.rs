//! Conformance test-kit (feature `testkit`): every backend crate runs these against itself,
//! and the in-memory reference backends run them on every `cargo test`.
//!
//! Each function panics with a message naming the broken rule, like `assert!` does; call
//! them from `#[tokio::test(flavor = "multi_thread")]` tests.

mod fixtures;
mod localization;
mod metric_store;
mod signal;
mod sink;
mod source;
#[cfg(test)]
mod tests;

pub use fixtures::{
    test_capture_info, test_chunks, test_measurement, test_metrics, test_receiver, test_recorded, test_samples,
    test_summary,
};
pub use localization::{localization_store_conformance, test_localization_result};
pub use metric_store::metric_store_conformance;
pub use signal::{tone_in_noise, xorshift_noise};
pub use sink::sink_conformance;
pub use source::source_conformance;
