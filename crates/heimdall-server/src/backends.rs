//! Opening the archive and the metrics database from URLs, with the embedded defaults
//! (`./heimdall-data` on local disk, SQLite in `./heimdall-data/heimdall.db`); also used by the
//! facade's example programs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use heimdall_core::redact::Redacted;
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};
use heimdall_tsdb::Tsdb;

/// Where the embedded defaults keep everything.
pub const DATA_DIR: &str = "heimdall-data";

/// The default archive: `./heimdall-data` on local disk.
pub fn default_store_url() -> anyhow::Result<String> {
    let dir = std::env::current_dir()?.join(DATA_DIR);
    Ok(format!("file://{}", dir.display()))
}

/// The default database: `./heimdall-data/heimdall.db` (SQLite).
pub fn default_database_url() -> String {
    Path::new(DATA_DIR).join("heimdall.db").display().to_string()
}

/// Parses `key=value` (for `--store-option`), refusing an empty key.
///
/// The error never shows the value: it may hold a secret (`secret_access_key=...` typed with
/// `:` instead of `=`). clap would print an invalid value in its own message, so this is a
/// [`clap::builder::TypedValueParser`] that writes the whole message itself:
/// `--store-option KEY=VALUE`-style use is `value_parser = KeyValueParser`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let Some((k, v)) = s.split_once('=') else {
        return Err("is not KEY=VALUE (the value is not shown: it may hold a secret)".into());
    };
    if k.trim().is_empty() {
        return Err("has an empty key in KEY=VALUE".into());
    }
    Ok((k.trim().to_owned(), v.to_owned()))
}

/// [`parse_key_value`] for clap, with an error message that does not echo the value.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyValueParser;

impl clap::builder::TypedValueParser for KeyValueParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let name = arg.map_or_else(|| "an option".to_owned(), |a| a.to_string());
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                format!("the value of {name} is not UTF-8\n"),
            )
        })?;
        parse_key_value(text).map_err(|reason| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("the value of {name} {reason}\n"),
            )
        })
    }
}

/// The builder of the archive at `url` (`s3://bucket/prefix`, `file:///abs/path`, `memory://`,
/// or a path; default: the old Python (FastAPI/Celery) service's `MINIO_*` settings when set, else `./heimdall-data`),
/// with S3 options from `AWS_*` (or `MINIO_*`) variables and `options`.
pub fn store_builder(
    url: Option<&str>,
    options: &[(String, String)],
    format: ArchiveFormat,
) -> anyhow::Result<(String, ArchiveBuilder)> {
    let url = match url {
        Some(u) => u.to_owned(),
        None => match heimdall_storage::legacy_url_from_env() {
            Some(u) => u,
            None => default_store_url()?,
        },
    };
    let b = ArchiveBuilder::from_url(url.clone())
        .with_options(options.iter().cloned())
        .with_format(format);
    Ok((url, b))
}

/// Opens the archive (see [`store_builder`]). Local directories are created.
pub fn open_store(
    url: Option<&str>,
    options: &[(String, String)],
    format: ArchiveFormat,
) -> anyhow::Result<ArchiveSink> {
    let (url, b) = store_builder(url, options, format)?;
    if let Some(path) = local_dir_of(&url) {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create the archive directory {}", path.display()))?;
    }
    b.build()
        .with_context(|| format!("cannot open the archive {}", Redacted(&url)))
}

/// The local directory behind a `file://` URL or bare path, if it is one.
pub fn local_dir_of(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    if url.contains("://") {
        None
    } else {
        Some(PathBuf::from(url))
    }
}

/// Opens (and migrates) the metrics database at `url` (`postgres://...`, a SQLite path, `sqlite::memory:`).
pub async fn open_database(url: Option<&str>) -> anyhow::Result<Tsdb> {
    let url = url.map(str::to_owned).unwrap_or_else(default_database_url);
    // Only a path or sqlite:// names a file: another scheme (with a password) is refused below.
    let is_sqlite_file = (!url.contains("://") || url.starts_with("sqlite://")) && !url.contains(":memory:");
    if is_sqlite_file {
        let path = url.strip_prefix("sqlite://").unwrap_or(&url);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", Redacted(&dir.display().to_string())))?;
        }
    }
    let db = Tsdb::from_url(&url).with_context(|| "cannot configure the metrics database".to_string())?;
    db.migrate()
        .await
        .with_context(|| format!("cannot prepare the metrics database {}", db.redacted_url()))?;
    Ok(db)
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-11-28T12:00:00Z: {e}"))
}
