//! HTTP health checks: KiwiSDR `/status`, OpenWebRX `/status.json`, and the old Python (FastAPI/Celery) service's
//! HEAD-then-GET liveness check for anything else.

use std::time::Duration;

use heimdall_core::{Error, ReceiverHealth, Result};

use super::kiwisdr_status::KiwiStatus;
use super::openwebrx_status::OpenWebRxStatus;

const BACKEND: &str = "discovery";

/// Appends `rel` to `base` as a child path (`http://h:8073` + `status` → `http://h:8073/status`).
pub fn join_url(base: &str, rel: &str) -> Result<url::Url> {
    let mut u = url::Url::parse(base).map_err(|e| Error::invalid("url", format!("{base:?}: {e}")))?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u.set_fragment(None);
    u.join(rel)
        .map_err(|e| Error::invalid("url", format!("{base:?} + {rel:?}: {e}")))
}

fn transport_error(target: &str, what: &'static str, timeout: Duration, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout {
            backend: BACKEND,
            target: target.to_owned(),
            operation: what,
            after: timeout,
        }
    } else {
        Error::Unavailable {
            backend: BACKEND,
            target: target.to_owned(),
            reason: format!("{what} failed"),
            retry_after: None,
            source: Some(Box::new(e)),
        }
    }
}

fn status_error(target: &str, what: &str, status: reqwest::StatusCode) -> Error {
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Error::Unavailable {
            backend: BACKEND,
            target: target.to_owned(),
            reason: format!("{what}: HTTP {status}"),
            retry_after: None,
            source: None,
        }
    } else {
        Error::Refused {
            backend: BACKEND,
            target: target.to_owned(),
            reason: format!("{what}: HTTP {status}"),
            source: None,
        }
    }
}

async fn get_text(client: &reqwest::Client, url: url::Url, timeout: Duration, what: &'static str) -> Result<String> {
    let target = url.to_string();
    let resp = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport_error(&target, what, timeout, e))?;
    if !resp.status().is_success() {
        return Err(status_error(&target, what, resp.status()));
    }
    resp.text()
        .await
        .map_err(|e| transport_error(&target, what, timeout, e))
}

/// `GET {base}/status` of a KiwiSDR, parsed.
pub async fn fetch_kiwisdr_status(client: &reqwest::Client, base: &str, timeout: Duration) -> Result<KiwiStatus> {
    let url = join_url(base, "status")?;
    Ok(KiwiStatus::parse(&get_text(client, url, timeout, "GET /status").await?))
}

/// `GET {base}/status.json` of an OpenWebRX, parsed.
pub async fn fetch_openwebrx_status(
    client: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Result<OpenWebRxStatus> {
    let url = join_url(base, "status.json")?;
    let target = url.to_string();
    let text = get_text(client, url, timeout, "GET /status.json").await?;
    OpenWebRxStatus::parse(&text).map_err(|e| Error::Malformed {
        backend: BACKEND,
        origin: target,
        reason: format!("/status.json is not the expected JSON: {e}"),
    })
}

/// The old service's liveness check: `HEAD url`, and when that fails or is answered with an
/// error status (many small servers do not implement HEAD), `GET url` (body not read).
///
/// Returns `Ok(available = true)` on a 2xx/3xx answer, `Ok(available = false)` with the HTTP
/// status in `detail` when both answer with an error status, and `Err` (retryable `Unavailable`
/// or `Timeout`) when the GET cannot reach the server at all.
pub async fn check_http_liveness(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<ReceiverHealth> {
    let u = url::Url::parse(url)
        .map_err(|e| Error::invalid("url", format!("{:?}: {e}", heimdall_core::redact::Redacted(url))))?;
    let ok = |s: reqwest::StatusCode| s.is_success() || s.is_redirection();
    let head = client.head(u.clone()).timeout(timeout).send().await;
    match head {
        Ok(r) if ok(r.status()) => {
            return Ok(ReceiverHealth {
                detail: format!("HEAD: HTTP {}", r.status()),
                ..ReceiverHealth::up()
            });
        }
        Ok(r) => tracing::debug!(url, status = %r.status(), "HEAD refused, trying GET"),
        Err(e) => tracing::debug!(url, error = %e, "HEAD failed, trying GET"),
    }
    let r = client
        .get(u)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport_error(url, "GET", timeout, e))?;
    let status = r.status();
    drop(r);
    Ok(ReceiverHealth {
        available: ok(status),
        detail: format!("GET: HTTP {status}"),
        ..ReceiverHealth::up()
    })
}

/// A health check chosen by the receiver's kind, without opening a capture, with the backends
/// compiled in: see [`crate::registry::Registry::probe_health`] (KiwiSDR `GET /status`,
/// OpenWebRX `GET /status.json`, any other `http(s)` URL the HEAD-then-GET liveness check;
/// rtl_tcp and simulated receivers `NotImplemented`). A receiver that asks for a password is
/// reported unavailable here, which knows no password: its source's `health()` knows its own.
pub async fn probe_health(
    client: &reqwest::Client,
    info: &heimdall_core::ReceiverInfo,
    timeout: Duration,
) -> Result<ReceiverHealth> {
    crate::registry::Registry::with_defaults()
        .probe_health(client, info, timeout)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(
            join_url("http://h:8073", "status").unwrap().as_str(),
            "http://h:8073/status"
        );
        assert_eq!(
            join_url("http://h:8073/sdr/?x=1", "status.json").unwrap().as_str(),
            "http://h:8073/sdr/status.json"
        );
        assert!(join_url("not a url", "status").is_err());
    }
}
