//! Fixtures: receivers, captures, samples, metrics and reports for tests.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use num_complex::Complex32;

use crate::capture::{
    CaptureChunk, CaptureInfo, CaptureSummary, Gap, PowerUnit, RssiReading, SampleBlock, SampleFormat, TimeMark,
    TimeSource,
};
use crate::ids::{ReceiverId, SessionAttempt, SessionId};
use crate::metrics::SignalMetrics;
use crate::receiver::{GeoPosition, ReceiverInfo, ReceiverKind};
use crate::report::{Measurement, ReceiverReport, ReceiverStatus, SessionReport, SessionStatus};
use crate::request::AcquisitionRequest;
use crate::sink::IqSink;

/// A receiver description for tests.
pub fn test_receiver(id: &str) -> ReceiverInfo {
    ReceiverInfo::new(
        ReceiverId::new(id).expect("valid test id"),
        format!("Test receiver {id}"),
        ReceiverKind::Simulated,
        format!("sim://{id}"),
    )
    .with_position(GeoPosition {
        latitude: 45.0,
        longitude: 7.5,
        altitude_m: Some(250.0),
    })
}

/// A capture header for tests.
pub fn test_capture_info(id: &str, format: SampleFormat, samples: u64) -> CaptureInfo {
    CaptureInfo {
        receiver: test_receiver(id),
        format,
        sample_rate_hz: 12_000.0,
        center_frequency_hz: 145_500_000.0,
        target_frequency_hz: 145_500_000.0,
        expected_samples: Some(samples),
        extra: Default::default(),
    }
}

/// Deterministic test samples (a ramp plus a tone), `n` of them.
pub fn test_samples(format: SampleFormat, n: usize, seed: u32) -> SampleBlock {
    let s = seed as f32 * 0.001;
    match format {
        SampleFormat::ComplexF32 => SampleBlock::Complex(
            (0..n)
                .map(|i| Complex32::from_polar(0.5, i as f32 * 0.1 + s) + Complex32::new(i as f32 * 1e-6, -s))
                .collect(),
        ),
        SampleFormat::RealF32 => SampleBlock::Real((0..n).map(|i| (i as f32 * 0.05 + s).sin() * 0.5).collect()),
    }
}

pub(super) fn split(block: &SampleBlock, parts: usize) -> Vec<SampleBlock> {
    let n = block.len();
    let step = n.div_ceil(parts.max(1)).max(1);
    match block {
        SampleBlock::Complex(v) => v.chunks(step).map(|c| SampleBlock::Complex(c.to_vec())).collect(),
        SampleBlock::Real(v) => v.chunks(step).map(|c| SampleBlock::Real(c.to_vec())).collect(),
    }
}

/// Test metrics.
pub fn test_metrics(samples: u64, snr: Option<f64>) -> SignalMetrics {
    SignalMetrics {
        samples,
        sample_rate_hz: 12_000.0,
        snr_db: snr,
        frequency_offset_hz: snr.map(|_| 12.5),
        peak_frequency_hz: snr.map(|_| 12.5),
        signal_power_dbfs: snr.map(|s| s - 40.0),
        noise_power_dbfs: Some(-40.0),
        noise_floor_dbfs_per_hz: Some(-80.79),
        total_power_dbfs: Some(-20.0),
        dc_power_dbfs: None,
        clipped_fraction: 0.0,
        signal_power_dbm: None,
    }
}

pub(super) fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::microseconds(123_456)
}

/// The chunks of a test capture: a time mark, samples in several blocks, RSSI and a gap.
pub fn test_chunks(samples: &SampleBlock) -> Vec<CaptureChunk> {
    let mut v = vec![CaptureChunk::Time(TimeMark {
        sample_index: 0,
        time: start_time(),
        source: TimeSource::Gps,
    })];
    let blocks = split(samples, 3);
    let mut idx = 0u64;
    for (i, b) in blocks.into_iter().enumerate() {
        if i == 1 {
            v.push(CaptureChunk::Gap(Gap {
                sample_index: idx,
                missing_samples: 512,
            }));
        }
        v.push(CaptureChunk::Rssi(RssiReading {
            sample_index: idx,
            value: -93.5,
            unit: PowerUnit::Dbm,
        }));
        idx += b.len() as u64;
        v.push(CaptureChunk::Samples(b));
    }
    v
}

/// The summary matching [`test_chunks`].
pub fn test_summary(info: &CaptureInfo, samples: u64) -> CaptureSummary {
    CaptureSummary {
        info: info.clone(),
        samples,
        start_time: start_time(),
        time_source: TimeSource::Gps,
        start_skew_s: None,
        time_marks: vec![TimeMark {
            sample_index: 0,
            time: start_time(),
            source: TimeSource::Gps,
        }],
        gaps: vec![Gap {
            sample_index: samples / 3,
            missing_samples: 512,
        }],
        rssi: Some(crate::capture::RssiSummary {
            unit: PowerUnit::Dbm,
            count: 3,
            mean: -93.5,
            min: -93.5,
            max: -93.5,
        }),
        spectra: 0,
    }
}

pub(super) async fn write_capture(
    sink: &dyn IqSink,
    attempt: &SessionAttempt,
    id: &str,
    format: SampleFormat,
    n: usize,
) -> (ReceiverReport, SampleBlock) {
    let info = test_capture_info(id, format, n as u64);
    let samples = test_samples(format, n, n as u32);
    let session = attempt.session;
    let mut w = sink.begin_capture(attempt, &info).await.expect("begin_capture");
    for c in test_chunks(&samples) {
        w.write(c).await.expect("write chunk");
    }
    let summary = test_summary(&info, n as u64);
    let metrics = test_metrics(n as u64, Some(10.0));
    let objects = w.finish(&summary, Some(&metrics)).await.expect("finish");
    assert!(!objects.is_empty(), "finish must return the objects written");
    for o in &objects {
        assert!(
            o.key.contains(&session.to_string()) && o.key.contains(attempt.attempt.as_str()),
            "object key {} must be under the session and scoped by the attempt",
            o.key
        );
        assert_eq!(o.sha256.len(), 64, "sha256 of {} must be 64 hex chars", o.key);
        assert!(
            o.sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(o.size > 0, "object {} is empty", o.key);
    }
    let report = ReceiverReport {
        receiver: info.receiver.clone(),
        status: ReceiverStatus::Recorded,
        attempts: 1,
        capture: Some(summary),
        metrics: Some(metrics),
        objects,
        error: None,
        retried_errors: vec![],
    };
    (report, samples)
}

pub(super) fn test_report(session: SessionId, receivers: Vec<ReceiverReport>) -> SessionReport {
    let status = SessionStatus::from_receivers(receivers.iter().map(|r| &r.status));
    SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status,
        started_at: start_time(),
        finished_at: start_time() + chrono::Duration::seconds(2),
        receivers,
        committed: false,
    }
}

pub(super) fn assert_samples_eq(a: &SampleBlock, b: &SampleBlock) {
    assert_eq!(a.len(), b.len(), "sample count differs after read-back");
    assert!(a == b, "samples differ after read-back");
}

/// The report of a receiver whose capture of `samples` samples (summary from
/// [`test_summary`]) was stored as `objects` and recorded, for committing test sessions.
pub fn test_recorded(info: &CaptureInfo, samples: u64, objects: Vec<crate::report::StoredObject>) -> ReceiverReport {
    ReceiverReport {
        receiver: info.receiver.clone(),
        status: ReceiverStatus::Recorded,
        attempts: 1,
        capture: Some(test_summary(info, samples)),
        metrics: None,
        objects,
        error: None,
        retried_errors: vec![],
    }
}

/// A measurement for tests.
pub fn test_measurement(session: SessionId, receiver: &str, at: DateTime<Utc>, snr: Option<f64>) -> Measurement {
    Measurement {
        session_id: session,
        receiver_id: ReceiverId::new(receiver).expect("valid id"),
        captured_at: at,
        time_source: TimeSource::Gps,
        frequency_hz: 145.5e6,
        center_frequency_hz: 145.5e6 - 1000.0,
        sample_rate_hz: 12_000.0,
        samples: 120_000,
        duration_s: 10.0,
        metrics: test_metrics(120_000, snr),
        rssi: Some(-95.5),
        rssi_unit: Some(PowerUnit::Dbm),
        object_keys: vec![format!("sessions/{session}/{receiver}.npy")],
        extra: serde_json::json!({"attempts": 1}),
    }
}
