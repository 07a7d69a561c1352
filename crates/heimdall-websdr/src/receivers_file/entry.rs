//! The validated contents of a receivers file: entries, their options, the `[simulation]`
//! table, and the located error.

use std::fmt;
use std::path::PathBuf;

use heimdall_core::{Error, Passband, ReceiverInfo};
use serde_json::{Map, Value, json};

/// A receivers-file problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiversFileError {
    /// The file, when loaded from one.
    pub path: Option<PathBuf>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field concerned, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ReceiversFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}:{}:{}", p.display(), self.line, self.column)?,
            None => write!(f, "receivers file line {}, column {}", self.line, self.column)?,
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ReceiversFileError {}

impl From<ReceiversFileError> for Error {
    fn from(e: ReceiversFileError) -> Self {
        Error::Config {
            reason: match (&e.path, &e.field) {
                (Some(p), Some(f)) => format!(
                    "receivers file {}: line {}, field `{f}`: {}",
                    p.display(),
                    e.line,
                    e.message
                ),
                (Some(p), None) => format!("receivers file {}: line {}: {}", p.display(), e.line, e.message),
                (None, Some(f)) => format!("receivers file: line {}, field `{f}`: {}", e.line, e.message),
                (None, None) => format!("receivers file: line {}: {}", e.line, e.message),
            },
            source: Some(Box::new(e)),
        }
    }
}

/// Protocol options of one entry (each backend reads the ones it knows).
#[derive(Clone, Default, PartialEq)]
pub struct ReceiverOptions {
    /// Login password (KiwiSDR).
    pub password: Option<String>,
    /// Time-limit exemption password (KiwiSDR).
    pub time_limit_password: Option<String>,
    /// Demodulator mode (OpenWebRX).
    pub mode: Option<String>,
    /// Whether a shared receiver's profile may be switched (OpenWebRX).
    pub allow_profile_switch: Option<bool>,
    /// Passband relative to the tuned frequency.
    pub passband: Option<Passband>,
    /// Manual gain, dB (KiwiSDR RF gain, rtl_tcp tuner gain).
    pub gain_db: Option<f64>,
    /// Sample rate, Hz (rtl_tcp, HTTP IQ).
    pub sample_rate_hz: Option<f64>,
    /// Frequency correction, ppm (rtl_tcp).
    pub ppm: Option<i32>,
    /// Contents of `ca_file`: extra trusted CA certificates, PEM (OpenWebRX, HTTP IQ over TLS).
    pub ca_certificates_pem: Option<Vec<u8>>,
}

impl ReceiverOptions {
    /// The options given, as the registry's JSON object of option fields (`ca_file`'s
    /// contents as `ca_certificates_pem`). Holds the passwords: never log it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        };
        put("password", self.password.as_ref().map(|v| json!(v)));
        put(
            "time_limit_password",
            self.time_limit_password.as_ref().map(|v| json!(v)),
        );
        put("mode", self.mode.as_ref().map(|v| json!(v)));
        put("allow_profile_switch", self.allow_profile_switch.map(|v| json!(v)));
        put("passband_low_hz", self.passband.map(|p| json!(p.low_hz)));
        put("passband_high_hz", self.passband.map(|p| json!(p.high_hz)));
        put("gain_db", self.gain_db.map(|v| json!(v)));
        put("sample_rate_hz", self.sample_rate_hz.map(|v| json!(v)));
        put("ppm", self.ppm.map(|v| json!(v)));
        put(
            "ca_certificates_pem",
            self.ca_certificates_pem
                .as_ref()
                .map(|p| json!(String::from_utf8_lossy(p))),
        );
        Value::Object(m)
    }
}

impl fmt::Debug for ReceiverOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |p: &Option<String>| p.as_ref().map(|_| "<redacted>");
        f.debug_struct("ReceiverOptions")
            .field("password", &redact(&self.password))
            .field("time_limit_password", &redact(&self.time_limit_password))
            .field("mode", &self.mode)
            .field("allow_profile_switch", &self.allow_profile_switch)
            .field("passband", &self.passband)
            .field("gain_db", &self.gain_db)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("ppm", &self.ppm)
            .field(
                "ca_certificates_pem",
                &self
                    .ca_certificates_pem
                    .as_ref()
                    .map(|p| format!("<{} bytes>", p.len())),
            )
            .finish()
    }
}

/// One `[[receiver]]` entry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverEntry {
    /// Identity, kind, URL and position.
    pub info: ReceiverInfo,
    /// Whether to build a source for it.
    pub enabled: bool,
    /// Protocol options.
    pub options: ReceiverOptions,
    /// Line of its `[[receiver]]` header (1-based).
    pub line: usize,
}
