//! The core error type shared by every Heimdall crate's public API.
//!
//! Backends keep their own detailed error enums and convert into [`Error`] at the
//! trait boundary, mapping the variants callers branch on and boxing the rest.
//! Whether a failure is worth retrying is decided where it is first seen and
//! carried as data ([`Error::is_retryable`]); the engine's retry loop only acts on it.

use std::time::Duration;

/// A boxed, thread-safe error used as a `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error a Heimdall trait or engine call can return.
///
/// Variants are named by what a caller can do about them. Every variant that talks to a
/// backend carries `backend` (a short static name such as `"kiwisdr"` or `"s3"`) and the
/// receiver, key or operation concerned; the original failure stays reachable through
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied value is out of range or malformed (request field, sample rate, id...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument that is wrong (`"frequency_hz"`, `"receiver id"`...).
        field: &'static str,
        /// Plain-words explanation including the offending value.
        reason: String,
    },

    /// Data received or read back is malformed (bad frame, bad file header, checksum mismatch).
    #[error("{backend}: malformed data from {origin}: {reason}")]
    Malformed {
        /// Backend that parsed the data.
        backend: &'static str,
        /// Where the data came from (receiver id, object key, file path).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A receiver or server is temporarily unable to serve (busy, all channels in use,
    /// connection refused or reset, HTTP 5xx/429). Retryable.
    #[error("{backend} {target} unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// Receiver id, endpoint or key.
        target: String,
        /// Plain-words reason.
        reason: String,
        /// Minimum wait before retrying, when the server asks for one.
        retry_after: Option<Duration>,
        /// Underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// The server refused the operation for a reason that retrying cannot fix
    /// (bad password, IP limit, kicked, invalid credentials, permission denied).
    #[error("{backend} {target} refused: {reason}")]
    Refused {
        /// Backend name.
        backend: &'static str,
        /// Receiver id, endpoint or key.
        target: String,
        /// Plain-words reason, including what to do when known.
        reason: String,
        /// Underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// An operation took longer than its deadline. Retryable.
    #[error("{backend} {target}: {operation} timed out after {after:?}")]
    Timeout {
        /// Backend name.
        backend: &'static str,
        /// Receiver id, endpoint or key.
        target: String,
        /// What was being done (`"connect"`, `"capture"`, `"upload"`...).
        operation: &'static str,
        /// The deadline that passed.
        after: Duration,
    },

    /// The stream ended before the requested data was delivered (connection dropped mid-capture).
    /// Retryable.
    #[error("{backend} {target}: connection lost after {received} samples: {reason}")]
    ConnectionLost {
        /// Backend name.
        backend: &'static str,
        /// Receiver id or endpoint.
        target: String,
        /// Samples received before the loss (they are not lost by the engine unless it retries).
        received: u64,
        /// Plain-words reason.
        reason: String,
        /// Underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// The object or row already exists and the operation does not overwrite.
    #[error("{backend}: {key} already exists")]
    AlreadyExists {
        /// Backend name.
        backend: &'static str,
        /// Key or id that exists.
        key: String,
    },

    /// The object, session or receiver does not exist.
    #[error("{backend}: {key} not found")]
    NotFound {
        /// Backend name.
        backend: &'static str,
        /// Key or id that was looked up.
        key: String,
    },

    /// A storage backend (object store, local disk) failed.
    #[error("{backend}: {operation} {key} failed: {source}")]
    Storage {
        /// Backend name (`"s3"`, `"local"`, `"memory"`).
        backend: &'static str,
        /// Operation (`"put"`, `"multipart upload"`, `"list"`...).
        operation: &'static str,
        /// Object key (never a credential).
        key: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// Underlying failure.
        source: BoxError,
    },

    /// A database failed.
    #[error("{backend}: {operation} failed: {source}")]
    Database {
        /// Backend name (`"postgres"`, `"sqlite"`).
        backend: &'static str,
        /// Operation (`"insert measurements"`, `"migrate"`...).
        operation: &'static str,
        /// Whether retrying may succeed.
        retryable: bool,
        /// Underlying failure (connection strings are redacted).
        source: BoxError,
    },

    /// The operation was cancelled by the caller.
    #[error("cancelled: {what}")]
    Cancelled {
        /// What was cancelled.
        what: String,
    },

    /// The backend does not support this operation.
    #[error("{operation} is not implemented by {backend}")]
    NotImplemented {
        /// Operation name.
        operation: &'static str,
        /// Backend name.
        backend: &'static str,
    },

    /// Configuration is invalid (unknown URL scheme, missing option, bad receivers file).
    #[error("configuration error: {reason}")]
    Config {
        /// Plain-words explanation naming the key, line or field.
        reason: String,
        /// Underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// Any other backend failure.
    #[error("{backend} error: {source}")]
    Generic {
        /// Backend name.
        backend: &'static str,
        /// Underlying failure.
        source: BoxError,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    ///
    /// Decided by the variant, or by the flag the backend set where it saw the failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable { .. } | Error::Timeout { .. } | Error::ConnectionLost { .. } => true,
            Error::Storage { retryable, .. } | Error::Database { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The minimum wait before a retry that the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable, machine-readable name of the variant (`"unavailable"`, `"timeout"`...),
    /// used in reports, database rows and HTTP bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::Malformed { .. } => "malformed",
            Error::Unavailable { .. } => "unavailable",
            Error::Refused { .. } => "refused",
            Error::Timeout { .. } => "timeout",
            Error::ConnectionLost { .. } => "connection_lost",
            Error::AlreadyExists { .. } => "already_exists",
            Error::NotFound { .. } => "not_found",
            Error::Storage { .. } => "storage",
            Error::Database { .. } => "database",
            Error::Cancelled { .. } => "cancelled",
            Error::NotImplemented { .. } => "not_implemented",
            Error::Config { .. } => "config",
            Error::Generic { .. } => "generic",
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Config`] without a source.
    pub fn config(reason: impl Into<String>) -> Self {
        Error::Config {
            reason: reason.into(),
            source: None,
        }
    }

    /// The message followed by its whole source chain, joined with `": "`, with every secret a
    /// message may carry masked ([`crate::redact::redact_url`]): third-party errors such as an
    /// HTTP client's print the URL they failed on, query string included (`?token=...`).
    pub fn chain(&self) -> String {
        crate::redact::redact_url(&self.chain_unredacted())
    }

    fn chain_unredacted(&self) -> String {
        let mut out = self.to_string();
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            let s_txt = s.to_string();
            if !out.contains(&s_txt) {
                out.push_str(": ");
                out.push_str(&s_txt);
            }
            src = s.source();
        }
        out
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            Error::AlreadyExists { .. } => std::io::ErrorKind::AlreadyExists,
            Error::InvalidInput { .. } => std::io::ErrorKind::InvalidInput,
            Error::Malformed { .. } => std::io::ErrorKind::InvalidData,
            Error::Timeout { .. } => std::io::ErrorKind::TimedOut,
            Error::Refused { .. } => std::io::ErrorKind::PermissionDenied,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// A serialisable snapshot of an [`Error`] for reports, manifests and database rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorReport {
    /// [`Error::kind`].
    pub kind: String,
    /// [`Error::chain`]: the message with its causes.
    pub message: String,
    /// [`Error::is_retryable`].
    pub retryable: bool,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            kind: e.kind().to_owned(),
            message: e.chain(),
            retryable: e.is_retryable(),
        }
    }
}

impl std::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_masks_secrets_a_source_prints() {
        // What an HTTP client's error says: the URL it failed on, query string included.
        let source = std::io::Error::other(
            "error sending request for url (https://rx.example/ws?token=Pl4nted&mode=iq): connection refused",
        );
        let e = Error::Unavailable {
            backend: "openwebrx",
            target: "http://admin:Pl4nted2@rx.example/".into(),
            reason: "connect failed".into(),
            retry_after: None,
            source: Some(Box::new(source)),
        };
        let chain = e.chain();
        assert!(!chain.contains("Pl4nted"), "{chain}");
        assert!(chain.contains("token=***&mode=iq"), "{chain}");
        assert!(chain.contains("admin:***@rx.example"), "{chain}");
    }

    #[test]
    fn display_names_context_and_chain_keeps_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = Error::Unavailable {
            backend: "kiwisdr",
            target: "kiwi-1".into(),
            reason: "connection reset".into(),
            retry_after: Some(Duration::from_secs(15)),
            source: Some(Box::new(io)),
        };
        assert_eq!(e.to_string(), "kiwisdr kiwi-1 unavailable: connection reset");
        assert_eq!(e.chain(), "kiwisdr kiwi-1 unavailable: connection reset: reset by peer");
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(15)));
        assert_eq!(e.kind(), "unavailable");
        let r = ErrorReport::from(&e);
        assert!(r.retryable);
        assert_eq!(r.kind, "unavailable");
    }

    #[test]
    fn refused_and_invalid_are_not_retryable() {
        let e = Error::Refused {
            backend: "kiwisdr",
            target: "k".into(),
            reason: "ip_limit".into(),
            source: None,
        };
        assert!(!e.is_retryable());
        assert!(!Error::invalid("frequency_hz", "NaN").is_retryable());
        assert_eq!(
            Error::invalid("frequency_hz", "is NaN").to_string(),
            "invalid frequency_hz: is NaN"
        );
        let io: std::io::Error = Error::NotFound {
            backend: "memory",
            key: "a".into(),
        }
        .into();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
