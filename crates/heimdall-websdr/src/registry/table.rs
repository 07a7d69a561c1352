//! [`Registry`]: the backends a caller enabled, by kind, and [`Backend`], one registration.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, ReceiverInfo, ReceiverKind, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::context::BuildContext;
use super::urls::{UrlRule, parse_url};

/// Builds a source from a receiver description and its backend's options (no I/O).
pub type BuildFn<O> = fn(&ReceiverInfo, O, &BuildContext) -> Result<Arc<DynReceiverSource>>;

/// A health probe without a capture: the receiver, its parsed URL, the timeout.
#[cfg(feature = "discovery")]
pub type ProbeFn = for<'a> fn(
    &'a reqwest::Client,
    &'a ReceiverInfo,
    url::Url,
    std::time::Duration,
) -> futures::future::BoxFuture<'a, Result<heimdall_core::ReceiverHealth>>;

/// One backend's registration: its kind, its URLs, its options struct `O` (a serde struct
/// with `#[serde(deny_unknown_fields)]`), its builder and its health probe.
pub struct Backend<O> {
    kind: ReceiverKind,
    url: UrlRule,
    build: Option<BuildFn<O>>,
    #[cfg(feature = "discovery")]
    probe: Option<ProbeFn>,
    options: PhantomData<fn() -> O>,
}

impl<O> fmt::Debug for Backend<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("builds", &self.build.is_some())
            .field("options", &std::any::type_name::<O>())
            .finish()
    }
}

impl<O: DeserializeOwned + 'static> Backend<O> {
    /// A backend of `kind` accepting the URLs of `url`, with no builder yet (its kind and URLs
    /// are known, its sources are not: its feature is off).
    pub fn new(kind: ReceiverKind, url: UrlRule) -> Self {
        Backend {
            kind,
            url,
            build: None,
            #[cfg(feature = "discovery")]
            probe: None,
            options: PhantomData,
        }
    }

    /// Its builder.
    pub fn with_builder(mut self, build: BuildFn<O>) -> Self {
        self.build = Some(build);
        self
    }

    /// Its health probe (see [`Registry::probe_health`]).
    #[cfg(feature = "discovery")]
    pub fn with_probe(mut self, probe: ProbeFn) -> Self {
        self.probe = Some(probe);
        self
    }
}

type ErasedBuild = Box<dyn Fn(&ReceiverInfo, &Value, &BuildContext) -> Result<Arc<DynReceiverSource>> + Send + Sync>;

struct Entry {
    url: UrlRule,
    check: fn(&Value) -> std::result::Result<(), String>,
    build: Option<ErasedBuild>,
    #[cfg(feature = "discovery")]
    probe: Option<ProbeFn>,
}

fn options<O: DeserializeOwned>(v: &Value) -> std::result::Result<O, String> {
    // A record without options stores `null`: no option set.
    match v {
        Value::Null => O::deserialize(&Value::Object(Default::default())),
        v => O::deserialize(v),
    }
    .map_err(|e| format!("options: {e}"))
}

/// The backends a caller enabled, by kind: the one place that maps a kind to its URL schemes,
/// its options and its builder. An instance the caller owns; [`Registry::with_defaults`]
/// registers every backend compiled in.
///
/// ```
/// # #[cfg(feature = "openwebrx")] {
/// use heimdall_core::{GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind};
/// use heimdall_websdr::registry::{BuildContext, Registry};
/// let reg = Registry::with_defaults();
/// let info = ReceiverInfo::new(ReceiverId::new("o").unwrap(), "O", ReceiverKind::OpenWebRx, "http://h:8073/");
/// let src = reg.build(&info, &serde_json::json!({"mode": "nfm"}), &BuildContext::new()).unwrap();
/// assert_eq!(src.info().id.as_str(), "o");
/// let err = reg.build(&info, &serde_json::json!({"colour": 1}), &BuildContext::new()).unwrap_err();
/// assert!(err.to_string().contains("unknown field `colour`"), "{err}");
/// # }
/// ```
#[derive(Default)]
pub struct Registry {
    /// In registration order (a handful: a scan is the fastest lookup).
    backends: Vec<(ReceiverKind, Entry)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a backend, replacing any of the same kind.
    pub fn register<O: DeserializeOwned + 'static>(&mut self, backend: Backend<O>) -> &mut Self {
        let build = backend.build.map(|f| -> ErasedBuild {
            Box::new(move |info, v, ctx| f(info, options::<O>(v).map_err(Error::config)?, ctx))
        });
        let entry = Entry {
            url: backend.url,
            check: |v| options::<O>(v).map(drop),
            build,
            #[cfg(feature = "discovery")]
            probe: backend.probe,
        };
        match self.backends.iter_mut().find(|(k, _)| *k == backend.kind) {
            Some((_, e)) => *e = entry,
            None => self.backends.push((backend.kind, entry)),
        }
        self
    }

    /// The registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = ReceiverKind> + '_ {
        self.backends.iter().map(|(k, _)| *k)
    }

    /// The URL rule of `kind`, if registered.
    pub fn url_rule(&self, kind: ReceiverKind) -> Option<&UrlRule> {
        self.get(kind).map(|e| &e.url)
    }

    fn get(&self, kind: ReceiverKind) -> Option<&Entry> {
        self.backends.iter().find(|(k, _)| *k == kind).map(|(_, e)| e)
    }

    fn entry(&self, kind: ReceiverKind) -> std::result::Result<&Entry, String> {
        self.get(kind).ok_or_else(|| {
            format!(
                "receiver kind {kind} is not compiled in / not available (enable the heimdall-websdr feature `{}`)",
                kind.as_str()
            )
        })
    }

    /// Parses a receiver URL for `kind` (see [`super::parse_url`]); the error is the reason.
    pub fn parse_url(&self, kind: ReceiverKind, raw: &str) -> std::result::Result<url::Url, String> {
        parse_url(kind, &self.entry(kind)?.url, raw)
    }

    /// Checks `options` against `kind`'s options struct (unknown fields refused).
    pub fn check_options(&self, kind: ReceiverKind, options: &Value) -> std::result::Result<(), String> {
        (self.entry(kind)?.check)(options)
    }

    /// Builds a source from a receiver description and its options, as a JSON object of
    /// `kind`'s option fields (no I/O): the URL is checked, then the options, then the
    /// backend's builder runs. Every failure is [`Error::Config`].
    pub fn build(&self, info: &ReceiverInfo, options: &Value, ctx: &BuildContext) -> Result<Arc<DynReceiverSource>> {
        let entry = self.entry(info.kind).map_err(Error::config)?;
        parse_url(info.kind, &entry.url, &info.url).map_err(|why| Error::config(format!("url: {why}")))?;
        let Some(build) = &entry.build else {
            return Err(Error::config(format!(
                "receiver kind {} is not compiled in / not available (enable the heimdall-websdr feature `{}`)",
                info.kind,
                info.kind.as_str()
            )));
        };
        build(info, options, ctx)
    }

    /// A health check chosen by the receiver's kind, without opening a capture: the backend's
    /// probe (KiwiSDR `GET /status`, OpenWebRX `GET /status.json`), else for an `http(s)` URL
    /// the HEAD-then-GET liveness check. Receivers of other kinds (rtl_tcp, simulated) are not
    /// probed over HTTP (`NotImplemented`; use their source's `health()`).
    #[cfg(feature = "discovery")]
    pub async fn probe_health(
        &self,
        client: &reqwest::Client,
        info: &ReceiverInfo,
        timeout: std::time::Duration,
    ) -> Result<heimdall_core::ReceiverHealth> {
        let url = info.url.as_str();
        let probe = self.get(info.kind).and_then(|e| e.probe);
        match probe {
            Some(probe) => {
                let u = self.parse_url(info.kind, url).map_err(Error::config)?;
                probe(client, info, u, timeout).await
            }
            None if url.starts_with("http://") || url.starts_with("https://") => {
                crate::discovery::check_http_liveness(client, url, timeout).await
            }
            None => Err(Error::NotImplemented {
                operation: "HTTP health probe of a non-HTTP receiver",
                backend: "discovery",
            }),
        }
    }
}
