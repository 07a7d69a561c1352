//! The recording backend's detailed errors and their mapping to [`heimdall_core::Error`].

use heimdall_core::Error;

/// Backend name used in errors.
pub const BACKEND: &str = "recording";

/// Detailed replay failures, converted to [`heimdall_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordingError {
    /// The file cannot be read (missing, unreadable): retrying will not help.
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The file is larger than a replay holds in memory.
    #[error("{path} is {bytes} bytes, more than the {limit} bytes a replay reads")]
    TooLarge { path: String, bytes: u64, limit: u64 },
    /// The request asks for something the recording does not hold.
    #[error("{0}")]
    NotInRecording(String),
}

impl RecordingError {
    pub(crate) fn into_core(self, target: &str) -> Error {
        let target = target.to_owned();
        match self {
            RecordingError::Io { source, .. } => Error::Refused {
                backend: BACKEND,
                target,
                reason: format!("cannot read the recording: {}", source.kind()),
                source: Some(Box::new(source)),
            },
            e @ (RecordingError::TooLarge { .. } | RecordingError::NotInRecording(_)) => Error::Refused {
                backend: BACKEND,
                target,
                reason: e.to_string(),
                source: None,
            },
        }
    }
}
