//! # heimdall-core
//!
//! The contract of Heimdall, a library that acquires RF captures from a network of remote
//! receivers, measures them, archives them and records their metrics:
//!
//! - the domain model: [`ReceiverInfo`], [`AcquisitionRequest`], [`CaptureInfo`] and
//!   [`CaptureChunk`] (captures stream in chunks and never need to fit in memory),
//!   [`SessionReport`], [`Measurement`];
//! - the three backend traits, object-safe and forwarded through `Arc`/`Box`:
//!   [`ReceiverSource`] (fetch), [`IqSink`] (archive), [`MetricStore`] (persist), with the
//!   optional capabilities [`IqArchive`], [`MetricQuery`], [`ReceiverRegistry`] and
//!   [`LocalizationStore`] (one [`LocalizationRecord`] per located session);
//! - one error type, [`Error`], with [`Error::is_retryable`];
//! - the DSP core, [`dsp`];
//! - the one redaction rule for URLs and options that can carry a secret, [`redact`];
//! - in-memory reference backends, [`memory`], and (feature `testkit`) the conformance suite
//!   every backend runs, [`testkit`].
#![warn(missing_docs)]

/// Implements an object-safe backend trait for `Arc<T>` and `Box<T>` by forwarding every
/// method to `T`. The methods are listed as `async fn` (then awaited) or `fn`, with their
/// arguments; `missing_trait_methods` makes a method added to the trait but not to the list a
/// compile error, so none falls back to a default.
macro_rules! forward_through_pointers {
    ($tr:ident { $($methods:tt)* }) => {
        forward_through_pointers!(@impl Arc, $tr { $($methods)* });
        forward_through_pointers!(@impl Box, $tr { $($methods)* });
    };
    (@impl $ptr:ident, $tr:ident {
        $(async fn $m:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty;)*
        $(fn $sm:ident(&self) -> $sr:ty;)*
    }) => {
        #[async_trait::async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: $tr + ?Sized> $tr for $ptr<T> {
            $(async fn $m(&self $(, $a: $t)*) -> $r {
                (**self).$m($($a),*).await
            })*
            $(fn $sm(&self) -> $sr {
                (**self).$sm()
            })*
        }
    };
}

pub mod capture;
pub mod dsp;
pub mod engine;
pub mod error;
pub mod ids;
pub mod localization;
pub mod memory;
pub mod metrics;
pub mod npy;
pub mod queue;
pub mod receiver;
pub mod redact;
pub mod report;
pub mod request;
pub mod sink;
pub mod source;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use capture::{
    CaptureChunk, CaptureInfo, CaptureStream, CaptureSummary, Gap, PowerUnit, RssiAccumulator, RssiReading,
    RssiSummary, SampleBlock, SampleFormat, SpectrumFrame, TimeMark, TimeSource,
};
pub use engine::{AcquisitionHandle, Engine, EngineBuilder, EngineEvent, RetryConfig, SessionOutcome};
pub use error::{BoxError, Error, ErrorReport, Result};
pub use ids::{AttemptId, ReceiverId, SessionAttempt, SessionId};
pub use localization::{LocalizationRecord, LocalizationStore, RejectedStation};
pub use metrics::SignalMetrics;
pub use receiver::{GeoPosition, ReceiverHealth, ReceiverInfo, ReceiverKind};
pub use report::{Measurement, ReceiverReport, ReceiverStatus, SessionReport, SessionStatus, StoredObject};
pub use request::{AcquisitionRequest, CaptureRequest, Passband};
pub use sink::{ArchivedCapture, ArchivedCaptureStream, CaptureWriter, DynIqSink, IqArchive, IqSink, IqSinkExt};
pub use source::{DynReceiverSource, ReceiverSource, ReceiverSourceExt};
pub use store::{
    DynMetricStore, MeasurementQuery, MetricMaintenance, MetricQuery, MetricStore, ReceiverRecord, ReceiverRegistry,
    RecordOutcome, SnrStats, TimeBucket, TimeWindow,
};

/// Re-exports for code that embeds Heimdall.
pub mod prelude {
    pub use crate::{
        AcquisitionRequest, Error, IqSink, IqSinkExt, Measurement, MetricStore, ReceiverId, ReceiverInfo,
        ReceiverSource, ReceiverSourceExt, Result, SessionId, SessionReport,
    };
}

/// Re-exports for backend authors.
pub mod dev {
    /// Everything a backend implementation needs.
    pub mod prelude {
        pub use crate::capture::*;
        pub use crate::error::*;
        pub use crate::ids::*;
        pub use crate::metrics::*;
        pub use crate::receiver::*;
        pub use crate::report::*;
        pub use crate::request::*;
        pub use crate::sink::*;
        pub use crate::source::*;
        pub use crate::store::*;
        pub use async_trait::async_trait;
        pub use tokio_util::sync::CancellationToken;
    }
}

pub use async_trait::async_trait;
pub use num_complex::Complex32;
pub use tokio_util::sync::CancellationToken;
