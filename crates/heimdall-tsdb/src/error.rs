//! Mapping of diesel, diesel-async and pool failures to [`heimdall_core::Error::Database`].
//!
//! Retryability is decided here, where the raw failure is seen:
//!
//! | failure | retryable |
//! |---|---|
//! | connection refused / lost, pool timeout, server shutting down, too many connections | yes |
//! | serialization failure (40001), deadlock (40P01), lock timeout, SQLite `BUSY`/`LOCKED` | yes |
//! | constraint (unique, check, not-null, foreign key), syntax, type, bad data, auth, missing database | no |
//!
//! Every message is scrubbed of the connection string's password before it is stored.

use std::fmt;

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use heimdall_core::Error;

use crate::config::Secret;

/// What kind of database failure happened (the source of a [`heimdall_core::Error::Database`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Could not connect, or the connection dropped.
    Connection,
    /// No pooled connection became available in time.
    PoolTimeout,
    /// Serialization failure, deadlock, lock timeout or SQLite busy: try again.
    Contention,
    /// A constraint rejected the data (unique, check, not-null, foreign key).
    Constraint,
    /// Authentication or authorisation failed, or the database does not exist.
    Access,
    /// A stored value could not be read back or a value could not be encoded.
    Data,
    /// Anything else (syntax error, unexpected server response...).
    Other,
}

impl FailureKind {
    /// Whether a retry may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            FailureKind::Connection | FailureKind::PoolTimeout | FailureKind::Contention
        )
    }
}

/// A database failure with its classification and a password-free message.
///
/// The driver's own error is rendered (and redacted) at conversion time so that no code path
/// can print the connection string's password through the source chain.
#[derive(Debug, Clone)]
pub struct DatabaseFailure {
    /// Classification.
    pub kind: FailureKind,
    /// Redacted message including the server's detail and hint, when given.
    pub message: String,
    /// Constraint name, when a constraint failed.
    pub constraint: Option<String>,
}

impl fmt::Display for DatabaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DatabaseFailure {}

/// Scrubs messages for one backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) backend: &'static str,
    pub(crate) secret: Option<&'a Secret>,
}

impl Ctx<'_> {
    fn scrub(&self, s: &str) -> String {
        match self.secret {
            Some(sec) => sec.scrub(s),
            None => s.to_owned(),
        }
    }

    pub(crate) fn error(&self, operation: &'static str, kind: FailureKind, message: &str) -> Error {
        self.failure(operation, kind, message, None)
    }

    /// The error of `operation`, its message scrubbed of the secret.
    fn failure(&self, operation: &'static str, kind: FailureKind, message: &str, constraint: Option<String>) -> Error {
        let f = DatabaseFailure {
            kind,
            message: self.scrub(message),
            constraint,
        };
        Error::Database {
            backend: self.backend,
            operation,
            retryable: f.kind.is_retryable(),
            source: Box::new(f),
        }
    }

    /// Converts a query error.
    pub(crate) fn query(&self, operation: &'static str, e: &DieselError) -> Error {
        let (kind, message, constraint) = classify_query(e);
        self.failure(operation, kind, &message, constraint)
    }

    /// Converts an error of the tokio-postgres driver (the COPY path).
    #[cfg(feature = "postgres")]
    pub(crate) fn driver(&self, operation: &'static str, e: &tokio_postgres::Error) -> Error {
        let (kind, message, constraint) = match e.as_db_error() {
            Some(db) => {
                let mut message = db.message().to_owned();
                if let Some(d) = db.detail() {
                    message.push_str(&format!(" ({d})"));
                }
                if let Some(h) = db.hint() {
                    message.push_str(&format!("; hint: {h}"));
                }
                let code = db.code().code();
                let kind = match code.get(..2) {
                    Some("23") => {
                        message = format!("constraint violated: {message}");
                        FailureKind::Constraint
                    }
                    Some("08") => FailureKind::Connection,
                    Some("28") => FailureKind::Access,
                    _ if matches!(code, "40001" | "40P01" | "55P03") => FailureKind::Contention,
                    _ if matches!(code, "57P01" | "57P02" | "57P03" | "53300") => FailureKind::Connection,
                    _ if matches!(code, "3D000" | "42501") => FailureKind::Access,
                    _ => classify_message(&message).unwrap_or(FailureKind::Other),
                };
                (kind, message, db.constraint().map(str::to_owned))
            }
            None => {
                let mut message = e.to_string();
                let mut src = std::error::Error::source(e);
                while let Some(s) = src {
                    let t = s.to_string();
                    if !message.contains(&t) {
                        message.push_str(&format!(": {t}"));
                    }
                    src = s.source();
                }
                let kind = if e.is_closed() {
                    FailureKind::Connection
                } else {
                    classify_message(&message).unwrap_or(FailureKind::Connection)
                };
                (kind, message, None)
            }
        };
        self.failure(operation, kind, &message, constraint)
    }

    /// Converts a connection error.
    pub(crate) fn connection(&self, operation: &'static str, e: &ConnectionError) -> Error {
        let (kind, message) = match e {
            ConnectionError::InvalidConnectionUrl(m) => (FailureKind::Access, format!("invalid connection URL: {m}")),
            ConnectionError::BadConnection(m) => (classify_message(m).unwrap_or(FailureKind::Connection), m.clone()),
            ConnectionError::CouldntSetupConfiguration(inner) => {
                let (k, m, _) = classify_query(inner);
                // An error without SQLSTATE during setup means the server was not reached.
                (k, format!("could not connect: {m}"))
            }
            other => (FailureKind::Connection, other.to_string()),
        };
        self.failure(operation, kind, &message, None)
    }
}

fn classify_message(m: &str) -> Option<FailureKind> {
    let l = m.to_ascii_lowercase();
    const CONTENTION: [&str; 7] = [
        "deadlock detected",
        "could not serialize access",
        "database is locked",
        "database table is locked",
        "lock timeout",
        "could not obtain lock",
        "canceling statement due to lock timeout",
    ];
    const CONNECTION: [&str; 8] = [
        "connection refused",
        "connection reset",
        "connection closed",
        "terminating connection",
        "the database system is starting up",
        "the database system is shutting down",
        "too many connections",
        "broken pipe",
    ];
    const ACCESS: [&str; 5] = [
        "password authentication failed",
        "no pg_hba.conf entry",
        "permission denied",
        "does not exist",
        "role",
    ];
    if CONTENTION.iter().any(|p| l.contains(p)) {
        Some(FailureKind::Contention)
    } else if CONNECTION.iter().any(|p| l.contains(p)) {
        Some(FailureKind::Connection)
    } else if ACCESS.iter().take(4).any(|p| l.contains(p)) {
        Some(FailureKind::Access)
    } else {
        None
    }
}

fn classify_query(e: &DieselError) -> (FailureKind, String, Option<String>) {
    match e {
        DieselError::DatabaseError(kind, info) => {
            let mut message = info.message().to_owned();
            if let Some(d) = info.details() {
                message.push_str(" (");
                message.push_str(d);
                message.push(')');
            }
            if let Some(h) = info.hint() {
                message.push_str("; hint: ");
                message.push_str(h);
            }
            let constraint = info.constraint_name().map(str::to_owned);
            let k = match kind {
                DatabaseErrorKind::SerializationFailure => FailureKind::Contention,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => FailureKind::Connection,
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation => {
                    message = format!("constraint violated: {message}");
                    FailureKind::Constraint
                }
                DatabaseErrorKind::ReadOnlyTransaction => FailureKind::Other,
                _ => classify_message(&message).unwrap_or(FailureKind::Other),
            };
            (k, message, constraint)
        }
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => {
            let (k, m, c) = classify_query(commit_error);
            (k, format!("{m} (and rollback failed: {rollback_error})"), c)
        }
        DieselError::BrokenTransactionManager => (
            FailureKind::Connection,
            "the connection's transaction state is broken; a new connection is needed".to_owned(),
            None,
        ),
        DieselError::DeserializationError(e) => (FailureKind::Data, format!("cannot decode a row: {e}"), None),
        DieselError::SerializationError(e) => (FailureKind::Data, format!("cannot encode a value: {e}"), None),
        DieselError::NotFound => (FailureKind::Other, "row not found".to_owned(), None),
        other => {
            let m = other.to_string();
            (classify_message(&m).unwrap_or(FailureKind::Other), m, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c = Ctx {
            backend: "postgres",
            secret: None,
        };
        let db = |kind, msg: &str| c.query("insert", &DieselError::DatabaseError(kind, Box::new(msg.to_owned())));
        for (kind, msg, retryable) in [
            (DatabaseErrorKind::SerializationFailure, "x", true),
            (DatabaseErrorKind::CheckViolation, "bad", false),
            (DatabaseErrorKind::Unknown, "deadlock detected", true),
            (DatabaseErrorKind::Unknown, "database is locked", true),
            (DatabaseErrorKind::Unknown, "syntax error at or near \"SELEC\"", false),
        ] {
            assert_eq!(db(kind, msg).is_retryable(), retryable, "{msg}");
        }
        let e = db(DatabaseErrorKind::CheckViolation, "bad");
        assert!(e.to_string().contains("constraint violated"), "{e}");
        let e = c.connection(
            "connect",
            &ConnectionError::BadConnection("password authentication failed for user \"x\"".into()),
        );
        assert!(!e.is_retryable());
        let e = c.connection("connect", &ConnectionError::BadConnection("Connection refused".into()));
        assert!(e.is_retryable());
    }

    #[test]
    fn scrubs_password_from_messages() {
        let s = Secret::new("postgres://u:hunter2@h/db");
        let c = Ctx {
            backend: "postgres",
            secret: Some(&s),
        };
        let e = c.connection(
            "connect",
            &ConnectionError::BadConnection("cannot connect to postgres://u:hunter2@h/db".into()),
        );
        let all = format!("{e} {e:?} {}", e.chain());
        assert!(!all.contains("hunter2"), "{all}");
    }
}
