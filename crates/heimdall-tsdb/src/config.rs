//! Builder and URL parsing (redaction is heimdall-core's [`heimdall_core::redact`]).

use std::fmt;
use std::time::Duration;

use heimdall_core::redact::redact_url;
use heimdall_core::{Error, Result};

use crate::Tsdb;

/// Where the database lives, parsed from a URL by [`TsdbBuilder::build`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A PostgreSQL URL (`postgres://` or `postgresql://`), kept verbatim for the driver.
    #[cfg(feature = "postgres")]
    Postgres(Secret),
    /// A SQLite database file.
    #[cfg(feature = "sqlite")]
    SqliteFile(String),
    /// A private in-memory SQLite database (one connection).
    #[cfg(feature = "sqlite")]
    SqliteMemory,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Target {
    /// A printable form of the target with any password replaced by `***`.
    pub(crate) fn redacted(&self) -> String {
        match self {
            #[cfg(feature = "postgres")]
            Target::Postgres(s) => redact_url(s.expose()),
            #[cfg(feature = "sqlite")]
            Target::SqliteFile(p) => format!("sqlite://{p}"),
            #[cfg(feature = "sqlite")]
            Target::SqliteMemory => "sqlite::memory:".to_owned(),
        }
    }

    fn parse(url: &str) -> Result<Target> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::config("database URL is empty"));
        }
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                // Validate the URL shape early so that build() reports a typo, not the first query.
                url::Url::parse(url).map_err(|e| Error::Config {
                    reason: format!("invalid PostgreSQL URL {}: {e}", redact_url(url)),
                    source: None,
                })?;
                return Ok(Target::Postgres(Secret::new(url)));
            }
            #[cfg(not(feature = "postgres"))]
            return Err(Error::config(
                "PostgreSQL URL given but heimdall-tsdb was built without the `postgres` feature",
            ));
        }
        #[cfg(feature = "sqlite")]
        {
            if matches!(
                lower.as_str(),
                ":memory:" | "sqlite::memory:" | "sqlite://:memory:" | "sqlite:memory"
            ) {
                return Ok(Target::SqliteMemory);
            }
            let path = if let Some(rest) = url.strip_prefix("sqlite://") {
                rest
            } else if let Some(rest) = url.strip_prefix("sqlite:") {
                rest
            } else if url.contains("://") {
                return Err(Error::config(format!(
                    "unsupported database URL scheme in {}; use postgres://, sqlite://path, sqlite::memory: or a file path",
                    redact_url(url)
                )));
            } else {
                url
            };
            if path.is_empty() {
                return Err(Error::config("SQLite URL has no file path"));
            }
            Ok(Target::SqliteFile(path.to_owned()))
        }
        #[cfg(not(feature = "sqlite"))]
        Err(Error::config(format!(
            "unsupported database URL {}; this build only supports postgres://",
            redact_url(url)
        )))
    }
}

/// A connection string that never prints its password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    url: String,
    /// Password forms to scrub from driver messages (raw and percent-decoded).
    passwords: Vec<String>,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Secret {
    pub(crate) fn new(url: &str) -> Self {
        Secret {
            url: url.to_owned(),
            passwords: passwords_in(url),
        }
    }

    /// The full URL, for the driver only.
    pub(crate) fn expose(&self) -> &str {
        &self.url
    }

    /// Replaces every occurrence of the password in `msg` with `***`.
    pub(crate) fn scrub(&self, msg: &str) -> String {
        scrub_with(msg, &self.passwords)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn passwords_in(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(u) = url::Url::parse(url) {
        if let Some(p) = u.password() {
            out.push(p.to_owned());
            if let Ok(d) = percent_decode(p) {
                out.push(d);
            }
        }
        for (k, v) in u.query_pairs() {
            if k.eq_ignore_ascii_case("password") && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
    }
    out.retain(|p| !p.is_empty());
    // Longest first so that a password containing another is scrubbed whole.
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out.dedup();
    out
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn percent_decode(s: &str) -> std::result::Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3).ok_or(())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
                i += 3;
            }
            Some(b) => {
                out.push(*b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

fn scrub_with(msg: &str, passwords: &[String]) -> String {
    let mut out = msg.to_owned();
    for p in passwords {
        if out.contains(p.as_str()) {
            out = out.replace(p.as_str(), "***");
        }
    }
    out
}

/// TimescaleDB options used by [`Tsdb::migrate`] when the extension is available.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimescaleOptions {
    /// Use TimescaleDB when the server offers it (default true). False keeps plain PostgreSQL.
    pub enabled: bool,
    /// Hypertable chunk interval (default 1 day).
    pub chunk_interval: Duration,
    /// Compress (columnstore) chunks older than this (default 7 days); `None` disables.
    pub compress_after: Option<Duration>,
    /// Drop chunks older than this (default `None`: keep everything).
    pub retain_for: Option<Duration>,
    /// Maintain the hourly per-receiver continuous aggregate `measurements_hourly` and answer
    /// SNR statistics and whole-hour buckets from it where it is valid (default true). False
    /// neither creates it nor reads it (an existing one is left in place): raw rows answer.
    pub hourly_aggregate: bool,
}

impl Default for TimescaleOptions {
    fn default() -> Self {
        TimescaleOptions {
            enabled: true,
            chunk_interval: Duration::from_secs(86_400),
            compress_after: Some(Duration::from_secs(7 * 86_400)),
            retain_for: None,
            hourly_aggregate: true,
        }
    }
}

impl TimescaleOptions {
    /// Sets the retention period (`None` keeps everything).
    pub fn with_retention(mut self, retain_for: Option<Duration>) -> Self {
        self.retain_for = retain_for;
        self
    }

    /// Sets the compression age (`None` disables compression).
    pub fn with_compression_after(mut self, after: Option<Duration>) -> Self {
        self.compress_after = after;
        self
    }

    /// Creates and reads the hourly continuous aggregate, or not (raw rows answer).
    pub fn with_hourly_aggregate(mut self, on: bool) -> Self {
        self.hourly_aggregate = on;
        self
    }

    /// Enables or disables the TimescaleDB path.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// Builds a [`Tsdb`] from a URL and options. Building never connects: the first query (or
/// [`Tsdb::migrate`] / [`heimdall_core::MetricStore::health`]) does.
///
/// Accepted URLs: `postgres://user:pass@host:5432/db` (or `postgresql://`), `sqlite://path/to.db`,
/// `sqlite:path`, a bare file path, and `sqlite::memory:` / `:memory:` for a private in-memory
/// database.
#[derive(Clone)]
pub struct TsdbBuilder {
    url: Option<String>,
    pool_size: u32,
    connect_timeout: Duration,
    busy_timeout: Duration,
    synchronous_commit: bool,
    copy_min_rows: usize,
    timescale: TimescaleOptions,
}

impl fmt::Debug for TsdbBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsdbBuilder")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("synchronous_commit", &self.synchronous_commit)
            .field("copy_min_rows", &self.copy_min_rows)
            .field("timescale", &self.timescale)
            .finish()
    }
}

impl Default for TsdbBuilder {
    fn default() -> Self {
        TsdbBuilder {
            url: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            synchronous_commit: true,
            copy_min_rows: DEFAULT_COPY_MIN_ROWS,
            timescale: TimescaleOptions::default(),
        }
    }
}

/// Batches of at least this many rows go through binary COPY on PostgreSQL (see
/// [`TsdbBuilder::with_copy_min_rows`]).
pub const DEFAULT_COPY_MIN_ROWS: usize = 5_000;

impl TsdbBuilder {
    /// A builder with defaults (pool of 8, 10 s connect timeout) and no URL.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for `url`.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::new().with_url(url)
    }

    /// A builder reading the URL from the environment variable `var` (e.g. `DATABASE_URL`).
    pub fn from_env(var: &str) -> Result<Self> {
        let url = std::env::var(var).map_err(|_| Error::config(format!("environment variable {var} is not set")))?;
        Ok(Self::from_url(url))
    }

    /// Sets the database URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Maximum pooled connections for PostgreSQL (default 8). SQLite always uses one
    /// connection (writes are serialised by SQLite anyway, and an in-memory database exists
    /// only inside its connection).
    pub fn with_pool_size(mut self, n: u32) -> Self {
        self.pool_size = n;
        self
    }

    /// How long to wait for a connection (connect, or a free pool slot) before failing with a
    /// retryable error (default 10 s).
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// SQLite `busy_timeout` (default 5 s).
    pub fn with_busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// PostgreSQL `synchronous_commit` for this store's sessions (default true). `false` makes
    /// each batch commit return before its WAL is flushed (about 25 % faster inserts of 1000-row
    /// batches here): a server crash may lose the last few hundred milliseconds of committed
    /// batches, but never corrupts or half-writes one. Ignored on SQLite.
    pub fn with_synchronous_commit(mut self, on: bool) -> Self {
        self.synchronous_commit = on;
        self
    }

    /// On PostgreSQL, batches of at least `n` rows (default [`DEFAULT_COPY_MIN_ROWS`]) are written
    /// through binary `COPY` into a staging table and one `INSERT ... SELECT ... ON CONFLICT DO
    /// NOTHING`, on a connection of their own; smaller ones through one `INSERT ... UNNEST`
    /// statement on a pooled connection, which is faster for them. `usize::MAX` disables COPY.
    /// Ignored on SQLite.
    pub fn with_copy_min_rows(mut self, n: usize) -> Self {
        self.copy_min_rows = n;
        self
    }

    /// TimescaleDB options (used only on PostgreSQL servers that offer the extension).
    pub fn with_timescale(mut self, opts: TimescaleOptions) -> Self {
        self.timescale = opts;
        self
    }

    /// Validates the configuration and returns the store. Does not connect.
    pub fn build(self) -> Result<Tsdb> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| Error::config("no database URL given"))?;
        let target = Target::parse(url)?;
        if self.pool_size == 0 {
            return Err(Error::invalid("pool_size", "must be at least 1"));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout", "must be positive"));
        }
        let opts = Options {
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            busy_timeout: self.busy_timeout,
            synchronous_commit: self.synchronous_commit,
            copy_min_rows: self.copy_min_rows,
            timescale: self.timescale,
        };
        Tsdb::from_target(target, opts)
    }
}

/// Resolved options handed to a backend.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) busy_timeout: Duration,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) synchronous_commit: bool,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) copy_min_rows: usize,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) timescale: TimescaleOptions,
}

#[cfg(all(test, feature = "postgres", feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(Target::parse(":memory:").ok(), Some(Target::SqliteMemory));
        assert_eq!(Target::parse("sqlite::memory:").ok(), Some(Target::SqliteMemory));
        assert_eq!(
            Target::parse("sqlite://data/m.db").ok(),
            Some(Target::SqliteFile("data/m.db".into()))
        );
        assert_eq!(
            Target::parse("sqlite:///abs/m.db").ok(),
            Some(Target::SqliteFile("/abs/m.db".into()))
        );
        assert_eq!(Target::parse("m.db").ok(), Some(Target::SqliteFile("m.db".into())));
        assert!(matches!(Target::parse("postgresql://u@h/db"), Ok(Target::Postgres(_))));
        assert!(Target::parse("mysql://u:pw@h/db").is_err());
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn redacts_passwords_everywhere() {
        let url = "postgres://app:p%40ss%20word@db.example:5432/m?password=other&sslmode=disable";
        let r = redact_url(url);
        assert!(!r.contains("p%40ss"), "{r}");
        assert!(!r.contains("other"), "{r}");
        assert!(r.contains("app:***@db.example"), "{r}");
        let s = Secret::new(url);
        assert_eq!(format!("{s:?}"), r);
        let scrubbed = s.scrub("auth failed for p@ss word and p%40ss%20word and other");
        assert_eq!(scrubbed, "auth failed for *** and *** and ***");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("password=x host=h"), "password=*** host=h");
        let err = Target::parse("mysql://u:topsecret@h/db").unwrap_err().to_string();
        assert!(!err.contains("topsecret"), "{err}");
        // A URL the parser refuses (port out of range) must not echo its password either.
        let err = Target::parse("postgres://postgres:topsecret@127.0.0.1:99999/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret") && err.contains("postgres:***@"), "{err}");
    }
}
