//! [`OpenWebRxBuilder`]: cheap, no I/O, every check in [`OpenWebRxBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use heimdall_core::redact::Redacted;
use heimdall_core::{Error, Passband, ReceiverInfo, Result};

use super::limiter::{DEFAULT_POLITENESS_INTERVAL, HostLimiter};
use super::protocol::valid_mode;
use super::session::OpenWebRxConfig;
use super::source::OpenWebRxSource;

/// Builds an [`OpenWebRxSource`].
///
/// | setter | default | meaning |
/// |---|---|---|
/// | [`with_mode`](Self::with_mode) | `"nfm"` | demodulator (`usb`, `lsb`, `am`, `nfm`, `cw`, `wfm`...; must match `^[a-z0-9-]+$`) |
/// | [`with_passband`](Self::with_passband) | the browser's default for the mode | `low_cut`/`high_cut` relative to the dial frequency; a request's passband wins |
/// | [`with_allow_profile_switch`](Self::with_allow_profile_switch) | `false` | may send `selectprofile` when the current profile does not cover the target (moves **every** user of that SDR) |
/// | [`with_output_rate`](Self::with_output_rate) / [`with_hd_output_rate`](Self::with_hd_output_rate) | 12000 / 48000 | `connectionproperties` audio rates, Hz |
/// | [`with_host_limiter`](Self::with_host_limiter) | a limiter of this source only, 10 s | share one `Arc<HostLimiter>` across sources reaching one host |
/// | [`with_politeness_interval`](Self::with_politeness_interval) | 10 s | interval of the source's own limiter (ignored with a shared one) |
/// | [`with_connect_timeout`](Self::with_connect_timeout) | 10 s | TCP + WebSocket upgrade |
/// | [`with_handshake_timeout`](Self::with_handshake_timeout) | 10 s | from connect until `config` (and a profile switch) is complete |
/// | [`with_stall_timeout`](Self::with_stall_timeout) | 10 s | longest silence mid-capture before `Timeout` |
/// | [`with_http_client`](Self::with_http_client) | a new `reqwest::Client` | for `/status.json` |
/// | [`with_root_certificates_pem`](Self::with_root_certificates_pem) | Mozilla roots only | extra trusted CAs for `https`/`wss` receivers |
///
/// The receiver URL is the page, `http://host:port/[path/]` or `https://...`, or the WebSocket
/// URL, `ws://host:port/[path/]ws/` or `wss://...`. TLS receivers (OpenWebRX behind a reverse
/// proxy) are verified against the Mozilla root store plus the certificates given with
/// [`with_root_certificates_pem`](Self::with_root_certificates_pem).
///
/// ```
/// use heimdall_core::{ReceiverId, ReceiverInfo, ReceiverKind};
/// use heimdall_websdr::openwebrx::OpenWebRxBuilder;
/// let info = ReceiverInfo::new(ReceiverId::new("torino").unwrap(), "Torino", ReceiverKind::OpenWebRx,
///                              "http://vst-aero.it:8073/");
/// let src = OpenWebRxBuilder::new(info).with_mode("nfm").build().unwrap();
/// assert_eq!(src.websocket_url().as_str(), "ws://vst-aero.it:8073/ws/");
///
/// let info = ReceiverInfo::new(ReceiverId::new("proxied").unwrap(), "Behind nginx", ReceiverKind::OpenWebRx,
///                              "https://sdr.example.org/owrx/");
/// let src = OpenWebRxBuilder::new(info).build().unwrap();
/// assert_eq!(src.websocket_url().as_str(), "wss://sdr.example.org/owrx/ws/");
/// ```
#[derive(Debug, Clone)]
pub struct OpenWebRxBuilder {
    info: ReceiverInfo,
    mode: String,
    passband: Option<Passband>,
    allow_profile_switch: bool,
    output_rate: u32,
    hd_output_rate: u32,
    limiter: Option<Arc<HostLimiter>>,
    politeness: Duration,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    stall_timeout: Duration,
    http: Option<reqwest::Client>,
    root_pem: Vec<Vec<u8>>,
}

impl OpenWebRxBuilder {
    /// A builder for the receiver `info` (its `url` is the OpenWebRX page or WebSocket URL).
    pub fn new(info: ReceiverInfo) -> Self {
        OpenWebRxBuilder {
            info,
            mode: "nfm".to_owned(),
            passband: None,
            allow_profile_switch: false,
            output_rate: 12_000,
            hd_output_rate: 48_000,
            limiter: None,
            politeness: DEFAULT_POLITENESS_INTERVAL,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            http: None,
            root_pem: Vec::new(),
        }
    }

    /// Demodulator mode.
    pub fn with_mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = mode.into();
        self
    }

    /// Passband relative to the dial frequency.
    pub fn with_passband(mut self, passband: Passband) -> Self {
        self.passband = Some(passband);
        self
    }

    /// Whether the source may switch the shared receiver's profile to reach the target.
    pub fn with_allow_profile_switch(mut self, allow: bool) -> Self {
        self.allow_profile_switch = allow;
        self
    }

    /// Audio rate asked for in `connectionproperties` (8000-48000 Hz).
    pub fn with_output_rate(mut self, hz: u32) -> Self {
        self.output_rate = hz;
        self
    }

    /// HD audio rate asked for in `connectionproperties` (used by `wfm`).
    pub fn with_hd_output_rate(mut self, hz: u32) -> Self {
        self.hd_output_rate = hz;
        self
    }

    /// Shares a per-host connection limiter with other sources.
    pub fn with_host_limiter(mut self, limiter: Arc<HostLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Interval of this source's own limiter (when no shared one is given).
    pub fn with_politeness_interval(mut self, interval: Duration) -> Self {
        self.politeness = interval;
        self
    }

    /// Connect (TCP + upgrade) timeout.
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Handshake timeout (until the receiver state is known and tuned).
    pub fn with_handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Longest silence tolerated mid-capture.
    pub fn with_stall_timeout(mut self, t: Duration) -> Self {
        self.stall_timeout = t;
        self
    }

    /// HTTP client for `/status.json`.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Also trusts the certificates of this PEM text (one or more `BEGIN CERTIFICATE` blocks)
    /// for `https`/`wss` receivers: a private CA, or a receiver's self-signed certificate.
    /// Applies to the WebSocket and to the default `/status.json` client (a client given with
    /// [`with_http_client`](Self::with_http_client) keeps its own trust). May be called
    /// several times.
    pub fn with_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_pem.push(pem.into());
        self
    }

    /// Validates everything and builds the source. Does no I/O.
    pub fn build(self) -> Result<OpenWebRxSource> {
        let id = self.info.id.to_string();
        let cfg_err = |what: String| Error::config(format!("openwebrx receiver {id}: {what}"));
        if !valid_mode(&self.mode) {
            return Err(cfg_err(format!(
                "mode {:?} must match ^[a-z0-9-]+$ (e.g. usb, lsb, am, nfm, cw, wfm)",
                self.mode
            )));
        }
        if let Some(p) = &self.passband
            && (!p.low_hz.is_finite() || !p.high_hz.is_finite() || p.low_hz >= p.high_hz)
        {
            return Err(cfg_err(format!(
                "passband low {} Hz must be finite and below high {} Hz",
                p.low_hz, p.high_hz
            )));
        }
        for (name, r) in [
            ("output_rate", self.output_rate),
            ("hd_output_rate", self.hd_output_rate),
        ] {
            if !(1_000..=192_000).contains(&r) {
                return Err(cfg_err(format!("{name} {r} Hz is not within 1000..=192000")));
            }
        }
        for (name, t) in [
            ("connect timeout", self.connect_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("stall timeout", self.stall_timeout),
        ] {
            if t.is_zero() {
                return Err(cfg_err(format!("{name} must be more than zero")));
            }
        }
        let (ws_url, http_base) = derive_urls(&self.info.url).map_err(cfg_err)?;
        let host = ws_url
            .host_str()
            .ok_or_else(|| cfg_err(format!("URL {:?} has no host", self.info.url)))?
            .to_ascii_lowercase();
        // Parsed even for plain-text URLs, so that a bad CA file is reported at once.
        let tls_config = crate::tls::client_config(&self.root_pem).map_err(cfg_err)?;
        let tls = (ws_url.scheme() == "wss").then_some(tls_config);
        let http = match self.http {
            Some(c) => c,
            None => {
                let b = reqwest::Client::builder().user_agent(concat!("heimdall/", env!("CARGO_PKG_VERSION")));
                crate::tls::add_roots(b, &self.root_pem)
                    .map_err(cfg_err)?
                    .build()
                    .map_err(|e| Error::Config {
                        reason: format!("openwebrx receiver {id}: cannot build the HTTP client"),
                        source: Some(Box::new(e)),
                    })?
            }
        };
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(HostLimiter::new(self.politeness)));
        Ok(OpenWebRxSource {
            cfg: Arc::new(OpenWebRxConfig {
                info: self.info,
                mode: self.mode,
                passband: self.passband,
                allow_profile_switch: self.allow_profile_switch,
                output_rate: self.output_rate,
                hd_output_rate: self.hd_output_rate,
                limiter,
                host,
                ws_url,
                http_base,
                connect_timeout: self.connect_timeout,
                handshake_timeout: self.handshake_timeout,
                stall_timeout: self.stall_timeout,
                http,
                tls,
            }),
        })
    }
}

/// `(ws://host:port/path/ws/, http://host:port/path/)` from a page or WebSocket URL
/// (`wss`/`https` for TLS).
fn derive_urls(url: &str) -> std::result::Result<(url::Url, url::Url), String> {
    // The registry's rule: one of the kind's schemes, a host, no password or secret parameter.
    let u = crate::registry::parse_url(heimdall_core::ReceiverKind::OpenWebRx, &super::protocol::URL_RULE, url)?;
    let (ws_scheme, http_scheme) = match u.scheme() {
        "https" | "wss" => ("wss", "https"),
        _ => ("ws", "http"),
    };
    let mut path = u.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    let base_path = path.strip_suffix("ws/").unwrap_or(&path).to_owned();
    let mut http = u.clone();
    http.set_query(None);
    http.set_fragment(None);
    http.set_path(&base_path);
    http.set_scheme(http_scheme)
        .map_err(|()| format!("URL {:?}: cannot use scheme {http_scheme}", Redacted(url)))?;
    let mut ws = http.clone();
    ws.set_path(&format!("{base_path}ws/"));
    ws.set_scheme(ws_scheme)
        .map_err(|()| format!("URL {:?}: cannot use scheme {ws_scheme}", Redacted(url)))?;
    Ok((ws, http))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (ws, http) = derive_urls("http://h:8073").unwrap();
        assert_eq!((ws.as_str(), http.as_str()), ("ws://h:8073/ws/", "http://h:8073/"));
        let (ws, http) = derive_urls("http://h:8073/sdr").unwrap();
        assert_eq!(
            (ws.as_str(), http.as_str()),
            ("ws://h:8073/sdr/ws/", "http://h:8073/sdr/")
        );
        let (ws, http) = derive_urls("ws://h:8073/ws/").unwrap();
        assert_eq!((ws.as_str(), http.as_str()), ("ws://h:8073/ws/", "http://h:8073/"));
        let (ws, http) = derive_urls("https://h/owrx").unwrap();
        assert_eq!((ws.as_str(), http.as_str()), ("wss://h/owrx/ws/", "https://h/owrx/"));
        let (ws, http) = derive_urls("wss://h:8443/ws/").unwrap();
        assert_eq!((ws.as_str(), http.as_str()), ("wss://h:8443/ws/", "https://h:8443/"));
        assert!(derive_urls("ftp://h/").is_err());
        assert!(derive_urls("nonsense").is_err());
    }

    /// The builder checks URLs with the registry's rule: a password or a secret parameter is
    /// refused and never shown.
    #[test]
    fn secrets_in_the_url_are_refused_without_being_shown() {
        for url in ["http://admin:hunter2@h:8073/", "http://h:8073/?token=hunter2"] {
            let err = derive_urls(url).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("password") || err.contains("secret"), "{err}");
        }
        let err = derive_urls("ftp://h/").unwrap_err();
        assert!(err.contains("scheme \"ftp\""), "{err}");
    }
}
