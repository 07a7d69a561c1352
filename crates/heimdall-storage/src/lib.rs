//! # heimdall-storage
//!
//! Heimdall's archive: an [`IqSink`](heimdall_core::IqSink) and
//! [`IqArchive`](heimdall_core::IqArchive) over [`object_store`], so captures land in any
//! S3-compatible cluster (AWS, SeaweedFS, MinIO, Ceph), on local disk or in memory, as
//! numpy `.npy` files (with the old Python (FastAPI/Celery) service's `_metadata.json`) and/or SigMF recordings.
//!
//! - **Streaming, bounded memory**: samples are uploaded as they arrive; past one part
//!   (5 MiB by default) a multipart upload starts, with at most `max_concurrency` parts in
//!   flight per object and `max_parts_in_flight` over the whole sink, so a 1 GiB capture never
//!   sits in memory and 7 captures at once hold about 55 MiB. S3 request bodies are sent
//!   unsigned by default: the SHA-256 computed for the manifest (verified on every read) is the
//!   one hash of each byte (see [`ArchiveBuilder`] for the defaults, why, and the overrides). The samples are stored once:
//!   with both formats the SigMF recording describes the `.npy` as a Non-Conforming Dataset
//!   (`core:dataset`, `core:header_bytes`) instead of a `.sigmf-data` copy.
//! - **Verifiable**: SHA-256 of every object is computed while streaming (and SHA-512, the
//!   SigMF `core:sha512`, only of a `.sigmf-data` written without a `.npy`); `manifest.json`,
//!   written last with a create-only put, lists every object with size and checksum and is
//!   the session's commit marker; reads verify the checksums.
//! - **Committed sessions never change**: every object an attempt writes is under its own
//!   `sessions/{session}/{attempt}/` folder, a committed session refuses new attempts before
//!   anything is written, and of two attempts racing exactly one commits. What crashed attempts
//!   leave (objects, incomplete multipart uploads, staging files) is found and removed by
//!   [`ArchiveSink::collect_garbage`] (see [`gc`]).
//! - **Exact formats**: numpy v1.0 headers byte-identical to `numpy.save`
//!   ([`heimdall_core::npy`]), SigMF 1.2.6 metadata accepted by `sigmf_validate` with Heimdall's
//!   fields under a declared `heimdall` extension (see [`formats`]).
//! - **Localizations kept with the session**: `sessions/{session}/localization.json`, written
//!   after the commit with one create-only put (never twice, never over the manifest), holds
//!   the transmitter's position found from the session's captures in a self-describing
//!   document (format, version, session id, writer, SHA-256 of the result), verified on read
//!   and kept by the garbage collector (see [`localization`]).
//! - **Receiver spectra** (OpenWebRX FFT lines) are archived next to the samples as a
//!   `(frames, bins)` float32 `.npy` matrix plus a JSON index (see [`spectra`]), and read back
//!   with [`ArchiveSink::read_spectra`].
//! - **One error mapping** from `object_store` to [`heimdall_core::Error`] with retryability
//!   (see the `error` module docs): unreachable endpoints are retryable
//!   [`Unavailable`](heimdall_core::Error::Unavailable), bad credentials are
//!   [`Refused`](heimdall_core::Error::Refused), local disk-full and permission errors are reported.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use heimdall_core::*;
//! use heimdall_storage::{ArchiveBuilder, ArchiveFormat};
//!
//! let sink = ArchiveBuilder::from_url("memory://archive").with_format(ArchiveFormat::Both).build()?;
//! sink.health().await?;
//!
//! let rx = ReceiverInfo::new("kiwi-1".parse()?, "Kiwi 1", ReceiverKind::KiwiSdr, "http://kiwi:8073")
//!     .with_position(GeoPosition::new(45.0, 7.6, Some(300.0))?);
//! let samples: Vec<Complex32> = (0..1000).map(|k| Complex32::new(k as f32, -(k as f32))).collect();
//! let info = CaptureInfo {
//!     receiver: rx.clone(),
//!     format: SampleFormat::ComplexF32,
//!     sample_rate_hz: 12_000.0,
//!     center_frequency_hz: 7.1e6,
//!     target_frequency_hz: 7.1e6,
//!     expected_samples: Some(samples.len() as u64),
//!     extra: Default::default(),
//! };
//! let summary = CaptureSummary {
//!     info: info.clone(),
//!     samples: samples.len() as u64,
//!     start_time: chrono::Utc::now(),
//!     time_source: TimeSource::Host,
//!     start_skew_s: None,
//!     time_marks: vec![],
//!     gaps: vec![],
//!     rssi: None,
//!     spectra: 0,
//! };
//!
//! // Begin an attempt at a session (refused if the session is committed), stream one
//! // capture, then commit (the manifest is written last, only if none exists).
//! let session = SessionId::new();
//! let attempt = sink.begin_session(session).await?;
//! let mut w = sink.begin_capture(&attempt, &info).await?;
//! for block in samples.chunks(256) {
//!     w.write(CaptureChunk::Samples(SampleBlock::Complex(block.to_vec()))).await?;
//! }
//! let objects = w.finish(&summary, None).await?;
//! let report = SessionReport {
//!     errors: Vec::new(),
//!     session_id: session,
//!     request: AcquisitionRequest::new(7.1e6, std::time::Duration::from_secs(1)),
//!     status: SessionStatus::Success,
//!     started_at: summary.start_time,
//!     finished_at: chrono::Utc::now(),
//!     receivers: vec![ReceiverReport {
//!         receiver: rx.clone(),
//!         status: ReceiverStatus::Recorded,
//!         attempts: 1,
//!         capture: Some(summary.clone()),
//!         metrics: None,
//!         objects,
//!         error: None,
//!         retried_errors: vec![],
//!     }],
//!     committed: false,
//! };
//! sink.commit_session(&attempt, &report).await?;
//! // A committed session never changes: a second commit, or a new attempt, is refused.
//! assert!(matches!(sink.commit_session(&attempt, &report).await, Err(Error::AlreadyExists { .. })));
//! assert!(matches!(sink.begin_session(session).await, Err(Error::AlreadyExists { .. })));
//!
//! // Read it back, checksums verified.
//! assert_eq!(sink.list_sessions(None, None).await?, vec![session]);
//! let back = sink.read_capture(session, &rx.id).await?;
//! assert_eq!(back.samples, SampleBlock::Complex(samples));
//! # Ok::<(), heimdall_core::Error>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

mod builder;
mod context;
mod error;
pub mod formats;
pub mod gc;
pub mod legacy;
pub mod localization;
mod part_buffer;
mod reader;
mod s3_uploads;
mod sink;
pub mod spectra;
mod upload;
mod writer;

pub use builder::{ArchiveBuilder, DEFAULT_UNSIGNED_PAYLOAD, MAX_RETRY_TIMEOUT_S};
pub use builder::{LEGACY_BUCKET_ENV, LEGACY_ENV, legacy_url_from_env};
pub use context::{
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_PARTS_IN_FLIGHT, DEFAULT_PART_SIZE, MANIFEST, MIN_PART_SIZE, SESSIONS_DIR,
};
pub use formats::{ArchiveFormat, SessionManifest};
pub use gc::{GcOptions, GcReport};
pub use legacy::{LegacyImportSummary, LegacyImporter, LegacyProblem, WebsdrMap};
pub use localization::{LOCALIZATION, LocalizationDocument};
pub use sink::ArchiveSink;
pub use spectra::{DEFAULT_MAX_SPECTRA_BYTES, SpectraIndex};

/// Re-export of the `object_store` version this crate is built on.
pub use object_store;
