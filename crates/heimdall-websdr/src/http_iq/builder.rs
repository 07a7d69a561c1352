//! [`HttpIqBuilder`]: configuration of an [`HttpIqSource`], validated in `build()`, no I/O.

use std::time::Duration;

use heimdall_core::{Error, ReceiverInfo, Result};

use super::source::{HttpIqConfig, HttpIqSource};

/// Builds an [`HttpIqSource`].
///
/// | Setter | Default | Meaning |
/// |---|---|---|
/// | `with_sample_rate` | 48 000 Hz | `rate=` when the request has none |
/// | `with_connect_timeout` | 5 s | TCP/TLS connect |
/// | `with_response_timeout` | 10 s | until the response headers |
/// | `with_read_timeout` | 10 s | longest silence in the body |
/// | `with_root_certificates_pem` | Mozilla roots only | extra trusted CAs for `https://` |
///
/// The URL (`ReceiverInfo::url`) is the base, `http://` or `https://`; `/iq` is appended.
#[derive(Debug, Clone)]
pub struct HttpIqBuilder {
    info: ReceiverInfo,
    sample_rate: f64,
    connect_timeout: Duration,
    response_timeout: Duration,
    read_timeout: Duration,
    root_pem: Vec<Vec<u8>>,
}

impl HttpIqBuilder {
    /// A builder for `info` with default settings.
    pub fn new(info: ReceiverInfo) -> Self {
        HttpIqBuilder {
            info,
            sample_rate: 48_000.0,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            root_pem: Vec::new(),
        }
    }
    /// Sample rate asked for when the request has none.
    pub fn with_sample_rate(mut self, hz: f64) -> Self {
        self.sample_rate = hz;
        self
    }
    /// Connect deadline.
    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Deadline for the response headers.
    pub fn with_response_timeout(mut self, d: Duration) -> Self {
        self.response_timeout = d;
        self
    }
    /// Longest silence accepted in the body.
    pub fn with_read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Also trusts the certificates of this PEM text (one or more `BEGIN CERTIFICATE` blocks)
    /// for `https://` receivers: a private CA or a self-signed certificate. May be repeated.
    pub fn with_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_pem.push(pem.into());
        self
    }

    /// Validates and builds (no I/O).
    pub fn build(self) -> Result<HttpIqSource> {
        // The registry's rule: http(s), a host, no password or secret parameter (the message
        // masks any secret of the URL).
        let u = crate::registry::parse_url(
            heimdall_core::ReceiverKind::HttpIq,
            &super::protocol::URL_RULE,
            &self.info.url,
        )
        .map_err(|why| Error::config(format!("http_iq url: {why}")))?;
        if !self.sample_rate.is_finite() || self.sample_rate < 1.0 || self.sample_rate > 1e9 {
            return Err(Error::config(format!(
                "http_iq sample rate {} Hz is not within 1..=1e9",
                self.sample_rate
            )));
        }
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() || self.read_timeout.is_zero() {
            return Err(Error::config("http_iq timeouts must be more than zero"));
        }
        let client = crate::tls::add_roots(
            reqwest::Client::builder().connect_timeout(self.connect_timeout),
            &self.root_pem,
        )
        .map_err(|e| Error::config(format!("http_iq receiver {}: {e}", self.info.id)))?;
        let client = client.build().map_err(|e| Error::Config {
            reason: "http_iq: cannot build the HTTP client".into(),
            source: Some(Box::new(e)),
        })?;
        let base = u.as_str().trim_end_matches('/').to_owned();
        Ok(HttpIqSource::new(
            self.info,
            HttpIqConfig {
                base,
                client,
                sample_rate: self.sample_rate,
                connect_timeout: self.connect_timeout,
                response_timeout: self.response_timeout,
                read_timeout: self.read_timeout,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use heimdall_core::{ReceiverId, ReceiverKind};

    use super::*;

    fn build(url: &str) -> Result<HttpIqSource> {
        let id = ReceiverId::new("iq").unwrap();
        HttpIqBuilder::new(ReceiverInfo::new(id, "IQ", ReceiverKind::HttpIq, url)).build()
    }

    /// The URL is checked with the registry's rule: scheme, host, and no secret, which is
    /// never shown in the error.
    #[test]
    fn urls_are_checked_by_the_registry_rule() {
        for url in ["http://admin:hunter2@h/iq", "https://h/iq?token=hunter2"] {
            let err = build(url).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("password") || err.contains("secret"), "{err}");
        }
        for url in ["ftp://h/iq", "http://", "not a url"] {
            assert!(build(url).is_err(), "{url}");
        }
    }
}
