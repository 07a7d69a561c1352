//! The OpenWebRX client's detailed errors and their mapping to [`heimdall_core::Error`].

use std::time::Duration;

use heimdall_core::Error;
use tokio_tungstenite::tungstenite;

use super::protocol::ProtocolError;
use crate::transport::TransportError;

/// Backend name used in errors.
pub const BACKEND: &str = "openwebrx";

/// Retry delay after a `backoff` message (the browser restarts its reconnect policy at 16 s).
pub const BACKOFF_RETRY_AFTER: Duration = Duration::from_secs(16);

/// What went wrong, in protocol terms; converted to [`Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OwrxError {
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tungstenite::Error,
    },
    #[error("server sent backoff: {0}")]
    Backoff(String),
    #[error("server sent sdr_error: {0}")]
    SdrError(String),
    #[error("server sent demodulator_error: {0}")]
    DemodulatorError(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{reason}")]
    Closed {
        reason: String,
        #[source]
        source: Option<tungstenite::Error>,
    },
    #[error(
        "{target_mhz:.6} MHz (passband {low:+.0}..{high:+.0} Hz) is outside the current profile \
         ({center_mhz:.6} MHz ± {half_khz:.1} kHz) and switching the shared receiver's profile is not \
         allowed (OpenWebRxBuilder::with_allow_profile_switch)"
    )]
    NotCovered {
        target_mhz: f64,
        low: f64,
        high: f64,
        center_mhz: f64,
        half_khz: f64,
    },
    #[error("no profile covers {target_mhz:.6} MHz (passband {low:+.0}..{high:+.0} Hz); profiles: {profiles}")]
    NoProfile {
        target_mhz: f64,
        low: f64,
        high: f64,
        profiles: String,
    },
    #[error(
        "another user moved the receiver to {center_mhz:.6} MHz ± {half_khz:.1} kHz; {target_mhz:.6} MHz is out of span"
    )]
    MovedAway {
        target_mhz: f64,
        center_mhz: f64,
        half_khz: f64,
    },
    #[error(
        "the server did not apply selectprofile {profile:?} within {after:?} (locked profile or profile \
         switching disabled); not retrying, since repeated profile switches trip the bot detector"
    )]
    SwitchIgnored { profile: String, after: Duration },
    #[error("cannot fetch /status.json to choose a profile")]
    Status(#[source] Error),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl OwrxError {
    pub(super) fn into_error(self, id: &str, received: u64) -> Error {
        let target = id.to_owned();
        match self {
            OwrxError::Connect { url, source } => {
                let refused = matches!(&source, tungstenite::Error::Http(r)
                    if r.status().is_client_error() && r.status() != tungstenite::http::StatusCode::TOO_MANY_REQUESTS);
                let reason = format!("cannot connect to {url}");
                if let Some(tls) = crate::tls::describe_failure(&source) {
                    Error::Refused {
                        backend: BACKEND,
                        target,
                        reason: format!("{reason}: {tls}"),
                        source: Some(Box::new(source)),
                    }
                } else if refused {
                    Error::Refused {
                        backend: BACKEND,
                        target,
                        reason: format!("{reason}: the WebSocket upgrade was rejected (is this an OpenWebRX?)"),
                        source: Some(Box::new(source)),
                    }
                } else {
                    Error::Unavailable {
                        backend: BACKEND,
                        target,
                        reason,
                        retry_after: None,
                        source: Some(Box::new(source)),
                    }
                }
            }
            OwrxError::Backoff(reason) => {
                if reason.to_ascii_lowercase().contains("ban") {
                    Error::Refused {
                        backend: BACKEND,
                        target,
                        reason: format!(
                            "server sent backoff: {reason} (OpenWebRX+ bans an address for 12 h; do not retry)"
                        ),
                        source: None,
                    }
                } else {
                    Error::Unavailable {
                        backend: BACKEND,
                        target,
                        reason: format!("server sent backoff: {reason}"),
                        retry_after: Some(BACKOFF_RETRY_AFTER),
                        source: None,
                    }
                }
            }
            OwrxError::SdrError(text) => {
                if text.to_ascii_lowercase().contains("no sdr devices") {
                    Error::Refused {
                        backend: BACKEND,
                        target,
                        reason: format!("server sent sdr_error: {text}"),
                        source: None,
                    }
                } else {
                    Error::Unavailable {
                        backend: BACKEND,
                        target,
                        reason: format!("server sent sdr_error: {text}"),
                        retry_after: None,
                        source: None,
                    }
                }
            }
            OwrxError::DemodulatorError(text) => Error::Refused {
                backend: BACKEND,
                target,
                reason: format!("server sent demodulator_error: {text}"),
                source: None,
            },
            OwrxError::Protocol(ProtocolError::Legacy) => Error::NotImplemented {
                operation: "the legacy OpenWebRX protocol (≤ 0.18)",
                backend: BACKEND,
            },
            OwrxError::Protocol(p) => Error::Malformed {
                backend: BACKEND,
                origin: target,
                reason: p.to_string(),
            },
            OwrxError::Closed { reason, source } => Error::ConnectionLost {
                backend: BACKEND,
                target,
                received,
                reason,
                source: source.map(|s| Box::new(s) as _),
            },
            e @ (OwrxError::NotCovered { .. } | OwrxError::NoProfile { .. } | OwrxError::SwitchIgnored { .. }) => {
                Error::Refused {
                    backend: BACKEND,
                    target,
                    reason: e.to_string(),
                    source: None,
                }
            }
            e @ OwrxError::MovedAway { .. } => Error::Unavailable {
                backend: BACKEND,
                target,
                reason: e.to_string(),
                retry_after: Some(BACKOFF_RETRY_AFTER),
                source: None,
            },
            OwrxError::Status(e) => e,
            OwrxError::Transport(t) => t.into_core(BACKEND, id),
        }
    }
}

/// Re-labels a discovery error as an OpenWebRX one for this receiver.
pub(crate) fn rebrand(e: Error, id: &str) -> Error {
    match e {
        Error::Unavailable {
            reason,
            retry_after,
            source,
            target,
            ..
        } => Error::Unavailable {
            backend: BACKEND,
            target: id.to_owned(),
            reason: format!("{reason} ({target})"),
            retry_after,
            source,
        },
        Error::Refused {
            reason, source, target, ..
        } => Error::Refused {
            backend: BACKEND,
            target: id.to_owned(),
            reason: format!("{reason} ({target})"),
            source,
        },
        Error::Timeout { operation, after, .. } => Error::Timeout {
            backend: BACKEND,
            target: id.to_owned(),
            operation,
            after,
        },
        Error::Malformed { origin, reason, .. } => Error::Malformed {
            backend: BACKEND,
            origin: format!("{id} ({origin})"),
            reason,
        },
        other => other,
    }
}
