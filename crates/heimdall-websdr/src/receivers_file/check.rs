//! Reading a receivers file: the raw TOML tables, the locator that turns byte offsets into
//! line and column, and the checks of every field.

use std::ops::Range;
use std::path::Path;

use heimdall_core::{Error, GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind};
use serde::Deserialize;
use toml::Spanned;

use super::entry::{ReceiverEntry, ReceiverOptions, ReceiversFileError};
use crate::registry::{Registry, SimulationSpec, checks};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) receiver: Vec<Spanned<RawEntry>>,
    pub(super) simulation: Option<Spanned<RawSimulation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimulation {
    seed: Option<u64>,
    latitude: Spanned<f64>,
    longitude: Spanned<f64>,
    altitude_m: Option<Spanned<f64>>,
    frequency_hz: Spanned<f64>,
    eirp_dbm: Option<Spanned<f64>>,
    modulation: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
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

pub(super) struct Locator<'a> {
    pub(super) text: &'a str,
    pub(super) path: Option<&'a Path>,
}

impl Locator<'_> {
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ReceiversFileError {
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
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ReceiversFileError {
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

pub(super) fn validate(
    reg: &Registry,
    loc: &Locator<'_>,
    e: RawEntry,
    line: usize,
) -> std::result::Result<ReceiverEntry, ReceiversFileError> {
    let id =
        ReceiverId::new(e.id.get_ref().clone()).map_err(|err| loc.err(e.id.span(), Some("id"), reason_of(&err)))?;
    let kind: ReceiverKind = e
        .kind
        .get_ref()
        .parse()
        .map_err(|err: Error| loc.err(e.kind.span(), Some("kind"), reason_of(&err)))?;
    if reg.url_rule(kind).is_none() {
        // Its backend is not compiled in: the registry's reason.
        let why = reg.parse_url(kind, "").err().unwrap_or_default();
        return Err(loc.err(e.kind.span(), Some("kind"), why));
    }
    let url = e.url.get_ref().trim().to_owned();
    reg.parse_url(kind, &url)
        .map_err(|m| loc.err(e.url.span(), Some("url"), m))?;
    // Where each option given is, to locate one the kind does not take.
    let given = option_spans(&e);
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
    let passband = checks::passband(
        e.passband_low_hz.as_ref().map(|v| *v.get_ref()),
        e.passband_high_hz.as_ref().map(|v| *v.get_ref()),
    )
    .map_err(|(field, why)| {
        // Located at the edge given (the low one when both are).
        let span = match (&e.passband_low_hz, &e.passband_high_hz) {
            (Some(l), _) => l.span(),
            (None, Some(h)) => h.span(),
            (None, None) => 0..0,
        };
        loc.err(span, Some(field), why)
    })?;
    if let Some(m) = &e.mode {
        checks::mode(m.get_ref()).map_err(|why| loc.err(m.span(), Some("mode"), why))?;
    }
    if let Some(g) = &e.gain_db {
        checks::gain_db(*g.get_ref()).map_err(|why| loc.err(g.span(), Some("gain_db"), why))?;
    }
    if let Some(s) = &e.sample_rate_hz {
        checks::sample_rate_hz(*s.get_ref()).map_err(|why| loc.err(s.span(), Some("sample_rate_hz"), why))?;
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
            let pem = checks::read_ca_file(&path).map_err(|why| loc.err(f.span(), Some("ca_file"), why))?;
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
    let entry = ReceiverEntry {
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
    };
    // The kind's options struct refuses the options it does not take.
    reg.check_options(kind, &entry.options.to_json()).map_err(|why| {
        let field = why
            .split('`')
            .nth(1)
            .map(|f| if f == "ca_certificates_pem" { "ca_file" } else { f });
        match given.iter().find(|(name, _)| Some(*name) == field) {
            // Password fields keep no span: the entry's line.
            Some((name, span)) if span.is_empty() => ReceiversFileError {
                line,
                column: 1,
                ..loc.err(0..0, Some(name), format!("not an option of kind {kind}"))
            },
            Some((name, span)) => loc.err(span.clone(), Some(name), format!("not an option of kind {kind}")),
            None => ReceiversFileError {
                line,
                column: 1,
                ..loc.err(0..0, None, why)
            },
        }
    })?;
    Ok(entry)
}

/// The options given in `e` and where they are (the entry's own span when the field keeps none).
fn option_spans(e: &RawEntry) -> Vec<(&'static str, Range<usize>)> {
    fn at<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    let none = 0..0;
    [
        ("password", e.password.as_ref().map(|_| none.clone())),
        (
            "time_limit_password",
            e.time_limit_password.as_ref().map(|_| none.clone()),
        ),
        ("mode", at(&e.mode)),
        ("allow_profile_switch", e.allow_profile_switch.map(|_| none.clone())),
        ("passband_low_hz", at(&e.passband_low_hz)),
        ("passband_high_hz", at(&e.passband_high_hz)),
        ("gain_db", at(&e.gain_db)),
        ("sample_rate_hz", at(&e.sample_rate_hz)),
        ("ppm", e.ppm.map(|_| none.clone())),
        ("ca_file", at(&e.ca_file)),
    ]
    .into_iter()
    .filter_map(|(name, span)| span.map(|s| (name, s)))
    .collect()
}

pub(super) fn validate_simulation(
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
        Some(m)
            if !matches!(
                m.get_ref().as_str(),
                "carrier" | "fm_tone" | "fm_voice" | "am_voice" | "time_code"
            ) =>
        {
            return Err(loc.err(
                m.span(),
                Some("modulation"),
                format!(
                    "{:?} is not one of carrier, fm_tone, fm_voice, am_voice, time_code",
                    m.get_ref()
                ),
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
