//! The receivers file: a TOML list of `[[receiver]]` tables that builds the sources.
//!
//! ```toml
//! [[receiver]]
//! id = "torino"                     # slug: ASCII letters, digits, '-', '_' (required, unique)
//! name = "Torino"                   # display name (default: the id)
//! kind = "openwebrx"                # kiwisdr | openwebrx | rtl_tcp | http_iq | simulated
//! url = "http://vst-aero.it:8073/"  # endpoint (never put a password in it)
//! latitude = 45.044                 # WGS84 degrees (required)
//! longitude = 7.672                 # (required)
//! altitude_m = 250                  # optional
//! enabled = true                    # optional, default true
//! # optional, per kind:
//! password = "..."                  # kiwisdr: login password
//! time_limit_password = "..."       # kiwisdr: time-limit exemption password
//! mode = "nfm"                      # openwebrx demodulator
//! allow_profile_switch = false      # openwebrx: may move a shared receiver
//! passband_low_hz = -4000           # passband relative to the tuned frequency
//! passband_high_hz = 4000
//! gain_db = 30                      # kiwisdr manual gain (AGC is always off) / rtl_tcp tuner gain
//! sample_rate_hz = 2048000          # rtl_tcp / http_iq rate
//! ppm = 0                           # rtl_tcp frequency correction
//! ca_file = "my-ca.pem"             # openwebrx / http_iq over https: extra trusted CA (PEM),
//!                                   # relative to this file; the Mozilla roots are always trusted
//!
//! # Only needed by `kind = "simulated"` entries: the emitter they all hear.
//! [simulation]
//! seed = 42
//! latitude = 45.1                   # transmitter position
//! longitude = 7.6
//! altitude_m = 300
//! frequency_hz = 145500000
//! eirp_dbm = 30
//! modulation = "carrier"            # carrier | fm_tone | fm_voice
//! ```
//!
//! Accepted URLs per kind: `openwebrx` http://, https://, ws:// or wss:// (the page or `/ws/` URL); `kiwisdr`
//! http://, ws://, kiwisdr://, kiwi://, tcp:// or `host:port`; `rtl_tcp` tcp://, rtl_tcp:// or
//! `host:port`; `http_iq` http:// or https://; `simulated` anything (e.g. `sim://id`); the table
//! is [`crate::schemes::url_schemes`].
//!
//! Errors name the line and the field: `receivers.toml:12:11: field `latitude`: 95 is not
//! within -90..=90 degrees`. They are [`heimdall_core::Error::Config`] whose source is a
//! [`ReceiversFileError`] carrying the same data as fields.
//!
//! ```
//! use heimdall_websdr::receivers_file::ReceiversFile;
//! let f = ReceiversFile::parse(r#"
//! [[receiver]]
//! id = "torino"
//! kind = "openwebrx"
//! url = "http://vst-aero.it:8073/"
//! latitude = 45.044
//! longitude = 7.672
//! "#).unwrap();
//! assert_eq!(f.receivers()[0].info.id.as_str(), "torino");
//! let bad = "[[receiver]]\nid = \"x\"\nkind = \"radio\"\nurl = \"http://h/\"\nlatitude = 1\nlongitude = 2\n";
//! let err = ReceiversFile::parse(bad).unwrap_err();
//! assert!(err.to_string().contains("line 3, field `kind`"), "{err}");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, GeoPosition, Passband, ReceiverId, ReceiverInfo, ReceiverKind, Result};
use serde::Deserialize;
use toml::Spanned;

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

/// A parsed receivers file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiversFile {
    path: Option<PathBuf>,
    receivers: Vec<ReceiverEntry>,
    simulation: Option<SimulationSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    receiver: Vec<Spanned<RawEntry>>,
    simulation: Option<Spanned<RawSimulation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulation {
    seed: Option<u64>,
    latitude: Spanned<f64>,
    longitude: Spanned<f64>,
    altitude_m: Option<Spanned<f64>>,
    frequency_hz: Spanned<f64>,
    eirp_dbm: Option<Spanned<f64>>,
    modulation: Option<Spanned<String>>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Spanned<String>,
    name: Option<Spanned<String>>,
    kind: Spanned<String>,
    url: Spanned<String>,
    latitude: Spanned<f64>,
    longitude: Spanned<f64>,
    altitude_m: Option<Spanned<f64>>,
    #[serde(default)]
    enabled: Option<bool>,
    password: Option<String>,
    time_limit_password: Option<String>,
    mode: Option<Spanned<String>>,
    allow_profile_switch: Option<bool>,
    passband_low_hz: Option<Spanned<f64>>,
    passband_high_hz: Option<Spanned<f64>>,
    gain_db: Option<Spanned<f64>>,
    sample_rate_hz: Option<Spanned<f64>>,
    ppm: Option<i32>,
    ca_file: Option<Spanned<String>>,
}

struct Locator<'a> {
    text: &'a str,
    path: Option<&'a Path>,
}

impl Locator<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn err(&self, span: Range<usize>, field: Option<&str>, message: impl Into<String>) -> ReceiversFileError {
        let (line, column) = self.line_col(span.start);
        ReceiversFileError {
            path: self.path.map(Path::to_path_buf),
            line,
            column,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Locates a deserialisation error and works out the field it concerns.
    fn toml_error(&self, e: &toml::de::Error) -> ReceiversFileError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_owned();
        let quoted = message.split('`').nth(1).map(str::to_owned);
        let field = if message.starts_with("missing field") || message.starts_with("unknown field") {
            quoted
        } else {
            // A bad value: the key on the line where the value starts.
            let (line, _) = self.line_col(span.start);
            self.text
                .lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().trim_matches('"').to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('['))
                .or(quoted)
        };
        // A bad value of a secret (`password = 1234`) is quoted by the parser: not shown.
        let message = match &field {
            Some(f) if heimdall_core::redact::is_secret_key(f) && message.contains('`') => {
                match message.split_once(", expected") {
                    Some((_, expected)) => format!("invalid value, expected{expected}"),
                    None => "invalid value".to_owned(),
                }
            }
            _ => message,
        };
        self.err(span, field.as_deref(), message)
    }
}

impl ReceiversFile {
    /// Parses a receivers file from a string.
    pub fn parse(text: &str) -> Result<ReceiversFile> {
        Self::parse_located(text, None).map_err(Error::from)
    }

    /// Reads and parses a receivers file.
    pub fn load(path: impl AsRef<Path>) -> Result<ReceiversFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            reason: format!("cannot read receivers file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Self::parse_located(&text, Some(path)).map_err(Error::from)
    }

    /// Like [`ReceiversFile::parse`], returning the located error itself.
    pub fn parse_located(text: &str, path: Option<&Path>) -> std::result::Result<ReceiversFile, ReceiversFileError> {
        let loc = Locator { text, path };
        let raw: RawFile = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        let simulation = raw.simulation.map(|s| validate_simulation(&loc, s)).transpose()?;
        let mut receivers = Vec::with_capacity(raw.receiver.len());
        let mut ids: HashMap<ReceiverId, usize> = HashMap::new();
        for entry in raw.receiver {
            let span = entry.span();
            let e = entry.into_inner();
            let line = loc.line_col(span.start).0;
            let entry = validate(&loc, e, line)?;
            if let Some(first) = ids.insert(entry.info.id.clone(), line) {
                return Err(ReceiversFileError {
                    field: Some("id".into()),
                    message: format!(
                        "id {:?} is already used by the receiver at line {first}",
                        entry.info.id.as_str()
                    ),
                    ..loc.err(span, None, "")
                });
            }
            receivers.push(entry);
        }
        if simulation.is_none()
            && let Some(e) = receivers.iter().find(|e| e.info.kind == ReceiverKind::Simulated)
        {
            return Err(ReceiversFileError {
                path: path.map(Path::to_path_buf),
                line: e.line,
                column: 1,
                field: Some("kind".into()),
                message: "simulated receivers need a [simulation] table describing the transmitter".into(),
            });
        }
        Ok(ReceiversFile {
            path: path.map(Path::to_path_buf),
            receivers,
            simulation,
        })
    }

    /// Every entry, enabled or not, in file order.
    pub fn receivers(&self) -> &[ReceiverEntry] {
        &self.receivers
    }

    /// The receiver descriptions of the enabled entries.
    pub fn infos(&self) -> Vec<ReceiverInfo> {
        self.enabled().map(|e| e.info.clone()).collect()
    }

    /// The enabled entries.
    pub fn enabled(&self) -> impl Iterator<Item = &ReceiverEntry> {
        self.receivers.iter().filter(|r| r.enabled)
    }

    /// The `[simulation]` table, if any.
    pub fn simulation(&self) -> Option<&SimulationSpec> {
        self.simulation.as_ref()
    }

    /// The file it was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Builds a source for every enabled entry (no I/O). OpenWebRX entries share one
    /// [`crate::openwebrx::HostLimiter`] with the default 10 s interval.
    pub fn build_sources(&self) -> Result<Vec<Arc<DynReceiverSource>>> {
        let ctx = BuildContext::new(self.simulation.as_ref())?;
        self.enabled().map(|e| build_entry(e, &ctx)).collect()
    }

    /// Like [`ReceiversFile::build_sources`], with a caller-owned OpenWebRX host limiter (share
    /// it with any other source of the process that may reach the same hosts).
    #[cfg(feature = "openwebrx")]
    pub fn build_sources_with_limiter(
        &self,
        limiter: Arc<crate::openwebrx::HostLimiter>,
    ) -> Result<Vec<Arc<DynReceiverSource>>> {
        let mut ctx = BuildContext::new(self.simulation.as_ref())?;
        ctx.owrx_limiter = limiter;
        self.enabled().map(|e| build_entry(e, &ctx)).collect()
    }
}

fn validate(loc: &Locator<'_>, e: RawEntry, line: usize) -> std::result::Result<ReceiverEntry, ReceiversFileError> {
    let id =
        ReceiverId::new(e.id.get_ref().clone()).map_err(|err| loc.err(e.id.span(), Some("id"), reason_of(&err)))?;
    let kind: ReceiverKind = e
        .kind
        .get_ref()
        .parse()
        .map_err(|err: Error| loc.err(e.kind.span(), Some("kind"), reason_of(&err)))?;
    let url = e.url.get_ref().trim().to_owned();
    check_url(kind, &url).map_err(|m| loc.err(e.url.span(), Some("url"), m))?;
    let lat = *e.latitude.get_ref();
    let lon = *e.longitude.get_ref();
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(loc.err(
            e.latitude.span(),
            Some("latitude"),
            format!("{lat} is not within -90..=90 degrees"),
        ));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(loc.err(
            e.longitude.span(),
            Some("longitude"),
            format!("{lon} is not within -180..=180 degrees"),
        ));
    }
    let alt = match &e.altitude_m {
        Some(a) => {
            let v = *a.get_ref();
            if !v.is_finite() || !(-500.0..=100_000.0).contains(&v) {
                return Err(loc.err(
                    a.span(),
                    Some("altitude_m"),
                    format!("{v} is not within -500..=100000 m"),
                ));
            }
            Some(v)
        }
        None => None,
    };
    let position =
        GeoPosition::new(lat, lon, alt).map_err(|err| loc.err(e.latitude.span(), Some("latitude"), reason_of(&err)))?;
    let passband = match (&e.passband_low_hz, &e.passband_high_hz) {
        (None, None) => None,
        (Some(l), Some(h)) => {
            let (lv, hv) = (*l.get_ref(), *h.get_ref());
            if !lv.is_finite() || !hv.is_finite() || lv >= hv {
                return Err(loc.err(
                    l.span(),
                    Some("passband_low_hz"),
                    format!("{lv} Hz must be finite and below passband_high_hz {hv} Hz"),
                ));
            }
            Some(Passband {
                low_hz: lv,
                high_hz: hv,
            })
        }
        (Some(l), None) => {
            return Err(loc.err(l.span(), Some("passband_high_hz"), "missing: give both passband edges"));
        }
        (None, Some(h)) => {
            return Err(loc.err(h.span(), Some("passband_low_hz"), "missing: give both passband edges"));
        }
    };
    if let Some(m) = &e.mode {
        let v = m.get_ref();
        if v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(loc.err(
                m.span(),
                Some("mode"),
                format!("{v:?} must match ^[a-z0-9-]+$ (usb, am, nfm...)"),
            ));
        }
    }
    if let Some(g) = &e.gain_db {
        let v = *g.get_ref();
        if !v.is_finite() || !(-50.0..=150.0).contains(&v) {
            return Err(loc.err(g.span(), Some("gain_db"), format!("{v} dB is not within -50..=150")));
        }
    }
    if let Some(s) = &e.sample_rate_hz {
        let v = *s.get_ref();
        if !v.is_finite() || v <= 0.0 || v > heimdall_core::request::MAX_SAMPLE_RATE_HZ {
            return Err(loc.err(
                s.span(),
                Some("sample_rate_hz"),
                format!("{v} Hz must be positive and at most 1e9"),
            ));
        }
    }
    let ca_certificates_pem = match &e.ca_file {
        None => None,
        Some(f) if !matches!(kind, ReceiverKind::OpenWebRx | ReceiverKind::HttpIq) => {
            return Err(loc.err(
                f.span(),
                Some("ca_file"),
                format!("only openwebrx and http_iq receivers use TLS, not kind {kind}"),
            ));
        }
        Some(f) => {
            // Relative to the receivers file, like any path written in it.
            let given = Path::new(f.get_ref());
            let path = match loc.path.and_then(Path::parent) {
                Some(dir) if given.is_relative() => dir.join(given),
                _ => given.to_path_buf(),
            };
            let pem = read_ca_file(&path).map_err(|why| loc.err(f.span(), Some("ca_file"), why))?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(loc.err(
                    f.span(),
                    Some("ca_file"),
                    format!(
                        "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
                        path.display()
                    ),
                ));
            }
            Some(pem)
        }
    };
    let name = e
        .name
        .as_ref()
        .map(|n| n.get_ref().trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string());
    let mut info = ReceiverInfo::new(id, name, kind, url);
    info.position = Some(position);
    Ok(ReceiverEntry {
        info,
        enabled: e.enabled.unwrap_or(true),
        options: ReceiverOptions {
            password: e.password,
            time_limit_password: e.time_limit_password,
            mode: e.mode.map(Spanned::into_inner),
            allow_profile_switch: e.allow_profile_switch,
            passband,
            gain_db: e.gain_db.map(Spanned::into_inner),
            sample_rate_hz: e.sample_rate_hz.map(Spanned::into_inner),
            ppm: e.ppm,
            ca_certificates_pem,
        },
        line,
    })
}

/// Checks a URL for its kind (see [`crate::schemes`]).
fn check_url(kind: ReceiverKind, url: &str) -> std::result::Result<(), String> {
    crate::schemes::parse_url(kind, url).map(drop)
}

/// Largest `ca_file` read (a bundle of a few hundred certificates is well below it).
pub const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Reads a `ca_file`: a regular file of at most [`MAX_CA_FILE_BYTES`]. A device or a FIFO
/// (`/dev/zero`, `/dev/stdin`) would make an unbounded read or block for ever.
fn read_ca_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |err: std::io::Error| format!("cannot read {}: {err}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem).map_err(cannot)?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_CA_FILE_BYTES} bytes, too large for a CA bundle",
            path.display()
        ));
    }
    Ok(pem)
}

fn validate_simulation(
    loc: &Locator<'_>,
    s: Spanned<RawSimulation>,
) -> std::result::Result<SimulationSpec, ReceiversFileError> {
    let line = loc.line_col(s.span().start).0;
    let s = s.into_inner();
    let (lat, lon) = (*s.latitude.get_ref(), *s.longitude.get_ref());
    let alt = s.altitude_m.as_ref().map(|a| *a.get_ref());
    let position = GeoPosition::new(lat, lon, alt).map_err(|err| {
        let (span, field) = match &err {
            Error::InvalidInput { field: "longitude", .. } => (s.longitude.span(), "longitude"),
            Error::InvalidInput {
                field: "altitude_m", ..
            } => (
                s.altitude_m.as_ref().map_or(s.latitude.span(), |a| a.span()),
                "altitude_m",
            ),
            _ => (s.latitude.span(), "latitude"),
        };
        loc.err(span, Some(field), reason_of(&err))
    })?;
    let f = *s.frequency_hz.get_ref();
    if !f.is_finite() || f <= 0.0 || f > heimdall_core::request::MAX_FREQUENCY_HZ {
        return Err(loc.err(
            s.frequency_hz.span(),
            Some("frequency_hz"),
            format!("{f} Hz is not a frequency"),
        ));
    }
    let eirp = match &s.eirp_dbm {
        Some(e) if !e.get_ref().is_finite() => {
            return Err(loc.err(e.span(), Some("eirp_dbm"), "must be finite"));
        }
        Some(e) => *e.get_ref(),
        None => 30.0,
    };
    let modulation = match &s.modulation {
        Some(m) if !matches!(m.get_ref().as_str(), "carrier" | "fm_tone" | "fm_voice") => {
            return Err(loc.err(
                m.span(),
                Some("modulation"),
                format!("{:?} is not one of carrier, fm_tone, fm_voice", m.get_ref()),
            ));
        }
        Some(m) => m.get_ref().clone(),
        None => "carrier".into(),
    };
    Ok(SimulationSpec {
        seed: s.seed.unwrap_or(0),
        position,
        frequency_hz: f,
        eirp_dbm: eirp,
        modulation,
        line,
    })
}

/// The reason of an `InvalidInput`, or the whole message.
fn reason_of(e: &Error) -> String {
    match e {
        Error::InvalidInput { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug)]
struct BuildContext {
    #[cfg(feature = "openwebrx")]
    owrx_limiter: Arc<crate::openwebrx::HostLimiter>,
    #[cfg(feature = "simulated")]
    transmitter: Option<(Arc<crate::simulated::Transmitter>, u64)>,
}

impl BuildContext {
    #[allow(unused_variables)]
    fn new(sim: Option<&SimulationSpec>) -> Result<Self> {
        Ok(BuildContext {
            #[cfg(feature = "openwebrx")]
            owrx_limiter: Arc::new(crate::openwebrx::HostLimiter::default()),
            #[cfg(feature = "simulated")]
            transmitter: sim.map(|s| {
                use crate::simulated::{Modulation, Transmitter};
                let m = match s.modulation.as_str() {
                    "fm_tone" => Modulation::fm_tone(3000.0, 1000.0),
                    "fm_voice" => Modulation::fm_voice(3000.0),
                    _ => Modulation::Carrier,
                };
                (
                    Arc::new(Transmitter::new(s.position, s.frequency_hz, s.eirp_dbm, m)),
                    s.seed,
                )
            }),
        })
    }
}

#[allow(dead_code)] // unused when no backend feature is enabled
fn entry_error(e: &ReceiverEntry, err: Error) -> Error {
    Error::Config {
        reason: format!(
            "receiver {:?} (line {}, kind {}): cannot build the source: {}",
            e.info.id.as_str(),
            e.line,
            e.info.kind,
            match &err {
                Error::Config { reason, .. } => reason.clone(),
                other => other.to_string(),
            }
        ),
        source: Some(Box::new(err)),
    }
}

#[allow(dead_code)] // unused when every backend feature is enabled
fn not_compiled(e: &ReceiverEntry) -> Error {
    Error::config(format!(
        "receiver {:?} (line {}): receiver kind {} is not compiled in / not available (enable the heimdall-websdr feature `{}`)",
        e.info.id.as_str(),
        e.line,
        e.info.kind,
        e.info.kind.as_str()
    ))
}

#[allow(unused_variables)]
fn build_entry(e: &ReceiverEntry, ctx: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let o = &e.options;
    match e.info.kind {
        #[cfg(feature = "openwebrx")]
        ReceiverKind::OpenWebRx => {
            let mut b =
                crate::openwebrx::OpenWebRxBuilder::new(e.info.clone()).with_host_limiter(ctx.owrx_limiter.clone());
            if let Some(m) = &o.mode {
                b = b.with_mode(m.clone());
            }
            if let Some(p) = o.passband {
                b = b.with_passband(p);
            }
            if let Some(a) = o.allow_profile_switch {
                b = b.with_allow_profile_switch(a);
            }
            if let Some(pem) = &o.ca_certificates_pem {
                b = b.with_root_certificates_pem(pem.clone());
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "kiwisdr")]
        ReceiverKind::KiwiSdr => {
            let mut b = crate::kiwisdr::KiwiSdrBuilder::new(e.info.clone());
            if let Some(p) = &o.password {
                b = b.with_password(p.clone());
            }
            if let Some(p) = &o.time_limit_password {
                b = b.with_tlimit_password(p.clone());
            }
            if let Some(g) = o.gain_db {
                b = b.with_gain(g.round() as i32);
            }
            if let Some(p) = o.passband {
                b = b.with_passband(p);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "rtl_tcp")]
        ReceiverKind::RtlTcp => {
            let mut b = crate::rtl_tcp::RtlTcpBuilder::new(e.info.clone());
            if let Some(sr) = o.sample_rate_hz {
                b = b.with_sample_rate(sr);
            }
            if let Some(g) = o.gain_db {
                b = b.with_gain_db(g);
            }
            if let Some(p) = o.ppm {
                b = b.with_ppm(p);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "http_iq")]
        ReceiverKind::HttpIq => {
            let mut b = crate::http_iq::HttpIqBuilder::new(e.info.clone());
            if let Some(sr) = o.sample_rate_hz {
                b = b.with_sample_rate(sr);
            }
            if let Some(pem) = &o.ca_certificates_pem {
                b = b.with_root_certificates_pem(pem.clone());
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "simulated")]
        ReceiverKind::Simulated => {
            let Some((tx, seed)) = &ctx.transmitter else {
                return Err(Error::config(format!(
                    "receiver {:?} (line {}): simulated receivers need a [simulation] table",
                    e.info.id.as_str(),
                    e.line
                )));
            };
            let mut c = crate::simulated::SimulatedReceiverConfig::new(
                &e.info.name,
                e.info.position.ok_or_else(|| {
                    Error::config(format!(
                        "receiver {:?} (line {}): no position",
                        e.info.id.as_str(),
                        e.line
                    ))
                })?,
            );
            c.info = e.info.clone();
            if let Some(sr) = o.sample_rate_hz {
                c.sample_rate_hz = sr;
            }
            Ok(Arc::new(crate::simulated::SimulatedReceiver::new(c, tx.clone(), *seed)))
        }
        _ => Err(not_compiled(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ca_file(path: &str) -> String {
        format!(
            "[[receiver]]\nid = \"o\"\nkind = \"openwebrx\"\nurl = \"https://h/\"\nlatitude = 1\nlongitude = 2\nca_file = {path:?}\n"
        )
    }

    /// `ca_file = "/dev/zero"` was read to the end: memory without bound. Devices and FIFOs are
    /// refused before any read.
    #[test]
    fn ca_file_that_is_a_device_is_refused_without_reading() {
        let err = ReceiversFile::parse_located(&with_ca_file("/dev/zero"), None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ca_file"));
        assert!(err.message.contains("not a regular file"), "{err}");
        assert_eq!(err.line, 7);
    }

    #[test]
    fn ca_file_larger_than_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        pem.resize(MAX_CA_FILE_BYTES as usize + 1, b'A');
        std::fs::write(&big, &pem).unwrap();
        let err = ReceiversFile::parse_located(&with_ca_file(big.to_str().unwrap()), None).unwrap_err();
        assert!(err.message.contains("too large"), "{err}");
        pem.truncate(MAX_CA_FILE_BYTES as usize);
        std::fs::write(&big, &pem).unwrap();
        let ok = ReceiversFile::parse_located(&with_ca_file(big.to_str().unwrap()), None).unwrap();
        assert_eq!(
            ok.receivers()[0]
                .options
                .ca_certificates_pem
                .as_deref()
                .map(<[u8]>::len),
            Some(pem.len())
        );
    }
}
