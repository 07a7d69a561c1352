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
//! gain_db = 30                      # kiwisdr manual gain / rtl_tcp tuner gain
//! agc = false                       # kiwisdr AGC
//! sample_rate_hz = 2048000          # rtl_tcp / http_iq rate
//! ppm = 0                           # rtl_tcp frequency correction
//! ```
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
    /// AGC on/off (KiwiSDR).
    pub agc: Option<bool>,
    /// Sample rate, Hz (rtl_tcp, HTTP IQ).
    pub sample_rate_hz: Option<f64>,
    /// Frequency correction, ppm (rtl_tcp).
    pub ppm: Option<i32>,
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
            .field("agc", &self.agc)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("ppm", &self.ppm)
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    receiver: Vec<Spanned<RawEntry>>,
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
    agc: Option<bool>,
    sample_rate_hz: Option<Spanned<f64>>,
    ppm: Option<i32>,
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
        Ok(ReceiversFile {
            path: path.map(Path::to_path_buf),
            receivers,
        })
    }

    /// Every entry, enabled or not, in file order.
    pub fn receivers(&self) -> &[ReceiverEntry] {
        &self.receivers
    }

    /// The enabled entries.
    pub fn enabled(&self) -> impl Iterator<Item = &ReceiverEntry> {
        self.receivers.iter().filter(|r| r.enabled)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Builds a source for every enabled entry (no I/O). OpenWebRX entries share one
    /// [`crate::openwebrx::HostLimiter`] with the default 10 s interval.
    pub fn build_sources(&self) -> Result<Vec<Arc<DynReceiverSource>>> {
        let ctx = BuildContext::default();
        self.enabled().map(|e| build_entry(e, &ctx)).collect()
    }

    /// Like [`ReceiversFile::build_sources`], with a caller-owned OpenWebRX host limiter (share
    /// it with any other source of the process that may reach the same hosts).
    #[cfg(feature = "openwebrx")]
    pub fn build_sources_with_limiter(
        &self,
        limiter: Arc<crate::openwebrx::HostLimiter>,
    ) -> Result<Vec<Arc<DynReceiverSource>>> {
        let ctx = BuildContext {
            #[cfg(feature = "openwebrx")]
            owrx_limiter: limiter,
        };
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
    match url::Url::parse(&url) {
        Err(err) => return Err(loc.err(e.url.span(), Some("url"), format!("{url:?} is not a URL: {err}"))),
        Ok(u) => {
            if u.password().is_some() {
                return Err(loc.err(
                    e.url.span(),
                    Some("url"),
                    "must not contain a password; use the `password` field",
                ));
            }
            if u.host_str().is_none() && kind != ReceiverKind::Simulated {
                return Err(loc.err(e.url.span(), Some("url"), format!("{url:?} has no host")));
            }
        }
    }
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
            agc: e.agc,
            sample_rate_hz: e.sample_rate_hz.map(Spanned::into_inner),
            ppm: e.ppm,
        },
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
}

#[allow(clippy::derivable_impls)]
impl Default for BuildContext {
    fn default() -> Self {
        BuildContext {
            #[cfg(feature = "openwebrx")]
            owrx_limiter: Arc::new(crate::openwebrx::HostLimiter::default()),
        }
    }
}

#[allow(dead_code)] // unused when no backend feature is enabled
fn entry_error(e: &ReceiverEntry, err: Error) -> Error {
    Error::Config {
        reason: format!(
            "receiver {:?} (line {}, kind {}): cannot build the source",
            e.info.id.as_str(),
            e.line,
            e.info.kind
        ),
        source: Some(Box::new(err)),
    }
}

#[allow(unused_variables)]
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
    match e.info.kind {
        #[cfg(feature = "openwebrx")]
        ReceiverKind::OpenWebRx => {
            let mut b =
                crate::openwebrx::OpenWebRxBuilder::new(e.info.clone()).with_host_limiter(ctx.owrx_limiter.clone());
            if let Some(m) = &e.options.mode {
                b = b.with_mode(m.clone());
            }
            if let Some(p) = e.options.passband {
                b = b.with_passband(p);
            }
            if let Some(a) = e.options.allow_profile_switch {
                b = b.with_allow_profile_switch(a);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        _ => Err(not_compiled(e)),
    }
}
