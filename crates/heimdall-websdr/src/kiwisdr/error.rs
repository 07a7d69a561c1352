//! The KiwiSDR client's detailed errors and their mapping to [`heimdall_core::Error`].

use std::time::Duration;

use heimdall_core::Error;

use super::protocol;
use crate::transport::TransportError;

/// Backend name used in errors.
pub const BACKEND: &str = "kiwisdr";

/// Detailed KiwiSDR failures, converted to [`heimdall_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KiwiError {
    #[error("WebSocket handshake with {url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("all channels are busy (too_busy={channels:?}); retry in {retry_after:?} or later")]
    TooBusy {
        channels: Option<u32>,
        retry_after: Duration,
    },
    #[error("channels are full and the Kiwi redirects to {target}{}", if *.followed { " (a redirect was already followed)" } else { "" })]
    Redirect {
        target: String,
        followed: bool,
        retry_after: Duration,
    },
    #[error("authentication failed (badp={code}): {}", protocol::badp_reason(*.code))]
    BadPassword { code: u8 },
    #[error("the Kiwi is down{}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    Down { reason: String },
    #[error(
        "per-IP 24 h connection-time limit reached (ip_limit={detail}); do not retry: the Kiwi blacklists an IP after 5 attempts"
    )]
    IpLimit { detail: String },
    #[error("kicked by the Kiwi admin (kiwi_kick={detail})")]
    Kicked { detail: String },
    #[error("inactivity timeout after {minutes} min (inactivity_timeout); do not reconnect in a tight loop")]
    InactivityTimeout { minutes: String },
    #[error("no successful authentication within the server's limit (password_timeout)")]
    PasswordTimeout,
    #[error("the Kiwi refused the channel: {what}")]
    OtherRefusal { what: &'static str },
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl KiwiError {
    pub(crate) fn into_core(self, target: &str) -> Error {
        let target = target.to_owned();
        let reason = self.to_string();
        match self {
            KiwiError::HttpStatus { status, .. } if status == 404 || status == 429 || status >= 500 => {
                Error::Unavailable {
                    backend: BACKEND,
                    target,
                    reason,
                    retry_after: None,
                    source: None,
                }
            }
            KiwiError::HttpStatus { .. } => Error::Refused {
                backend: BACKEND,
                target,
                reason,
                source: None,
            },
            KiwiError::TooBusy { retry_after, .. } | KiwiError::Redirect { retry_after, .. } => Error::Unavailable {
                backend: BACKEND,
                target,
                reason,
                retry_after: Some(retry_after),
                source: None,
            },
            KiwiError::BadPassword { .. }
            | KiwiError::Down { .. }
            | KiwiError::IpLimit { .. }
            | KiwiError::Kicked { .. }
            | KiwiError::InactivityTimeout { .. }
            | KiwiError::PasswordTimeout
            | KiwiError::OtherRefusal { .. } => Error::Refused {
                backend: BACKEND,
                target,
                reason,
                source: None,
            },
            KiwiError::Malformed(reason) => Error::Malformed {
                backend: BACKEND,
                origin: target,
                reason,
            },
            KiwiError::Transport(t) => t.into_core(BACKEND, &target),
        }
    }
}
