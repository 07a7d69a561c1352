//! One receiver of a session: connect, stream through the analyser into the sink, retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

use super::ENGINE;
use super::events::EngineEvent;
use super::shared::Shared;
use crate::capture::{CaptureChunk, CaptureInfo, CaptureSummary, Gap, RssiAccumulator, TimeMark, TimeSource};
use crate::dsp::{Analysis, Analyzer, AnalyzerConfig, Psd};
use crate::error::{Error, ErrorReport};
use crate::metrics::SignalMetrics;
use crate::report::{ReceiverReport, ReceiverStatus, StoredObject};
use crate::request::CaptureRequest;
use crate::sink::CaptureWriter;
use crate::source::ReceiverSource;

/// Time marks and gaps kept per capture (more are counted in the log, not stored).
const MAX_MARKS: usize = 4096;

/// What one receiver task hands back to the session.
#[derive(Debug)]
pub(super) struct ReceiverOutcome {
    pub(super) report: ReceiverReport,
    pub(super) psd: Option<Psd>,
}

/// Which stage failed.
#[derive(Debug)]
enum Failure {
    Fetch(Error),
    Store(Error),
    Cancelled,
}

struct Captured {
    summary: CaptureSummary,
    metrics: Option<SignalMetrics>,
    psd: Option<Psd>,
    analysis_error: Option<Error>,
    objects: Vec<StoredObject>,
}

/// Builds the analyser for a capture (the seam between the engine and [`crate::dsp`]): see
/// [`AnalyzerConfig::for_capture`].
fn new_analyzer(info: &CaptureInfo) -> crate::Result<Analyzer> {
    Analyzer::new(AnalyzerConfig::for_capture(info))
}

pub(super) async fn run(
    shared: Arc<Shared>,
    source: Arc<dyn ReceiverSource>,
    permits: Arc<Semaphore>,
) -> ReceiverOutcome {
    let id = source.info().id.clone();
    let span = tracing::info_span!("receiver", receiver = %id, session = %shared.session_id);
    run_inner(shared, source, permits).instrument(span).await
}

async fn run_inner(shared: Arc<Shared>, source: Arc<dyn ReceiverSource>, permits: Arc<Semaphore>) -> ReceiverOutcome {
    let info = source.info().clone();
    let id = info.id.clone();
    let retry = &shared.engine.config.retry;
    let mut report = ReceiverReport::not_started(info);
    loop {
        let permit = tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => return ReceiverOutcome { report, psd: None },
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return ReceiverOutcome { report, psd: None },
            },
        };
        report.attempts += 1;
        let attempt = report.attempts;
        shared.emit(EngineEvent::ReceiverConnecting {
            receiver: id.clone(),
            attempt,
        });
        debug!(attempt, "connecting");
        let result = attempt_once(&shared, source.as_ref()).await;
        drop(permit);
        match result {
            Ok(c) => {
                info!(samples = c.summary.samples, attempts = attempt, "capture stored");
                report.status = ReceiverStatus::Stored;
                report.capture = Some(c.summary);
                report.metrics = c.metrics;
                report.objects = c.objects;
                report.error = c.analysis_error.as_ref().map(ErrorReport::from);
                return ReceiverOutcome { report, psd: c.psd };
            }
            Err(Failure::Cancelled) => {
                debug!("cancelled");
                report.status = ReceiverStatus::Cancelled;
                return ReceiverOutcome { report, psd: None };
            }
            Err(Failure::Store(e)) => {
                warn!(error = %e.chain(), "storage failed; capture discarded");
                let er = ErrorReport::from(&e);
                shared.emit(EngineEvent::Failed {
                    receiver: Some(id.clone()),
                    error: er.clone(),
                    will_retry: false,
                });
                report.status = ReceiverStatus::StoreFailed;
                report.error = Some(er);
                return ReceiverOutcome { report, psd: None };
            }
            Err(Failure::Fetch(e)) => {
                if shared.cancel.is_cancelled() {
                    report.status = ReceiverStatus::Cancelled;
                    return ReceiverOutcome { report, psd: None };
                }
                let will_retry = retry.should_retry(&e, attempt);
                let er = ErrorReport::from(&e);
                shared.emit(EngineEvent::Failed {
                    receiver: Some(id.clone()),
                    error: er.clone(),
                    will_retry,
                });
                if !will_retry {
                    warn!(error = %e.chain(), attempts = attempt, "fetch failed");
                    report.status = ReceiverStatus::FetchFailed;
                    report.error = Some(er);
                    return ReceiverOutcome { report, psd: None };
                }
                let after = retry.backoff(attempt, Some(&e));
                info!(error = %e.chain(), ?after, "retrying");
                report.retried_errors.push(er);
                shared.emit(EngineEvent::Retrying {
                    receiver: id.clone(),
                    attempt: attempt + 1,
                    after,
                });
                tokio::select! {
                    biased;
                    _ = shared.cancel.cancelled() => {
                        report.status = ReceiverStatus::Cancelled;
                        return ReceiverOutcome { report, psd: None };
                    }
                    _ = tokio::time::sleep(after) => {}
                }
            }
        }
    }
}

/// Aborts a writer, logging (not returning) a failure to abort.
async fn abort(writer: Box<dyn CaptureWriter>) {
    if let Err(e) = writer.abort().await {
        warn!(error = %e.chain(), "aborting the capture writer failed");
    }
}

fn time_until(t: DateTime<Utc>) -> Duration {
    (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// One attempt: connect, stream, store. On any failure the writer is aborted.
async fn attempt_once(shared: &Shared, source: &dyn ReceiverSource) -> Result<Captured, Failure> {
    let cfg = &shared.engine.config;
    let id = &source.info().id;
    let req: &CaptureRequest = &shared.capture_request;

    // Connect. A source that times its own open (a polite wait, then its own connect and
    // handshake timeouts) is not cut at the engine's connect timeout: that would fire inside
    // the wait, or before the source's own, more telling timeout.
    let open_limit = match source.self_timed_open() {
        None => cfg.connect_timeout,
        Some(own) => own
            .saturating_add(cfg.connect_timeout)
            .saturating_add(crate::source::SELF_TIMED_OPEN_SLACK),
    };
    let connect = tokio::time::timeout(open_limit, source.open(req, shared.cancel.child_token()));
    let mut stream = tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => return Err(Failure::Cancelled),
        r = connect => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Failure::Fetch(e)),
            Err(_) => return Err(Failure::Fetch(Error::Timeout {
                backend: ENGINE,
                target: id.to_string(),
                operation: "connect",
                after: open_limit,
            })),
        },
    };
    let info = stream.info.clone();
    shared.emit(EngineEvent::ReceiverConnected {
        receiver: id.clone(),
        info: Box::new(info.clone()),
    });
    let fs = info.sample_rate_hz;
    if !fs.is_finite() || fs <= 0.0 {
        return Err(Failure::Fetch(Error::Malformed {
            backend: ENGINE,
            origin: id.to_string(),
            reason: format!("the source reported a sample rate of {fs} Hz"),
        }));
    }
    let expected = info.expected_samples.unwrap_or_else(|| req.samples_at(fs));
    let bytes_per_sample = info.format.bytes_per_sample() as u64;
    let budget = req
        .start_at
        .map(time_until)
        .unwrap_or_default()
        .saturating_add(req.duration)
        .saturating_add(cfg.capture_timeout_margin);
    // A deadline beyond what the clock can represent is no deadline (one year is plenty).
    let deadline = Instant::now()
        .checked_add(budget)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400));

    // Begin storing.
    let mut writer = match shared.engine.sink.begin_capture(&shared.attempt, &info).await {
        Ok(w) => w,
        Err(e) => return Err(Failure::Store(e)),
    };
    let mut analysis = Analysing::new(&info);

    let mut samples = 0u64;
    let mut first_mark: Option<TimeMark> = None;
    let mut host_start: Option<DateTime<Utc>> = None;
    let mut marks: Vec<TimeMark> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    let mut rssi = RssiAccumulator::default();
    let mut spectra = 0u64;
    let mut last_progress = Instant::now();
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);

    while samples < expected {
        let item = tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => {
                abort(writer).await;
                return Err(Failure::Cancelled);
            }
            _ = &mut timer => {
                abort(writer).await;
                return Err(Failure::Fetch(Error::Timeout {
                    backend: ENGINE,
                    target: id.to_string(),
                    operation: "capture",
                    after: budget,
                }));
            }
            item = stream.chunks.next() => item,
        };
        let chunk = match item {
            None => {
                abort(writer).await;
                return Err(Failure::Fetch(Error::ConnectionLost {
                    backend: ENGINE,
                    target: id.to_string(),
                    received: samples,
                    reason: format!("the stream ended after {samples} of {expected} samples"),
                    source: None,
                }));
            }
            Some(Err(e)) => {
                abort(writer).await;
                if matches!(e, Error::Cancelled { .. }) && shared.cancel.is_cancelled() {
                    return Err(Failure::Cancelled);
                }
                return Err(Failure::Fetch(e));
            }
            Some(Ok(c)) => c,
        };
        let chunk = match chunk {
            CaptureChunk::Samples(mut block) => {
                if block.format() != info.format {
                    abort(writer).await;
                    return Err(Failure::Fetch(Error::Malformed {
                        backend: ENGINE,
                        origin: id.to_string(),
                        reason: format!(
                            "samples in {:?} in a capture announced as {:?}",
                            block.format(),
                            info.format
                        ),
                    }));
                }
                // Samples that are not numbers would be archived, analysed into NaN metrics
                // and committed as a success: the capture fails instead, nothing of it is kept.
                if let Some(at) = block.first_non_finite() {
                    abort(writer).await;
                    return Err(Failure::Fetch(Error::Malformed {
                        backend: ENGINE,
                        origin: id.to_string(),
                        reason: format!(
                            "sample {} is not a finite number (NaN or infinite); the capture is not archived",
                            samples.saturating_add(at as u64)
                        ),
                    }));
                }
                let remaining = expected - samples;
                if block.len() as u64 > remaining {
                    debug!(surplus = block.len() as u64 - remaining, "dropping surplus samples");
                    truncate(&mut block, remaining as usize);
                }
                if block.is_empty() {
                    continue;
                }
                if host_start.is_none() {
                    host_start = Some(Utc::now());
                }
                analysis.push(&block).await;
                samples += block.len() as u64;
                CaptureChunk::Samples(block)
            }
            CaptureChunk::Time(m) => {
                if first_mark.is_none() {
                    first_mark = Some(m);
                }
                if marks.len() < MAX_MARKS {
                    marks.push(m);
                }
                CaptureChunk::Time(m)
            }
            CaptureChunk::Rssi(r) => {
                rssi.push(&r);
                CaptureChunk::Rssi(r)
            }
            CaptureChunk::Gap(g) => {
                if gaps.len() < MAX_MARKS {
                    gaps.push(g);
                }
                CaptureChunk::Gap(g)
            }
            CaptureChunk::Spectrum(f) => {
                spectra += 1;
                CaptureChunk::Spectrum(f)
            }
        };
        if let Err(e) = writer.write(chunk).await {
            abort(writer).await;
            return Err(Failure::Store(e));
        }
        if last_progress.elapsed() >= cfg.progress_interval || samples >= expected {
            last_progress = Instant::now();
            shared.emit(EngineEvent::Progress {
                receiver: id.clone(),
                samples,
                expected,
                bytes: samples * bytes_per_sample,
            });
        }
    }
    // Closes the connection; later chunks (surplus) are not read.
    drop(stream);

    let (start_time, time_source) = match (first_mark, host_start) {
        (Some(m), _) => {
            let back = chrono::Duration::nanoseconds((m.sample_index as f64 / fs * 1e9).round() as i64);
            (m.time.checked_sub_signed(back).unwrap_or(m.time), m.source)
        }
        (None, Some(h)) => (h, TimeSource::Host),
        (None, None) => (Utc::now(), TimeSource::Host),
    };
    let start_skew_s = req
        .start_at
        .map(|s| {
            (start_time - s)
                .num_nanoseconds()
                .map_or(f64::NAN, |ns| ns as f64 * 1e-9)
        })
        .filter(|v| v.is_finite());
    let summary = CaptureSummary {
        info,
        samples,
        start_time,
        time_source,
        start_skew_s,
        time_marks: marks,
        gaps,
        rssi: rssi.summary(),
        spectra,
    };
    let (metrics, psd, analysis_error) = match analysis.finish().await {
        Ok(a) => (Some(a.metrics), Some(a.psd), None),
        Err(e) => {
            warn!(error = %e.chain(), "no metrics for this capture");
            (None, None, Some(e))
        }
    };
    shared.emit(EngineEvent::CaptureFinished {
        receiver: id.clone(),
        summary: Box::new(summary.clone()),
    });
    let objects = match writer.finish(&summary, metrics.as_ref()).await {
        Ok(o) => o,
        Err(e) => return Err(Failure::Store(e)),
    };
    shared.emit(EngineEvent::Stored {
        receiver: id.clone(),
        objects: objects.clone(),
    });
    Ok(Captured {
        summary,
        metrics,
        psd,
        analysis_error,
        objects,
    })
}

/// Sample rate from which analysis runs on a thread of its own, overlapping with storage.
const OFFLOAD_RATE_HZ: f64 = 250_000.0;

/// The analyser of one capture: inline for low rates, on a blocking thread fed through a
/// bounded channel for high rates (the copy of each block costs far less than the analysis
/// it moves off the storage path).
enum Analysing {
    Inline(Box<crate::Result<Analyzer>>),
    Worker {
        tx: Option<tokio::sync::mpsc::Sender<crate::capture::SampleBlock>>,
        join: tokio::task::JoinHandle<crate::Result<Analysis>>,
    },
}

impl Analysing {
    fn new(info: &CaptureInfo) -> Self {
        let analyzer = new_analyzer(info);
        match analyzer {
            Ok(mut a) if info.sample_rate_hz >= OFFLOAD_RATE_HZ => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::capture::SampleBlock>(4);
                let join = tokio::task::spawn_blocking(move || {
                    while let Some(b) = rx.blocking_recv() {
                        a.push(&b)?;
                    }
                    a.finish()
                });
                Analysing::Worker { tx: Some(tx), join }
            }
            other => Analysing::Inline(Box::new(other)),
        }
    }

    async fn push(&mut self, block: &crate::capture::SampleBlock) {
        match self {
            Analysing::Inline(a) => {
                if let Ok(an) = a.as_mut().as_mut()
                    && let Err(e) = an.push(block)
                {
                    **a = Err(e);
                }
            }
            Analysing::Worker { tx, .. } => {
                // A closed channel means the worker stopped on an error, reported by `finish`.
                if let Some(t) = tx
                    && t.send(block.clone()).await.is_err()
                {
                    *tx = None;
                }
            }
        }
    }

    async fn finish(self) -> crate::Result<Analysis> {
        match self {
            Analysing::Inline(a) => (*a)?.finish(),
            Analysing::Worker { tx, join } => {
                drop(tx);
                join.await.map_err(|e| Error::Generic {
                    backend: ENGINE,
                    source: format!("analysis task failed: {e}").into(),
                })?
            }
        }
    }
}

fn truncate(block: &mut crate::capture::SampleBlock, n: usize) {
    match block {
        crate::capture::SampleBlock::Complex(v) => v.truncate(n),
        crate::capture::SampleBlock::Real(v) => v.truncate(n),
    }
}
