//! OpenWebRX wire format (`owrx/connection.py` and the browser client `openwebrx.js`): handshake lines, JSON messages both ways,
//! binary frame types, and the merged `config` state.
//!
//! Everything here is pure (no I/O) and total: any input gives a value or a [`ProtocolError`],
//! never a panic.

use serde_json::{Map, Value, json};

/// OpenWebRX URLs: the page or its `/ws/` URL, over `http`, `https`, `ws` or `wss`.
pub const URL_RULE: crate::registry::UrlRule = crate::registry::UrlRule {
    schemes: &["http", "https", "ws", "wss"],
    bare_host: None,
    aliases: &[],
};

/// First text frame a client sends (the browser sends `client=openwebrx.js`).
pub const CLIENT_HANDSHAKE: &str = "SERVER DE CLIENT client=heimdall type=receiver";
/// Prefix of the server's handshake line.
pub const SERVER_HANDSHAKE_PREFIX: &str = "CLIENT DE SERVER";
/// Binary frame type: main FFT / waterfall line.
pub const FRAME_FFT: u8 = 0x01;
/// Binary frame type: audio at `output_rate`.
pub const FRAME_AUDIO: u8 = 0x02;
/// Binary frame type: secondary FFT.
pub const FRAME_SECONDARY_FFT: u8 = 0x03;
/// Binary frame type: HD audio at `hd_output_rate`.
pub const FRAME_HD_AUDIO: u8 = 0x04;

/// A malformed message from the server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// A text frame that is neither the handshake nor a JSON object with a `type`.
    #[error("text frame is not JSON with a \"type\": {0}")]
    BadJson(String),
    /// A known message with a value of the wrong shape.
    #[error("message {kind:?} has a bad value: {reason}")]
    BadValue {
        /// Message type.
        kind: String,
        /// What is wrong.
        reason: String,
    },
    /// An empty binary frame.
    #[error("empty binary frame")]
    EmptyFrame,
    /// A binary frame with an unknown type byte.
    #[error("binary frame of unknown type 0x{0:02x}")]
    UnknownFrame(u8),
    /// The legacy (≤ 0.18) protocol answered.
    #[error("the server speaks the legacy OpenWebRX protocol (binary \"CLI\" handshake), which is not supported")]
    Legacy,
}

/// The server's handshake line, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerHello {
    /// `server=` value (`openwebrx`).
    pub server: Option<String>,
    /// `version=` value as sent (`v1.2.0`, `1.1.0-dev`...).
    pub version: Option<String>,
}

impl ServerHello {
    /// Parses `CLIENT DE SERVER server=openwebrx version=v1.2.x`; `None` if the prefix is absent.
    pub fn parse(line: &str) -> Option<ServerHello> {
        let rest = line.trim().strip_prefix(SERVER_HANDSHAKE_PREFIX)?;
        let mut hello = ServerHello::default();
        for kv in rest.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                match k {
                    "server" => hello.server = Some(v.to_owned()),
                    "version" => hello.version = Some(v.to_owned()),
                    _ => {}
                }
            }
        }
        Some(hello)
    }

    /// `(major, minor)` of the version, if it parses (`v1.2.0`, `1.1.0-dev`, `v1.2.121`).
    pub fn version_tuple(&self) -> Option<(u32, u32)> {
        parse_version(self.version.as_deref()?)
    }

    /// Whether audio ADPCM uses sync blocks (version ≥ 1.2); `None` when the version is unknown.
    pub fn uses_sync_adpcm(&self) -> Option<bool> {
        self.version_tuple().map(|v| v >= (1, 2))
    }
}

/// `(major, minor)` of a version string such as `v1.2.0` or `1.1.0-dev`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// One profile of the `profiles` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRef {
    /// `"<sdr_id>|<profile_id>"`.
    pub id: String,
    /// Display name (`"<sdr name> <profile name>"`).
    pub name: String,
}

/// A server text message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerText {
    /// `CLIENT DE SERVER ...`.
    Hello(ServerHello),
    /// A partial `config` update (merge it).
    Config(Map<String, Value>),
    /// The `profiles` list.
    Profiles(Vec<ProfileRef>),
    /// An S-meter reading, linear power relative to full scale.
    Smeter(f64),
    /// `backoff` with its reason; the server closes the socket next.
    Backoff(String),
    /// `sdr_error` with its text.
    SdrError(String),
    /// `demodulator_error` (OpenWebRX+) with its text.
    DemodulatorError(String),
    /// `receiver_details`.
    ReceiverDetails(Map<String, Value>),
    /// Anything else (`features`, `modes`, `clients`, `cpuusage`, `bookmarks`, ...).
    Other(String),
}

/// Parses one server text frame.
pub fn parse_server_text(text: &str) -> Result<ServerText, ProtocolError> {
    if let Some(h) = ServerHello::parse(text) {
        return Ok(ServerText::Hello(h));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| ProtocolError::BadJson(truncate(text, e)))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ProtocolError::BadJson(truncate(text, "not an object")))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::BadJson(truncate(text, "no string \"type\"")))?;
    let value = obj.get("value");
    let bad = |reason: &str| ProtocolError::BadValue {
        kind: kind.to_owned(),
        reason: reason.to_owned(),
    };
    Ok(match kind {
        "config" => ServerText::Config(
            value
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| bad("not an object"))?,
        ),
        "receiver_details" => {
            ServerText::ReceiverDetails(value.and_then(Value::as_object).cloned().unwrap_or_default())
        }
        "profiles" => {
            let arr = value.and_then(Value::as_array).ok_or_else(|| bad("not an array"))?;
            let mut out = Vec::with_capacity(arr.len());
            for p in arr {
                let id = p
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("profile without id"))?;
                let name = p.get("name").and_then(Value::as_str).unwrap_or(id);
                out.push(ProfileRef {
                    id: id.to_owned(),
                    name: name.to_owned(),
                });
            }
            ServerText::Profiles(out)
        }
        "smeter" => ServerText::Smeter(value.and_then(Value::as_f64).ok_or_else(|| bad("not a number"))?),
        // The reason is under "reason", not "value".
        "backoff" => ServerText::Backoff(
            obj.get("reason")
                .or(value)
                .map(value_text)
                .unwrap_or_else(|| "no reason given".to_owned()),
        ),
        "sdr_error" => ServerText::SdrError(value.map(value_text).unwrap_or_default()),
        "demodulator_error" => ServerText::DemodulatorError(value.map(value_text).unwrap_or_default()),
        other => ServerText::Other(other.to_owned()),
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, why: impl std::fmt::Display) -> String {
    let mut t: String = text.chars().take(80).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    format!("{why} in {t:?}")
}

/// A server binary frame, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// 0x01 main FFT payload.
    Fft(&'a [u8]),
    /// 0x02 audio payload.
    Audio(&'a [u8]),
    /// 0x03 secondary FFT payload.
    SecondaryFft(&'a [u8]),
    /// 0x04 HD audio payload.
    HdAudio(&'a [u8]),
}

/// Splits a binary frame into its type and payload.
pub fn parse_server_frame(data: &[u8]) -> Result<ServerFrame<'_>, ProtocolError> {
    let (&t, payload) = data.split_first().ok_or(ProtocolError::EmptyFrame)?;
    match t {
        FRAME_FFT => Ok(ServerFrame::Fft(payload)),
        FRAME_AUDIO => Ok(ServerFrame::Audio(payload)),
        FRAME_SECONDARY_FFT => Ok(ServerFrame::SecondaryFft(payload)),
        FRAME_HD_AUDIO => Ok(ServerFrame::HdAudio(payload)),
        b'C' if data.starts_with(b"CLI") => Err(ProtocolError::Legacy),
        other => Err(ProtocolError::UnknownFrame(other)),
    }
}

/// Decodes little-endian int16 audio bytes to floats (`/32768`), appending to `out`. A trailing
/// odd byte is returned so the caller can carry it into the next frame.
pub fn decode_s16le(carry: &mut Option<u8>, data: &[u8], out: &mut Vec<f32>) {
    let mut data = data;
    if let Some(lo) = carry.take() {
        match data.split_first() {
            Some((&hi, rest)) => {
                out.push(f32::from(i16::from_le_bytes([lo, hi])) / 32768.0);
                data = rest;
            }
            None => {
                *carry = Some(lo);
                return;
            }
        }
    }
    let chunks = data.chunks_exact(2);
    if let [b] = chunks.remainder() {
        *carry = Some(*b);
    }
    out.reserve(data.len() / 2);
    out.extend(chunks.map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0));
}

/// Decodes a float32 little-endian FFT payload; trailing bytes that do not make a float are ignored.
pub fn decode_f32le(data: &[u8], out: &mut Vec<f32>) {
    out.reserve(data.len() / 4);
    out.extend(
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// Linear S-meter value → dBFS (`10·log10`), `None` for non-positive or non-finite values.
pub fn smeter_to_dbfs(linear: f64) -> Option<f64> {
    (linear.is_finite() && linear > 0.0).then(|| 10.0 * linear.log10())
}

/// The merged `config` state of one connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigState {
    values: Map<String, Value>,
}

impl ConfigState {
    /// Merges a partial update.
    pub fn merge(&mut self, update: Map<String, Value>) {
        self.values.extend(update);
    }

    /// The raw merged map.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Profile centre frequency, Hz.
    pub fn center_freq(&self) -> Option<f64> {
        self.number("center_freq")
    }

    /// Profile sample rate (span), Hz.
    pub fn samp_rate(&self) -> Option<f64> {
        self.number("samp_rate")
    }

    /// `audio_compression` (`"adpcm"` is the server default when absent).
    pub fn audio_compression(&self) -> Option<&str> {
        self.values.get("audio_compression").and_then(Value::as_str)
    }

    /// `fft_compression`.
    pub fn fft_compression(&self) -> Option<&str> {
        self.values.get("fft_compression").and_then(Value::as_str)
    }

    /// `"<sdr_id>|<profile_id>"` of the current profile, when both are known.
    pub fn profile(&self) -> Option<String> {
        let sdr = self.values.get("sdr_id").and_then(Value::as_str)?;
        let p = self.values.get("profile_id").and_then(Value::as_str)?;
        Some(format!("{sdr}|{p}"))
    }

    fn number(&self, k: &str) -> Option<f64> {
        let v = self.values.get(k)?;
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|x: &f64| x.is_finite())
    }

    /// Whether `[target + low, target + high]` fits in `center ± samp_rate/2` (with a 1 % guard).
    pub fn covers(&self, target_hz: f64, low_hz: f64, high_hz: f64) -> bool {
        match (self.center_freq(), self.samp_rate()) {
            (Some(c), Some(sr)) => covers(c, sr, target_hz, low_hz, high_hz),
            _ => false,
        }
    }
}

/// Whether `[target + low, target + high]` fits in `center ± samp_rate/2` (with a 1 % guard).
pub fn covers(center_hz: f64, samp_rate_hz: f64, target_hz: f64, low_hz: f64, high_hz: f64) -> bool {
    let half = samp_rate_hz / 2.0 * 0.99;
    samp_rate_hz > 0.0 && target_hz + low_hz >= center_hz - half && target_hz + high_hz <= center_hz + half
}

/// `{"type":"connectionproperties","params":{"output_rate":..,"hd_output_rate":..}}`.
pub fn connection_properties(output_rate: u32, hd_output_rate: u32) -> String {
    json!({"type": "connectionproperties", "params": {"output_rate": output_rate, "hd_output_rate": hd_output_rate}})
        .to_string()
}

/// `{"type":"dspcontrol","params":{mod, low_cut, high_cut, offset_freq, squelch_level}}`, with
/// `offset_freq` a JSON integer (the server's validator rejects floats).
pub fn dsp_params(mode: &str, low_cut: f64, high_cut: f64, offset_freq: i64) -> String {
    json!({"type": "dspcontrol", "params": {
        "mod": mode,
        "low_cut": low_cut.round() as i64,
        "high_cut": high_cut.round() as i64,
        "offset_freq": offset_freq,
        "squelch_level": -150,
    }})
    .to_string()
}

/// `{"type":"dspcontrol","params":{"offset_freq":..}}` (re-tune after a centre change).
pub fn dsp_offset(offset_freq: i64) -> String {
    json!({"type": "dspcontrol", "params": {"offset_freq": offset_freq}}).to_string()
}

/// `{"type":"dspcontrol","action":"start"}`.
pub fn dsp_start() -> String {
    json!({"type": "dspcontrol", "action": "start"}).to_string()
}

/// `{"type":"selectprofile","params":{"profile":"<sdr>|<profile>"}}`.
pub fn select_profile(profile: &str) -> String {
    json!({"type": "selectprofile", "params": {"profile": profile}}).to_string()
}

/// Whether `mode` passes the server's validator `^[a-z0-9-]+$`.
pub fn valid_mode(mode: &str) -> bool {
    !mode.is_empty()
        && mode
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The browser's default passband for common modes (Hz relative to the dial frequency).
pub fn default_passband(mode: &str) -> (f64, f64) {
    match mode {
        "usb" | "usbd" => (300.0, 3000.0),
        "lsb" | "lsbd" => (-3000.0, -300.0),
        "cw" => (700.0, 900.0),
        "am" | "sam" => (-4000.0, 4000.0),
        "nfm" => (-4000.0, 4000.0),
        "wfm" => (-75000.0, 75000.0),
        _ => (-4000.0, 4000.0),
    }
}

/// Whether the demodulator outputs HD audio (binary type 0x04 at `hd_output_rate`).
pub fn is_hd_mode(mode: &str) -> bool {
    matches!(mode, "wfm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_and_versions() {
        let h = ServerHello::parse("CLIENT DE SERVER server=openwebrx version=v1.2.0").unwrap();
        assert_eq!(h.version_tuple(), Some((1, 2)));
        assert_eq!(h.uses_sync_adpcm(), Some(true));
        let h = ServerHello::parse("CLIENT DE SERVER server=openwebrx version=1.1.0-dev").unwrap();
        assert_eq!(h.uses_sync_adpcm(), Some(false));
        assert_eq!(ServerHello::parse("CLIENT DE SERVER").unwrap().uses_sync_adpcm(), None);
        assert!(ServerHello::parse("{\"type\":1}").is_none());
        assert_eq!(parse_version("v2"), Some((2, 0)));
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn messages_parse() {
        assert_eq!(
            parse_server_text(r#"{"type":"smeter","value":0.001}"#).unwrap(),
            ServerText::Smeter(0.001)
        );
        assert_eq!(
            parse_server_text(r#"{"type":"backoff","reason":"Too many clients"}"#).unwrap(),
            ServerText::Backoff("Too many clients".into())
        );
        match parse_server_text(r#"{"type":"profiles","value":[{"id":"a|b","name":"A B"}]}"#).unwrap() {
            ServerText::Profiles(p) => assert_eq!(p[0].id, "a|b"),
            o => panic!("{o:?}"),
        }
        assert!(matches!(parse_server_text("garbage"), Err(ProtocolError::BadJson(_))));
        assert!(matches!(
            parse_server_text(r#"{"type":"smeter","value":"x"}"#),
            Err(ProtocolError::BadValue { .. })
        ));
        assert!(matches!(parse_server_text("[1]"), Err(ProtocolError::BadJson(_))));
    }

    #[test]
    fn config_merges() {
        let mut c = ConfigState::default();
        c.merge(serde_json::from_str(r#"{"center_freq":145000000,"samp_rate":2400000}"#).unwrap());
        c.merge(serde_json::from_str(r#"{"center_freq":145500000,"sdr_id":"rtl","profile_id":"2m"}"#).unwrap());
        assert_eq!(c.center_freq(), Some(145.5e6));
        assert_eq!(c.samp_rate(), Some(2.4e6));
        assert_eq!(c.profile().as_deref(), Some("rtl|2m"));
        assert!(c.covers(145.0e6, -4000.0, 4000.0));
        assert!(!c.covers(146.8e6, -4000.0, 4000.0));
    }

    #[test]
    fn s16_carry_across_frames() {
        let mut carry = None;
        let mut out = Vec::new();
        let bytes = [0x00u8, 0x80, 0xff, 0x7f, 0x01];
        decode_s16le(&mut carry, &bytes, &mut out);
        assert_eq!(carry, Some(0x01));
        decode_s16le(&mut carry, &[0x00], &mut out);
        assert_eq!(out, vec![-1.0, 32767.0 / 32768.0, 1.0 / 32768.0]);
    }

    #[test]
    fn smeter_dbfs() {
        assert_eq!(smeter_to_dbfs(1.0), Some(0.0));
        assert!((smeter_to_dbfs(1e-7).unwrap() + 70.0).abs() < 1e-9);
        assert_eq!(smeter_to_dbfs(0.0), None);
        assert_eq!(smeter_to_dbfs(f64::NAN), None);
    }

    #[test]
    fn client_messages() {
        let v: Value = serde_json::from_str(&dsp_params("usb", 300.0, 3000.0, -12345)).unwrap();
        let expect: Value = serde_json::from_str(
            r#"{"params":{"high_cut":3000,"low_cut":300,"mod":"usb","offset_freq":-12345,"squelch_level":-150},"type":"dspcontrol"}"#,
        )
        .unwrap();
        assert_eq!(v, expect);
        assert!(v["params"]["offset_freq"].is_i64());
        assert!(valid_mode("nfm") && !valid_mode("NFM") && !valid_mode("") && !valid_mode("a b"));
    }
}
