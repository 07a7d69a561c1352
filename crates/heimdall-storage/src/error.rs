//! The one place where `object_store` errors become [`heimdall_core::Error`]s.
//!
//! | `object_store` failure | Heimdall error | retryable |
//! |---|---|---|
//! | `NotFound` | [`Error::NotFound`] | no |
//! | `AlreadyExists` | [`Error::AlreadyExists`] | no |
//! | `Precondition` | [`Error::Storage`] (the manifest put maps it to `AlreadyExists`) | no |
//! | `PermissionDenied`, `Unauthenticated`, HTTP 401/403 (bad key, bad signature, denied) | [`Error::Refused`] naming the endpoint | no |
//! | missing bucket (`NoSuchBucket`) | [`Error::Refused`] | no |
//! | connect / request / timeout / interrupted transport errors, HTTP 5xx, 408, 429, `SlowDown` | [`Error::Unavailable`] naming the endpoint | yes |
//! | local disk: permission denied, read-only file system | [`Error::Refused`] | no |
//! | local disk: no space left, quota exceeded, file too large | [`Error::Storage`] | no |
//! | `NotImplemented` | [`Error::NotImplemented`] | no |
//! | anything else | [`Error::Storage`] | no |
//!
//! Messages name the store location and the object key, never a credential.

use std::error::Error as StdError;
use std::io;

use heimdall_core::Error;
use object_store::client::{HttpError, HttpErrorKind};

/// What a failure means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    NotFound,
    AlreadyExists,
    Auth(String),
    Transient(String),
    LocalDenied(String),
    DiskFull(String),
    NotImplemented,
    Other,
}

/// Walks the source chain for the most telling cause.
fn classify(e: &object_store::Error) -> Class {
    match e {
        object_store::Error::NotFound { .. } => return Class::NotFound,
        object_store::Error::AlreadyExists { .. } => return Class::AlreadyExists,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            // Prefer the S3 error code (bad key id, bad signature...) when the body names one.
            let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
            while let Some(err) = cur {
                if let Some(c @ Class::Auth(_)) = classify_text(&err.to_string()) {
                    return c;
                }
                cur = err.source();
            }
            return Class::Auth(if matches!(e, object_store::Error::Unauthenticated { .. }) {
                "unauthenticated (HTTP 401): the credentials are missing or invalid".into()
            } else {
                "permission denied (HTTP 403): the credentials are invalid or not allowed to do this".into()
            });
        }
        object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. } => {
            return Class::NotImplemented;
        }
        _ => {}
    }
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>()
            && let Some(c) = classify_io(io)
        {
            return c;
        }
        if let Some(h) = err.downcast_ref::<HttpError>() {
            let what = match h.kind() {
                HttpErrorKind::Connect => Some("cannot connect"),
                HttpErrorKind::Request => Some("request failed"),
                HttpErrorKind::Timeout => Some("request timed out"),
                HttpErrorKind::Interrupted => Some("connection interrupted"),
                _ => None,
            };
            if let Some(w) = what {
                return Class::Transient(w.into());
            }
        }
        let text = err.to_string();
        if let Some(c) = classify_text(&text) {
            return c;
        }
        cur = err.source();
    }
    Class::Other
}

fn classify_io(io: &io::Error) -> Option<Class> {
    use io::ErrorKind as K;
    Some(match io.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => Class::LocalDenied(format!("{io}")),
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => Class::DiskFull(format!("{io}")),
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::TimedOut
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Class::Transient(format!("{io}")),
        _ => return None,
    })
}

/// Recognises HTTP statuses and S3 error codes in a message (the types carrying them are
/// private to `object_store`).
fn classify_text(text: &str) -> Option<Class> {
    for code in [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidToken",
        "ExpiredToken",
    ] {
        if text.contains(code) {
            return Some(Class::Auth(format!(
                "{code}: check the access key id and secret for this endpoint"
            )));
        }
    }
    if text.contains("NoSuchBucket") {
        return Some(Class::Auth("NoSuchBucket: the bucket does not exist".into()));
    }
    if text.contains("SlowDown") || text.contains("InternalError") || text.contains("ServiceUnavailable") {
        return Some(Class::Transient(
            "the server asked to slow down or failed internally".into(),
        ));
    }
    let idx = text.find("status code: ")?;
    let digits: String = text[idx + "status code: ".len()..].chars().take(3).collect();
    let status: u16 = digits.parse().ok()?;
    match status {
        401 => Some(Class::Auth("unauthenticated (HTTP 401)".into())),
        403 => Some(Class::Auth("forbidden (HTTP 403)".into())),
        408 | 429 | 500..=599 => Some(Class::Transient(format!("server answered HTTP {status}"))),
        _ => None,
    }
}

/// Converts an `object_store` error into a Heimdall error.
///
/// `backend` is the short store name (`"s3"`, `"local"`, `"memory"`), `location` the store's
/// redacted description (URL and endpoint), `operation` what was being done and `key` the
/// object key concerned.
pub(crate) fn map_store_error(
    backend: &'static str,
    location: &str,
    operation: &'static str,
    key: &str,
    e: object_store::Error,
) -> Error {
    match classify(&e) {
        Class::NotFound => Error::NotFound {
            backend,
            key: key.to_owned(),
        },
        Class::AlreadyExists => Error::AlreadyExists {
            backend,
            key: key.to_owned(),
        },
        Class::Auth(reason) => Error::Refused {
            backend,
            target: location.to_owned(),
            reason: format!("{operation} {key}: {reason}"),
            source: Some(Box::new(e)),
        },
        Class::LocalDenied(reason) => Error::Refused {
            backend,
            target: location.to_owned(),
            reason: format!("{operation} {key}: {reason} (check the directory's permissions)"),
            source: Some(Box::new(e)),
        },
        Class::Transient(reason) => Error::Unavailable {
            backend,
            target: location.to_owned(),
            reason: format!("{operation} {key}: {reason}"),
            retry_after: None,
            source: Some(Box::new(e)),
        },
        Class::DiskFull(_) => Error::Storage {
            backend,
            operation,
            key: key.to_owned(),
            retryable: false,
            source: Box::new(e),
        },
        Class::NotImplemented => Error::NotImplemented { operation, backend },
        Class::Other => Error::Storage {
            backend,
            operation,
            key: key.to_owned(),
            retryable: false,
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(src: impl StdError + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: Box::new(src),
        }
    }

    #[test]
    fn io_kinds_map_to_the_right_variant() {
        let full = map_store_error(
            "local",
            "file:///x",
            "put",
            "k",
            generic(io::Error::from(io::ErrorKind::StorageFull)),
        );
        assert!(matches!(full, Error::Storage { retryable: false, .. }), "{full:?}");
        assert!(full.chain().to_lowercase().contains("storage full") || full.chain().contains("space"));
        let denied = map_store_error(
            "local",
            "file:///x",
            "put",
            "k",
            generic(io::Error::from(io::ErrorKind::PermissionDenied)),
        );
        assert!(matches!(denied, Error::Refused { .. }), "{denied:?}");
        assert!(!denied.is_retryable());
        let refused = map_store_error(
            "s3",
            "s3://b at http://127.0.0.1:1",
            "put",
            "k",
            generic(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert!(refused.is_retryable(), "{refused:?}");
        assert!(refused.to_string().contains("127.0.0.1:1"), "{refused}");
    }

    #[test]
    fn statuses_and_codes_in_messages() {
        #[derive(Debug)]
        struct Msg(&'static str);
        impl std::fmt::Display for Msg {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for Msg {}
        let cases = [
            (
                "Server returned non-2xx status code: 503 Service Unavailable: ",
                true,
                "unavailable",
            ),
            (
                "Server returned non-2xx status code: 429 Too Many Requests: ",
                true,
                "unavailable",
            ),
            ("<Code>InvalidAccessKeyId</Code>", false, "refused"),
            ("<Code>SignatureDoesNotMatch</Code>", false, "refused"),
            (
                "Server returned non-2xx status code: 400 Bad Request: ",
                false,
                "storage",
            ),
        ];
        for (text, retry, kind) in cases {
            let e = map_store_error("s3", "loc", "put", "k", generic(Msg(text)));
            assert_eq!(e.is_retryable(), retry, "{text}: {e:?}");
            assert_eq!(e.kind(), kind, "{text}");
        }
    }

    #[test]
    fn typed_variants() {
        let nf = object_store::Error::NotFound {
            path: "p".into(),
            source: "x".into(),
        };
        assert!(matches!(
            map_store_error("memory", "memory://", "get", "p", nf),
            Error::NotFound { .. }
        ));
        let ae = object_store::Error::AlreadyExists {
            path: "p".into(),
            source: "x".into(),
        };
        assert!(matches!(
            map_store_error("memory", "memory://", "put", "p", ae),
            Error::AlreadyExists { .. }
        ));
        let ni = object_store::Error::NotImplemented {
            operation: "x".into(),
            implementer: "y".into(),
        };
        assert!(matches!(
            map_store_error("local", "file:///", "put", "p", ni),
            Error::NotImplemented { .. }
        ));
    }
}
