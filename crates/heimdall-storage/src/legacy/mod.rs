//! The old acquisition service's archives: reading them into Heimdall sessions.
//!
//! The old Python (FastAPI/Celery) service stored each acquisition (a Celery task) as
//!
//! ```text
//! sessions/{task_id}/websdr_{n}.npy             complex64 samples, numpy.save; S3 user metadata
//!                                               websdr_id, task_id, data_type=iq_complex64, samples_count
//! sessions/{task_id}/websdr_{n}_metadata.json   websdr_id (int), frequency_mhz, sample_rate_khz,
//!                                               samples_count, timestamp_utc (naive ISO 8601, UTC),
//!                                               metrics {snr_db, psd_dbm, frequency_offset_hz,
//!                                                        signal_power_dbm, noise_power_dbm}
//! ```
//!
//! with no manifest, so [`IqArchive::list_sessions`](heimdall_core::IqArchive::list_sessions)
//! never sees them. [`LegacyImporter`] finds them in any store (S3, local disk, memory),
//! streams every `.npy` through Heimdall's DSP (the old metrics were wrong: a true 10 dB SNR read
//! as about 0.2 dB, because the signal band was averaged in dB together with the noise), keeps
//! the old values next to the new ones (`extra.legacy` of each row), maps the integer
//! `websdr_id` to receivers with a [`WebsdrMap`], and writes session records and rows through any
//! [`MetricStore`]. With `adopt` it also writes a `manifest.json` (create-only) so the session
//! becomes an ordinary committed Heimdall session; the old objects are never modified.
//!
//! A broken capture (metadata without its `.npy`, a `.npy` without metadata, a truncated or
//! foreign `.npy`, unreadable metadata, a sample count that disagrees) is reported as a
//! [`LegacyProblem`] and skipped; it never stops the import of the others.

mod importer;
mod layout;
mod metadata;
mod names;
mod npy_stream;
#[cfg(test)]
mod tests;
mod websdr_map;

pub use importer::{LegacyImportSummary, LegacyImporter, LegacyListing, LegacyProblem, LegacySession};
pub use layout::write_legacy_layout;
pub use metadata::{LegacyMetadata, legacy_metadata_for, parse_legacy_time};
pub use names::{
    LEGACY_BUCKET, LEGACY_DATA_TYPE_IQ, LEGACY_DATA_TYPE_METADATA, LEGACY_EXTRA_KEY, legacy_metadata_name,
    legacy_npy_name,
};
pub use websdr_map::WebsdrMap;
