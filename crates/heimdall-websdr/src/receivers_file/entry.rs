//! The validated contents of a receivers file: entries, their options, the `[simulation]`
//! table, and the located error.

use std::fmt;
use std::path::PathBuf;

use heimdall_core::{Error, GeoPosition, Passband, ReceiverInfo};

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

/// The `[simulation]` table: the transmitter every `simulated` receiver hears.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    /// Seed of every random quantity (default 0).
    pub seed: u64,
    /// Transmitter position.
    pub position: GeoPosition,
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// EIRP, dBm (default 30 dBm = 1 W).
    pub eirp_dbm: f64,
    /// `carrier` (default), `fm_tone` (3 kHz deviation, 1 kHz tone) or `fm_voice` (3 kHz deviation).
    pub modulation: String,
    /// Line of the `[simulation]` table.
    pub line: usize,
}
