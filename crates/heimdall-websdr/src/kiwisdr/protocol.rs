//! KiwiSDR wire format: `MSG` parsing, binary `SND` frames, client commands and GPS time. The
//! `/status` page is parsed by [`crate::discovery::KiwiStatus`].
//!
//! Every parser here takes untrusted bytes and never panics.

use chrono::{DateTime, TimeDelta, Utc};
use heimdall_core::dsp::IqFormat;
use num_complex::Complex32;

/// Complex samples per IQ `SND` packet (FASTFIR_OUTBUF_SIZE).
pub const IQ_SAMPLES_PER_FRAME: usize = 512;
/// Length of the IQ `SND` header (tag, flags, seq, S-meter, GPS fields).
pub const SND_IQ_HEADER_LEN: usize = 20;
/// Length of the mono `SND` header.
pub const SND_MONO_HEADER_LEN: usize = 10;

/// `SND` flag: the passband changed with this packet.
pub const FLAG_LPF: u8 = 0x01;
/// `SND` flag: ADC overload.
pub const FLAG_ADC_OVFL: u8 = 0x02;
/// `SND` flag: first packet after a frequency or mode change.
pub const FLAG_NEW_FREQ: u8 = 0x04;
/// `SND` flag: two-channel data (IQ) with the 20-byte header.
pub const FLAG_MODE_IQ: u8 = 0x08;
/// `SND` flag: IMA-ADPCM payload (never in IQ mode).
pub const FLAG_COMPRESSED: u8 = 0x10;
/// `SND` flag: first packet after `SET reinit`.
pub const FLAG_RESTART: u8 = 0x20;
/// `SND` flag: squelch closed.
pub const FLAG_SQUELCH_UI: u8 = 0x40;
/// `SND` flag: int16 samples are little-endian.
pub const FLAG_LITTLE_ENDIAN: u8 = 0x80;

/// `last_gps_solution` value meaning "never had a GPS solution".
pub const GPS_NEVER: u8 = 255;

/// Why a binary frame could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header needs.
    #[error("{tag} frame of {len} bytes is shorter than its {need}-byte header")]
    Truncated {
        /// Frame tag.
        tag: &'static str,
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The sample payload is not a whole number of samples.
    #[error("{tag} payload of {len} bytes is not a whole number of {unit}-byte samples")]
    PartialSample {
        /// Frame tag.
        tag: &'static str,
        /// Payload bytes.
        len: usize,
        /// Bytes per sample.
        unit: usize,
    },
    /// The frame is not an IQ frame (flag 0x08 missing) or is compressed.
    #[error("SND frame flags {flags:#04x} are not uncompressed IQ (expected 0x08 set, 0x10 clear)")]
    NotIq {
        /// The flags byte.
        flags: u8,
    },
    /// The first three bytes are not a known tag.
    #[error("unknown frame tag {0:?}")]
    UnknownTag(String),
    /// A `MSG` frame that is not UTF-8.
    #[error("MSG frame is not UTF-8")]
    NotUtf8,
}

/// A GPS time stamp carried in an IQ `SND` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpsStamp {
    /// Age of the last GPS solution, seconds (0 = not initialised, 255 = never).
    pub last_gps_solution: u8,
    /// Whole seconds of the GPS week.
    pub gpssec: u32,
    /// Nanoseconds.
    pub gpsnsec: u32,
}

impl GpsStamp {
    /// Whether the stamp is a usable GPS time: non-zero fields, a solution has existed, seconds
    /// within the week and nanoseconds below one second.
    pub fn is_valid(&self) -> bool {
        !(self.gpssec == 0 && self.gpsnsec == 0)
            && self.last_gps_solution < 253
            && self.gpssec < SECONDS_PER_WEEK as u32
            && self.gpsnsec < 1_000_000_000
    }
}

/// A parsed `SND` frame, borrowing its sample payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SndFrame<'a> {
    /// Flags byte (`FLAG_*`).
    pub flags: u8,
    /// Sequence number (little-endian on the wire).
    pub seq: u32,
    /// Raw S-meter value (big-endian on the wire): dBm = raw/10 − 127.
    pub smeter_raw: u16,
    /// GPS fields (IQ frames only).
    pub gps: Option<GpsStamp>,
    /// Sample bytes.
    pub payload: &'a [u8],
}

impl SndFrame<'_> {
    /// The S-meter in dBm.
    pub fn rssi_dbm(&self) -> f64 {
        smeter_to_dbm(self.smeter_raw)
    }
    /// Whether the int16 samples are little-endian.
    pub fn little_endian(&self) -> bool {
        self.flags & FLAG_LITTLE_ENDIAN != 0
    }
    /// Whether the frame is IQ.
    pub fn is_iq(&self) -> bool {
        self.flags & FLAG_MODE_IQ != 0
    }
    /// Number of complex samples in an IQ frame's payload (whole pairs only).
    pub fn iq_len(&self) -> usize {
        self.payload.len() / 4
    }
}

/// S-meter raw value to dBm.
pub fn smeter_to_dbm(raw: u16) -> f64 {
    f64::from(raw) / 10.0 - 127.0
}

/// dBm to the raw S-meter value the server sends (clamped to −127…+3.4 dBm as the server does).
pub fn dbm_to_smeter(dbm: f64) -> u16 {
    let c = dbm.clamp(-127.0, 3.4);
    ((c + 127.0) * 10.0).round() as u16
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses a binary `SND` frame (tag included). IQ frames must have a whole number of
/// 4-byte sample pairs; mono frames a whole number of 2-byte samples (compressed frames are
/// accepted with any length).
pub fn parse_snd(frame: &[u8]) -> Result<SndFrame<'_>, FrameError> {
    if frame.len() < SND_MONO_HEADER_LEN || !frame.starts_with(b"SND") {
        if frame.starts_with(b"SND") || frame.len() < 3 {
            return Err(FrameError::Truncated {
                tag: "SND",
                len: frame.len(),
                need: SND_MONO_HEADER_LEN,
            });
        }
        return Err(FrameError::UnknownTag(
            String::from_utf8_lossy(&frame[..3]).into_owned(),
        ));
    }
    let flags = frame[3];
    let seq = u32_le(frame, 4).unwrap_or(0);
    let smeter_raw = u16::from_be_bytes([frame[8], frame[9]]);
    if flags & FLAG_MODE_IQ != 0 {
        if frame.len() < SND_IQ_HEADER_LEN {
            return Err(FrameError::Truncated {
                tag: "SND",
                len: frame.len(),
                need: SND_IQ_HEADER_LEN,
            });
        }
        let gps = GpsStamp {
            last_gps_solution: frame[10],
            gpssec: u32_le(frame, 12).unwrap_or(0),
            gpsnsec: u32_le(frame, 16).unwrap_or(0),
        };
        let payload = &frame[SND_IQ_HEADER_LEN..];
        if !payload.len().is_multiple_of(4) {
            return Err(FrameError::PartialSample {
                tag: "SND",
                len: payload.len(),
                unit: 4,
            });
        }
        Ok(SndFrame {
            flags,
            seq,
            smeter_raw,
            gps: Some(gps),
            payload,
        })
    } else {
        let payload = &frame[SND_MONO_HEADER_LEN..];
        if flags & FLAG_COMPRESSED == 0 && !payload.len().is_multiple_of(2) {
            return Err(FrameError::PartialSample {
                tag: "SND",
                len: payload.len(),
                unit: 2,
            });
        }
        Ok(SndFrame {
            flags,
            seq,
            smeter_raw,
            gps: None,
            payload,
        })
    }
}

/// Appends the IQ pairs of `payload` (interleaved int16, big- or little-endian) to `out`,
/// scaled to ±1 (int16 / 32768). A trailing partial pair is ignored. Returns the pairs added.
pub fn decode_iq_i16(payload: &[u8], little_endian: bool, out: &mut Vec<Complex32>) -> usize {
    let whole = &payload[..payload.len() / 4 * 4];
    let format = if little_endian {
        IqFormat::I16Le
    } else {
        IqFormat::I16Be
    };
    // Whole pairs only, so the conversion cannot fail.
    heimdall_core::dsp::convert_into(format, whole, out).unwrap_or(0)
}

/// Encodes an IQ `SND` frame (used by the in-process server and tests).
pub fn encode_iq_snd(
    flags: u8,
    seq: u32,
    smeter_raw: u16,
    gps: GpsStamp,
    samples: &[(i16, i16)],
    little_endian: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(b"SND");
    out.push(flags | FLAG_MODE_IQ | if little_endian { FLAG_LITTLE_ENDIAN } else { 0 });
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&smeter_raw.to_be_bytes());
    out.push(gps.last_gps_solution);
    out.push(0);
    out.extend_from_slice(&gps.gpssec.to_le_bytes());
    out.extend_from_slice(&gps.gpsnsec.to_le_bytes());
    for &(i, q) in samples {
        if little_endian {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&q.to_le_bytes());
        } else {
            out.extend_from_slice(&i.to_be_bytes());
            out.extend_from_slice(&q.to_be_bytes());
        }
    }
}

/// The type of a server frame, from its first three bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameTag {
    /// `MSG` text.
    Msg,
    /// `SND` audio/IQ.
    Snd,
    /// `W/F` waterfall.
    Wf,
    /// `EXT` extension data.
    Ext,
    /// `DAT`.
    Dat,
    /// `CLI` (ignored).
    Cli,
}

/// Classifies a frame by its tag.
pub fn frame_tag(frame: &[u8]) -> Result<FrameTag, FrameError> {
    match frame.get(..3) {
        Some(b"MSG") => Ok(FrameTag::Msg),
        Some(b"SND") => Ok(FrameTag::Snd),
        Some(b"W/F") => Ok(FrameTag::Wf),
        Some(b"EXT") => Ok(FrameTag::Ext),
        Some(b"DAT") => Ok(FrameTag::Dat),
        Some(b"CLI") => Ok(FrameTag::Cli),
        Some(t) => Err(FrameError::UnknownTag(String::from_utf8_lossy(t).into_owned())),
        None => Err(FrameError::Truncated {
            tag: "frame",
            len: frame.len(),
            need: 3,
        }),
    }
}

/// Splits a `MSG` frame body (`MSG a=1 b c=%20x`) into `(name, raw value)` pairs: on spaces,
/// then on the first `=`. Values stay percent-encoded; see [`percent_decode`].
pub fn parse_msg(frame: &[u8]) -> Result<Vec<(&str, Option<&str>)>, FrameError> {
    let text = std::str::from_utf8(frame).map_err(|_| FrameError::NotUtf8)?;
    let body = text.strip_prefix("MSG").unwrap_or(text);
    Ok(body
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        })
        .collect())
}

/// Decodes `%XX` escapes (and leaves malformed escapes as they are). `+` is kept.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (`A-Za-z0-9-_.~`), as `encodeURIComponent`
/// does for the values the Kiwi parses with `%ms`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// A `MSG` item the client acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum KiwiMsg {
    /// `sample_rate=<float>`: the true sample rate.
    SampleRate(f64),
    /// `audio_rate=<int>` (in `audio_init`): nominal rate; the client answers `SET AR OK`.
    AudioRate(u32),
    /// `badp=<code>`: authentication result (0 = success).
    Badp(u8),
    /// `freq_offset=<kHz>`.
    FreqOffsetKhz(f64),
    /// `version_maj=<n>`.
    VersionMaj(u32),
    /// `version_min=<n>`.
    VersionMin(u32),
    /// `too_busy=<n>`: all channels in use.
    TooBusy(Option<u32>),
    /// `redirect=<url>` (decoded).
    Redirect(String),
    /// `down` (optionally with `reason_disabled`).
    Down,
    /// `reason_disabled=<text>` (decoded).
    ReasonDisabled(String),
    /// `ip_limit=<min>,<ip>` (decoded).
    IpLimit(String),
    /// `kiwi_kick=<0|1>,<msg>` (decoded).
    KiwiKick(String),
    /// `inactivity_timeout=<min>`.
    InactivityTimeout(String),
    /// `password_timeout`.
    PasswordTimeout,
    /// `wb_only`.
    WbOnly,
    /// `exclusive_use`.
    ExclusiveUse,
    /// `camp_disconnect`.
    CampDisconnect,
    /// Anything else (informational).
    Other,
}

/// Classifies one `(name, value)` item of a `MSG` frame. Unparseable values give [`KiwiMsg::Other`].
pub fn classify(name: &str, value: Option<&str>) -> KiwiMsg {
    let v = value.unwrap_or("");
    match name {
        "sample_rate" => v
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .map_or(KiwiMsg::Other, KiwiMsg::SampleRate),
        "audio_rate" => v.parse().map_or(KiwiMsg::Other, KiwiMsg::AudioRate),
        "badp" => v.parse().map_or(KiwiMsg::Other, KiwiMsg::Badp),
        "freq_offset" => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(KiwiMsg::Other, KiwiMsg::FreqOffsetKhz),
        "version_maj" => v.parse().map_or(KiwiMsg::Other, KiwiMsg::VersionMaj),
        "version_min" => v.parse().map_or(KiwiMsg::Other, KiwiMsg::VersionMin),
        "too_busy" => KiwiMsg::TooBusy(v.parse().ok()),
        "redirect" => KiwiMsg::Redirect(percent_decode(v)),
        "down" => KiwiMsg::Down,
        "reason_disabled" => KiwiMsg::ReasonDisabled(percent_decode(v)),
        "ip_limit" => KiwiMsg::IpLimit(percent_decode(v)),
        "kiwi_kick" => KiwiMsg::KiwiKick(percent_decode(v)),
        "inactivity_timeout" => KiwiMsg::InactivityTimeout(v.to_owned()),
        "password_timeout" => KiwiMsg::PasswordTimeout,
        "wb_only" => KiwiMsg::WbOnly,
        "exclusive_use" => KiwiMsg::ExclusiveUse,
        "camp_disconnect" => KiwiMsg::CampDisconnect,
        _ => KiwiMsg::Other,
    }
}

/// The meaning of a `badp` code (the KiwiSDR server's answer to `SET auth`).
pub fn badp_reason(code: u8) -> &'static str {
    match code {
        0 => "authenticated",
        1 => "wrong password, or every channel usable without a password is busy",
        2 => "the server is still determining its local interface address; try again later",
        3 => "admin connections are not allowed from this IP",
        4 => "no admin password is set; admin is only possible from the local network",
        5 => "multiple connections from the same IP are not allowed (no_dup_ip)",
        6 => "database update in progress; try again in a minute",
        7 => "another admin is already connected",
        _ => "unknown authentication failure",
    }
}

/// `SET auth t=kiwi p=<pw>[ ipl=<tlimit_pw>]` (`p=#` when only a time-limit password is given).
pub fn cmd_auth(password: Option<&str>, tlimit_password: Option<&str>) -> String {
    let p = match (password, tlimit_password) {
        (Some(p), _) if !p.is_empty() => percent_encode(p),
        (_, Some(t)) if !t.is_empty() => "#".to_owned(),
        _ => String::new(),
    };
    match tlimit_password {
        Some(t) if !t.is_empty() => format!("SET auth t=kiwi p={p} ipl={}", percent_encode(t)),
        _ => format!("SET auth t=kiwi p={p}"),
    }
}

/// `SET AR OK in=<n> out=44100`.
pub fn cmd_ar_ok(audio_rate: u32) -> String {
    format!("SET AR OK in={audio_rate} out=44100")
}

/// `SET mod=iq low_cut=<Hz> high_cut=<Hz> freq=<kHz, 3 decimals>`.
pub fn cmd_mod_iq(low_cut: i32, high_cut: i32, freq_khz: f64) -> String {
    format!("SET mod=iq low_cut={low_cut} high_cut={high_cut} freq={freq_khz:.3}")
}

/// `SET agc=0 hang=0 thresh=-100 slope=6 decay=1000 manGain=<dB>` (AGC off, fixed gain).
pub fn cmd_agc_manual(man_gain_db: i32) -> String {
    format!("SET agc=0 hang=0 thresh=-100 slope=6 decay=1000 manGain={man_gain_db}")
}

/// `SET ident_user=<percent-encoded>`.
pub fn cmd_ident(name: &str) -> String {
    format!("SET ident_user={}", percent_encode(name))
}

/// `SET keepalive`.
pub const CMD_KEEPALIVE: &str = "SET keepalive";
/// `SET compression=0`.
pub const CMD_COMPRESSION_OFF: &str = "SET compression=0";
/// `SET little-endian`.
pub const CMD_LITTLE_ENDIAN: &str = "SET little-endian";

/// Seconds in a GPS week.
pub const SECONDS_PER_WEEK: i64 = 604_800;
/// GPS − UTC offset in seconds (leap seconds since 1980; 18 since 2017-01-01).
pub const GPS_UTC_OFFSET_S: i64 = 18;

fn gps_epoch() -> DateTime<Utc> {
    // 1980-01-06T00:00:00Z
    DateTime::from_timestamp(315_964_800, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Converts a GPS time-of-week to UTC, taking the week from `now` (the host clock): the week
/// that puts the stamp nearest to `now`.
pub fn gps_to_utc(stamp: &GpsStamp, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !stamp.is_valid() {
        return None;
    }
    let epoch = gps_epoch();
    let now_gps = (now - epoch).num_seconds() + GPS_UTC_OFFSET_S;
    let week = now_gps.div_euclid(SECONDS_PER_WEEK);
    let mut t = week * SECONDS_PER_WEEK + i64::from(stamp.gpssec);
    if t - now_gps > SECONDS_PER_WEEK / 2 {
        t -= SECONDS_PER_WEEK;
    } else if now_gps - t > SECONDS_PER_WEEK / 2 {
        t += SECONDS_PER_WEEK;
    }
    let secs = t - GPS_UTC_OFFSET_S;
    epoch.checked_add_signed(TimeDelta::try_seconds(secs)? + TimeDelta::nanoseconds(i64::from(stamp.gpsnsec)))
}

/// Converts a UTC time to a GPS time-of-week stamp (used by the in-process server).
pub fn utc_to_gps(t: DateTime<Utc>, last_gps_solution: u8) -> GpsStamp {
    let d = t - gps_epoch();
    let secs = d.num_seconds() + GPS_UTC_OFFSET_S;
    let nsec = d.subsec_nanos().rem_euclid(1_000_000_000) as u32;
    GpsStamp {
        last_gps_solution,
        gpssec: secs.rem_euclid(SECONDS_PER_WEEK) as u32,
        gpsnsec: nsec,
    }
}

/// Default KiwiSDR HTTP/WebSocket port.
pub const DEFAULT_PORT: u16 = 8073;

/// KiwiSDR URLs: `http`, `ws`, `kiwisdr`, `kiwi` and `tcp` all name plain HTTP/WebSocket on
/// `host:port` (KiwiSDRs do not use TLS); a bare `host[:port]` is read as `http://`.
pub const URL_RULE: crate::registry::UrlRule = crate::registry::UrlRule {
    schemes: &["http", "ws", "kiwisdr", "kiwi", "tcp"],
    bare_host: Some("http"),
    aliases: &[],
};

/// Host and port of a Kiwi URL (one of [`URL_RULE`]): what the builder connects to and what a
/// `redirect` message points at.
#[cfg(feature = "kiwisdr")]
pub(crate) fn parse_endpoint(raw: &str) -> heimdall_core::Result<(String, u16)> {
    let u = crate::registry::parse_url(heimdall_core::ReceiverKind::KiwiSdr, &URL_RULE, raw)
        .map_err(|reason| heimdall_core::Error::config(format!("kiwisdr url: {reason} (KiwiSDRs do not use TLS)")))?;
    let host = u.host_str().unwrap_or_default();
    Ok((host.to_owned(), u.port().unwrap_or(DEFAULT_PORT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snd_roundtrip_both_endians() {
        let samples = [(1i16, -1i16), (i16::MIN, i16::MAX), (0x1234, -0x1234)];
        for le in [false, true] {
            let mut buf = Vec::new();
            let gps = GpsStamp {
                last_gps_solution: 3,
                gpssec: 123_456,
                gpsnsec: 789,
            };
            encode_iq_snd(0, 0x0102_0304, dbm_to_smeter(-73.5), gps, &samples, le, &mut buf);
            assert_eq!(&buf[..3], b"SND");
            assert_eq!(&buf[4..8], &[4, 3, 2, 1], "seq is little-endian");
            assert_eq!(&buf[8..10], &535u16.to_be_bytes(), "S-meter is big-endian");
            let f = parse_snd(&buf).unwrap();
            assert_eq!(f.seq, 0x0102_0304);
            assert!((f.rssi_dbm() + 73.5).abs() < 1e-9);
            assert_eq!(f.gps, Some(gps));
            assert_eq!(f.little_endian(), le);
            let mut out = Vec::new();
            assert_eq!(decode_iq_i16(f.payload, f.little_endian(), &mut out), 3);
            assert_eq!(out[1], Complex32::new(-1.0, 32767.0 / 32768.0));
            assert_eq!(out[2].re, 0x1234 as f32 / 32768.0);
        }
    }

    #[test]
    fn snd_errors() {
        assert!(matches!(parse_snd(b"SND"), Err(FrameError::Truncated { .. })));
        assert!(matches!(
            parse_snd(b"SND\x08\x01\0\0\0\0\0\0"),
            Err(FrameError::Truncated { need: 20, .. })
        ));
        let mut buf = vec![0u8; 23];
        buf[..4].copy_from_slice(b"SND\x08");
        assert!(matches!(parse_snd(&buf), Err(FrameError::PartialSample { .. })));
        assert!(matches!(parse_snd(b"XYZ0123456789"), Err(FrameError::UnknownTag(_))));
    }

    #[test]
    fn msg_parsing() {
        let items = parse_msg(b"MSG audio_init=0 audio_rate=12000 redirect=http%3A%2F%2Fh%3A1").unwrap();
        assert_eq!(items[0], ("audio_init", Some("0")));
        assert_eq!(classify(items[1].0, items[1].1), KiwiMsg::AudioRate(12000));
        assert_eq!(classify(items[2].0, items[2].1), KiwiMsg::Redirect("http://h:1".into()));
        assert_eq!(
            classify("sample_rate", Some("12001.135000")),
            KiwiMsg::SampleRate(12001.135)
        );
        assert_eq!(classify("sample_rate", Some("nan")), KiwiMsg::Other);
        assert_eq!(classify("down", None), KiwiMsg::Down);
        assert_eq!(classify("too_busy", Some("4")), KiwiMsg::TooBusy(Some(4)));
        assert!(parse_msg(&[0x4d, 0x53, 0x47, 0xff]).is_err());
    }

    #[test]
    fn commands_are_exact() {
        assert_eq!(cmd_auth(None, None), "SET auth t=kiwi p=");
        assert_eq!(cmd_auth(Some("a b"), None), "SET auth t=kiwi p=a%20b");
        assert_eq!(cmd_auth(None, Some("t")), "SET auth t=kiwi p=# ipl=t");
        assert_eq!(
            cmd_mod_iq(-5000, 5000, 7100.0),
            "SET mod=iq low_cut=-5000 high_cut=5000 freq=7100.000"
        );
        assert_eq!(
            cmd_agc_manual(50),
            "SET agc=0 hang=0 thresh=-100 slope=6 decay=1000 manGain=50"
        );
        assert_eq!(cmd_ar_ok(12000), "SET AR OK in=12000 out=44100");
        assert_eq!(cmd_ident("heimdall"), "SET ident_user=heimdall");
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn gps_utc_roundtrip() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T13:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = utc_to_gps(t, 5);
        assert_eq!(gps_to_utc(&s, t + TimeDelta::seconds(100)), Some(t));
        // Across a week boundary: now just after the week starts, stamp from the end of the last week.
        let start = gps_epoch() + TimeDelta::weeks(2400) - TimeDelta::seconds(GPS_UTC_OFFSET_S);
        let before = start - TimeDelta::milliseconds(500);
        let s = utc_to_gps(before, 1);
        assert_eq!(gps_to_utc(&s, start + TimeDelta::seconds(2)), Some(before));
        assert_eq!(
            gps_to_utc(
                &GpsStamp {
                    last_gps_solution: 255,
                    gpssec: 5,
                    gpsnsec: 0
                },
                t
            ),
            None
        );
        assert_eq!(
            gps_to_utc(
                &GpsStamp {
                    last_gps_solution: 0,
                    gpssec: 0,
                    gpsnsec: 0
                },
                t
            ),
            None
        );
    }

    #[cfg(feature = "kiwisdr")]
    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("http://k.example:8074").unwrap(),
            ("k.example".into(), 8074)
        );
        assert_eq!(parse_endpoint("ws://k.example").unwrap(), ("k.example".into(), 8073));
        assert_eq!(parse_endpoint("k.example:1").unwrap(), ("k.example".into(), 1));
        assert_eq!(
            parse_endpoint("kiwisdr://10.0.0.1:8073/").unwrap(),
            ("10.0.0.1".into(), 8073)
        );
        assert!(parse_endpoint("https://k.example").is_err());
        assert!(parse_endpoint("::").is_err());
    }
}
