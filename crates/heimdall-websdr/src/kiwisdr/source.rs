//! [`KiwiSdrSource`]: the KiwiSDR IQ session (handshake, keepalive timer, SND decoding).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::SinkExt;
use futures::stream::{SplitSink, StreamExt};
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, Gap, Passband, PowerUnit, ReceiverHealth, ReceiverInfo,
    ReceiverSource, Result, RssiReading, SampleBlock, SampleFormat, TimeMark, TimeSource,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::error::KiwiError;
use super::protocol::{self, FrameTag, KiwiMsg};
use crate::stream::{ChannelChunks, pull_stream};
use crate::transport::TransportError;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long the client waits for `freq_offset` after a successful auth before assuming 0 kHz.
const FREQ_OFFSET_GRACE: Duration = Duration::from_millis(1500);
/// Capacity of the chunk channel between the session task and the consumer (frames × 3).
const CHANNEL_CAPACITY: usize = 96;

#[derive(Clone)]
pub(crate) struct KiwiConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) password: Option<String>,
    pub(crate) tlimit_password: Option<String>,
    pub(crate) gain_db: i32,
    pub(crate) passband: Passband,
    pub(crate) ident: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) busy_backoff: Duration,
    pub(crate) redirect_delay: Duration,
    pub(crate) little_endian: bool,
}

/// A KiwiSDR receiver, captured as complex IQ at the Kiwi's true sample rate. Built by
/// [`super::KiwiSdrBuilder`].
pub struct KiwiSdrSource {
    info: ReceiverInfo,
    cfg: Arc<KiwiConfig>,
    /// The HTTP client of [`ReceiverSource::health`], built at the first check and reused.
    status_client: tokio::sync::OnceCell<reqwest::Client>,
}

impl fmt::Debug for KiwiSdrSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KiwiSdrSource")
            .field("receiver", &self.info.id)
            .field("host", &self.cfg.host)
            .field("port", &self.cfg.port)
            .field("password", &self.cfg.password.as_ref().map(|_| "<redacted>"))
            .field("gain_db", &self.cfg.gain_db)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for KiwiSdrSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kiwisdr {} ({}:{})", self.info.id, self.cfg.host, self.cfg.port)
    }
}

impl KiwiSdrSource {
    pub(crate) fn new(info: ReceiverInfo, cfg: KiwiConfig) -> Self {
        KiwiSdrSource {
            info,
            cfg: Arc::new(cfg),
            status_client: tokio::sync::OnceCell::new(),
        }
    }

    fn target(&self) -> &str {
        self.info.id.as_str()
    }
}

/// What the handshake learned.
struct Session {
    ws: Ws,
    sample_rate: f64,
    freq_offset_khz: f64,
    audio_rate: u32,
    version: Option<String>,
    passband: (i32, i32),
    freq_khz: f64,
}

fn fresh_tstamp() -> u32 {
    let now = Utc::now().timestamp() as u64;
    (now.wrapping_add(u64::from(std::process::id()))
        .wrapping_add(u64::from(rand::random::<u16>()))
        & 0xffff_ffff) as u32
}

async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Ws, KiwiError> {
    let url = format!("ws://{host}:{port}/{}/SND", fresh_tstamp());
    let fut = tokio_tungstenite::connect_async(url.as_str());
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(KiwiError::Transport(TransportError::Timeout {
            operation: "connect",
            after: timeout,
        })),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => Err(KiwiError::HttpStatus {
            url,
            status: resp.status().as_u16(),
        }),
        Ok(Err(e)) => Err(KiwiError::Transport(TransportError::Connect {
            addr: url,
            source: Box::new(e),
        })),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), KiwiError> {
    tracing::trace!(target: "heimdall_websdr::kiwisdr", cmd = %text, "send");
    ws.send(Message::text(text)).await.map_err(|e| {
        KiwiError::Transport(TransportError::Closed {
            received: 0,
            reason: "send failed during the handshake".into(),
            source: Some(Box::new(e)),
        })
    })
}

/// The `key[=value]` items of a `MSG` frame.
type MsgItems<'a> = Vec<(&'a str, Option<&'a str>)>;

/// The items of a `MSG` frame, and its `reason_disabled` decoded (empty when absent: the
/// reason a `down` item gives).
fn msg_items(data: &[u8]) -> Result<(MsgItems<'_>, String), KiwiError> {
    let items = protocol::parse_msg(data).map_err(|e| KiwiError::Malformed(e.to_string()))?;
    let reason_disabled = items
        .iter()
        .find(|(k, _)| *k == "reason_disabled")
        .and_then(|(_, v)| *v)
        .map(protocol::percent_decode)
        .unwrap_or_default();
    Ok((items, reason_disabled))
}

/// Maps a terminal `MSG` item to an error (`None` for informational items).
fn terminal(msg: &KiwiMsg, reason_disabled: &str, busy_backoff: Duration) -> Option<KiwiError> {
    Some(match msg {
        KiwiMsg::TooBusy(n) => KiwiError::TooBusy {
            channels: *n,
            retry_after: busy_backoff,
        },
        KiwiMsg::Badp(code) if *code != 0 => KiwiError::BadPassword { code: *code },
        KiwiMsg::Down => KiwiError::Down {
            reason: reason_disabled.to_owned(),
        },
        KiwiMsg::IpLimit(d) => KiwiError::IpLimit { detail: d.clone() },
        KiwiMsg::KiwiKick(d) => KiwiError::Kicked { detail: d.clone() },
        KiwiMsg::InactivityTimeout(m) => KiwiError::InactivityTimeout { minutes: m.clone() },
        KiwiMsg::PasswordTimeout => KiwiError::PasswordTimeout,
        KiwiMsg::WbOnly => KiwiError::OtherRefusal {
            what: "this Kiwi runs wideband-only firmware (wb_only)",
        },
        KiwiMsg::ExclusiveUse => KiwiError::TooBusy {
            channels: None,
            retry_after: busy_backoff,
        },
        KiwiMsg::CampDisconnect => KiwiError::OtherRefusal {
            what: "the camped channel has gone (camp_disconnect)",
        },
        _ => return None,
    })
}

/// Runs the kiwirecorder session on an open socket: auth, AR OK, tuning. Returns once the tuning set is sent.
async fn handshake(mut ws: Ws, cfg: &KiwiConfig, req: &CaptureRequest) -> Result<Session, KiwiError> {
    send(
        &mut ws,
        protocol::cmd_auth(cfg.password.as_deref(), cfg.tlimit_password.as_deref()),
    )
    .await?;
    let deadline = Instant::now() + cfg.handshake_timeout;
    let mut authed_at: Option<Instant> = None;
    let mut sample_rate: Option<f64> = None;
    let mut audio_rate: Option<u32> = None;
    let mut ar_sent = false;
    let mut freq_offset: Option<f64> = None;
    let mut version_maj: Option<u32> = None;
    let mut version_min: Option<u32> = None;
    let mut bandwidth: Option<f64> = None;
    loop {
        // Ready to tune?
        if let (Some(at), Some(rate), true) = (authed_at, sample_rate, ar_sent)
            && (freq_offset.is_some() || Instant::now() >= at + FREQ_OFFSET_GRACE)
        {
            let foff = freq_offset.unwrap_or(0.0);
            let freq_khz = req.frequency_hz / 1000.0 - foff;
            let span_khz = bandwidth.map_or(32_000.0, |b| b / 1000.0);
            if !(0.0..=span_khz).contains(&freq_khz) {
                return Err(KiwiError::Transport(TransportError::InvalidRequest(format!(
                    "{} Hz is outside this Kiwi's tunable span (0..{} kHz after its freq_offset of {foff} kHz)",
                    req.frequency_hz, span_khz
                ))));
            }
            let pb = req.passband.unwrap_or(cfg.passband);
            let edge = (rate / 2.0 - 1.0).max(1.0);
            let lo = pb.low_hz.clamp(-edge, edge).ceil() as i32;
            let hi = pb.high_hz.clamp(-edge, edge).floor() as i32;
            if lo >= hi || (lo == 0 && hi == 0) {
                return Err(KiwiError::Transport(TransportError::InvalidRequest(format!(
                    "passband {}..{} Hz is empty at a {rate} Hz sample rate",
                    pb.low_hz, pb.high_hz
                ))));
            }
            send(&mut ws, protocol::cmd_ident(&cfg.ident)).await?;
            send(&mut ws, protocol::cmd_mod_iq(lo, hi, freq_khz)).await?;
            send(&mut ws, protocol::cmd_agc_manual(cfg.gain_db)).await?;
            send(&mut ws, protocol::CMD_COMPRESSION_OFF.to_owned()).await?;
            if cfg.little_endian {
                send(&mut ws, protocol::CMD_LITTLE_ENDIAN.to_owned()).await?;
            }
            send(&mut ws, protocol::CMD_KEEPALIVE.to_owned()).await?;
            return Ok(Session {
                ws,
                sample_rate: rate,
                freq_offset_khz: foff,
                audio_rate: audio_rate.unwrap_or(0),
                version: version_maj.map(|m| format!("{m}.{}", version_min.unwrap_or(0))),
                passband: (lo, hi),
                freq_khz,
            });
        }
        let wake = match authed_at {
            Some(at) if sample_rate.is_some() && ar_sent => deadline.min(at + FREQ_OFFSET_GRACE),
            _ => deadline,
        };
        let next = match tokio::time::timeout_at(wake, ws.next()).await {
            Err(_) if Instant::now() >= deadline => {
                return Err(KiwiError::Transport(TransportError::Timeout {
                    operation: "handshake",
                    after: cfg.handshake_timeout,
                }));
            }
            Err(_) => continue,
            Ok(n) => n,
        };
        let data = match next {
            None => {
                return Err(KiwiError::Transport(TransportError::Closed {
                    received: 0,
                    reason: "the Kiwi closed the connection during the handshake".into(),
                    source: None,
                }));
            }
            Some(Err(e)) => {
                return Err(KiwiError::Transport(TransportError::Closed {
                    received: 0,
                    reason: "WebSocket error during the handshake".into(),
                    source: Some(Box::new(e)),
                }));
            }
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Text(t))) => bytes::Bytes::from(t),
            Some(Ok(Message::Close(f))) => {
                return Err(KiwiError::Transport(TransportError::Closed {
                    received: 0,
                    reason: format!(
                        "the Kiwi closed the connection during the handshake{}",
                        f.map(|f| format!(" ({} {})", f.code, f.reason)).unwrap_or_default()
                    ),
                    source: None,
                }));
            }
            Some(Ok(_)) => continue,
        };
        match protocol::frame_tag(&data) {
            Ok(FrameTag::Msg) => {
                let (items, reason_disabled) = msg_items(&data)?;
                for (k, v) in &items {
                    if *k == "bandwidth" {
                        bandwidth = v
                            .and_then(|v| v.parse::<f64>().ok())
                            .filter(|b| b.is_finite() && *b > 0.0);
                        continue;
                    }
                    let m = protocol::classify(k, *v);
                    if let KiwiMsg::Redirect(target) = &m {
                        return Err(KiwiError::Redirect {
                            target: target.clone(),
                            followed: false,
                            retry_after: cfg.busy_backoff,
                        });
                    }
                    if let Some(e) = terminal(&m, &reason_disabled, cfg.busy_backoff) {
                        return Err(e);
                    }
                    match m {
                        KiwiMsg::SampleRate(r) => sample_rate = Some(r),
                        KiwiMsg::AudioRate(r) => audio_rate = Some(r),
                        KiwiMsg::Badp(0) => authed_at = Some(Instant::now()),
                        KiwiMsg::FreqOffsetKhz(f) => freq_offset = Some(f),
                        KiwiMsg::VersionMaj(v) => version_maj = Some(v),
                        KiwiMsg::VersionMin(v) => version_min = Some(v),
                        _ => {}
                    }
                }
                // Nothing but auth/keepalive may be sent before auth succeeds.
                if let (Some(_), Some(r), false) = (authed_at, audio_rate, ar_sent) {
                    send(&mut ws, protocol::cmd_ar_ok(r)).await?;
                    ar_sent = true;
                }
            }
            Ok(_) => {}
            Err(e) => return Err(KiwiError::Malformed(format!("during the handshake: {e}"))),
        }
    }
}

/// Host and port of a `redirect=` target (`http://host:port[/...]`).
fn redirect_endpoint(target: &str) -> Option<(String, u16)> {
    protocol::parse_endpoint(target.trim()).ok()
}

#[async_trait::async_trait]
impl ReceiverSource for KiwiSdrSource {
    fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    /// `open` is bounded by this source's connect timeout plus its handshake timeout (15 s by
    /// default, longer than the engine's 10 s connect timeout): the engine lets them fire.
    fn self_timed_open(&self) -> Option<Duration> {
        Some(self.cfg.connect_timeout.saturating_add(self.cfg.handshake_timeout))
    }

    async fn health(&self) -> Result<ReceiverHealth> {
        let url = format!("http://{}:{}/status", self.cfg.host, self.cfg.port);
        let client = self
            .status_client
            .get_or_try_init(|| async {
                reqwest::Client::builder()
                    .connect_timeout(self.cfg.connect_timeout)
                    .timeout(self.cfg.connect_timeout + self.cfg.read_timeout)
                    .build()
                    .map_err(|e| {
                        KiwiError::Transport(TransportError::Connect {
                            addr: url.clone(),
                            source: Box::new(e),
                        })
                        .into_core(self.target())
                    })
            })
            .await?;
        let resp = client.get(&url).send().await.map_err(|e| {
            if e.is_timeout() {
                KiwiError::Transport(TransportError::Timeout {
                    operation: "status",
                    after: self.cfg.connect_timeout,
                })
            } else {
                KiwiError::Transport(TransportError::Connect {
                    addr: url.clone(),
                    source: Box::new(e),
                })
            }
            .into_core(self.target())
        })?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(KiwiError::HttpStatus { url, status }.into_core(self.target()));
        }
        let text = resp.text().await.map_err(|e| {
            KiwiError::Transport(TransportError::Closed {
                received: 0,
                reason: "reading /status failed".into(),
                source: Some(Box::new(e)),
            })
            .into_core(self.target())
        })?;
        Ok(crate::discovery::KiwiStatus::parse(&text).to_health(self.cfg.password.is_some()))
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let target = self.target().to_owned();
        if !req.frequency_hz.is_finite() || req.frequency_hz <= 0.0 || req.duration.is_zero() {
            return Err(KiwiError::Transport(TransportError::InvalidRequest(format!(
                "frequency {} Hz and duration {:?} must be positive",
                req.frequency_hz, req.duration
            )))
            .into_core(&target));
        }
        let cfg = self.cfg.clone();
        let attempt = async {
            let mut endpoint = (cfg.host.clone(), cfg.port);
            let mut followed = false;
            loop {
                let ws = connect(&endpoint.0, endpoint.1, cfg.connect_timeout).await?;
                match handshake(ws, &cfg, req).await {
                    Err(KiwiError::Redirect { target, .. }) if !followed => {
                        let Some(next) = redirect_endpoint(&target) else {
                            return Err(KiwiError::Malformed(format!("unusable redirect target {target:?}")));
                        };
                        tracing::info!(target: "heimdall_websdr::kiwisdr", from = %endpoint.0, to = %target, "following redirect");
                        followed = true;
                        endpoint = next;
                        tokio::time::sleep(cfg.redirect_delay).await;
                    }
                    Err(KiwiError::Redirect {
                        target, retry_after, ..
                    }) => {
                        return Err(KiwiError::Redirect {
                            target,
                            followed: true,
                            retry_after,
                        });
                    }
                    other => return other.map(|s| (s, endpoint)),
                }
            }
        };
        let (session, endpoint) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(KiwiError::Transport(TransportError::Cancelled).into_core(&target)),
            r = attempt => r.map_err(|e| e.into_core(&target))?,
        };
        let expected = req.samples_at(session.sample_rate);
        let mut extra = serde_json::Map::new();
        extra.insert("mode".into(), "iq".into());
        extra.insert("manual_gain_db".into(), cfg.gain_db.into());
        extra.insert("agc".into(), false.into());
        extra.insert("freq_offset_khz".into(), session.freq_offset_khz.into());
        extra.insert("tuned_khz".into(), format!("{:.3}", session.freq_khz).into());
        extra.insert(
            "passband_hz".into(),
            serde_json::json!([session.passband.0, session.passband.1]),
        );
        extra.insert("nominal_audio_rate".into(), session.audio_rate.into());
        extra.insert("endpoint".into(), format!("{}:{}", endpoint.0, endpoint.1).into());
        if let Some(v) = &session.version {
            extra.insert("server_version".into(), v.clone().into());
        }
        let info = CaptureInfo {
            receiver: self.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: session.sample_rate,
            center_frequency_hz: req.frequency_hz,
            target_frequency_hz: req.frequency_hz,
            expected_samples: Some(expected),
            extra,
        };
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let run = Run {
            target: target.clone(),
            rate: session.sample_rate,
            expected,
            start_at: req.start_at,
            read_timeout: cfg.read_timeout,
            keepalive: cfg.keepalive_interval,
            busy_backoff: cfg.busy_backoff,
        };
        tokio::spawn(run.run(session.ws, tx, cancel.clone()));
        Ok(CaptureStream {
            info,
            chunks: pull_stream(ChannelChunks::new(
                rx,
                cancel,
                KiwiError::Transport(TransportError::Cancelled).into_core(&target),
            )),
        })
    }
}

struct Run {
    target: String,
    rate: f64,
    expected: u64,
    start_at: Option<DateTime<Utc>>,
    read_timeout: Duration,
    keepalive: Duration,
    busy_backoff: Duration,
}

enum Flow {
    Continue,
    Done,
}

/// Per-capture decoding state.
struct Decoder {
    rate: f64,
    expected: u64,
    start_at: Option<DateTime<Utc>>,
    delivered: u64,
    first_dropped: bool,
    next_seq: u32,
    started: bool,
    last_solution: Option<u8>,
}

impl Decoder {
    /// Handles one `SND` frame, pushing chunks through `emit`.
    fn snd(&mut self, data: &[u8], out: &mut Vec<CaptureChunk>) -> Result<Flow, KiwiError> {
        let f = protocol::parse_snd(data).map_err(|e| KiwiError::Malformed(e.to_string()))?;
        if !f.is_iq() || f.flags & protocol::FLAG_COMPRESSED != 0 {
            return Err(KiwiError::Malformed(
                protocol::FrameError::NotIq { flags: f.flags }.to_string(),
            ));
        }
        if !self.first_dropped {
            // The first packet may hold the previous user's data (the Kiwi does not clear its buffer).
            self.first_dropped = true;
            self.next_seq = f.seq.wrapping_add(1);
            return Ok(Flow::Continue);
        }
        let n = f.iq_len();
        let lost_frames = f.seq.wrapping_sub(self.next_seq);
        if lost_frames >= 1 << 31 {
            tracing::warn!(target: "heimdall_websdr::kiwisdr", seq = f.seq, expected = self.next_seq, "out-of-order SND packet dropped");
            return Ok(Flow::Continue);
        }
        self.next_seq = f.seq.wrapping_add(1);
        if lost_frames > 0 && self.started {
            out.push(CaptureChunk::Gap(Gap {
                sample_index: self.delivered,
                missing_samples: u64::from(lost_frames) * protocol::IQ_SAMPLES_PER_FRAME as u64,
            }));
        }
        let now = Utc::now();
        let gps_time = f.gps.and_then(|g| protocol::gps_to_utc(&g, now));
        let (t0, source) = match gps_time {
            Some(t) => (t, TimeSource::Gps),
            None => (
                now - TimeDelta::nanoseconds((n as f64 / self.rate * 1e9) as i64),
                TimeSource::Host,
            ),
        };
        let mut skip = 0usize;
        if !self.started
            && let Some(sa) = self.start_at
        {
            let ahead = (sa - t0).num_nanoseconds().unwrap_or(i64::MAX) as f64 * 1e-9;
            if ahead > 0.0 {
                let s = (ahead * self.rate).ceil();
                if s >= n as f64 {
                    return Ok(Flow::Continue);
                }
                skip = s as usize;
            }
        }
        let solution = f.gps.map(|g| g.last_gps_solution);
        let at = |k: usize| t0 + TimeDelta::nanoseconds((k as f64 / self.rate * 1e9) as i64);
        if !self.started {
            self.started = true;
            out.push(CaptureChunk::Time(TimeMark {
                sample_index: 0,
                time: at(skip),
                source,
            }));
        } else if source == TimeSource::Gps
            && let (Some(prev), Some(cur)) = (self.last_solution, solution)
            && cur < prev
        {
            // A fresh GPS solution: an anchor for the time model (TDoA).
            out.push(CaptureChunk::Time(TimeMark {
                sample_index: self.delivered,
                time: t0,
                source,
            }));
        }
        self.last_solution = solution;
        out.push(CaptureChunk::Rssi(RssiReading {
            sample_index: self.delivered,
            value: f.rssi_dbm(),
            unit: PowerUnit::Dbm,
        }));
        let remaining = self.expected - self.delivered;
        let take = ((n - skip) as u64).min(remaining) as usize;
        let bytes = f.payload.get(skip * 4..(skip + take) * 4).unwrap_or(&[]);
        let mut v = Vec::with_capacity(take);
        protocol::decode_iq_i16(bytes, f.little_endian(), &mut v);
        self.delivered += v.len() as u64;
        if !v.is_empty() {
            out.push(CaptureChunk::Samples(SampleBlock::Complex(v)));
        }
        Ok(if self.delivered >= self.expected {
            Flow::Done
        } else {
            Flow::Continue
        })
    }
}

impl Run {
    async fn run(self, ws: Ws, tx: mpsc::Sender<Result<CaptureChunk>>, cancel: CancellationToken) {
        let (sink, mut stream) = ws.split();
        let stop = CancellationToken::new();
        let writer = tokio::spawn(keepalive(sink, self.keepalive, stop.clone()));
        let mut dec = Decoder {
            rate: self.rate,
            expected: self.expected,
            start_at: self.start_at,
            delivered: 0,
            first_dropped: false,
            next_seq: 0,
            started: false,
            last_solution: None,
        };
        let mut out: Vec<CaptureChunk> = Vec::with_capacity(4);
        let result: Result<(), KiwiError> = async {
            if self.expected == 0 {
                return Ok(());
            }
            loop {
                let next = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(KiwiError::Transport(TransportError::Cancelled)),
                    _ = tx.closed() => return Ok(()),
                    n = tokio::time::timeout(self.read_timeout, stream.next()) => n,
                };
                let data = match next {
                    Err(_) => {
                        return Err(KiwiError::Transport(TransportError::Timeout {
                            operation: "capture",
                            after: self.read_timeout,
                        }));
                    }
                    Ok(None) => {
                        return Err(KiwiError::Transport(TransportError::Closed {
                            received: dec.delivered,
                            reason: "the Kiwi closed the connection mid-capture".into(),
                            source: None,
                        }));
                    }
                    Ok(Some(Err(e))) => {
                        return Err(KiwiError::Transport(TransportError::Closed {
                            received: dec.delivered,
                            reason: "WebSocket error mid-capture".into(),
                            source: Some(Box::new(e)),
                        }));
                    }
                    Ok(Some(Ok(Message::Binary(b)))) => b,
                    Ok(Some(Ok(Message::Text(t)))) => bytes::Bytes::from(t),
                    Ok(Some(Ok(Message::Close(f)))) => {
                        return Err(KiwiError::Transport(TransportError::Closed {
                            received: dec.delivered,
                            reason: format!(
                                "the Kiwi closed the connection mid-capture{}",
                                f.map(|f| format!(" ({} {})", f.code, f.reason)).unwrap_or_default()
                            ),
                            source: None,
                        }));
                    }
                    Ok(Some(Ok(_))) => continue,
                };
                let flow = match protocol::frame_tag(&data) {
                    Ok(FrameTag::Snd) => dec.snd(&data, &mut out)?,
                    Ok(FrameTag::Msg) => {
                        let (items, reason_disabled) = msg_items(&data)?;
                        for (k, v) in &items {
                            let m = protocol::classify(k, *v);
                            if let KiwiMsg::Redirect(target) = m {
                                return Err(KiwiError::Redirect {
                                    target,
                                    followed: false,
                                    retry_after: self.busy_backoff,
                                });
                            }
                            if let Some(e) = terminal(&m, &reason_disabled, self.busy_backoff) {
                                return Err(e);
                            }
                        }
                        Flow::Continue
                    }
                    Ok(_) => Flow::Continue,
                    Err(e) => return Err(KiwiError::Malformed(e.to_string())),
                };
                for c in out.drain(..) {
                    if tx.send(Ok(c)).await.is_err() {
                        return Ok(());
                    }
                }
                if let Flow::Done = flow {
                    return Ok(());
                }
            }
        }
        .await;
        stop.cancel();
        if let Err(e) = result {
            tracing::debug!(target: "heimdall_websdr::kiwisdr", receiver = %self.target, error = %e, "capture ended");
            let _ = tx.send(Err(e.into_core(&self.target))).await;
        }
        // Let the writer send its Close frame, then drop the socket.
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        drop(stream);
    }
}

/// Sends `SET keepalive` every `every` until `stop`, then closes the socket.
async fn keepalive(mut sink: SplitSink<Ws, Message>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                if sink.send(Message::text(protocol::CMD_KEEPALIVE)).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.close().await;
}
