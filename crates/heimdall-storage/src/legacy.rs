//! The old acquisition service's archives: reading them into Heimdall sessions.
//!
//! The old service stored each acquisition (a Celery task) as
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

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{Attribute, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use heimdall_core::dsp::{Analyzer, AnalyzerConfig};
use heimdall_core::npy::{Dtype, MAX_HEADER_LEN, NpyHeader};
use heimdall_core::{
    AcquisitionRequest, CaptureInfo, CaptureSummary, Complex32, Error, ErrorReport, MetricStore, ReceiverId,
    ReceiverInfo, ReceiverKind, ReceiverReport, ReceiverStatus, Result, SampleFormat, SessionId, SessionReport,
    SessionStatus, StoredObject, TimeSource,
};

use crate::context::{Inner, MANIFEST, SESSIONS_DIR};
use crate::formats::{self, FORMAT_VERSION, MANIFEST_FORMAT, SessionManifest};
use crate::sink::ArchiveSink;
use crate::upload::put_small;

/// The old service's bucket.
pub const LEGACY_BUCKET: &str = "heimdall-raw-iq";
/// `data_type` user metadata of the old `.npy` objects.
pub const LEGACY_DATA_TYPE_IQ: &str = "iq_complex64";
/// `data_type` user metadata of the old `_metadata.json` objects.
pub const LEGACY_DATA_TYPE_METADATA: &str = "metadata";
/// Key of the old values in a measurement's `extra` and a capture's `extra`.
pub const LEGACY_EXTRA_KEY: &str = "legacy";

/// `websdr_{n}.npy`.
pub fn legacy_npy_name(websdr_id: i64) -> String {
    format!("websdr_{websdr_id}.npy")
}

/// `websdr_{n}_metadata.json`.
pub fn legacy_metadata_name(websdr_id: i64) -> String {
    format!("websdr_{websdr_id}_metadata.json")
}

/// Which old file a name is, and its websdr number.
fn classify(file: &str) -> Option<(i64, bool)> {
    let rest = file.strip_prefix("websdr_")?;
    let (num, is_npy) = if let Some(n) = rest.strip_suffix("_metadata.json") {
        (n, false)
    } else {
        (rest.strip_suffix(".npy")?, true)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 12 {
        return None;
    }
    Some((num.parse().ok()?, is_npy))
}

/// Maps the old Python (FastAPI/Celery) service's integer `websdr_id` to Heimdall receivers.
///
/// The old service numbered the active stations of its database 1, 2, ... in order, so
/// [`WebsdrMap::sequential`] over the same station list reproduces its ids; a mapping file
/// ([`WebsdrMap::parse`]) or registry entries with an integer `websdr_id` option
/// ([`WebsdrMap::insert`]) state them explicitly. An id with no mapping is imported as a
/// placeholder receiver `websdr-{n}` (and reported), so no capture is lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebsdrMap {
    by_id: BTreeMap<i64, ReceiverInfo>,
}

impl WebsdrMap {
    /// An empty map (every id becomes a placeholder).
    pub fn new() -> Self {
        Self::default()
    }

    /// Ids 1, 2, ... given to `receivers` in order, as the old service numbered its stations.
    pub fn sequential(receivers: impl IntoIterator<Item = ReceiverInfo>) -> Self {
        WebsdrMap {
            by_id: (1..).zip(receivers).collect(),
        }
    }

    /// Maps `websdr_id` to `receiver` (replacing an earlier mapping).
    pub fn insert(&mut self, websdr_id: i64, receiver: ReceiverInfo) {
        self.by_id.insert(websdr_id, receiver);
    }

    /// Adds every mapping of `other`, replacing those of the same ids.
    pub fn extend(&mut self, other: WebsdrMap) {
        self.by_id.extend(other.by_id);
    }

    /// The receiver mapped to `websdr_id`, if any.
    pub fn get(&self, websdr_id: i64) -> Option<&ReceiverInfo> {
        self.by_id.get(&websdr_id)
    }

    /// The old id of `receiver`, if it is mapped.
    pub fn websdr_id_of(&self, receiver: &ReceiverId) -> Option<i64> {
        self.by_id.iter().find(|(_, r)| &r.id == receiver).map(|(n, _)| *n)
    }

    /// Number of mapped ids.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Parses a mapping file: one `N = receiver-id` (or `N receiver-id`) per line, `#` comments.
    /// `lookup` gives the full description of a known receiver (registry, receivers file); an
    /// unknown id is described by its id alone. Errors name the line.
    pub fn parse(text: &str, lookup: impl Fn(&ReceiverId) -> Option<ReceiverInfo>) -> Result<Self> {
        let mut map = WebsdrMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| Error::invalid("websdr mapping", format!("line {}: {line:?}: {why}", i + 1));
            let (n, id) = line
                .split_once('=')
                .or_else(|| line.split_once(char::is_whitespace))
                .ok_or_else(|| bad("expected `N = receiver-id`"))?;
            let n: i64 = n.trim().parse().map_err(|_| bad("the websdr id is not an integer"))?;
            let id: ReceiverId = id
                .trim()
                .trim_matches('"')
                .parse()
                .map_err(|e: Error| bad(&e.to_string()))?;
            if map.by_id.contains_key(&n) {
                return Err(bad("this websdr id is mapped twice"));
            }
            let info = lookup(&id).unwrap_or_else(|| placeholder_info(id.clone(), n));
            map.insert(n, info);
        }
        Ok(map)
    }

    /// The receiver for `websdr_id` and whether it was mapped (else a placeholder).
    pub fn receiver(&self, websdr_id: i64) -> (ReceiverInfo, bool) {
        match self.get(websdr_id) {
            Some(r) => (r.clone(), true),
            None => {
                let id = ReceiverId::new(format!("websdr-{websdr_id}")).expect("digits and a dash form a valid id");
                (placeholder_info(id, websdr_id), false)
            }
        }
    }
}

fn placeholder_info(id: ReceiverId, websdr_id: i64) -> ReceiverInfo {
    ReceiverInfo::new(
        id,
        format!("WebSDR {websdr_id} (old service)"),
        ReceiverKind::HttpIq,
        "",
    )
}

/// One capture or session of an old archive that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyProblem {
    /// The old session (task id, the folder name).
    pub task_id: String,
    /// The websdr number, when the problem is one capture's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websdr_id: Option<i64>,
    /// The object concerned.
    pub key: String,
    /// What is wrong, in plain words.
    pub reason: String,
}

impl fmt::Display for LegacyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.websdr_id {
            Some(n) => write!(f, "task {} websdr {n}: {}: {}", self.task_id, self.key, self.reason),
            None => write!(f, "task {}: {}: {}", self.task_id, self.key, self.reason),
        }
    }
}

/// An old session folder found in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyListing {
    /// The folder name (the old Celery task id).
    pub task_id: String,
    /// Every object of the folder.
    pub objects: Vec<ObjectMeta>,
}

/// An old session read back: Heimdall's report (recomputed metrics, old values under
/// `extra.legacy` of each capture), what was skipped, and the ids with no mapping.
#[derive(Debug, Clone)]
pub struct LegacySession {
    /// The session as Heimdall records it (id = the task id).
    pub report: SessionReport,
    /// Captures that could not be imported.
    pub problems: Vec<LegacyProblem>,
    /// websdr ids imported under a placeholder receiver.
    pub unmapped: Vec<i64>,
    /// Every imported object (samples and metadata) with size and SHA-256.
    pub objects: Vec<StoredObject>,
}

/// What [`LegacyImporter::import`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegacyImportSummary {
    /// Old session folders found (folders already holding a manifest are not counted).
    pub sessions_found: u64,
    /// Sessions recorded (with at least one readable capture).
    pub sessions_imported: u64,
    /// Sessions given a manifest (`adopt`).
    pub sessions_adopted: u64,
    /// Captures imported.
    pub captures: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Rows that were already there.
    pub duplicates: u64,
    /// websdr ids imported under a placeholder receiver.
    pub unmapped: Vec<i64>,
    /// Everything skipped, one entry per capture or session.
    pub problems: Vec<LegacyProblem>,
}

/// Reads the old service's sessions from an archive (see the module docs).
#[derive(Debug, Clone)]
pub struct LegacyImporter {
    sink: ArchiveSink,
    map: WebsdrMap,
}

impl LegacyImporter {
    /// An importer over `sink` (its store and prefix) mapping ids with `map`.
    pub fn new(sink: ArchiveSink, map: WebsdrMap) -> Self {
        LegacyImporter { sink, map }
    }

    fn inner(&self) -> &Inner {
        self.sink.inner()
    }

    /// Old session folders: those under `sessions/` holding `websdr_*` objects and no manifest.
    pub async fn list_sessions(&self) -> Result<Vec<LegacyListing>> {
        let inner = self.inner();
        let dir = inner.prefix.clone().join(SESSIONS_DIR);
        let listing = inner
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| inner.map_err("list", &dir, e))?;
        let mut out = Vec::new();
        for p in &listing.common_prefixes {
            let Some(task) = p.filename() else { continue };
            let mut objects: Vec<ObjectMeta> = inner
                .store
                .list(Some(p))
                .try_collect()
                .await
                .map_err(|e| inner.map_err("list", p, e))?;
            objects.sort_by(|a, b| a.location.cmp(&b.location));
            // Only files directly in the folder count.
            let direct = |o: &ObjectMeta| -> Option<String> {
                let mut rest = o.location.prefix_match(p)?;
                let f = rest.next()?;
                rest.next().is_none().then(|| f.as_ref().to_owned())
            };
            let has_manifest = objects.iter().any(|o| direct(o).as_deref() == Some(MANIFEST));
            let has_old = objects
                .iter()
                .any(|o| direct(o).is_some_and(|f| classify(&f).is_some()));
            if has_old && !has_manifest {
                out.push(LegacyListing {
                    task_id: task.to_owned(),
                    objects,
                });
            }
        }
        Ok(out)
    }

    /// Reads one old session: every capture streamed through the DSP. Broken captures become
    /// [`LegacyProblem`]s; an error is returned only when the session as a whole is unusable
    /// (its folder name is not a UUID, or no capture could be read).
    pub async fn read_session(&self, listing: &LegacyListing) -> std::result::Result<LegacySession, LegacyProblem> {
        let task = &listing.task_id;
        let folder_key = format!("{}/{task}", self.inner().prefix.clone().join(SESSIONS_DIR));
        let session_problem = |reason: String| LegacyProblem {
            task_id: task.clone(),
            websdr_id: None,
            key: folder_key.clone(),
            reason,
        };
        let session: SessionId = task
            .parse()
            .map_err(|e: Error| session_problem(format!("the folder name is not a task id (UUID): {e}")))?;
        // websdr number -> (npy, metadata)
        let mut files: BTreeMap<i64, (Option<&ObjectMeta>, Option<&ObjectMeta>)> = BTreeMap::new();
        for o in &listing.objects {
            if let Some((n, is_npy)) = o.location.filename().and_then(classify) {
                let e = files.entry(n).or_default();
                if is_npy {
                    e.0 = Some(o);
                } else {
                    e.1 = Some(o);
                }
            }
        }
        let mut problems = Vec::new();
        let mut receivers: Vec<ReceiverReport> = Vec::new();
        let mut unmapped = Vec::new();
        let mut objects = Vec::new();
        for (n, pair) in files {
            let problem = |key: &ObjectMeta, reason: String| LegacyProblem {
                task_id: task.clone(),
                websdr_id: Some(n),
                key: key.location.to_string(),
                reason,
            };
            let (npy, meta) = match pair {
                (Some(npy), Some(meta)) => (npy, meta),
                (Some(npy), None) => {
                    problems.push(problem(npy, format!("no {} next to it", legacy_metadata_name(n))));
                    continue;
                }
                (None, Some(meta)) => {
                    problems.push(problem(meta, format!("its samples {} are missing", legacy_npy_name(n))));
                    continue;
                }
                (None, None) => continue,
            };
            let (receiver, mapped) = self.map.receiver(n);
            if let Some(other) = receivers.iter().find(|r| r.receiver.id == receiver.id) {
                problems.push(problem(
                    npy,
                    format!(
                        "websdr {n} maps to receiver {}, already used by another capture of this session ({})",
                        receiver.id,
                        other.objects.first().map(|o| o.key.as_str()).unwrap_or("?")
                    ),
                ));
                continue;
            }
            match self.read_capture(task, n, npy, meta, receiver).await {
                Ok((report, objs)) => {
                    if !mapped {
                        unmapped.push(n);
                    }
                    objects.extend(objs);
                    receivers.push(report);
                }
                Err((key, reason)) => problems.push(LegacyProblem {
                    task_id: task.clone(),
                    websdr_id: Some(n),
                    key,
                    reason,
                }),
            }
        }
        if receivers.is_empty() {
            // The per-capture problems are the useful detail: keep them in the reason.
            let detail: Vec<String> = problems.iter().map(|q| q.to_string()).collect();
            return Err(session_problem(format!(
                "no readable capture: {}",
                if detail.is_empty() {
                    "no websdr_* pair".to_owned()
                } else {
                    detail.join("; ")
                }
            )));
        }
        let caps: Vec<&CaptureSummary> = receivers.iter().filter_map(|r| r.capture.as_ref()).collect();
        let started_at = caps.iter().map(|c| c.start_time).min().unwrap_or_else(Utc::now);
        let finished_at = caps
            .iter()
            .map(|c| {
                c.start_time
                    .checked_add_signed(chrono::Duration::microseconds((c.duration_s() * 1e6).round() as i64))
                    .unwrap_or(c.start_time)
            })
            .max()
            .unwrap_or(started_at);
        let first = caps[0];
        let mut request = AcquisitionRequest::new(
            first.info.target_frequency_hz,
            std::time::Duration::from_secs_f64(caps.iter().map(|c| c.duration_s()).fold(0.0, f64::max)),
        );
        request.sample_rate_hz = Some(first.info.sample_rate_hz);
        request.receivers = Some(receivers.iter().map(|r| r.receiver.id.clone()).collect());
        request.label = Some(format!("imported from the old service (task {task})"));
        let status = if problems.is_empty() {
            SessionStatus::Success
        } else {
            SessionStatus::Partial
        };
        let errors = problems
            .iter()
            .map(|p| ErrorReport {
                kind: "malformed".into(),
                message: p.to_string(),
                retryable: false,
            })
            .collect();
        objects.sort_by(|a: &StoredObject, b| a.key.cmp(&b.key));
        Ok(LegacySession {
            report: SessionReport {
                session_id: session,
                request,
                status,
                started_at,
                finished_at,
                receivers,
                errors,
                committed: false,
            },
            problems,
            unmapped,
            objects,
        })
    }

    /// One capture: metadata parsed, samples streamed through the DSP and hashed.
    /// Errors are (key, reason).
    async fn read_capture(
        &self,
        task: &str,
        n: i64,
        npy: &ObjectMeta,
        meta_obj: &ObjectMeta,
        receiver: ReceiverInfo,
    ) -> std::result::Result<(ReceiverReport, Vec<StoredObject>), (String, String)> {
        let inner = self.inner();
        let meta_key = meta_obj.location.to_string();
        let npy_key = npy.location.to_string();
        let meta_bytes = get_all(inner, &meta_obj.location)
            .await
            .map_err(|e| (meta_key.clone(), e.to_string()))?;
        let meta = LegacyMetadata::parse(&meta_bytes).map_err(|r| (meta_key.clone(), r))?;
        if meta.websdr_id != n {
            return Err((
                meta_key,
                format!("says websdr_id {}, its name websdr {n}", meta.websdr_id),
            ));
        }
        let rate = meta.sample_rate_khz * 1e3;
        let read = stream_npy(inner, npy, rate).await.map_err(|r| (npy_key.clone(), r))?;
        if read.samples != meta.samples_count {
            return Err((
                npy_key,
                format!(
                    "holds {} samples, its metadata says samples_count {}",
                    read.samples, meta.samples_count
                ),
            ));
        }
        let mut legacy = Map::new();
        legacy.insert("task_id".into(), task.into());
        legacy.insert("websdr_id".into(), n.into());
        legacy.insert("timestamp_utc".into(), meta.timestamp_raw.clone().into());
        legacy.insert("metrics".into(), meta.metrics.clone());
        legacy.insert("s3_path".into(), self.object_url(&npy_key).into());
        legacy.insert("metadata_key".into(), meta_key.clone().into());
        if !read.user_metadata.is_empty() {
            legacy.insert("s3_metadata".into(), Value::Object(read.user_metadata.clone()));
        }
        let mut extra = Map::new();
        extra.insert(LEGACY_EXTRA_KEY.into(), Value::Object(legacy));
        let info = CaptureInfo {
            receiver: receiver.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: rate,
            center_frequency_hz: meta.frequency_mhz * 1e6,
            target_frequency_hz: meta.frequency_mhz * 1e6,
            expected_samples: Some(meta.samples_count),
            extra,
        };
        let summary = CaptureSummary {
            info,
            samples: read.samples,
            start_time: meta.timestamp,
            time_source: TimeSource::Host,
            start_skew_s: None,
            time_marks: vec![],
            gaps: vec![],
            rssi: None,
            spectra: 0,
        };
        let objects = vec![
            StoredObject {
                key: npy_key,
                size: npy.size,
                sha256: read.sha256,
                content_type: "application/octet-stream".into(),
            },
            StoredObject {
                key: meta_key,
                size: meta_bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&meta_bytes)),
                content_type: "application/json".into(),
            },
        ];
        Ok((
            ReceiverReport {
                receiver,
                status: ReceiverStatus::Recorded,
                attempts: 1,
                capture: Some(summary),
                metrics: Some(read.metrics),
                objects: objects.clone(),
                error: None,
                retried_errors: vec![],
            },
            objects,
        ))
    }

    /// `s3://bucket/key` on S3 (the old service's `s3_path`), the store's URL plus the key elsewhere.
    fn object_url(&self, key: &str) -> String {
        let location = &self.inner().location;
        let base = location.split(" at ").next().unwrap_or(location);
        if let Some(rest) = base.strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or(rest);
            format!("s3://{bucket}/{key}")
        } else {
            let root = match self.inner().prefix.as_ref() {
                "" => base.to_owned(),
                p => base.strip_suffix(p).unwrap_or(base).to_owned(),
            };
            format!("{}/{key}", root.trim_end_matches('/'))
        }
    }

    /// Writes the manifest of an imported session (create-only): from then on it is an ordinary
    /// committed session. The old objects are listed as they are, never rewritten.
    pub async fn adopt(&self, session: &LegacySession) -> Result<StoredObject> {
        let inner = self.inner();
        let id = session.report.session_id;
        let path = inner.object_path(id, MANIFEST)?;
        let manifest = SessionManifest {
            format: MANIFEST_FORMAT.into(),
            format_version: FORMAT_VERSION,
            writer: formats::recorder(),
            committed_at: Utc::now(),
            // The old objects stay where they are (never modified): no attempt folder.
            attempt: None,
            session: session.report.clone(),
            objects: session.objects.clone(),
        };
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Malformed {
            backend: inner.backend,
            origin: path.to_string(),
            reason: format!("cannot encode the manifest: {e}"),
        })?;
        match put_small(inner, &path, "application/json", body, PutMode::Create).await {
            Err(Error::Storage { source, .. })
                if source
                    .downcast_ref::<object_store::Error>()
                    .is_some_and(|e| matches!(e, object_store::Error::Precondition { .. })) =>
            {
                Err(Error::AlreadyExists {
                    backend: inner.backend,
                    key: path.to_string(),
                })
            }
            other => other,
        }
    }

    /// Imports every old session into `db`: session records and rows (idempotent: rows are
    /// keyed by session and receiver), and with `adopt` a manifest per session. Broken captures
    /// and sessions are reported in the summary, never fatal; only a failing listing or
    /// database write is an error.
    pub async fn import(&self, db: &dyn MetricStore, adopt: bool) -> Result<LegacyImportSummary> {
        let mut summary = LegacyImportSummary::default();
        for listing in self.list_sessions().await? {
            summary.sessions_found += 1;
            let session = match self.read_session(&listing).await {
                Ok(s) => s,
                Err(p) => {
                    tracing::warn!(problem = %p, "old session skipped");
                    summary.problems.push(p);
                    continue;
                }
            };
            for p in &session.problems {
                tracing::warn!(problem = %p, "old capture skipped");
            }
            // Rows first, then the session record (as reindex does).
            let out = db.record_measurements(&session.report.measurements()).await?;
            db.record_session(&session.report).await?;
            summary.sessions_imported += 1;
            summary.captures += session.report.recorded() as u64;
            summary.inserted += out.inserted;
            summary.duplicates += out.duplicates;
            summary.problems.extend(session.problems.iter().cloned());
            for n in &session.unmapped {
                if !summary.unmapped.contains(n) {
                    summary.unmapped.push(*n);
                }
            }
            if adopt {
                match self.adopt(&session).await {
                    Ok(_) => summary.sessions_adopted += 1,
                    Err(Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        summary.unmapped.sort_unstable();
        Ok(summary)
    }
}

/// Writes the old service's layout next to a committed session, for readers written against it
/// (a training pipeline loading `sessions/{session}/websdr_{n}.npy` and its `_metadata.json`):
/// for every recorded receiver with a `.npy`, a copy of it as `websdr_{n}.npy` (S3 user metadata
/// `websdr_id`, `task_id`, `data_type=iq_complex64`, `samples_count`) and
/// `websdr_{n}_metadata.json` ([`legacy_metadata_for`]; user metadata `websdr_id`, `task_id`,
/// `data_type=metadata`). `n` is the receiver's id in `map`, else its 1-based position in the
/// report. Objects are create-only: call it once, after the session's manifest was committed
/// (the committing attempt is the only one that gets there); a second call fails with
/// `AlreadyExists`. The committed objects and the manifest are never changed. The copy streams
/// (memory bounded by one part).
pub async fn write_legacy_layout(
    sink: &ArchiveSink,
    report: &SessionReport,
    map: &WebsdrMap,
) -> Result<Vec<StoredObject>> {
    let inner = sink.inner();
    let session = report.session_id;
    let mut written = Vec::new();
    for (i, r) in report.receivers.iter().enumerate() {
        let (Some(capture), true) = (&r.capture, r.status.is_stored()) else {
            continue;
        };
        let Some(npy) = r
            .objects
            .iter()
            .find(|o| o.key.ends_with(".npy") && !o.key.ends_with("_spectra.npy"))
        else {
            continue;
        };
        let n = map.websdr_id_of(&r.receiver.id).unwrap_or(i as i64 + 1);
        let meta_attrs = |data_type: &str| {
            let mut a = object_store::Attributes::new();
            if inner.supports_attributes {
                a.insert(Attribute::Metadata("websdr_id".into()), n.to_string().into());
                a.insert(Attribute::Metadata("task_id".into()), session.to_string().into());
                a.insert(Attribute::Metadata("data_type".into()), data_type.to_owned().into());
            }
            a
        };
        let mut attrs = meta_attrs(LEGACY_DATA_TYPE_IQ);
        if inner.supports_attributes {
            attrs.insert(
                Attribute::Metadata("samples_count".into()),
                capture.samples.to_string().into(),
            );
            attrs.insert(Attribute::ContentType, "application/octet-stream".into());
        }
        let to = inner.object_path(session, &legacy_npy_name(n))?;
        let from = Path::parse(&npy.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        written.push(copy_create(inner, &from, &to, attrs).await?);

        let doc = legacy_metadata_for(n, session, capture, r.metrics.as_ref());
        let body = serde_json::to_vec_pretty(&doc).map_err(|e| Error::invalid("legacy metadata", e.to_string()))?;
        let mut attrs = meta_attrs(LEGACY_DATA_TYPE_METADATA);
        if inner.supports_attributes {
            attrs.insert(Attribute::ContentType, "application/json".into());
        }
        let path = inner.object_path(session, &legacy_metadata_name(n))?;
        let opts = object_store::PutOptions {
            mode: PutMode::Create,
            attributes: attrs,
            ..Default::default()
        };
        let size = body.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&body));
        inner
            .store
            .put_opts(&path, body.into(), opts)
            .await
            .map_err(|e| create_err(inner, &path, e))?;
        written.push(StoredObject {
            key: path.to_string(),
            size,
            sha256,
            content_type: "application/json".into(),
        });
    }
    Ok(written)
}

fn create_err(inner: &Inner, path: &Path, e: object_store::Error) -> Error {
    match e {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => Error::AlreadyExists {
            backend: inner.backend,
            key: path.to_string(),
        },
        e => inner.map_err("put", path, e),
    }
}

/// Streams `from` into a new object `to` (create-only) with `attributes`, hashing as it goes.
async fn copy_create(
    inner: &Inner,
    from: &Path,
    to: &Path,
    attributes: object_store::Attributes,
) -> Result<StoredObject> {
    let got = inner.store.get(from).await.map_err(|e| inner.map_err("get", from, e))?;
    let size = got.meta.size;
    let mut body = got.into_stream();
    let mut hasher = Sha256::new();
    if size <= inner.part_size as u64 {
        let mut buf = Vec::with_capacity(size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| inner.map_err("read", from, e))?;
            hasher.update(&chunk);
            buf.extend_from_slice(&chunk);
        }
        let opts = object_store::PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        inner
            .store
            .put_opts(to, buf.into(), opts)
            .await
            .map_err(|e| create_err(inner, to, e))?;
    } else {
        // Multipart uploads have no create-only mode: refuse an existing target first.
        if inner.store.head(to).await.is_ok() {
            return Err(Error::AlreadyExists {
                backend: inner.backend,
                key: to.to_string(),
            });
        }
        let opts = object_store::PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = inner
            .store
            .put_multipart_opts(to, opts)
            .await
            .map_err(|e| inner.map_err("multipart upload", to, e))?;
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, inner.part_size);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(inner.map_err("read", from, e));
                }
            };
            hasher.update(&chunk);
            if let Err(e) = w.wait_for_capacity(inner.max_concurrency).await {
                return Err(inner.map_err("multipart upload", to, e));
            }
            w.put(chunk);
        }
        w.finish().await.map_err(|e| inner.map_err("multipart upload", to, e))?;
    }
    Ok(StoredObject {
        key: to.to_string(),
        size,
        sha256: hex::encode(hasher.finalize()),
        content_type: "application/octet-stream".into(),
    })
}

/// The fields of an old `websdr_{n}_metadata.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyMetadata {
    /// The old integer receiver id.
    pub websdr_id: i64,
    /// Target frequency, MHz.
    pub frequency_mhz: f64,
    /// Sample rate, kHz.
    pub sample_rate_khz: f64,
    /// Samples in the `.npy`.
    pub samples_count: u64,
    /// `timestamp_utc` (naive ISO 8601 read as UTC; an offset or `Z` is honoured).
    pub timestamp: DateTime<Utc>,
    /// `timestamp_utc` as written.
    pub timestamp_raw: String,
    /// The old `metrics` object as written (`NaN`/`Infinity` turned into `null`).
    pub metrics: Value,
}

impl LegacyMetadata {
    /// Parses the JSON the old service wrote (Python's `json.dumps`, which may contain the
    /// non-JSON tokens `NaN`, `Infinity` and `-Infinity`; they are read as `null`).
    pub fn parse(bytes: &[u8]) -> std::result::Result<LegacyMetadata, String> {
        let cleaned = python_json_to_json(bytes);
        let v: Value = serde_json::from_slice(&cleaned).map_err(|e| format!("not JSON: {e}"))?;
        let o = v.as_object().ok_or("not a JSON object")?;
        let num = |k: &str| -> std::result::Result<f64, String> {
            o.get(k)
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("field {k:?} is missing or not a number"))
        };
        let websdr_id = o
            .get("websdr_id")
            .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .ok_or("field \"websdr_id\" is missing or not an integer")?;
        let frequency_mhz = num("frequency_mhz")?;
        let sample_rate_khz = num("sample_rate_khz")?;
        if frequency_mhz <= 0.0 || sample_rate_khz <= 0.0 {
            return Err(format!(
                "frequency_mhz {frequency_mhz} and sample_rate_khz {sample_rate_khz} must be > 0"
            ));
        }
        let samples_count = o
            .get("samples_count")
            .and_then(Value::as_u64)
            .ok_or("field \"samples_count\" is missing or not a count")?;
        let raw = o
            .get("timestamp_utc")
            .and_then(Value::as_str)
            .ok_or("field \"timestamp_utc\" is missing or not a string")?;
        let timestamp =
            parse_legacy_time(raw).ok_or_else(|| format!("timestamp_utc {raw:?} is not an ISO 8601 time"))?;
        Ok(LegacyMetadata {
            websdr_id,
            frequency_mhz,
            sample_rate_khz,
            samples_count,
            timestamp,
            timestamp_raw: raw.to_owned(),
            metrics: o.get("metrics").cloned().unwrap_or(Value::Null),
        })
    }

    /// The document in the old layout: the old fields first, with `extra` fields after them.
    pub fn to_json(&self, extra: Map<String, Value>) -> Value {
        let mut o = Map::new();
        o.insert("websdr_id".into(), self.websdr_id.into());
        o.insert("frequency_mhz".into(), json!(self.frequency_mhz));
        o.insert("sample_rate_khz".into(), json!(self.sample_rate_khz));
        o.insert("samples_count".into(), self.samples_count.into());
        o.insert("timestamp_utc".into(), self.timestamp_raw.clone().into());
        o.insert("metrics".into(), self.metrics.clone());
        for (k, v) in extra {
            o.entry(k).or_insert(v);
        }
        Value::Object(o)
    }
}

/// The `websdr_{n}_metadata.json` the old service's readers expect, for a Heimdall capture:
/// `websdr_id` (int), `frequency_mhz`, `sample_rate_khz`, `samples_count`, `timestamp_utc`
/// (naive ISO 8601 in UTC, as Python's `isoformat()`), `metrics` with the old names from
/// Heimdall's metrics (`psd_dbm` is the noise floor density, per Hz; the powers are dBm when the
/// receiver chain is calibrated, else dBFS, as `metrics_unit` says; `null` when not measurable),
/// then `task_id`, `receiver_id` and the object key of the samples.
pub fn legacy_metadata_for(
    websdr_id: i64,
    session: SessionId,
    summary: &CaptureSummary,
    metrics: Option<&heimdall_core::SignalMetrics>,
) -> Value {
    let info = &summary.info;
    // dBm = dBFS + calibration, known when the capture carried its full-scale power.
    let cal = info
        .extra
        .get("full_scale_dbm")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite());
    let shift = |x: Option<f64>| -> Value {
        match x.filter(|v| v.is_finite()) {
            Some(v) => json!(v + cal.unwrap_or(0.0)),
            None => Value::Null,
        }
    };
    let m = metrics.map(|m| {
        json!({
            "snr_db": m.snr_db.filter(|v| v.is_finite()),
            "psd_dbm": shift(m.noise_floor_dbfs_per_hz),
            "frequency_offset_hz": m.frequency_offset_hz.filter(|v| v.is_finite()),
            "signal_power_dbm": shift(m.signal_power_dbfs),
            "noise_power_dbm": shift(m.noise_power_dbfs),
        })
    });
    let finite = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "websdr_id": websdr_id,
        "frequency_mhz": finite(info.target_frequency_hz / 1e6),
        "sample_rate_khz": finite(info.sample_rate_hz / 1e3),
        "samples_count": summary.samples,
        "timestamp_utc": summary.start_time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "metrics": m.unwrap_or(Value::Null),
        "metrics_unit": if cal.is_some() { "dbm" } else { "dbfs" },
        "task_id": session.to_string(),
        "receiver_id": info.receiver.id,
    })
}

/// The old service's `datetime.utcnow().isoformat()` (naive, UTC), or RFC 3339.
pub fn parse_legacy_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Replaces Python's `NaN`, `Infinity`, `-Infinity` outside strings with `null`.
fn python_json_to_json(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let (mut i, mut in_str, mut esc) = (0, false, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &b[i..];
        let token = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.extend_from_slice(b"null");
            i += t.len();
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c);
        i += 1;
    }
    out
}

async fn get_all(inner: &Inner, path: &Path) -> Result<Bytes> {
    let r = inner.store.get(path).await.map_err(|e| inner.map_err("get", path, e))?;
    r.bytes().await.map_err(|e| inner.map_err("read", path, e))
}

/// What streaming one old `.npy` gave.
struct NpyRead {
    samples: u64,
    sha256: String,
    metrics: heimdall_core::SignalMetrics,
    user_metadata: Map<String, Value>,
}

/// Bytes decoded per analyser push (32 k samples).
const DECODE_SAMPLES: usize = 32 * 1024;

/// Streams a `.npy` through the DSP with bounded memory: header checked against the object's
/// size first (a truncated file is reported before any sample is read), samples hashed and
/// analysed as they arrive. Errors are plain reasons.
async fn stream_npy(inner: &Inner, obj: &ObjectMeta, rate: f64) -> std::result::Result<NpyRead, String> {
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(rate)).map_err(|e| e.to_string())?;
    let got = inner
        .store
        .get(&obj.location)
        .await
        .map_err(|e| inner.map_err("get", &obj.location, e).to_string())?;
    let mut user_metadata = Map::new();
    for (k, v) in got.attributes.iter() {
        if let Attribute::Metadata(name) = k {
            user_metadata.insert(name.to_string(), Value::String(v.to_string()));
        }
    }
    let mut body = got.into_stream();
    let mut hasher = Sha256::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut header: Option<NpyHeader> = None;
    let mut seen = 0u64;
    let mut samples = 0u64;
    let mut block: Vec<Complex32> = Vec::with_capacity(DECODE_SAMPLES);
    let location = obj.location.clone();
    loop {
        let chunk = match body.next().await {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => return Err(inner.map_err("read", &location, e).to_string()),
            None => None,
        };
        let done = chunk.is_none();
        if let Some(c) = &chunk {
            hasher.update(c);
            seen += c.len() as u64;
            pending.extend_from_slice(c);
        }
        if header.is_none() {
            let enough = pending.len() >= 12 + MAX_HEADER_LEN || done || header_complete(&pending);
            if !enough {
                continue;
            }
            let (h, offset) = NpyHeader::parse(&pending).map_err(|e| format!("not a readable .npy: {e}"))?;
            if h.dtype != Dtype::Complex64 {
                return Err(format!("holds {} samples, not complex64 (<c8) IQ", h.dtype.descr()));
            }
            let expected = offset as u64 + h.len * 8;
            if obj.size != expected {
                return Err(format!(
                    "{}: {} bytes, the header announces {} complex64 samples ({} bytes)",
                    if obj.size < expected { "truncated" } else { "too long" },
                    obj.size,
                    h.len,
                    expected
                ));
            }
            pending.drain(..offset);
            header = Some(h);
        }
        let whole = pending.len() / 8 * 8;
        let mut at = 0;
        while at < whole {
            let take = (whole - at).min(DECODE_SAMPLES * 8);
            block.clear();
            block.extend(pending[at..at + take].chunks_exact(8).map(|s| {
                Complex32::new(
                    f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                    f32::from_le_bytes([s[4], s[5], s[6], s[7]]),
                )
            }));
            analyzer.push_complex(&block).map_err(|e| e.to_string())?;
            samples += block.len() as u64;
            at += take;
        }
        pending.drain(..whole);
        if done {
            break;
        }
    }
    let h = header.ok_or("empty object")?;
    if seen != obj.size || samples != h.len || !pending.is_empty() {
        return Err(format!(
            "read {seen} bytes ({samples} samples), the listing says {} bytes and the header {} samples",
            obj.size, h.len
        ));
    }
    let analysis = analyzer.finish().map_err(|e| format!("cannot analyse: {e}"))?;
    Ok(NpyRead {
        samples,
        sha256: hex::encode(hasher.finalize()),
        metrics: analysis.metrics,
        user_metadata,
    })
}

/// Whether `buf` holds a whole `.npy` header (magic, version, length and the header itself).
fn header_complete(buf: &[u8]) -> bool {
    if buf.len() < 10 {
        return false;
    }
    let end = match buf[6] {
        1 => 10 + usize::from(u16::from_le_bytes([buf[8], buf[9]])),
        _ if buf.len() >= 12 => 12 + u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
        _ => return false,
    };
    buf.len() >= end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify("websdr_3.npy"), Some((3, true)));
        assert_eq!(classify("websdr_12_metadata.json"), Some((12, false)));
        for bad in [
            "websdr_.npy",
            "websdr_x.npy",
            "torino.npy",
            "websdr_3.json",
            "websdr_-1.npy",
            "manifest.json",
        ] {
            assert_eq!(classify(bad), None, "{bad}");
        }
    }

    #[test]
    fn python_json_tokens_become_null() {
        let b = br#"{"a": NaN, "b": -Infinity, "c": "NaN Infinity \"x", "d": [Infinity, 1.5]}"#;
        let v: Value = serde_json::from_slice(&python_json_to_json(b)).unwrap();
        assert_eq!(
            v,
            json!({"a": null, "b": null, "c": "NaN Infinity \"x", "d": [null, 1.5]})
        );
    }

    #[test]
    fn old_metadata_parses() {
        let m = LegacyMetadata::parse(
            br#"{"websdr_id": 2, "frequency_mhz": 145.5, "sample_rate_khz": 12.5, "samples_count": 125000,
                "timestamp_utc": "2025-10-22T10:00:01.250000", "metrics": {"snr_db": 0.2, "psd_dbm": -Infinity}}"#,
        )
        .unwrap();
        assert_eq!(m.websdr_id, 2);
        assert_eq!(m.timestamp.to_rfc3339(), "2025-10-22T10:00:01.250+00:00");
        assert_eq!(m.metrics["psd_dbm"], Value::Null);
        for bad in [
            &br#"{"websdr_id": "x", "frequency_mhz": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "2025-10-22T10:00:00"}"#[..],
            br#"{"websdr_id": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "2025-10-22T10:00:00"}"#,
            br#"{"websdr_id": 1, "frequency_mhz": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "yesterday"}"#,
            br#"[1, 2]"#,
            br#"{"websdr_id": 1"#,
        ] {
            assert!(LegacyMetadata::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn mapping_file() {
        let m = WebsdrMap::parse("# old ids\n1 = torino\n2 \"genova\"\n\n7=websdr-7 # kept\n", |_| None).unwrap();
        assert_eq!(m.get(1).unwrap().id.as_str(), "torino");
        assert_eq!(m.get(2).unwrap().id.as_str(), "genova");
        assert_eq!(m.websdr_id_of(&"websdr-7".parse().unwrap()), Some(7));
        let (r, mapped) = m.receiver(9);
        assert!(!mapped);
        assert_eq!(r.id.as_str(), "websdr-9");
        for bad in ["x = torino", "1 = ../up", "1 = a\n1 = b", "1"] {
            let e = WebsdrMap::parse(bad, |_| None).unwrap_err();
            assert!(e.to_string().contains("line"), "{bad}: {e}");
        }
    }
}
