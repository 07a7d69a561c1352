//! # heimdall
//!
//! Facade of the Heimdall workspace: one dependency for applications that embed the whole
//! acquisition stack. Each part is also usable on its own:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`core`] | `heimdall-core` | domain model, the `ReceiverSource` / `IqSink` / `MetricStore` traits, engine, DSP |
//! | [`websdr`] | `heimdall-websdr` | receiver sources: KiwiSDR, OpenWebRX, rtl_tcp, HTTP IQ, simulated network |
//! | [`storage`] | `heimdall-storage` | archive in object storage (S3, local disk, memory) as `.npy` and SigMF |
//! | [`tsdb`] | `heimdall-tsdb` | metrics in PostgreSQL/TimescaleDB or SQLite |
//! | [`locate`] | `heimdall-locate` | transmitter localization: GPS-timed TDoA, RSSI fallback |
//! | [`queue`] | `heimdall-queue` | work queue on NATS JetStream for many workers (the trait, the in-process queue and the worker are in `core::queue`) |
//!
//! Cargo features choose the parts: all by default; `postgres` and `sqlite` (metrics
//! databases), `kiwisdr`, `openwebrx`, `rtl_tcp`, `http_iq`, `simulated`, `discovery`,
//! `receivers-file`, `kiwi-wav`, `recording` (receiver protocols, files and recordings), `queue` (NATS work queue),
//! `locate` (localization). An embedder that needs SQLite and KiwiSDR only writes
//! `heimdall = { default-features = false, features = ["sqlite", "kiwisdr"] }`.
//!
//! With `recording`, [`recordings`] replays a set of recordings (kiwirecorder IQ WAV with GNSS
//! time stamps, SigMF) through the engine like a live receiver network: the importer.
//!
//! With `locate`, [`session_locate`] turns an archived session's captures into the
//! localization's input (time marks, clocks, positions, rates, gaps) and keeps the result with
//! the session (`localization.json`) and in the metrics database (`localizations`).
//!
//! The runnable programs live in `examples/` (`acquire`, `locate`, `worker`, `gc`, `query`,
//! `reindex`, `metrics`, `service`) and the criterion benchmarks in `benches/`.
#![warn(missing_docs)]

pub use heimdall_core as core;
#[cfg(feature = "locate")]
pub use heimdall_locate as locate;
#[cfg(feature = "queue")]
pub use heimdall_queue as queue;
pub use heimdall_storage as storage;
pub use heimdall_tsdb as tsdb;
pub use heimdall_websdr as websdr;

#[cfg(all(feature = "locate", feature = "recording"))]
pub mod kiwi_locate;
#[cfg(feature = "recording")]
pub mod recordings;
#[cfg(feature = "locate")]
pub mod session_locate;

/// The types most embedders need.
pub mod prelude {
    pub use heimdall_core::prelude::*;
}

/// The README's code samples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
