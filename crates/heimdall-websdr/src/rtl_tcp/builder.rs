//! [`RtlTcpBuilder`]: configuration of an [`RtlTcpSource`], validated in `build()`, no I/O.

use std::time::Duration;

use heimdall_core::{Error, ReceiverInfo, Result};

use super::protocol;
use super::source::{RtlConfig, RtlTcpSource};

/// Default rtl_tcp port.
pub const DEFAULT_PORT: u16 = 1234;

/// Builds an [`RtlTcpSource`].
///
/// | Setter | Default | Meaning |
/// |---|---|---|
/// | `with_sample_rate` | 2.048 MS/s | rate when the request has none |
/// | `with_gain_db` | automatic | manual tuner gain (command 0x03 = 1, 0x04 in tenths of a dB) |
/// | `with_ppm` | 0 | frequency correction (0x05) |
/// | `with_rtl_agc` | not sent | RTL2832 digital AGC (0x08) |
/// | `with_settle` | 100 ms | samples discarded after tuning |
/// | `with_connect_timeout` | 5 s | TCP connect + header |
/// | `with_read_timeout` | 5 s | longest silence while capturing |
///
/// The URL (`ReceiverInfo::url`) is `rtl_tcp://host[:port]`, `tcp://host[:port]` or
/// `host[:port]`; the port defaults to 1234.
#[derive(Debug, Clone)]
pub struct RtlTcpBuilder {
    info: ReceiverInfo,
    sample_rate: f64,
    gain_db: Option<f64>,
    ppm: i32,
    rtl_agc: Option<bool>,
    settle: Duration,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl RtlTcpBuilder {
    /// A builder for `info` with default settings.
    pub fn new(info: ReceiverInfo) -> Self {
        RtlTcpBuilder {
            info,
            sample_rate: 2_048_000.0,
            gain_db: None,
            ppm: 0,
            rtl_agc: None,
            settle: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
        }
    }
    /// Sample rate used when the request does not ask for one.
    pub fn with_sample_rate(mut self, hz: f64) -> Self {
        self.sample_rate = hz;
        self
    }
    /// Manual tuner gain in dB (rounded to tenths; must be one of the tuner's steps).
    pub fn with_gain_db(mut self, db: f64) -> Self {
        self.gain_db = Some(db);
        self
    }
    /// Frequency correction in ppm.
    pub fn with_ppm(mut self, ppm: i32) -> Self {
        self.ppm = ppm;
        self
    }
    /// RTL2832 digital AGC on or off.
    pub fn with_rtl_agc(mut self, on: bool) -> Self {
        self.rtl_agc = Some(on);
        self
    }
    /// How long after tuning samples are discarded.
    pub fn with_settle(mut self, d: Duration) -> Self {
        self.settle = d;
        self
    }
    /// TCP connect + header deadline.
    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Longest silence accepted while capturing.
    pub fn with_read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Validates and builds (no I/O).
    pub fn build(self) -> Result<RtlTcpSource> {
        let raw = &self.info.url;
        let u = crate::registry::parse_url(heimdall_core::ReceiverKind::RtlTcp, &super::protocol::URL_RULE, raw)
            .map_err(|reason| Error::config(format!("rtl_tcp url: {reason}")))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                Error::config(format!(
                    "rtl_tcp url {:?} has no host",
                    heimdall_core::redact::Redacted(raw)
                ))
            })?
            .to_owned(); // IPv6 hosts keep their brackets: "[::1]:1234" is what connect() wants
        let port = u.port().unwrap_or(DEFAULT_PORT);
        if !protocol::is_valid_sample_rate(self.sample_rate) {
            return Err(Error::config(format!(
                "rtl_tcp sample rate {} Hz is not within 225001..=300000 or 900001..=3200000",
                self.sample_rate
            )));
        }
        if let Some(g) = self.gain_db
            && (!g.is_finite() || !(-10.0..=60.0).contains(&g))
        {
            return Err(Error::config(format!("rtl_tcp gain {g} dB is not within -10..=60")));
        }
        if !(-1000..=1000).contains(&self.ppm) {
            return Err(Error::config(format!(
                "rtl_tcp ppm {} is not within -1000..=1000",
                self.ppm
            )));
        }
        if self.connect_timeout.is_zero() || self.read_timeout.is_zero() {
            return Err(Error::config("rtl_tcp timeouts must be more than zero"));
        }
        Ok(RtlTcpSource::new(
            self.info,
            RtlConfig {
                host,
                port,
                sample_rate: self.sample_rate,
                gain_tenths: self.gain_db.map(|g| (g * 10.0).round() as i32),
                ppm: self.ppm,
                rtl_agc: self.rtl_agc,
                settle: self.settle,
                connect_timeout: self.connect_timeout,
                read_timeout: self.read_timeout,
            },
        ))
    }
}
