//! The producer of one capture's chunks: samples, S-meter readings, time marks and the
//! configured failure, paced or as fast as possible.

use std::time::Duration;

use chrono::{DateTime, Utc};
use heimdall_core::{CaptureChunk, PowerUnit, Result, RssiReading, SampleBlock, TimeMark, TimeSource};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::clocks::Clock;
use super::error;
use super::failures::Failure;
use super::signal::CapturePlan;

/// Produces one capture's chunks into a bounded channel (so generation overlaps with the
/// consumer's processing on another core).
pub(super) struct Generator {
    pub(super) plan: CapturePlan,
    pub(super) id: heimdall_core::ReceiverId,
    pub(super) clock: Clock,
    pub(super) failure: Failure,
    pub(super) chunk: usize,
    pub(super) full_scale_dbm: f64,
    pub(super) opened_at: tokio::time::Instant,
    pub(super) opened_utc: DateTime<Utc>,
    pub(super) out: mpsc::Sender<Result<CaptureChunk>>,
    pub(super) cancel: CancellationToken,
}

enum Sent {
    Ok,
    Stop,
}

impl Generator {
    async fn send(&self, item: Result<CaptureChunk>) -> Sent {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => {
                let _ = self.out.try_send(Err(error::cancelled(&self.id)));
                Sent::Stop
            }
            r = self.out.send(item) => if r.is_ok() { Sent::Ok } else { Sent::Stop },
        }
    }

    /// Waits until the wall clock reaches `t` (real-time pacing).
    async fn wait_until(&self, t: DateTime<Utc>) -> Sent {
        let ahead = (t - self.opened_utc).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => {
                let _ = self.out.try_send(Err(error::cancelled(&self.id)));
                Sent::Stop
            }
            _ = tokio::time::sleep_until(self.opened_at.checked_add(ahead).unwrap_or(self.opened_at)) => Sent::Ok,
        }
    }

    fn time_mark(&mut self, sample_index: u64) -> TimeMark {
        let true_time = self.plan.time_of(sample_index);
        let (time, source) = match self.clock {
            Clock::Gps => (true_time, TimeSource::Gps),
            Clock::GpsWithJitter { jitter } => (
                offset_by(true_time, self.plan.gps_mark_error_s(jitter)),
                TimeSource::Gps,
            ),
            Clock::Exact => (true_time, TimeSource::Simulated),
            Clock::Host { .. } => (offset_by(true_time, self.plan.host_clock_error_s), TimeSource::Host),
        };
        TimeMark {
            sample_index,
            time,
            source,
        }
    }

    fn cursor(&self) -> Cursor {
        let gps_every = self.plan.fs.round().max(1.0) as u64;
        Cursor {
            n0: 0,
            total: self.plan.expected_samples,
            drop_at: match self.failure {
                Failure::DropAfter { seconds } => Some((seconds.max(0.0) * self.plan.fs) as u64),
                _ => None,
            },
            gps_every,
            next_gps: gps_every,
            done: false,
        }
    }

    /// The next chunk's span `(n0, len, connection drops after it)`, or `None` when finished.
    fn next_span(&self, c: &Cursor) -> Option<(u64, u64, bool)> {
        if c.done || c.n0 >= c.total {
            return None;
        }
        let mut len = (c.total - c.n0).min(self.chunk as u64);
        let mut dropping = false;
        if let Some(d) = c.drop_at
            && c.n0 + len >= d
        {
            len = d.saturating_sub(c.n0);
            dropping = true;
        }
        Some((c.n0, len, dropping))
    }

    /// Appends the items of one span to `out` and advances the cursor.
    fn produce(&mut self, c: &mut Cursor, (n0, len, dropping): (u64, u64, bool), out: &mut Vec<Result<CaptureChunk>>) {
        if len > 0 {
            let (block, power) = self.plan.generate(n0, len as usize);
            out.push(Ok(CaptureChunk::Samples(SampleBlock::Complex(block))));
            out.push(Ok(CaptureChunk::Rssi(RssiReading {
                sample_index: n0,
                value: 10.0 * power.max(1e-30).log10() + self.full_scale_dbm,
                unit: PowerUnit::Dbm,
            })));
        }
        c.n0 = n0 + len;
        if dropping {
            c.done = true;
            out.push(Err(error::connection_lost(&self.id, c.n0)));
            return;
        }
        if self.failure == Failure::Garbage {
            c.done = true;
            out.push(Err(error::garbage(&self.id)));
            return;
        }
        if self.clock.is_gps() && c.n0 >= c.next_gps && c.n0 < c.total {
            c.next_gps = c.n0 + c.gps_every;
            out.push(Ok(CaptureChunk::Time(self.time_mark(c.n0))));
        }
    }

    /// As fast as possible, on a blocking thread: generation is CPU-bound, and a thread of its
    /// own lets it overlap with the consumer on another core.
    pub(super) fn run_blocking(mut self) {
        let mark = self.time_mark(0);
        if self.out.blocking_send(Ok(CaptureChunk::Time(mark))).is_err() {
            return;
        }
        let mut c = self.cursor();
        let mut items = Vec::with_capacity(4);
        while let Some(span) = self.next_span(&c) {
            if self.cancel.is_cancelled() {
                let _ = self.out.try_send(Err(error::cancelled(&self.id)));
                return;
            }
            self.produce(&mut c, span, &mut items);
            for item in items.drain(..) {
                if self.out.blocking_send(item).is_err() {
                    return;
                }
            }
        }
    }

    /// Real-time pacing and stalls, as an async task.
    pub(super) async fn run(mut self) {
        let mark = self.time_mark(0);
        if let Sent::Stop = self.send(Ok(CaptureChunk::Time(mark))).await {
            return;
        }
        if self.failure == Failure::Stall {
            // Hold the connection open without data until cancelled or dropped.
            tokio::select! {
                _ = self.cancel.cancelled() => { let _ = self.out.try_send(Err(error::cancelled(&self.id))); }
                _ = self.out.closed() => {}
            }
            return;
        }
        let mut c = self.cursor();
        let mut items = Vec::with_capacity(4);
        while let Some(span) = self.next_span(&c) {
            let due = self.plan.time_of(span.0 + span.1);
            if let Sent::Stop = self.wait_until(due).await {
                return;
            }
            self.produce(&mut c, span, &mut items);
            for item in items.drain(..) {
                if let Sent::Stop = self.send(item).await {
                    return;
                }
            }
        }
    }
}

/// `t` moved by `error_s` seconds (rounded to the nanosecond).
fn offset_by(t: DateTime<Utc>, error_s: f64) -> DateTime<Utc> {
    t.checked_add_signed(chrono::Duration::nanoseconds((error_s * 1e9).round() as i64))
        .unwrap_or(t)
}

/// Position of a generator in its capture.
struct Cursor {
    n0: u64,
    total: u64,
    drop_at: Option<u64>,
    gps_every: u64,
    next_gps: u64,
    done: bool,
}
