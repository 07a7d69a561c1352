//! [`LegacyImporter`]: finding old sessions in a store and importing them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Utc;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore, PutMode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use heimdall_core::{
    AcquisitionRequest, CaptureInfo, CaptureSummary, Error, ErrorReport, MetricStore, ReceiverInfo, ReceiverReport,
    ReceiverStatus, Result, SampleFormat, SessionId, SessionReport, SessionStatus, StoredObject, TimeSource,
};

use crate::context::{Inner, MANIFEST, SESSIONS_DIR};
use crate::formats::{self, FORMAT_VERSION, MANIFEST_FORMAT, SessionManifest};
use crate::sink::ArchiveSink;
use crate::upload::put_small;

use super::metadata::LegacyMetadata;
use super::names::{LEGACY_EXTRA_KEY, classify, legacy_metadata_name, legacy_npy_name};
use super::npy_stream::{get_all, stream_npy};
use super::websdr_map::WebsdrMap;

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

/// Reads the old Python (FastAPI/Celery) service's sessions from an archive (see the module docs).
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
