//! Building an [`ArchiveSink`] from a URL and options.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::Signer;
// object_store's own retry type stays inside: the API speaks heimdall_core::RetryConfig.
use object_store::{BackoffConfig, ObjectStore, RetryConfig as StoreRetry};

use heimdall_core::redact::{Redacted, redact_options, redact_url};
use heimdall_core::{Error, Result};

use crate::context::{
    Cleanup, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_PARTS_IN_FLIGHT, DEFAULT_PART_SIZE, Inner, MIN_PART_SIZE,
};
use crate::formats::ArchiveFormat;
use crate::s3_uploads::S3Uploads;
use crate::sink::ArchiveSink;

/// The options [`ArchiveBuilder::build`] handles itself; every other one goes to the store.
const HEIMDALL_OPTIONS: [&str; 8] = [
    "format",
    "part_size",
    "max_concurrency",
    "max_parts_in_flight",
    "max_retries",
    "retry_timeout",
    "sigmf_collection",
    "max_spectra_bytes",
];

/// Whether S3 request bodies are sent unsigned unless `unsigned_payload` says otherwise (see
/// [`ArchiveBuilder`]: the manifest's SHA-256 already covers every byte).
pub const DEFAULT_UNSIGNED_PAYLOAD: bool = true;

/// Longest `retry_timeout` option accepted, in seconds (one day; longer outages are the
/// engine's retries' business).
pub const MAX_RETRY_TIMEOUT_S: f64 = 86_400.0;

/// Builds an [`ArchiveSink`] from a URL and `key=value` options, the way object stores are
/// usually configured.
///
/// | URL | Store |
/// |---|---|
/// | `s3://bucket/prefix` (also `s3a://`) | `AmazonS3` (AWS or any S3-compatible endpoint: SeaweedFS, MinIO, Ceph) |
/// | `file:///abs/dir`, `/abs/dir`, `./rel/dir` | `LocalFileSystem` rooted at the directory (created if missing) |
/// | `memory://` or `memory:///prefix` | `InMemory` (tests, examples) |
///
/// **S3 configuration.** Unless [`with_env(false)`](Self::with_env), every `AWS_*` environment
/// variable that `object_store` knows is read first (as `AmazonS3Builder::from_env` does):
/// `AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`), `AWS_ALLOW_HTTP`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DISABLE_BULK_DELETE`, `AWS_CONDITIONAL_PUT`...
/// The old acquisition service's `MINIO_URL`, `MINIO_ACCESS_KEY` and `MINIO_SECRET_KEY` are
/// accepted for the same purpose (an `AWS_*` variable wins; a one-line notice is logged), and
/// [`legacy_url_from_env`] turns `MINIO_BUCKET_RAW_IQ` into a default URL. The bucket is never
/// created implicitly: [`ensure_bucket`](Self::ensure_bucket) is the opt-in.
/// Explicit options override the environment; they take the same names in lower case, with or
/// without the `aws_` prefix (`endpoint`, `allow_http`, `region`, `access_key_id`,
/// `secret_access_key`, `disable_bulk_delete`, ...), plus the HTTP client keys (`timeout`,
/// `connect_timeout`, ...). For a plain-HTTP endpoint such as a local SeaweedFS or MinIO set
/// `endpoint=http://host:8333` and `allow_http=true`.
///
/// **Heimdall options**, accepted for every scheme: `format` (`npy`, `sigmf`, `both`),
/// `part_size` (bytes, at least 5 MiB), `max_concurrency` (parts in flight per object),
/// `max_parts_in_flight` (parts in flight over the whole sink), `max_retries` and
/// `retry_timeout` (seconds), `sigmf_collection` (`true`/`false`), `max_spectra_bytes` (per
/// capture; `0` does not archive spectra).
///
/// **Multipart defaults, and why** (measured with `benches/storage_peer/run.sh`, 7 captures of
/// 32 MiB at once against SeaweedFS on the same 2 cores, see the README): parts of 5 MiB (the S3
/// minimum; [`DEFAULT_PART_SIZE`](crate::DEFAULT_PART_SIZE)), at most 3 in flight per object
/// and 3 over the whole sink ([`DEFAULT_MAX_PARTS_IN_FLIGHT`](crate::DEFAULT_MAX_PARTS_IN_FLIGHT)).
/// Memory for uploads is then at most one part per capture being written plus 3 parts (50 MiB
/// for 7 captures at once; measured 62 MiB above the process's baseline, against 57 with 2 in
/// flight and 67 with 4), at the same throughput: the parts in flight already keep the server
/// busy. Parts are anonymous mappings, reused while uploads run and unmapped when none is left. A capture
/// whose announced size needs more than 10 000 parts gets larger parts (a 1 h capture at
/// 2.4 MS/s: 7 MiB). Raise `max_parts_in_flight` for a remote store with high latency.
///
/// **Defaults that differ from `object_store`'s**: requests are retried at most 4 times within
/// 30 s (backoff 100 ms to 2 s) instead of 10 times within 180 s, and connecting times out after
/// 5 s, so an unreachable endpoint fails within seconds with a retryable error. The engine's own
/// retry loop handles longer outages.
///
/// **Unsigned payloads** (`unsigned_payload=true`, [`DEFAULT_UNSIGNED_PAYLOAD`]): requests are
/// still signed (SigV4 over method, key, headers and `x-amz-content-sha256: UNSIGNED-PAYLOAD`),
/// but the body is not hashed for the signature. Signing it would hash every archived byte a
/// second time, next to the SHA-256 the sink computes anyway for the manifest: measured on 7 ×
/// 32 MiB concurrent puts, that second hash was most of the client's CPU. The body stays
/// protected: over `https://` by TLS, and end to end by the manifest's SHA-256, which every
/// read verifies (a corrupted object is reported, never returned). Set `unsigned_payload=false`
/// (or `AWS_UNSIGNED_PAYLOAD=false`) to have the server check each request body against a
/// signed digest, e.g. over plain `http://` through networks you do not trust.
///
/// `build()` does no I/O except creating a local directory; use [`heimdall_core::IqSink::health`]
/// to check that the store is reachable and writable.
///
/// ```
/// use heimdall_storage::{ArchiveBuilder, ArchiveFormat};
/// let dir = tempfile::tempdir().unwrap();
/// let sink = ArchiveBuilder::from_url(dir.path().to_str().unwrap())
///     .with_format(ArchiveFormat::Npy)
///     .build()
///     .unwrap();
/// assert!(sink.to_string().starts_with("file://"));
///
/// let s3 = ArchiveBuilder::from_url("s3://bucket/heimdall")
///     .with_env(false)
///     .with_options([("endpoint", "http://127.0.0.1:8333"), ("allow_http", "true"),
///                    ("access_key_id", "AK"), ("secret_access_key", "very-secret")])
///     .build()
///     .unwrap();
/// assert!(!format!("{s3:?} {s3}").contains("very-secret"));
/// ```
#[derive(Clone)]
pub struct ArchiveBuilder {
    url: String,
    options: Vec<(String, String)>,
    use_env: bool,
    format: ArchiveFormat,
    part_size: usize,
    max_concurrency: usize,
    max_parts_in_flight: usize,
    retry: StoreRetry,
    collection: bool,
    max_spectra_bytes: u64,
}

impl fmt::Debug for ArchiveBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveBuilder")
            .field("url", &Redacted(&self.url))
            .field("options", &redact_options(&self.options))
            .field("use_env", &self.use_env)
            .field("format", &self.format)
            .field("part_size", &self.part_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_parts_in_flight", &self.max_parts_in_flight)
            .field("collection", &self.collection)
            .field("max_spectra_bytes", &self.max_spectra_bytes)
            .finish()
    }
}

fn default_retry() -> StoreRetry {
    StoreRetry {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
    }
}

impl ArchiveBuilder {
    /// Starts from a URL (`s3://bucket/prefix`, `file:///dir`, a bare path, `memory://`).
    pub fn from_url(url: impl Into<String>) -> Self {
        ArchiveBuilder {
            url: url.into(),
            options: Vec::new(),
            use_env: true,
            format: ArchiveFormat::default(),
            part_size: DEFAULT_PART_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_parts_in_flight: DEFAULT_MAX_PARTS_IN_FLIGHT,
            retry: default_retry(),
            collection: true,
            max_spectra_bytes: crate::spectra::DEFAULT_MAX_SPECTRA_BYTES,
        }
    }

    /// Starts from a URL and options in one call.
    pub fn from_url_opts<I, K, V>(url: impl Into<String>, options: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_url(url).with_options(options)
    }

    /// Adds `key=value` options (see the type docs); later ones win.
    pub fn with_options<I, K, V>(mut self, options: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.options
            .extend(options.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Adds one option.
    pub fn with_option(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with_options([(key.into(), value.into())])
    }

    /// Whether to read `AWS_*` environment variables for S3 (default `true`).
    pub fn with_env(mut self, use_env: bool) -> Self {
        self.use_env = use_env;
        self
    }

    /// Files written per capture (default [`ArchiveFormat::Both`]).
    pub fn with_format(mut self, format: ArchiveFormat) -> Self {
        self.format = format;
        self
    }

    /// Multipart part size in bytes (default and minimum 5 MiB). Memory of the uploads is
    /// bounded by about `part_size * (captures being written + max_parts_in_flight)`.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// Parts in flight per object (default 3).
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Parts in flight over the whole sink, all objects together (default 3): writers wait for
    /// a free slot before sending a part.
    pub fn with_max_parts_in_flight(mut self, n: usize) -> Self {
        self.max_parts_in_flight = n;
        self
    }

    /// Retry policy of S3 requests, in the engine's terms ([`heimdall_core::RetryConfig`]:
    /// retries, first and longest wait, growth factor); see the type docs for the default.
    /// Requests are always jittered (object_store draws each wait at random), whatever
    /// `retry.jitter` says. The total time spent retrying one request is
    /// [`with_retry_timeout`](Self::with_retry_timeout).
    pub fn with_retry(mut self, retry: &heimdall_core::RetryConfig) -> Self {
        self.retry.max_retries = retry.max_retries as usize;
        self.retry.backoff = BackoffConfig {
            init_backoff: retry.init_backoff,
            max_backoff: retry.max_backoff,
            base: retry.base,
        };
        self
    }

    /// Longest time spent retrying one S3 request (default 30 s; the `retry_timeout` option).
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry.retry_timeout = timeout;
        self
    }

    /// Most bytes of receiver-reported spectra (OpenWebRX FFT lines) archived per capture as
    /// `{receiver}_spectra.npy` + `{receiver}_spectra.json` (see [`crate::spectra`]); past it
    /// the frames are thinned evenly over the capture. `0` archives no spectra. Default 64 MiB.
    pub fn with_max_spectra_bytes(mut self, bytes: u64) -> Self {
        self.max_spectra_bytes = bytes;
        self
    }

    /// Whether to write a session `.sigmf-collection` on commit when SigMF is written (default `true`).
    pub fn with_sigmf_collection(mut self, yes: bool) -> Self {
        self.collection = yes;
        self
    }

    /// Validates the configuration and builds the sink (no I/O except creating a local directory).
    pub fn build(mut self) -> Result<ArchiveSink> {
        // Heimdall's own options first (HEIMDALL_OPTIONS).
        let mut store_opts = Vec::new();
        for (k, v) in std::mem::take(&mut self.options) {
            let key = k.to_ascii_lowercase();
            let bad = |what: &str| Error::config(format!("option {k}={v:?}: {what}"));
            match key.as_str() {
                "format" => self.format = v.parse()?,
                "part_size" => self.part_size = v.parse().map_err(|_| bad("not a byte count"))?,
                "max_concurrency" => self.max_concurrency = v.parse().map_err(|_| bad("not a count"))?,
                "max_parts_in_flight" => self.max_parts_in_flight = v.parse().map_err(|_| bad("not a count"))?,
                "max_retries" => self.retry.max_retries = v.parse().map_err(|_| bad("not a count"))?,
                "retry_timeout" => {
                    let s: f64 = v.parse().map_err(|_| bad("not a number of seconds"))?;
                    if !(0.0..=MAX_RETRY_TIMEOUT_S).contains(&s) {
                        return Err(bad(&format!("not a number of seconds from 0 to {MAX_RETRY_TIMEOUT_S}")));
                    }
                    self.retry.retry_timeout = Duration::try_from_secs_f64(s).map_err(|e| bad(&e.to_string()))?;
                }
                "sigmf_collection" => self.collection = v.parse().map_err(|_| bad("not true or false"))?,
                "max_spectra_bytes" => self.max_spectra_bytes = v.parse().map_err(|_| bad("not a byte count"))?,
                _ => store_opts.push((key, v)),
            }
        }
        let backoff = &self.retry.backoff;
        if !backoff.base.is_finite() || backoff.base < 1.0 || backoff.init_backoff > backoff.max_backoff {
            return Err(Error::config(format!(
                "retry backoff from {:?} to {:?} growing {}x: the growth must be finite and at least 1, \
                 the first wait no longer than the longest",
                backoff.init_backoff, backoff.max_backoff, backoff.base
            )));
        }
        if self.part_size < MIN_PART_SIZE {
            return Err(Error::config(format!(
                "part_size {} is below the 5 MiB minimum of S3 multipart uploads",
                self.part_size
            )));
        }
        if self.max_concurrency == 0 {
            return Err(Error::config("max_concurrency must be at least 1"));
        }
        if self.max_parts_in_flight == 0 || self.max_parts_in_flight > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(Error::config("max_parts_in_flight must be at least 1"));
        }

        let url = self.url.trim().to_owned();
        #[allow(clippy::type_complexity)]
        let (store, prefix, backend, location, attrs, cleanup): (
            Arc<dyn ObjectStore>,
            Path,
            &'static str,
            String,
            bool,
            Cleanup,
        ) = if let Some(rest) = url.strip_prefix("memory://") {
            reject_store_opts("memory", &store_opts)?;
            let prefix = parse_prefix(rest)?;
            (
                Arc::new(InMemory::new()),
                prefix,
                "memory",
                redact_url(&url),
                true,
                Cleanup::Nothing,
            )
        } else if url.starts_with("s3://") || url.starts_with("s3a://") {
            let (s3, prefix, location, uploads) = self.build_s3(&url, &store_opts)?;
            (s3, prefix, "s3", location, true, Cleanup::S3(Arc::new(uploads)))
        } else if url.starts_with("file:") || !url.contains("://") {
            reject_store_opts("local", &store_opts)?;
            let dir = if url.starts_with("file:") {
                url::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.to_file_path().ok())
                    .ok_or_else(|| Error::config(format!("{url:?} is not an absolute file:// URL")))?
            } else if url.is_empty() {
                return Err(Error::config("the archive URL is empty"));
            } else {
                std::path::PathBuf::from(&url)
            };
            std::fs::create_dir_all(&dir).map_err(|e| Error::Config {
                reason: format!("cannot create the archive directory {}", dir.display()),
                source: Some(Box::new(e)),
            })?;
            let fs = LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| Error::Config {
                    reason: format!("cannot open the archive directory {}", dir.display()),
                    source: Some(Box::new(e)),
                })?
                .with_automatic_cleanup(true);
            let abs = std::fs::canonicalize(&dir).unwrap_or(dir);
            let location = url::Url::from_directory_path(&abs)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| format!("file://{}", abs.display()));
            (
                Arc::new(fs),
                Path::default(),
                "local",
                location,
                false,
                Cleanup::Local(abs),
            )
        } else {
            let scheme = url.split("://").next().unwrap_or("");
            return Err(Error::config(format!(
                "unsupported archive URL scheme {scheme:?}: use s3://bucket/prefix, file:///dir, a path or memory://"
            )));
        };
        Ok(ArchiveSink::from_inner(Inner {
            store,
            prefix,
            backend,
            location,
            format: self.format,
            part_size: self.part_size,
            max_concurrency: self.max_concurrency,
            parts_in_flight: Arc::new(tokio::sync::Semaphore::new(self.max_parts_in_flight)),
            max_parts_in_flight: self.max_parts_in_flight,
            part_pool: crate::part_buffer::PartPool::new(self.max_parts_in_flight + 1),
            supports_attributes: attrs,
            collection: self.collection,
            max_spectra_bytes: self.max_spectra_bytes,
            cleanup,
        }))
    }

    /// Creates the S3 bucket of the URL when it does not exist (the old Python (FastAPI/Celery) service did this at
    /// every upload; Heimdall only does it when asked, e.g. `acquire --create-bucket`).
    /// Returns whether it was created; `Ok(false)` for an existing bucket and for non-S3 URLs.
    /// The request is a signed `PUT /{bucket}` with the builder's endpoint and credentials.
    pub async fn ensure_bucket(&self) -> Result<bool> {
        let url = self.url.trim().to_owned();
        if !(url.starts_with("s3://") || url.starts_with("s3a://")) {
            return Ok(false);
        }
        let store_opts: Vec<(String, String)> = self
            .options
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .filter(|(k, _)| !HEIMDALL_OPTIONS.contains(&k.as_str()))
            .collect();
        let (s3, _, location, _) = self.build_s3(&url, &store_opts)?;
        let fail = |reason: String, retryable: bool| Error::Storage {
            backend: "s3",
            operation: "create bucket",
            key: location.clone(),
            retryable,
            source: reason.into(),
        };
        let signed = s3
            .signed_url(reqwest::Method::PUT, &Path::default(), Duration::from_secs(300))
            .await
            .map_err(|e| fail(format!("cannot sign the request: {e}"), false))?;
        // The signed URL of the empty key is `{endpoint}/{bucket}/`: the bucket itself.
        let response = reqwest::Client::new()
            .put(signed.as_str().trim_end_matches('/'))
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {}", e.without_url()), true))?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(bucket = %location, "created the S3 bucket");
            return Ok(true);
        }
        let body = response.text().await.unwrap_or_default();
        if status.as_u16() == 409 && (body.contains("BucketAlreadyOwnedByYou") || body.contains("BucketAlreadyExists"))
        {
            return Ok(false);
        }
        Err(fail(
            format!(
                "creating the bucket answered HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ),
            status.is_server_error(),
        ))
    }

    fn build_s3(&self, url: &str, opts: &[(String, String)]) -> Result<(Arc<AmazonS3>, Path, String, S3Uploads)> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Config {
            reason: format!("bad S3 URL {:?}", Redacted(url)),
            source: Some(Box::new(e)),
        })?;
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::config(format!("S3 URL {:?} has no bucket", Redacted(url))))?
            .to_owned();
        let prefix = parse_prefix(parsed.path())?;
        // Unsigned payloads by default (see the type docs): the signer would hash every byte a
        // second time. `AWS_UNSIGNED_PAYLOAD` or the `unsigned_payload` option, read below,
        // override it.
        let mut b = AmazonS3Builder::new()
            .with_config(
                AmazonS3ConfigKey::Client(object_store::ClientConfigKey::ConnectTimeout),
                "5s",
            )
            .with_unsigned_payload(DEFAULT_UNSIGNED_PAYLOAD);
        if self.use_env {
            for (k, v) in std::env::vars_os() {
                if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
                    && k.starts_with("AWS_")
                    && let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
                {
                    b = b.with_config(key, v);
                }
            }
            for (key, value) in legacy_env(|k| std::env::var(k).ok(), |k| b.get_config_value(k).is_some()) {
                b = b.with_config(key, value);
            }
        }
        for (k, v) in opts {
            let key: AmazonS3ConfigKey = k.parse().map_err(|_| {
                Error::config(format!(
                    "unknown S3 option {k:?} (see object_store's AmazonS3ConfigKey)"
                ))
            })?;
            b = b.with_config(key, v.clone());
        }
        let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let b = b
            .with_url(format!("s3://{bucket}"))
            .with_bucket_name(&bucket)
            .with_retry(self.retry.clone());
        let value = |k: AmazonS3ConfigKey| b.get_config_value(&k).filter(|v| !v.is_empty());
        let region = value(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".to_owned());
        let virtual_hosted = value(AmazonS3ConfigKey::VirtualHostedStyleRequest).is_some_and(|v| v == "true");
        let (uploads_endpoint, path_style) = match &endpoint {
            Some(ep) => (ep.clone(), !virtual_hosted),
            None => (format!("https://s3.{region}.amazonaws.com"), false),
        };
        let uploads_endpoint = url::Url::parse(&uploads_endpoint).map_err(|e| Error::Config {
            reason: format!("bad S3 endpoint {:?}", Redacted(&uploads_endpoint)),
            source: Some(Box::new(e)),
        })?;
        let (key_id, secret, token) = (
            value(AmazonS3ConfigKey::AccessKeyId),
            value(AmazonS3ConfigKey::SecretAccessKey),
            value(AmazonS3ConfigKey::Token),
        );
        let s3 = Arc::new(b.build().map_err(|e| Error::Config {
            reason: format!("invalid S3 configuration for s3://{bucket}"),
            source: Some(Box::new(e)),
        })?);
        let uploads = S3Uploads {
            store: s3.clone(),
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| Error::Config {
                    reason: "cannot build the HTTP client for S3 maintenance".into(),
                    source: Some(Box::new(e)),
                })?,
            endpoint: uploads_endpoint,
            path_style,
            bucket: bucket.clone(),
            region,
            key_id,
            secret,
            token,
        };
        let mut location = format!("s3://{bucket}");
        if !prefix.as_ref().is_empty() {
            location.push('/');
            location.push_str(prefix.as_ref());
        }
        match endpoint {
            Some(ep) => location.push_str(&format!(" at {}", redact_url(&ep))),
            None => location.push_str(" at AWS"),
        }
        Ok((s3, prefix, location, uploads))
    }
}

/// The old service's S3 settings and the `object_store` keys they stand for.
pub const LEGACY_ENV: [(&str, AmazonS3ConfigKey); 3] = [
    ("MINIO_URL", AmazonS3ConfigKey::Endpoint),
    ("MINIO_ACCESS_KEY", AmazonS3ConfigKey::AccessKeyId),
    ("MINIO_SECRET_KEY", AmazonS3ConfigKey::SecretAccessKey),
];

/// The old service's bucket setting (its default bucket was `heimdall-raw-iq`).
pub const LEGACY_BUCKET_ENV: &str = "MINIO_BUCKET_RAW_IQ";

static LEGACY_NOTICE: std::sync::Once = std::sync::Once::new();

/// The configuration the old service's `MINIO_*` variables give, for the keys the `AWS_*`
/// variables (`is_set`) leave unset; an `http://` MinIO URL also allows plain HTTP. Logs a
/// one-line notice (once per process) when it uses any.
fn legacy_env(
    var: impl Fn(&str) -> Option<String>,
    is_set: impl Fn(&AmazonS3ConfigKey) -> bool,
) -> Vec<(AmazonS3ConfigKey, String)> {
    let mut out = Vec::new();
    for (name, key) in LEGACY_ENV {
        if let Some(v) = var(name).filter(|v| !v.is_empty())
            && !is_set(&key)
        {
            if key == AmazonS3ConfigKey::Endpoint
                && v.starts_with("http://")
                && !is_set(&AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp))
            {
                out.push((
                    AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp),
                    "true".to_owned(),
                ));
            }
            out.push((key, v));
        }
    }
    if !out.is_empty() {
        LEGACY_NOTICE.call_once(|| {
            tracing::warn!(
                "using the old service's MINIO_URL/MINIO_ACCESS_KEY/MINIO_SECRET_KEY for S3 (AWS_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY take precedence)"
            );
        });
    }
    out
}

/// The archive URL the old service's settings name: `s3://{MINIO_BUCKET_RAW_IQ}` (by default
/// `s3://heimdall-raw-iq`) when `MINIO_URL` or `MINIO_BUCKET_RAW_IQ` is set, else `None`.
/// Programs use it as their default store so that an old deployment's environment still works.
pub fn legacy_url_from_env() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let bucket = var(LEGACY_BUCKET_ENV);
    if bucket.is_none() && var("MINIO_URL").is_none() {
        return None;
    }
    Some(format!(
        "s3://{}",
        bucket.as_deref().unwrap_or(crate::legacy::LEGACY_BUCKET)
    ))
}

fn reject_store_opts(store: &str, opts: &[(String, String)]) -> Result<()> {
    match opts.first() {
        Some((k, _)) => Err(Error::config(format!(
            "option {k:?} is not valid for a {store} archive"
        ))),
        None => Ok(()),
    }
}

fn parse_prefix(p: &str) -> Result<Path> {
    let p = p.trim_matches('/');
    Path::parse(p).map_err(|e| Error::Config {
        reason: format!("invalid archive prefix {p:?}"),
        source: Some(Box::new(e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let s = ArchiveBuilder::from_url(nested.to_str().unwrap()).build().unwrap();
        assert!(nested.is_dir(), "a bare path is created");
        assert!(s.to_string().starts_with("file://"), "{s}");
        let url = url::Url::from_directory_path(dir.path().join("c")).unwrap().to_string();
        ArchiveBuilder::from_url(url).build().unwrap();
        assert!(dir.path().join("c").is_dir());
        let m = ArchiveBuilder::from_url("memory:///pre/fix").build().unwrap();
        assert_eq!(m.prefix().as_ref(), "pre/fix");
        assert_eq!(m.format(), ArchiveFormat::Both);
        let s3 = ArchiveBuilder::from_url("s3://bkt/deep/prefix/")
            .with_env(false)
            .with_option("endpoint", "http://127.0.0.1:9000")
            .build()
            .unwrap();
        assert_eq!(s3.prefix().as_ref(), "deep/prefix");
        assert_eq!(s3.to_string(), "s3://bkt/deep/prefix at http://127.0.0.1:9000");
    }

    #[test]
    fn the_retry_policy_is_the_engines_type() {
        let fast = heimdall_core::RetryConfig::fast(2);
        let b = ArchiveBuilder::from_url("memory://")
            .with_retry(&fast)
            .with_retry_timeout(Duration::from_secs(3));
        assert_eq!(b.retry.max_retries, 2);
        assert_eq!(b.retry.backoff.init_backoff, fast.init_backoff);
        assert_eq!(b.retry.backoff.max_backoff, fast.max_backoff);
        assert_eq!(b.retry.retry_timeout, Duration::from_secs(3));
        assert!(b.build().is_ok());
        for bad in [
            heimdall_core::RetryConfig {
                base: f64::NAN,
                ..Default::default()
            },
            heimdall_core::RetryConfig {
                base: 0.5,
                ..Default::default()
            },
            heimdall_core::RetryConfig {
                init_backoff: Duration::from_secs(60),
                ..Default::default()
            },
        ] {
            let e = ArchiveBuilder::from_url("memory://")
                .with_retry(&bad)
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{e:?}");
        }
    }

    #[test]
    fn bad_configuration_is_a_config_error() {
        for b in [
            ArchiveBuilder::from_url("ftp://x/y"),
            ArchiveBuilder::from_url(""),
            ArchiveBuilder::from_url("memory://").with_option("endpoint", "http://x"),
            ArchiveBuilder::from_url("memory://").with_option("format", "tiff"),
            ArchiveBuilder::from_url("memory://").with_option("part_size", "1024"),
            ArchiveBuilder::from_url("memory://").with_option("max_concurrency", "0"),
            ArchiveBuilder::from_url("memory://").with_option("max_parts_in_flight", "0"),
            ArchiveBuilder::from_url("memory://").with_option("max_parts_in_flight", "many"),
            // Past what a Duration holds: a typed error, not a panic in Duration::from_secs_f64.
            ArchiveBuilder::from_url("memory://").with_option("retry_timeout", "1e20"),
            ArchiveBuilder::from_url("memory://").with_option("retry_timeout", "86401"),
            ArchiveBuilder::from_url("memory://").with_option("retry_timeout", "NaN"),
            ArchiveBuilder::from_url("memory://").with_option("retry_timeout", "-1"),
            ArchiveBuilder::from_url("s3://b")
                .with_env(false)
                .with_option("no_such_option", "1"),
            ArchiveBuilder::from_url("s3:///nobucket").with_env(false),
        ] {
            let e = b.clone().build().unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{b:?}: {e:?}");
        }
        let b = ArchiveBuilder::from_url("memory://")
            .with_options([("format", "npy"), ("part_size", "6291456"), ("retry_timeout", "2.5")])
            .build()
            .unwrap();
        assert_eq!(b.format(), ArchiveFormat::Npy);
    }

    #[test]
    fn old_minio_settings_fill_what_aws_leaves_unset() {
        let vars = |k: &str| match k {
            "MINIO_URL" => Some("http://minio:9000".to_owned()),
            "MINIO_ACCESS_KEY" => Some("old-key".to_owned()),
            "MINIO_SECRET_KEY" => Some("old-secret".to_owned()),
            _ => None,
        };
        let got = legacy_env(vars, |_| false);
        let allow = AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp);
        for want in [
            (AmazonS3ConfigKey::Endpoint, "http://minio:9000"),
            (allow, "true"),
            (AmazonS3ConfigKey::AccessKeyId, "old-key"),
            (AmazonS3ConfigKey::SecretAccessKey, "old-secret"),
        ] {
            assert!(got.contains(&(want.0, want.1.to_owned())), "{want:?} not in {got:?}");
        }
        // AWS_* wins over MINIO_*.
        let got = legacy_env(vars, |k| {
            matches!(k, AmazonS3ConfigKey::Endpoint | AmazonS3ConfigKey::SecretAccessKey)
        });
        assert_eq!(got, vec![(AmazonS3ConfigKey::AccessKeyId, "old-key".to_owned())]);
        assert!(legacy_env(|_| None, |_| false).is_empty());
        // The resulting store works as any S3 configuration.
        let mut b = AmazonS3Builder::new();
        for (k, v) in legacy_env(vars, |_| false) {
            b = b.with_config(k, v);
        }
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://minio:9000")
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let b = ArchiveBuilder::from_url("s3://user:pw@bkt/p?token=zz")
            .with_env(false)
            .with_options([
                ("access_key_id", "AK"),
                ("aws_secret_access_key", "SECRET1"),
                ("session_token", "SECRET2"),
            ]);
        let shown = format!("{b:?}");
        for s in ["SECRET1", "SECRET2", "pw", "zz"] {
            assert!(!shown.contains(s), "{s} in {shown}");
        }
        let sink = b.clone().build().unwrap();
        let shown = format!("{sink} {sink:?}");
        for s in ["SECRET1", "SECRET2", "pw@", "zz"] {
            assert!(!shown.contains(s), "{s} in {shown}");
        }
        // Nor in the error of a configuration that fails, wherever it fails.
        for bad in [
            b.clone().with_option("retry_timeout", "abc"),
            b.clone().with_option("no_such_option", "1"),
            b.clone()
                .with_option("endpoint", "http://minio:SECRET3@127.0.0.1:99999999/"),
            b.clone().with_option("allow_http", "maybe"),
            ArchiveBuilder::from_url("s3://user:SECRET4@bkt:99999999/p").with_env(false),
            ArchiveBuilder::from_url("memory://").with_option("secret_access_key", "SECRET5"),
        ] {
            let e = bad.build().unwrap_err();
            let shown = format!("{e} {e:?} {}", e.chain());
            for s in ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5", "zz"] {
                assert!(!shown.contains(s), "{s} in {shown}");
            }
        }
    }
}
