//! [`HttpIqSource`]: `GET {base}/iq?tune=&rate=`, streamed int16 LE IQ.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, ReceiverHealth, ReceiverInfo, ReceiverSource, Result,
    SampleBlock, SampleFormat, TimeMark, TimeSource,
};
use tokio_util::sync::CancellationToken;

use super::error::HttpIqError;
use super::protocol::{self, I16LeIqDecoder};
use crate::stream::{PullChunks, pull_stream};
use crate::transport::TransportError;

#[derive(Debug, Clone)]
pub(crate) struct HttpIqConfig {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) sample_rate: f64,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

/// A receiver speaking the HTTP IQ contract. Built by [`super::HttpIqBuilder`].
#[derive(Debug)]
pub struct HttpIqSource {
    info: ReceiverInfo,
    cfg: Arc<HttpIqConfig>,
}

impl fmt::Display for HttpIqSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http_iq {} ({})", self.info.id, self.cfg.base)
    }
}

impl HttpIqSource {
    pub(crate) fn new(info: ReceiverInfo, cfg: HttpIqConfig) -> Self {
        HttpIqSource {
            info,
            cfg: Arc::new(cfg),
        }
    }

    async fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::Response, HttpIqError> {
        let to = self.cfg.connect_timeout + self.cfg.response_timeout;
        let fut = self.cfg.client.request(method, url).send();
        match tokio::time::timeout(to, fut).await {
            Err(_) => Err(HttpIqError::Transport(TransportError::Timeout {
                operation: "response",
                after: to,
            })),
            Ok(Err(source)) => Err(HttpIqError::Connect {
                url: url.to_owned(),
                source,
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }
}

fn status_error(url: &str, resp: &reqwest::Response) -> HttpIqError {
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    HttpIqError::Status {
        url: url.to_owned(),
        status: resp.status().as_u16(),
        retry_after,
    }
}

#[async_trait::async_trait]
impl ReceiverSource for HttpIqSource {
    fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    /// The old service's liveness check: `HEAD` the base URL, then `GET` it if `HEAD` fails.
    async fn health(&self) -> Result<ReceiverHealth> {
        let target = self.info.id.as_str();
        let base = self.cfg.base.as_str();
        let head = self.request(reqwest::Method::HEAD, base).await;
        let head_detail = match &head {
            Ok(r) if r.status().as_u16() < 400 => return Ok(ReceiverHealth::up()),
            Ok(r) => format!("HEAD {}", r.status().as_u16()),
            Err(e) => format!("HEAD failed: {e}"),
        };
        match self.request(reqwest::Method::GET, base).await {
            Ok(r) if r.status().as_u16() < 400 => Ok(ReceiverHealth::up()),
            Ok(r) => Ok(ReceiverHealth {
                available: false,
                detail: format!("{head_detail}; GET {}", r.status().as_u16()),
                ..ReceiverHealth::up()
            }),
            Err(e) => Err(e.into_core(target)),
        }
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let target = self.info.id.as_str().to_owned();
        let rate = req.sample_rate_hz.unwrap_or(self.cfg.sample_rate).round();
        let f = req.frequency_hz;
        if !f.is_finite() || f < 1.0 || !(1.0..=1e9).contains(&rate) || req.duration.is_zero() {
            return Err(HttpIqError::Transport(TransportError::InvalidRequest(format!(
                "frequency {f} Hz, rate {rate} Hz and duration {:?} must be positive",
                req.duration
            )))
            .into_core(&target));
        }
        let url = protocol::iq_url(&self.cfg.base, f.round() as u64, rate as u64);
        let resp = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(HttpIqError::Transport(TransportError::Cancelled).into_core(&target)),
            r = self.request(reqwest::Method::GET, &url) => r.map_err(|e| e.into_core(&target))?,
        };
        if !resp.status().is_success() {
            return Err(status_error(&url, &resp).into_core(&target));
        }
        if let Some(ct) = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            && (ct.starts_with("text/") || ct.starts_with("application/json"))
        {
            return Err(
                HttpIqError::Malformed(format!("{url} answered Content-Type {ct:?}, not int16 IQ")).into_core(&target),
            );
        }
        let expected = req.samples_at(rate);
        let mut extra = serde_json::Map::new();
        extra.insert("url".into(), url.clone().into());
        let info = CaptureInfo {
            receiver: self.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: rate,
            center_frequency_hz: f.round(),
            target_frequency_hz: f,
            expected_samples: Some(expected),
            extra,
        };
        let body = Body {
            bytes: resp.bytes_stream().boxed(),
            dec: I16LeIqDecoder::new(),
            rate,
            expected,
            delivered: 0,
            start_at: req.start_at,
            started: false,
            pending: None,
            done: expected == 0,
            cancel,
            read_timeout: self.cfg.read_timeout,
            target,
        };
        let chunks = pull_stream(body);
        Ok(CaptureStream { info, chunks })
    }
}

struct Body {
    bytes: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    dec: I16LeIqDecoder,
    rate: f64,
    expected: u64,
    delivered: u64,
    start_at: Option<DateTime<Utc>>,
    started: bool,
    pending: Option<CaptureChunk>,
    done: bool,
    cancel: CancellationToken,
    read_timeout: Duration,
    target: String,
}

impl PullChunks for Body {
    fn next_chunk(&mut self) -> impl Future<Output = Option<Result<CaptureChunk>>> + Send {
        self.next()
    }
}

impl Body {
    async fn next(&mut self) -> Option<Result<CaptureChunk>> {
        crate::stream::pull_next!(
            self,
            ended: self.pending.is_none() && self.done,
            cancelled: HttpIqError::Transport(TransportError::Cancelled),
            read: read
        )
    }

    async fn read(&mut self) -> Result<CaptureChunk, HttpIqError> {
        loop {
            let item = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(HttpIqError::Transport(TransportError::Cancelled)),
                r = tokio::time::timeout(self.read_timeout, self.bytes.next()) => r.map_err(|_| HttpIqError::Transport(TransportError::Timeout {
                    operation: "capture",
                    after: self.read_timeout,
                }))?,
            };
            let bytes = match item {
                None => {
                    let tail = self.dec.pending_bytes();
                    return Err(HttpIqError::Transport(TransportError::Closed {
                        received: self.delivered,
                        reason: format!(
                            "the body ended after {} of {} samples{}",
                            self.delivered,
                            self.expected,
                            if tail > 0 {
                                format!(" and {tail} bytes of a partial sample")
                            } else {
                                String::new()
                            }
                        ),
                        source: None,
                    }));
                }
                Some(Err(e)) => {
                    return Err(HttpIqError::Transport(TransportError::Closed {
                        received: self.delivered,
                        reason: "reading the body failed".into(),
                        source: Some(Box::new(e)),
                    }));
                }
                Some(Ok(b)) => b,
            };
            let remaining = (self.expected - self.delivered) as usize;
            let mut v = Vec::new();
            self.dec.push(
                &bytes,
                &mut v,
                if self.start_at.is_some() { usize::MAX } else { remaining },
            );
            if let Some(at) = self.start_at {
                // The chunk's last sample arrived now; drop what was taken before `at`.
                let late = (Utc::now() - at).num_nanoseconds().unwrap_or(i64::MIN) as f64 * 1e-9;
                let keep = if late < 0.0 {
                    0
                } else {
                    ((late * self.rate).floor() as usize).min(v.len())
                };
                v.drain(..v.len() - keep);
                v.truncate(remaining);
                if keep > 0 {
                    self.start_at = None;
                }
            }
            if v.is_empty() {
                continue;
            }
            let n = v.len();
            self.delivered += n as u64;
            if self.delivered >= self.expected {
                // Dropping the body stream closes the connection.
                self.done = true;
                self.bytes = futures::stream::empty().boxed();
            }
            let chunk = CaptureChunk::Samples(SampleBlock::Complex(v));
            if !self.started {
                self.started = true;
                self.pending = Some(chunk);
                let behind = (n as f64 / self.rate * 1e9) as i64;
                return Ok(CaptureChunk::Time(TimeMark {
                    sample_index: 0,
                    time: Utc::now() - TimeDelta::nanoseconds(behind),
                    source: TimeSource::Host,
                }));
            }
            return Ok(chunk);
        }
    }
}
