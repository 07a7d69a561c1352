//! Garbage collection of an archive: what no committed session references.
//!
//! A crash (a worker killed mid-capture, a machine lost) leaves what an attempt had written
//! so far: objects under `sessions/{session}/{attempt}/`, incomplete S3 multipart uploads
//! (invisible to listings, still billed), or `object_store`'s multipart staging files
//! (`{name}#{n}`) on local disk. [`ArchiveSink::collect_garbage`] finds them and, unless
//! it is a dry run, removes them. It never touches a committed session: an object the
//! manifest lists, the committed attempt's folder, or anything at a session's top level
//! other than an attempt folder (older archives without attempts, files added after the
//! commit) is kept whatever its age.
//!
//! Only what is older than the grace period is a leftover: choose it longer than your
//! longest session, so that an attempt still running is never mistaken for a dead one.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use heimdall_storage::{ArchiveBuilder, GcOptions};
//! let sink = ArchiveBuilder::from_url("memory://").build()?;
//! let report = sink.collect_garbage(&GcOptions::default()).await?;
//! assert!(report.dry_run && report.items.is_empty());
//! # Ok::<(), heimdall_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::Serialize;

use heimdall_core::{AttemptId, Error, Result, SessionId};

use crate::context::{Cleanup, MANIFEST, SESSIONS_DIR};
use crate::sink::ArchiveSink;

/// Settings of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Only what is older than this is a leftover (default 24 h).
    pub grace: Duration,
    /// List only, remove nothing (default `true`).
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(24 * 3600),
            dry_run: true,
        }
    }
}

/// What a leftover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GcKind {
    /// An object of a session that was never committed.
    Uncommitted,
    /// An object of an attempt that lost to (or crashed before) the committed one.
    Superseded,
    /// An incomplete S3 multipart upload.
    MultipartUpload,
    /// A local-disk multipart staging file.
    StagingFile,
}

impl GcKind {
    /// Snake-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            GcKind::Uncommitted => "uncommitted",
            GcKind::Superseded => "superseded",
            GcKind::MultipartUpload => "multipart_upload",
            GcKind::StagingFile => "staging_file",
        }
    }
}

/// One leftover found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcItem {
    /// What it is.
    pub kind: GcKind,
    /// Its key (for a staging file: its path on disk).
    pub key: String,
    /// Its size in bytes, when known (0 for multipart uploads).
    pub bytes: u64,
    /// When it was last written (uploads: initiated).
    pub modified: DateTime<Utc>,
}

/// What a collection found and (unless a dry run) removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GcReport {
    /// Whether nothing was removed.
    pub dry_run: bool,
    /// Every leftover, sorted by kind then key.
    pub items: Vec<GcItem>,
    /// Committed sessions seen (never touched).
    pub committed_sessions: u64,
    /// Problems that did not stop the collection (e.g. uploads that cannot be listed).
    pub warnings: Vec<String>,
}

impl GcReport {
    /// Leftovers of one kind.
    pub fn count(&self, kind: GcKind) -> usize {
        self.items.iter().filter(|i| i.kind == kind).count()
    }
}

impl ArchiveSink {
    /// Finds (and unless `opts.dry_run`, removes) what no committed session references: objects
    /// of uncommitted sessions and superseded attempts, incomplete multipart uploads (S3) and
    /// staging files (local disk), all older than `opts.grace`. See the [module docs](self).
    pub async fn collect_garbage(&self, opts: &GcOptions) -> Result<GcReport> {
        let inner = self.inner().clone();
        let cutoff = Utc::now() - chrono::Duration::from_std(opts.grace).unwrap_or(chrono::TimeDelta::MAX);
        let root = inner.prefix.clone().join(SESSIONS_DIR);
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };

        // Objects, grouped by session folder.
        let all = self.list_under(&root).await?;
        let mut by_session: BTreeMap<SessionId, Vec<object_store::ObjectMeta>> = BTreeMap::new();
        for m in all {
            if let Some(s) = session_of(&root, &m.location) {
                by_session.entry(s).or_default().push(m);
            }
        }
        let mut doomed: Vec<(SessionId, Vec<GcItem>)> = Vec::new();
        for (session, objects) in by_session {
            let manifest_key = inner.object_path(session, MANIFEST)?.to_string();
            let has_manifest = objects.iter().any(|m| m.location.as_ref() == manifest_key);
            let items = if has_manifest {
                report.committed_sessions += 1;
                let m = self.read_session_manifest(session).await?;
                let listed: HashSet<&str> = m.objects.iter().map(|o| o.key.as_str()).collect();
                let session_dir = inner.session_dir(session);
                objects
                    .iter()
                    .filter(|o| !listed.contains(o.location.as_ref()) && o.last_modified < cutoff)
                    .filter(|o| match attempt_of(&session_dir, &o.location) {
                        Some(a) => m.attempt.as_ref() != Some(&a),
                        None => false,
                    })
                    .map(|o| item(GcKind::Superseded, o))
                    .collect()
            } else if objects.iter().all(|o| o.last_modified < cutoff) {
                objects.iter().map(|o| item(GcKind::Uncommitted, o)).collect()
            } else {
                Vec::new()
            };
            if !items.is_empty() {
                doomed.push((session, items));
            }
        }
        for (session, items) in doomed {
            if !opts.dry_run {
                // Re-checked right before deleting: an attempt that commits meanwhile keeps
                // everything (its manifest would list these objects).
                let committed_now = self.committed_attempt(session).await?;
                let keep = items.iter().any(|i| {
                    i.kind == GcKind::Uncommitted && committed_now.is_some()
                        || committed_now
                            .as_ref()
                            .is_some_and(|a| i.key.contains(&format!("/{a}/")))
                });
                if keep {
                    report
                        .warnings
                        .push(format!("session {session} was committed while collecting; kept"));
                    continue;
                }
                let paths = items
                    .iter()
                    .filter_map(|i| Path::parse(&i.key).ok())
                    .collect::<Vec<_>>();
                self.delete_all(paths).await?;
            }
            report.items.extend(items);
        }

        // What a crash leaves besides objects.
        match &inner.cleanup {
            Cleanup::Nothing => {}
            Cleanup::S3(_) => match self.abort_uploads_under(&root, Some((cutoff, opts.dry_run))).await {
                Ok(uploads) => report.items.extend(uploads.into_iter().map(|u| GcItem {
                    kind: GcKind::MultipartUpload,
                    key: u.key,
                    bytes: 0,
                    modified: u.initiated,
                })),
                Err(e) => report
                    .warnings
                    .push(format!("incomplete multipart uploads not collected: {e}")),
            },
            Cleanup::Local(dir) => {
                let dir = dir.join(root.as_ref());
                let dry = opts.dry_run;
                let found = tokio::task::spawn_blocking(move || staging_files(&dir, cutoff, dry))
                    .await
                    .map_err(|e| Error::Generic {
                        backend: inner.backend,
                        source: format!("staging file scan failed: {e}").into(),
                    })?;
                match found {
                    Ok(items) => report.items.extend(items),
                    Err(e) => report.warnings.push(format!("staging files not collected: {e}")),
                }
            }
        }
        report.items.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        Ok(report)
    }
}

fn item(kind: GcKind, o: &object_store::ObjectMeta) -> GcItem {
    GcItem {
        kind,
        key: o.location.to_string(),
        bytes: o.size,
        modified: o.last_modified,
    }
}

/// The session of a key under `{prefix}/sessions/`.
fn session_of(root: &Path, key: &Path) -> Option<SessionId> {
    let mut parts = key.prefix_match(root)?;
    parts.next()?.as_ref().parse().ok()
}

/// The attempt folder of a key under a session folder (`None` for a top-level file).
fn attempt_of(session_dir: &Path, key: &Path) -> Option<AttemptId> {
    let parts: Vec<_> = key.prefix_match(session_dir)?.collect();
    if parts.len() < 2 {
        return None;
    }
    parts[0].as_ref().parse().ok()
}

/// Staging files (`{name}#{n}`) under `dir` last written before `cutoff`; removed unless `dry`.
fn staging_files(dir: &std::path::Path, cutoff: DateTime<Utc>, dry: bool) -> std::io::Result<Vec<GcItem>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let path = entry.path();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_staging = name
                .rsplit_once('#')
                .is_some_and(|(base, n)| !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_staging {
                continue;
            }
            let modified: DateTime<Utc> = meta.modified().map(DateTime::from).unwrap_or_else(|_| Utc::now());
            if modified >= cutoff {
                continue;
            }
            if !dry {
                std::fs::remove_file(&path)?;
            }
            out.push(GcItem {
                kind: GcKind::StagingFile,
                key: path.display().to_string(),
                bytes: meta.len(),
                modified,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_file_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.npy#1"), b"abc").unwrap();
        std::fs::write(dir.path().join("x.npy"), b"abc").unwrap();
        std::fs::write(dir.path().join("#1"), b"abc").unwrap();
        let future = Utc::now() + chrono::Duration::hours(1);
        let found = staging_files(dir.path(), future, true).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].key.ends_with("x.npy#1"));
        assert!(dir.path().join("x.npy#1").exists(), "dry run removed a file");
        staging_files(dir.path(), future, false).unwrap();
        assert!(!dir.path().join("x.npy#1").exists());
        assert!(dir.path().join("x.npy").exists());
    }
}
