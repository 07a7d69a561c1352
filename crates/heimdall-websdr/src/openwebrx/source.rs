//! [`OpenWebRxSource`]: the receiver source over the OpenWebRX client.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use heimdall_core::{
    CaptureRequest, CaptureStream, ReceiverHealth, ReceiverInfo, ReceiverSource, Result, SpectrumFrame,
};
use tokio_util::sync::CancellationToken;

use super::error::rebrand;
use super::limiter::HostLimiter;
use super::session::{self, OpenWebRxConfig};

/// An OpenWebRX receiver as a [`ReceiverSource`]. Build it with [`OpenWebRxBuilder`](super::OpenWebRxBuilder).
#[derive(Debug, Clone)]
pub struct OpenWebRxSource {
    pub(super) cfg: Arc<OpenWebRxConfig>,
}

impl OpenWebRxSource {
    /// The WebSocket URL used (`ws://host:port/ws/`).
    pub fn websocket_url(&self) -> &url::Url {
        &self.cfg.ws_url
    }

    /// The page URL `/status.json` is fetched under.
    pub fn http_base(&self) -> &url::Url {
        &self.cfg.http_base
    }

    /// The limiter spacing this source's connections.
    pub fn host_limiter(&self) -> &Arc<HostLimiter> {
        &self.cfg.limiter
    }

    /// Fetches and parses `/status.json`.
    pub async fn status(&self) -> Result<crate::discovery::OpenWebRxStatus> {
        crate::discovery::fetch_openwebrx_status(&self.cfg.http, self.cfg.http_base.as_str(), self.cfg.connect_timeout)
            .await
            .map_err(|e| rebrand(e, self.cfg.info.id.as_str()))
    }
}

impl fmt::Display for OpenWebRxSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "openwebrx {} ({})", self.cfg.info.id, self.cfg.ws_url)
    }
}

#[async_trait]
impl ReceiverSource for OpenWebRxSource {
    fn info(&self) -> &ReceiverInfo {
        &self.cfg.info
    }

    /// `GET /status.json`: available when the server lists at least one SDR profile.
    async fn health(&self) -> Result<ReceiverHealth> {
        Ok(self.status().await?.to_health())
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        session::open(self.cfg.clone(), req, cancel).await
    }

    /// `open` first waits for this host's politeness slot (up to an interval per connection
    /// queued to the host), then is bounded by its own connect and handshake timeouts: the
    /// engine's connect timeout must not run during the wait.
    fn self_timed_open(&self) -> Option<std::time::Duration> {
        Some(self.cfg.connect_timeout.saturating_add(self.cfg.handshake_timeout))
    }
}

/// Mean power (dB, in the frame's unit) of the FFT bins covering `[target + low, target + high]`,
/// averaged in the linear domain. `None` if the band is outside the frame or the frame is empty.
///
/// ```
/// use heimdall_core::{PowerUnit, SpectrumFrame};
/// use heimdall_websdr::openwebrx::channel_power_db;
/// let frame = SpectrumFrame { sample_index: 0, center_frequency_hz: 1000.0, span_hz: 1000.0,
///                             bins: vec![-100.0, -100.0, -20.0, -100.0], unit: PowerUnit::Dbfs };
/// // bin 2 covers 1000..1250 Hz
/// let p = channel_power_db(&frame, 1100.0, -50.0, 50.0).unwrap();
/// assert!((p + 20.0).abs() < 1e-9);
/// ```
pub fn channel_power_db(frame: &SpectrumFrame, target_hz: f64, low_hz: f64, high_hz: f64) -> Option<f64> {
    let n = frame.bins.len();
    if n == 0 || frame.span_hz.is_nan() || frame.span_hz <= 0.0 {
        return None;
    }
    let bin_w = frame.span_hz / n as f64;
    let start = frame.center_frequency_hz - frame.span_hz / 2.0;
    let lo = ((target_hz + low_hz - start) / bin_w).floor();
    let hi = ((target_hz + high_hz - start) / bin_w).ceil() - 1.0;
    if !lo.is_finite() || !hi.is_finite() || hi < 0.0 || lo >= n as f64 {
        return None;
    }
    let lo = lo.max(0.0) as usize;
    let hi = (hi as usize).min(n - 1);
    if lo > hi {
        return None;
    }
    let bins = frame.bins.get(lo..=hi)?;
    let mean = bins.iter().map(|d| 10f64.powf(f64::from(*d) / 10.0)).sum::<f64>() / bins.len() as f64;
    Some(10.0 * mean.log10())
}
