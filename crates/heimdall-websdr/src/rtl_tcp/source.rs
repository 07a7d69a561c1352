//! [`RtlTcpSource`]: connect, check the header, tune, stream u8 IQ in bounded chunks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, ReceiverHealth, ReceiverInfo, ReceiverSource, Result,
    SampleBlock, SampleFormat, TimeMark, TimeSource,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::error::RtlError;
use super::protocol::{self, RtlHeader};
use crate::stream::{PullChunks, pull_stream};
use crate::transport::TransportError;

/// Largest number of samples in one [`CaptureChunk::Samples`] (64 Ki, 512 KiB as `Complex32`).
pub const CHUNK_SAMPLES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct RtlConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) sample_rate: f64,
    pub(crate) gain_tenths: Option<i32>,
    pub(crate) ppm: i32,
    pub(crate) rtl_agc: Option<bool>,
    pub(crate) settle: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

/// An rtl_tcp server, captured as complex IQ. Built by [`super::RtlTcpBuilder`].
#[derive(Debug)]
pub struct RtlTcpSource {
    info: ReceiverInfo,
    cfg: Arc<RtlConfig>,
}

impl fmt::Display for RtlTcpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rtl_tcp {} ({}:{})", self.info.id, self.cfg.host, self.cfg.port)
    }
}

impl RtlTcpSource {
    pub(crate) fn new(info: ReceiverInfo, cfg: RtlConfig) -> Self {
        RtlTcpSource {
            info,
            cfg: Arc::new(cfg),
        }
    }

    /// Connects and reads the header.
    async fn connect(&self) -> Result<(TcpStream, RtlHeader), RtlError> {
        let addr = format!("{}:{}", self.cfg.host, self.cfg.port);
        let to = self.cfg.connect_timeout;
        let work = async {
            let mut sock = TcpStream::connect(addr.as_str()).await.map_err(|source| {
                RtlError::Transport(TransportError::Connect {
                    addr: addr.clone(),
                    source: Box::new(source),
                })
            })?;
            let _ = sock.set_nodelay(true);
            let mut head = [0u8; protocol::HEADER_LEN];
            let mut got = 0;
            while got < head.len() {
                let n = sock.read(&mut head[got..]).await.map_err(|e| {
                    RtlError::Transport(TransportError::Closed {
                        received: 0,
                        reason: "reading the header failed".into(),
                        source: Some(Box::new(e)),
                    })
                })?;
                if n == 0 {
                    return Err(RtlError::Header(protocol::HeaderError::Truncated(got)));
                }
                got += n;
            }
            let h = protocol::parse_header(&head)?;
            Ok((sock, h))
        };
        tokio::time::timeout(to, work).await.map_err(|_| {
            RtlError::Transport(TransportError::Timeout {
                operation: "connect",
                after: to,
            })
        })?
    }
}

#[async_trait::async_trait]
impl ReceiverSource for RtlTcpSource {
    fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    async fn health(&self) -> Result<ReceiverHealth> {
        let (_sock, h) = self.connect().await.map_err(|e| e.into_core(self.info.id.as_str()))?;
        Ok(ReceiverHealth {
            version: Some(format!(
                "rtl_tcp, tuner {}, {} gain steps",
                h.tuner_name(),
                h.gain_count
            )),
            ..ReceiverHealth::up()
        })
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let target = self.info.id.as_str().to_owned();
        let rate = req.sample_rate_hz.unwrap_or(self.cfg.sample_rate);
        let bad = |m: String| RtlError::Transport(TransportError::InvalidRequest(m)).into_core(&target);
        if !protocol::is_valid_sample_rate(rate) {
            return Err(bad(format!(
                "rtl_tcp sample rate {rate} Hz is not within 225001..=300000 or 900001..=3200000"
            )));
        }
        let rate_u32 = rate.round() as u32;
        let rate = f64::from(rate_u32);
        let f = req.frequency_hz;
        if !f.is_finite() || f < 1.0 || f > f64::from(u32::MAX) || req.duration.is_zero() {
            return Err(bad(format!(
                "frequency {f} Hz must be within 1..=4294967295 and the duration positive"
            )));
        }
        let (mut sock, header) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RtlError::Transport(TransportError::Cancelled).into_core(&target)),
            r = self.connect() => r.map_err(|e| e.into_core(&target))?,
        };
        let mut cmds = Vec::with_capacity(6 * protocol::COMMAND_LEN);
        cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_SAMPLE_RATE, rate_u32));
        cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_FREQ, f.round() as u32));
        if self.cfg.ppm != 0 {
            cmds.extend_from_slice(&protocol::encode_command(
                protocol::CMD_SET_FREQ_CORRECTION,
                self.cfg.ppm as u32,
            ));
        }
        match self.cfg.gain_tenths {
            Some(g) => {
                cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_GAIN_MODE, 1));
                cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_GAIN, g as u32));
            }
            None => cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_GAIN_MODE, 0)),
        }
        if let Some(on) = self.cfg.rtl_agc {
            cmds.extend_from_slice(&protocol::encode_command(protocol::CMD_SET_AGC_MODE, u32::from(on)));
        }
        sock.write_all(&cmds).await.map_err(|e| {
            RtlError::Transport(TransportError::Closed {
                received: 0,
                reason: "sending the tuning commands failed".into(),
                source: Some(Box::new(e)),
            })
            .into_core(&target)
        })?;
        let expected = req.samples_at(rate);
        let mut extra = serde_json::Map::new();
        extra.insert("tuner".into(), header.tuner_name().into());
        extra.insert("gain_steps".into(), header.gain_count.into());
        extra.insert(
            "gain_db".into(),
            self.cfg
                .gain_tenths
                .map_or(serde_json::Value::from("auto"), |g| (f64::from(g) / 10.0).into()),
        );
        extra.insert("ppm".into(), self.cfg.ppm.into());
        let info = CaptureInfo {
            receiver: self.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: rate,
            center_frequency_hz: f.round(),
            target_frequency_hz: f,
            expected_samples: Some(expected),
            extra,
        };
        let reader = Reader {
            sock,
            buf: vec![0u8; 2 * CHUNK_SAMPLES].into_boxed_slice(),
            have: 0,
            discard: (self.cfg.settle.as_secs_f64() * rate).round() as u64,
            start_at: req.start_at,
            rate,
            expected,
            delivered: 0,
            started: false,
            pending: None,
            finished: expected == 0,
            done: false,
            cancel,
            read_timeout: self.cfg.read_timeout,
            target,
        };
        let chunks = pull_stream(reader);
        Ok(CaptureStream { info, chunks })
    }
}

struct Reader {
    sock: TcpStream,
    buf: Box<[u8]>,
    have: usize,
    discard: u64,
    start_at: Option<DateTime<Utc>>,
    rate: f64,
    expected: u64,
    delivered: u64,
    started: bool,
    pending: Option<CaptureChunk>,
    /// All samples read (the last chunk may still be pending).
    finished: bool,
    /// Nothing more to yield.
    done: bool,
    cancel: CancellationToken,
    read_timeout: Duration,
    target: String,
}

impl PullChunks for Reader {
    fn next_chunk(&mut self) -> impl Future<Output = Option<Result<CaptureChunk>>> + Send {
        self.next()
    }
}

impl Reader {
    async fn next(&mut self) -> Option<Result<CaptureChunk>> {
        crate::stream::pull_next!(
            self,
            ended: self.done || (self.finished && self.pending.is_none()),
            cancelled: RtlError::Transport(TransportError::Cancelled),
            read: fill
        )
    }

    /// Drops the first `pairs` IQ pairs of the buffer.
    fn consume(&mut self, pairs: usize) {
        let bytes = (pairs * 2).min(self.have);
        self.buf.copy_within(bytes..self.have, 0);
        self.have -= bytes;
    }

    async fn fill(&mut self) -> Result<CaptureChunk, RtlError> {
        loop {
            let remaining = self.expected - self.delivered;
            let want = (CHUNK_SAMPLES as u64).min(remaining) as usize;
            let pairs = self.have / 2;
            if self.discard == 0 && self.start_at.is_none_or(|_| self.started) && pairs >= want {
                let mut v = Vec::with_capacity(want);
                protocol::decode_u8_iq(&self.buf[..want * 2], &mut v);
                self.consume(want);
                self.delivered += want as u64;
                if self.delivered >= self.expected {
                    self.finished = true;
                }
                let chunk = CaptureChunk::Samples(SampleBlock::Complex(v));
                if !self.started {
                    self.started = true;
                    // The buffer's last pair arrived just now.
                    let behind = (pairs as f64 / self.rate * 1e9) as i64;
                    self.pending = Some(chunk);
                    return Ok(CaptureChunk::Time(TimeMark {
                        sample_index: 0,
                        time: Utc::now() - TimeDelta::nanoseconds(behind),
                        source: TimeSource::Host,
                    }));
                }
                return Ok(chunk);
            }
            if self.have == self.buf.len() {
                // Full buffer but nothing to emit yet: only while discarding.
                self.drop_unwanted();
                if self.have == self.buf.len() {
                    // Cannot happen (want ≤ buffer pairs), but never spin.
                    self.consume(pairs);
                }
                continue;
            }
            let n = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(RtlError::Transport(TransportError::Cancelled)),
                r = tokio::time::timeout(self.read_timeout, self.sock.read(&mut self.buf[self.have..])) => match r {
                    Err(_) => return Err(RtlError::Transport(TransportError::Timeout { operation: "capture", after: self.read_timeout })),
                    Ok(Err(e)) => return Err(RtlError::Transport(TransportError::Closed {
                        received: self.delivered,
                        reason: "read failed mid-capture".into(),
                        source: Some(Box::new(e)),
                    })),
                    Ok(Ok(n)) => n,
                },
            };
            if n == 0 {
                return Err(RtlError::Transport(TransportError::Closed {
                    received: self.delivered,
                    reason: "the server closed the connection mid-capture".into(),
                    source: None,
                }));
            }
            self.have += n;
            self.drop_unwanted();
        }
    }

    /// Applies the settle discard and the `start_at` discard to the buffered pairs.
    fn drop_unwanted(&mut self) {
        let pairs = self.have / 2;
        if self.discard > 0 {
            let d = (self.discard.min(pairs as u64)) as usize;
            self.consume(d);
            self.discard -= d as u64;
            return;
        }
        if let (false, Some(at)) = (self.started, self.start_at) {
            let now = Utc::now();
            // Pair k of the buffer was taken at now - (pairs - k) / rate.
            let late = (now - at).num_nanoseconds().unwrap_or(i64::MIN) as f64 * 1e-9;
            let keep = if late < 0.0 {
                0
            } else {
                ((late * self.rate).floor() as usize).min(pairs)
            };
            self.consume(pairs - keep);
            if keep > 0 {
                self.start_at = None;
            }
        }
    }
}
