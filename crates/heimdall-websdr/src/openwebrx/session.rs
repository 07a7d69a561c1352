//! One OpenWebRX capture: connect, handshake, tune, stream, spaced per host (see [`super::limiter`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, Error, Passband, PowerUnit, ReceiverInfo, RssiReading,
    SampleBlock, SampleFormat, SpectrumFrame, TimeMark, TimeSource,
};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::adpcm::{AudioAdpcm, ImaAdpcmDecoder, SYNC_WORD, SyncAdpcmDecoder, decode_fft_frame};
use super::error::{OwrxError, rebrand};
use super::limiter::HostLimiter;
use super::protocol::{
    self, CLIENT_HANDSHAKE, ConfigState, ProfileRef, ProtocolError, ServerFrame, ServerHello, ServerText,
};
use crate::stream::{PullChunks, pull_stream};
use crate::transport::TransportError;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug)]
pub(crate) struct OpenWebRxConfig {
    pub(crate) info: ReceiverInfo,
    pub(crate) mode: String,
    pub(crate) passband: Option<Passband>,
    pub(crate) allow_profile_switch: bool,
    pub(crate) output_rate: u32,
    pub(crate) hd_output_rate: u32,
    pub(crate) limiter: Arc<HostLimiter>,
    pub(crate) host: String,
    pub(crate) ws_url: url::Url,
    pub(crate) http_base: url::Url,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) stall_timeout: Duration,
    pub(crate) http: reqwest::Client,
    /// For `wss://` URLs; `None` for `ws://`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

enum AudioDecoder {
    S16 {
        carry: Option<u8>,
    },
    Adpcm(AudioAdpcm),
    /// Version unknown: look at the first 4 bytes for `SYNC`.
    Sniff(Vec<u8>),
}

struct Session {
    cfg: Arc<OpenWebRxConfig>,
    ws: Ws,
    state: ConfigState,
    hello: Option<ServerHello>,
    profiles: Vec<ProfileRef>,
    stall: Duration,
    /// The profile asked for with `selectprofile`, if any.
    switch_requested: Option<String>,
}

impl Session {
    async fn send(&mut self, text: String) -> Result<(), OwrxError> {
        tracing::trace!(receiver = %self.cfg.info.id, %text, "openwebrx send");
        self.ws.send(Message::text(text)).await.map_err(|e| OwrxError::Closed {
            reason: "cannot send to the server".into(),
            source: Some(e),
        })
    }

    /// Next message, or an error when the server goes away or stays silent past `stall`.
    async fn recv(&mut self, operation: &'static str) -> Result<Message, OwrxError> {
        self.recv_until(Instant::now() + self.stall, operation).await
    }

    /// Next message, or an error when the server goes away or `deadline` passes (reported as
    /// a `stall` timeout).
    async fn recv_until(&mut self, deadline: Instant, operation: &'static str) -> Result<Message, OwrxError> {
        match tokio::time::timeout_at(deadline, self.ws.next()).await {
            Err(_) => Err(OwrxError::Transport(TransportError::Timeout {
                operation,
                after: self.stall,
            })),
            Ok(None) => Err(OwrxError::Closed {
                reason: format!("the server closed the connection during {operation}"),
                source: None,
            }),
            Ok(Some(Err(e))) => Err(OwrxError::Closed {
                reason: format!("connection failed during {operation}"),
                source: Some(e),
            }),
            Ok(Some(Ok(Message::Close(frame)))) => Err(OwrxError::Closed {
                reason: match frame {
                    Some(f) if !f.reason.is_empty() => {
                        format!("the server closed the connection during {operation}: {}", f.reason)
                    }
                    _ => format!("the server closed the connection during {operation}"),
                },
                source: None,
            }),
            Ok(Some(Ok(m))) => Ok(m),
        }
    }

    /// Handles a text message common to every phase; returns it for phase-specific handling.
    fn on_text(&mut self, text: &str) -> Result<ServerText, OwrxError> {
        let msg = protocol::parse_server_text(text)?;
        match &msg {
            ServerText::Hello(h) => {
                tracing::debug!(receiver = %self.cfg.info.id, version = ?h.version, "openwebrx server hello");
                self.hello = Some(h.clone());
            }
            ServerText::Config(c) => self.state.merge(c.clone()),
            ServerText::Profiles(p) => self.profiles = p.clone(),
            ServerText::Backoff(r) => return Err(OwrxError::Backoff(r.clone())),
            ServerText::SdrError(t) => return Err(OwrxError::SdrError(t.clone())),
            ServerText::DemodulatorError(t) => return Err(OwrxError::DemodulatorError(t.clone())),
            _ => {}
        }
        Ok(msg)
    }

    /// Reads until `done(self)` holds; binary frames are checked for the legacy protocol only.
    async fn pump_until(&mut self, operation: &'static str, done: impl Fn(&Session) -> bool) -> Result<(), OwrxError> {
        while !done(self) {
            match self.recv(operation).await? {
                Message::Text(t) => {
                    self.on_text(t.as_str())?;
                }
                Message::Binary(b) if b.starts_with(b"CLI") => {
                    return Err(ProtocolError::Legacy.into());
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        self.hello.is_some() && self.state.center_freq().is_some() && self.state.samp_rate().is_some()
    }

    /// Handshake, profile choice, tuning. Returns the integer offset sent.
    async fn setup(&mut self, target: f64, low: f64, high: f64) -> Result<i64, OwrxError> {
        self.send(CLIENT_HANDSHAKE.to_owned()).await?;
        self.send(protocol::connection_properties(
            self.cfg.output_rate,
            self.cfg.hd_output_rate,
        ))
        .await?;
        self.pump_until("handshake", Session::ready).await?;
        if !self.state.covers(target, low, high) {
            let (center, sr) = (
                self.state.center_freq().unwrap_or_default(),
                self.state.samp_rate().unwrap_or_default(),
            );
            if !self.cfg.allow_profile_switch {
                return Err(OwrxError::NotCovered {
                    target_mhz: target / 1e6,
                    low,
                    high,
                    center_mhz: center / 1e6,
                    half_khz: sr / 2e3,
                });
            }
            let profile = self.choose_profile(target, low, high).await?;
            tracing::info!(receiver = %self.cfg.info.id, %profile, "openwebrx: switching profile");
            self.send(protocol::select_profile(&profile)).await?;
            self.switch_requested = Some(profile);
            self.pump_until("profile switch", |s| s.state.covers(target, low, high))
                .await?;
        }
        let center = self.state.center_freq().unwrap_or_default();
        let offset = (target - center).round() as i64;
        self.send(protocol::dsp_params(&self.cfg.mode, low, high, offset))
            .await?;
        self.send(protocol::dsp_start()).await?;
        Ok(offset)
    }

    /// Finds a profile covering the target from `/status.json` (which has frequencies but no
    /// ids) and the `profiles` message (ids and `"<sdr name> <profile name>"`).
    async fn choose_profile(&mut self, target: f64, low: f64, high: f64) -> Result<String, OwrxError> {
        let status = crate::discovery::fetch_openwebrx_status(
            &self.cfg.http,
            self.cfg.http_base.as_str(),
            self.cfg.connect_timeout,
        )
        .await
        .map_err(|e| OwrxError::Status(rebrand(e, self.cfg.info.id.as_str())))?;
        if self.profiles.is_empty() {
            self.pump_until("handshake (profiles)", |s| !s.profiles.is_empty())
                .await?;
        }
        let mut listed = Vec::new();
        for (sdr, p) in status.profiles() {
            listed.push(format!(
                "{} {} ({:.3} MHz)",
                sdr.name,
                p.name,
                p.center_freq.unwrap_or_default() / 1e6
            ));
            if !p.covers(target, low, high) {
                continue;
            }
            let full = format!("{} {}", sdr.name, p.name);
            let found = self
                .profiles
                .iter()
                .find(|r| r.name == full)
                .or_else(|| self.profiles.iter().find(|r| r.name.ends_with(&p.name)));
            if let Some(r) = found {
                return Ok(r.id.clone());
            }
        }
        Err(OwrxError::NoProfile {
            target_mhz: target / 1e6,
            low,
            high,
            profiles: if listed.is_empty() {
                "none listed".into()
            } else {
                listed.join(", ")
            },
        })
    }
}

struct Capture {
    sess: Session,
    id: String,
    target: f64,
    low: f64,
    high: f64,
    hd: bool,
    rate: f64,
    expected: u64,
    delivered: u64,
    start_at: Option<DateTime<Utc>>,
    started: bool,
    audio: AudioDecoder,
    fft_adpcm: bool,
    scratch: Vec<i16>,
    pending: VecDeque<CaptureChunk>,
    cancel: CancellationToken,
    done: bool,
    /// When audio last arrived: the stall timeout runs on audio, not on any message (status
    /// and S-meter messages keep flowing when the demodulator chain is stuck).
    last_audio: Instant,
}

impl PullChunks for Capture {
    fn next_chunk(&mut self) -> impl Future<Output = Option<heimdall_core::Result<CaptureChunk>>> + Send {
        self.next_item()
    }
}

impl Capture {
    async fn next_item(&mut self) -> Option<heimdall_core::Result<CaptureChunk>> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(Ok(c));
            }
            if self.done {
                return None;
            }
            if self.delivered >= self.expected {
                self.done = true;
                self.close().await;
                return None;
            }
            let deadline = self.last_audio + self.sess.stall;
            let m = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => Err(OwrxError::Transport(TransportError::Cancelled)),
                m = self.sess.recv_until(deadline, "capture") => m,
            };
            let r = match m {
                Ok(m) => self.on_message(m).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                self.done = true;
                self.pending.clear();
                self.close().await;
                return Some(Err(e.into_error(&self.id, self.delivered)));
            }
        }
    }

    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.sess.ws.close(None)).await;
    }

    async fn on_message(&mut self, m: Message) -> Result<(), OwrxError> {
        match m {
            Message::Text(t) => {
                let before = (self.sess.state.center_freq(), self.sess.state.samp_rate());
                match self.sess.on_text(t.as_str())? {
                    ServerText::Smeter(v) => {
                        if self.started
                            && let Some(db) = protocol::smeter_to_dbfs(v)
                        {
                            self.pending.push_back(CaptureChunk::Rssi(RssiReading {
                                sample_index: self.delivered,
                                value: db,
                                unit: PowerUnit::Dbfs,
                            }));
                        }
                    }
                    ServerText::Config(_) => {
                        let after = (self.sess.state.center_freq(), self.sess.state.samp_rate());
                        if after != before {
                            self.retune().await?;
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            Message::Binary(b) => match protocol::parse_server_frame(&b) {
                Ok(ServerFrame::Audio(p)) if !self.hd => {
                    self.on_audio(p);
                    Ok(())
                }
                Ok(ServerFrame::HdAudio(p)) if self.hd => {
                    self.on_audio(p);
                    Ok(())
                }
                Ok(ServerFrame::Fft(p)) => {
                    self.on_fft(p);
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(ProtocolError::UnknownFrame(t)) => {
                    tracing::debug!(receiver = %self.id, frame_type = t, "openwebrx: ignoring unknown binary frame");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            _ => Ok(()),
        }
    }

    /// The profile centre moved (another user): re-tune to stay on the target, or fail.
    async fn retune(&mut self) -> Result<(), OwrxError> {
        let (Some(center), Some(sr)) = (self.sess.state.center_freq(), self.sess.state.samp_rate()) else {
            return Ok(());
        };
        if !self.sess.state.covers(self.target, self.low, self.high) {
            return Err(OwrxError::MovedAway {
                target_mhz: self.target / 1e6,
                center_mhz: center / 1e6,
                half_khz: sr / 2e3,
            });
        }
        let offset = (self.target - center).round() as i64;
        tracing::info!(receiver = %self.id, offset, "openwebrx: centre moved, re-tuning");
        self.sess.send(protocol::dsp_offset(offset)).await
    }

    fn decode_audio(&mut self, payload: &[u8], out: &mut Vec<f32>) {
        if let AudioDecoder::Sniff(buf) = &mut self.audio {
            buf.extend_from_slice(payload);
            if buf.len() < SYNC_WORD.len() {
                return;
            }
            let head = std::mem::take(buf);
            let mut dec = if head.starts_with(&SYNC_WORD) {
                AudioAdpcm::Sync(SyncAdpcmDecoder::new())
            } else {
                AudioAdpcm::Raw(ImaAdpcmDecoder::new())
            };
            self.scratch.clear();
            dec.decode_into(&head, &mut self.scratch);
            self.audio = AudioDecoder::Adpcm(dec);
            out.extend(self.scratch.iter().map(|s| f32::from(*s) / 32768.0));
            return;
        }
        match &mut self.audio {
            AudioDecoder::S16 { carry } => protocol::decode_s16le(carry, payload, out),
            AudioDecoder::Adpcm(dec) => {
                self.scratch.clear();
                dec.decode_into(payload, &mut self.scratch);
                out.reserve(self.scratch.len());
                out.extend(self.scratch.iter().map(|s| f32::from(*s) / 32768.0));
            }
            AudioDecoder::Sniff(_) => {}
        }
    }

    fn on_audio(&mut self, payload: &[u8]) {
        let now = Utc::now();
        if !payload.is_empty() {
            self.last_audio = Instant::now();
        }
        let mut out = Vec::new();
        self.decode_audio(payload, &mut out);
        if out.is_empty() {
            return;
        }
        if !self.started {
            let n = out.len() as f64;
            let frame_start = now - chrono::Duration::nanoseconds((n / self.rate * 1e9) as i64);
            let mut first_time = frame_start;
            if let Some(t) = self.start_at {
                if now < t {
                    return;
                }
                let early_s = (t - frame_start).num_nanoseconds().unwrap_or(0) as f64 / 1e9;
                let drop = (early_s * self.rate).ceil().clamp(0.0, n) as usize;
                out.drain(..drop);
                first_time = frame_start + chrono::Duration::nanoseconds((drop as f64 / self.rate * 1e9) as i64);
                if out.is_empty() {
                    return;
                }
            }
            self.started = true;
            self.pending.push_back(CaptureChunk::Time(TimeMark {
                sample_index: 0,
                time: first_time,
                source: TimeSource::Host,
            }));
        }
        let remaining = self.expected.saturating_sub(self.delivered);
        if (out.len() as u64) > remaining {
            out.truncate(remaining as usize);
        }
        self.delivered += out.len() as u64;
        self.pending.push_back(CaptureChunk::Samples(SampleBlock::Real(out)));
    }

    fn on_fft(&mut self, payload: &[u8]) {
        if !self.started {
            return;
        }
        let (Some(center), Some(span)) = (self.sess.state.center_freq(), self.sess.state.samp_rate()) else {
            return;
        };
        let mut bins = Vec::new();
        if self.fft_adpcm {
            decode_fft_frame(payload, &mut bins);
        } else {
            protocol::decode_f32le(payload, &mut bins);
        }
        if bins.is_empty() {
            return;
        }
        self.pending.push_back(CaptureChunk::Spectrum(SpectrumFrame {
            sample_index: self.delivered,
            center_frequency_hz: center,
            span_hz: span,
            bins,
            unit: PowerUnit::Dbfs,
        }));
    }
}

/// Opens one capture.
pub(crate) async fn open(
    cfg: Arc<OpenWebRxConfig>,
    req: &CaptureRequest,
    cancel: CancellationToken,
) -> heimdall_core::Result<CaptureStream> {
    let id = cfg.info.id.to_string();
    let target = req.frequency_hz;
    if !target.is_finite() || target <= 0.0 {
        return Err(Error::invalid(
            "frequency_hz",
            format!("{target} Hz is not a positive frequency"),
        ));
    }
    let (low, high) = match req.passband.or(cfg.passband) {
        Some(p) if p.low_hz.is_finite() && p.high_hz.is_finite() && p.low_hz < p.high_hz => (p.low_hz, p.high_hz),
        Some(p) => {
            return Err(Error::invalid(
                "passband",
                format!("low {} Hz must be finite and below high {} Hz", p.low_hz, p.high_hz),
            ));
        }
        None => protocol::default_passband(&cfg.mode),
    };
    let hd = protocol::is_hd_mode(&cfg.mode);
    let rate = f64::from(if hd { cfg.hd_output_rate } else { cfg.output_rate });
    let expected = req.samples_at(rate);
    if expected == 0 {
        return Err(Error::invalid(
            "duration",
            format!("{:?} is less than one sample at {rate} Hz", req.duration),
        ));
    }

    if !cfg.limiter.acquire(&cfg.host, &cancel).await {
        return Err(OwrxError::Transport(TransportError::Cancelled).into_error(&id, 0));
    }
    let url = cfg.ws_url.to_string();
    let connector = cfg.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let connect = tokio::time::timeout(
        cfg.connect_timeout,
        tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, false, connector),
    );
    let ws = tokio::select! {
        _ = cancel.cancelled() => return Err(OwrxError::Transport(TransportError::Cancelled).into_error(&id, 0)),
        r = connect => match r {
            Err(_) => return Err(OwrxError::Transport(TransportError::Timeout { operation: "connect", after: cfg.connect_timeout }).into_error(&id, 0)),
            Ok(Err(source)) => return Err(OwrxError::Connect { url, source }.into_error(&id, 0)),
            Ok(Ok((ws, _resp))) => ws,
        },
    };
    tracing::debug!(receiver = %id, %url, "openwebrx connected");
    let mut sess = Session {
        stall: cfg.handshake_timeout,
        cfg: cfg.clone(),
        ws,
        state: ConfigState::default(),
        hello: None,
        profiles: Vec::new(),
        switch_requested: None,
    };
    let deadline = Instant::now() + cfg.handshake_timeout;
    let setup = tokio::select! {
        _ = cancel.cancelled() => Err(OwrxError::Transport(TransportError::Cancelled)),
        r = tokio::time::timeout_at(deadline, sess.setup(target, low, high)) => match r {
            Err(_) => Err(OwrxError::Transport(TransportError::Timeout { operation: "handshake", after: cfg.handshake_timeout })),
            Ok(r) => r,
        },
    };
    let setup = match (setup, &sess.switch_requested) {
        (Err(OwrxError::Transport(TransportError::Timeout { after, .. })), Some(profile)) => {
            Err(OwrxError::SwitchIgnored {
                profile: profile.clone(),
                after,
            })
        }
        (r, _) => r,
    };
    let offset = match setup {
        Ok(o) => o,
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_millis(500), sess.ws.close(None)).await;
            return Err(e.into_error(&id, 0));
        }
    };
    sess.stall = cfg.stall_timeout;

    let center = sess.state.center_freq().unwrap_or_default();
    let compression = sess.state.audio_compression().unwrap_or("adpcm").to_owned();
    let (audio, adpcm_kind) = if compression == "adpcm" {
        match sess.hello.as_ref().and_then(ServerHello::uses_sync_adpcm) {
            Some(true) => (AudioDecoder::Adpcm(AudioAdpcm::Sync(SyncAdpcmDecoder::new())), "sync"),
            Some(false) => (AudioDecoder::Adpcm(AudioAdpcm::Raw(ImaAdpcmDecoder::new())), "raw"),
            None => (AudioDecoder::Sniff(Vec::with_capacity(8)), "sniff"),
        }
    } else {
        (AudioDecoder::S16 { carry: None }, "none")
    };
    let fft_compression = sess.state.fft_compression().unwrap_or("none").to_owned();

    let mut extra = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        extra.insert(k.to_owned(), v);
    };
    put(
        "server_version",
        sess.hello
            .as_ref()
            .and_then(|h| h.version.clone())
            .map_or(Value::Null, Value::String),
    );
    put("mode", Value::from(cfg.mode.clone()));
    put("low_cut", Value::from(low));
    put("high_cut", Value::from(high));
    put("offset_freq", Value::from(offset));
    put("profile", sess.state.profile().map_or(Value::Null, Value::String));
    put("profile_center_freq", Value::from(center));
    put(
        "profile_samp_rate",
        Value::from(sess.state.samp_rate().unwrap_or_default()),
    );
    put("audio_compression", Value::from(compression));
    put("adpcm", Value::from(adpcm_kind));
    put("fft_compression", Value::from(fft_compression.clone()));
    if let Some(v) = sess.hello.as_ref().and_then(ServerHello::version_tuple)
        && v < (1, 2)
    {
        // csdr's get_power_c (1.1) sums every 5th sample over the full buffer (`libcsdr.c`).
        put("smeter_bias_db_estimate", Value::from(-7.0));
    }
    put(
        "rssi",
        Value::from("openwebrx smeter: 10*log10(linear channel power after the passband filter), dBFS, uncalibrated"),
    );

    let info = CaptureInfo {
        receiver: cfg.info.clone(),
        format: SampleFormat::RealF32,
        sample_rate_hz: rate,
        center_frequency_hz: center + offset as f64,
        target_frequency_hz: target,
        expected_samples: Some(expected),
        extra,
    };
    let capture = Capture {
        sess,
        id,
        target,
        low,
        high,
        hd,
        rate,
        expected,
        delivered: 0,
        start_at: req.start_at,
        started: false,
        audio,
        fft_adpcm: fft_compression == "adpcm",
        scratch: Vec::with_capacity(4096),
        pending: VecDeque::new(),
        cancel,
        done: false,
        last_audio: Instant::now(),
    };
    let chunks = pull_stream(capture);
    Ok(CaptureStream { info, chunks })
}
