//! [`KiwiSdrBuilder`]: configuration of a [`KiwiSdrSource`], validated in `build()`, no I/O.

use std::fmt;
use std::time::Duration;

use heimdall_core::{Error, Passband, ReceiverInfo, Result};

use super::protocol::parse_endpoint;
use super::source::{KiwiConfig, KiwiSdrSource};

/// Minimum wait the source asks for after `too_busy` or a redirect it cannot follow.
pub const MIN_BUSY_BACKOFF: Duration = Duration::from_secs(15);

/// Builds a [`KiwiSdrSource`].
///
/// | Setter | Default | Meaning |
/// |---|---|---|
/// | `with_password` | none (`p=`) | user password (`SET auth t=kiwi p=`) |
/// | `with_tlimit_password` | none | time-limit exemption password (`ipl=`) |
/// | `with_gain` | 50 dB | fixed manual gain, AGC off |
/// | `with_passband` | −5000…+5000 Hz | IQ passband when the request has none |
/// | `with_ident` | `heimdall` | `SET ident_user` |
/// | `with_connect_timeout` | 10 s | TCP + WebSocket handshake |
/// | `with_handshake_timeout` | 15 s | auth until tuned |
/// | `with_read_timeout` | 10 s | longest silence while capturing |
/// | `with_keepalive_interval` | 5 s | `SET keepalive` timer (the Kiwi drops after 60 s) |
/// | `with_busy_backoff` | 15 s | `retry_after` on `too_busy`/redirect (at least 15 s) |
/// | `with_redirect_delay` | 2 s | wait before following a redirect |
/// | `with_little_endian` | false | ask for little-endian samples (`SET little-endian`) |
///
/// The receiver URL (`ReceiverInfo::url`) is `http://host[:port]`, `ws://host[:port]`,
/// `kiwisdr://host[:port]` or `host[:port]`; the port defaults to 8073. TLS is not used by Kiwis.
#[derive(Clone)]
pub struct KiwiSdrBuilder {
    info: ReceiverInfo,
    password: Option<String>,
    tlimit_password: Option<String>,
    gain_db: i32,
    passband: Passband,
    ident: String,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    read_timeout: Duration,
    keepalive_interval: Duration,
    busy_backoff: Duration,
    redirect_delay: Duration,
    little_endian: bool,
}

impl fmt::Debug for KiwiSdrBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KiwiSdrBuilder")
            .field("receiver", &self.info.id)
            .field("url", &self.info.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tlimit_password", &self.tlimit_password.as_ref().map(|_| "<redacted>"))
            .field("gain_db", &self.gain_db)
            .field("passband", &self.passband)
            .finish_non_exhaustive()
    }
}

impl KiwiSdrBuilder {
    /// A builder for the receiver `info` with default settings.
    pub fn new(info: ReceiverInfo) -> Self {
        KiwiSdrBuilder {
            info,
            password: None,
            tlimit_password: None,
            gain_db: 50,
            passband: Passband {
                low_hz: -5000.0,
                high_hz: 5000.0,
            },
            ident: "heimdall".to_owned(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            busy_backoff: MIN_BUSY_BACKOFF,
            redirect_delay: Duration::from_secs(2),
            little_endian: false,
        }
    }
    /// User password.
    pub fn with_password(mut self, pw: impl Into<String>) -> Self {
        self.password = Some(pw.into());
        self
    }
    /// Time-limit exemption password (`ipl=`).
    pub fn with_tlimit_password(mut self, pw: impl Into<String>) -> Self {
        self.tlimit_password = Some(pw.into());
        self
    }
    /// Fixed manual gain in dB (AGC is always off for stable amplitudes); 0..=120.
    pub fn with_gain(mut self, db: i32) -> Self {
        self.gain_db = db;
        self
    }
    /// Default IQ passband (used when the request has none).
    pub fn with_passband(mut self, p: Passband) -> Self {
        self.passband = p;
        self
    }
    /// `ident_user` sent to the Kiwi.
    pub fn with_ident(mut self, ident: impl Into<String>) -> Self {
        self.ident = ident.into();
        self
    }
    /// TCP connect + WebSocket upgrade deadline.
    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Deadline from the WebSocket being open to the tuning commands being sent.
    pub fn with_handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }
    /// Longest silence accepted while capturing.
    pub fn with_read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }
    /// Keepalive period (10 ms..=30 s; the Kiwi closes after 60 s without one).
    pub fn with_keepalive_interval(mut self, d: Duration) -> Self {
        self.keepalive_interval = d;
        self
    }
    /// `retry_after` reported on `too_busy` and unfollowed redirects (at least 15 s).
    pub fn with_busy_backoff(mut self, d: Duration) -> Self {
        self.busy_backoff = d;
        self
    }
    /// Wait before following a redirect (kiwiclient waits 2 s).
    pub fn with_redirect_delay(mut self, d: Duration) -> Self {
        self.redirect_delay = d;
        self
    }
    /// Ask the Kiwi for little-endian samples.
    pub fn with_little_endian(mut self, on: bool) -> Self {
        self.little_endian = on;
        self
    }

    /// Validates the settings and builds the source (no I/O).
    pub fn build(self) -> Result<KiwiSdrSource> {
        let (host, port) = parse_endpoint(&self.info.url)?;
        if !(0..=120).contains(&self.gain_db) {
            return Err(Error::config(format!(
                "kiwisdr gain {} dB is not within 0..=120",
                self.gain_db
            )));
        }
        let p = self.passband;
        if !p.low_hz.is_finite() || !p.high_hz.is_finite() || p.low_hz >= p.high_hz {
            return Err(Error::config(format!(
                "kiwisdr passband {}..{} Hz must be finite with low < high",
                p.low_hz, p.high_hz
            )));
        }
        if self.keepalive_interval < Duration::from_millis(10) || self.keepalive_interval > Duration::from_secs(30) {
            return Err(Error::config(format!(
                "kiwisdr keepalive interval {:?} is not within 10 ms..=30 s",
                self.keepalive_interval
            )));
        }
        if self.busy_backoff < MIN_BUSY_BACKOFF {
            return Err(Error::config(format!(
                "kiwisdr busy backoff {:?} is below the polite minimum of 15 s",
                self.busy_backoff
            )));
        }
        for (name, d) in [
            ("connect timeout", self.connect_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("read timeout", self.read_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!("kiwisdr {name} must be more than zero")));
            }
        }
        if self.ident.is_empty() {
            return Err(Error::config("kiwisdr ident must not be empty"));
        }
        Ok(KiwiSdrSource::new(
            self.info,
            KiwiConfig {
                host,
                port,
                password: self.password,
                tlimit_password: self.tlimit_password,
                gain_db: self.gain_db,
                passband: self.passband,
                ident: self.ident,
                connect_timeout: self.connect_timeout,
                handshake_timeout: self.handshake_timeout,
                read_timeout: self.read_timeout,
                keepalive_interval: self.keepalive_interval,
                busy_backoff: self.busy_backoff,
                redirect_delay: self.redirect_delay,
                little_endian: self.little_endian,
            },
        ))
    }
}
