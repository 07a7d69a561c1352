//! Locating an archived session: its captures become [`heimdall_locate::ReceiverCapture`]s
//! (the one conversion from Heimdall's captures to the localization's input), the result is
//! kept with the session (`localization.json`, written once) and in the metrics database (the
//! `localizations` table).
//!
//! | capture | localization input |
//! |---|---|
//! | `time_source` GPS or simulated | [`ClockSource::Gps`], with the GPS / simulated time marks |
//! | `time_source` host | [`ClockSource::Host`] (RSSI only; TDoA refuses it with the reason) |
//! | time mark (`sample_index`, UTC time) | [`TimeMark`] (`sample`, Unix `seconds`, `nanos`, no fix age) |
//! | receiver position (WGS84, altitude optional) | [`GeoPoint`] (altitude 0 when unknown) |
//! | `sample_rate_hz`, `center_frequency_hz` | `sample_rate_hz`, `centre_frequency_hz` |
//! | gaps (lost samples) | zeros in their place, time marks shifted, so the timeline stays whole |
//!
//! Receivers that cannot take part (not stored, audio without IQ, no position, unreadable) are
//! listed in the result's `stations_rejected` with the reason.

use std::fmt;

use heimdall_core::{
    CaptureChunk, CaptureStream, CaptureSummary, Complex32, Error, IqArchive, LocalizationRecord, LocalizationStore,
    SampleBlock, SessionId, TimeSource,
};
use heimdall_locate::{ClockSource, GeoPoint, LocateError, LocateOptions, ReceiverCapture, Rejected, TimeMark, locate};
use heimdall_storage::{ArchiveSink, LocalizationDocument};

/// Most samples a capture may grow to when its gaps are filled (a capture that claims more lost
/// samples than this is refused rather than allocated).
pub const MAX_FILLED_SAMPLES: u64 = 1 << 30;

/// One archived capture as the localization's input. A capture without a receiver position or
/// without IQ samples (audio) is an [`Error::InvalidInput`] naming the receiver.
pub fn receiver_capture(summary: &CaptureSummary, samples: SampleBlock) -> Result<ReceiverCapture, Error> {
    let info = &summary.info;
    let id = info.receiver.id.to_string();
    let position = info
        .receiver
        .position
        .ok_or_else(|| Error::invalid("receiver position", format!("{id} has no position")))?;
    let SampleBlock::Complex(samples) = samples else {
        return Err(Error::invalid(
            "samples",
            format!("{id} delivered audio, not IQ: nothing to time"),
        ));
    };
    let clock = match summary.time_source {
        TimeSource::Gps | TimeSource::Simulated => ClockSource::Gps,
        _ => ClockSource::Host,
    };
    let mut gaps: Vec<(u64, u64)> = summary
        .gaps
        .iter()
        .filter(|g| g.missing_samples > 0 && g.sample_index <= samples.len() as u64)
        .map(|g| (g.sample_index, g.missing_samples))
        .collect();
    gaps.sort_unstable();
    let lost: u64 = gaps.iter().fold(0u64, |a, g| a.saturating_add(g.1));
    if (samples.len() as u64).saturating_add(lost) > MAX_FILLED_SAMPLES {
        return Err(Error::invalid(
            "gaps",
            format!("{id}: {lost} lost samples would grow the capture past {MAX_FILLED_SAMPLES}"),
        ));
    }
    let lost_before = |idx: u64| -> u64 { gaps.iter().filter(|g| g.0 <= idx).map(|g| g.1).sum() };
    let marks = summary
        .time_marks
        .iter()
        .filter(|m| clock == ClockSource::Host || m.source != TimeSource::Host)
        .map(|m| TimeMark {
            sample: m.sample_index + lost_before(m.sample_index),
            seconds: m.time.timestamp(),
            nanos: f64::from(m.time.timestamp_subsec_nanos()),
            fix_age_s: None,
        })
        .collect();
    let samples = if gaps.is_empty() {
        samples
    } else {
        let mut out = Vec::with_capacity(samples.len() + lost as usize);
        let mut from = 0usize;
        for (at, n) in &gaps {
            let at = *at as usize;
            out.extend_from_slice(&samples[from..at]);
            out.resize(out.len() + *n as usize, Complex32::new(0.0, 0.0));
            from = at;
        }
        out.extend_from_slice(&samples[from..]);
        out
    };
    Ok(ReceiverCapture {
        id,
        position: GeoPoint {
            latitude: position.latitude,
            longitude: position.longitude,
            altitude_m: position.altitude_m.unwrap_or(0.0),
        },
        clock,
        sample_rate_hz: info.sample_rate_hz,
        centre_frequency_hz: info.center_frequency_hz,
        samples,
        marks,
    })
}

/// A live capture (a source's stream read to its end) as the localization's input, through the
/// same conversion as an archived one ([`receiver_capture`]): locate straight from receivers
/// without archiving. Samples are gathered in memory; the stream's first error is returned.
pub async fn capture_from_stream(stream: CaptureStream) -> Result<ReceiverCapture, Error> {
    let CaptureStream { info, mut chunks } = stream;
    let (mut samples, mut marks, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
        match chunk? {
            CaptureChunk::Samples(SampleBlock::Complex(v)) => samples.extend(v),
            CaptureChunk::Samples(SampleBlock::Real(_)) => {
                return Err(Error::invalid(
                    "samples",
                    format!("{} delivered audio, not IQ: nothing to time", info.receiver.id),
                ));
            }
            CaptureChunk::Time(m) => marks.push(m),
            CaptureChunk::Gap(g) => gaps.push(g),
            _ => {}
        }
    }
    let first = marks.first().copied();
    let summary = CaptureSummary {
        samples: samples.len() as u64,
        start_time: first.map(|m| m.time).unwrap_or_default(),
        time_source: first.map_or(TimeSource::Host, |m| m.source),
        start_skew_s: None,
        time_marks: marks,
        gaps,
        rssi: None,
        spectra: 0,
        info,
    };
    receiver_capture(&summary, SampleBlock::Complex(samples))
}

/// A session's captures ready to locate, and the receivers that cannot take part.
#[derive(Debug, Clone, Default)]
pub struct SessionCaptures {
    /// The captures.
    pub captures: Vec<ReceiverCapture>,
    /// Receivers left out before the localization, with the reason.
    pub skipped: Vec<Rejected>,
}

/// Reads every stored capture of a committed `session` back from `archive` (checksums verified)
/// and converts it. [`Error::NotFound`] when the session is not committed there.
pub async fn session_captures(archive: &dyn IqArchive, session: SessionId) -> Result<SessionCaptures, Error> {
    let report = archive.read_manifest(session).await?;
    let mut out = SessionCaptures::default();
    for r in &report.receivers {
        let id = r.receiver.id.to_string();
        let skip = |reason: String| Rejected { id: id.clone(), reason };
        if !r.status.is_stored() || r.capture.is_none() {
            out.skipped.push(skip(format!("not recorded ({})", r.status.as_str())));
            continue;
        }
        match archive.read_capture(session, &r.receiver.id).await {
            Ok(c) => match receiver_capture(&c.summary, c.samples) {
                Ok(rc) => out.captures.push(rc),
                Err(e) => out.skipped.push(skip(e.to_string())),
            },
            Err(e) => out.skipped.push(skip(format!("capture unreadable: {e}"))),
        }
    }
    Ok(out)
}

/// Why a session could not be located.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionLocateError {
    /// No committed session with that id in the archive.
    SessionNotFound {
        /// The session.
        session: SessionId,
        /// The archive's answer.
        source: Error,
    },
    /// The session has no capture that can take part; the reason per receiver.
    NoCaptures {
        /// The session.
        session: SessionId,
        /// `id: reason`, `; `-separated.
        reasons: String,
    },
    /// The localization refused the captures (too few GPS-timed receivers, no overlap...).
    Locate(LocateError),
    /// The archive failed (reading captures, writing `localization.json`).
    Archive(Error),
    /// The metrics database failed (the `localizations` row).
    Database(Error),
}

impl fmt::Display for SessionLocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SessionNotFound { session, source } => {
                write!(f, "session {session} is not committed in the archive ({source})")
            }
            Self::NoCaptures { session, reasons } => {
                write!(f, "session {session} has no capture to locate from: {reasons}")
            }
            Self::Locate(e) => write!(f, "cannot locate: {e}"),
            Self::Archive(e) => write!(f, "archive: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for SessionLocateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::SessionNotFound { source, .. } | Self::Archive(source) | Self::Database(source) => Some(source),
            Self::Locate(e) => Some(e),
            Self::NoCaptures { .. } => None,
        }
    }
}

/// A session's localization as kept.
#[derive(Debug, Clone)]
pub struct SessionLocalization {
    /// `localization.json` as read or written (its `result` is what `locate --json` prints).
    pub document: LocalizationDocument,
    /// Its key in the archive.
    pub key: String,
    /// Whether it was already in the archive (located earlier; nothing recomputed).
    pub existing: bool,
    /// The `localizations` row: `Some(true)` written now, `Some(false)` already there, `None`
    /// without a database.
    pub recorded: Option<bool>,
}

/// Locates the captures, adding the receivers skipped before to `stations_rejected`.
pub fn locate_captures(
    captures: &SessionCaptures,
    opts: &LocateOptions,
) -> Result<heimdall_locate::Localization, LocateError> {
    let mut fix = locate(&captures.captures, opts)?;
    fix.stations_rejected.extend(captures.skipped.iter().cloned());
    Ok(fix)
}

/// Locates a committed session of `archive` and keeps the result: `localization.json` with
/// the session (create-only), and the `localizations` row in `db` when given. A session already
/// located is not recomputed: its `localization.json` is returned (`existing`), and its row
/// written if missing.
pub async fn locate_session(
    archive: &ArchiveSink,
    db: Option<&dyn LocalizationStore>,
    session: SessionId,
    opts: &LocateOptions,
) -> Result<SessionLocalization, SessionLocateError> {
    let key = archive
        .session_dir(session)
        .join(heimdall_storage::LOCALIZATION)
        .to_string();
    let (document, existing) = match archive
        .read_localization(session)
        .await
        .map_err(SessionLocateError::Archive)?
    {
        Some(doc) => (doc, true),
        None => {
            let captures = match session_captures(archive, session).await {
                Ok(c) => c,
                Err(e @ Error::NotFound { .. }) => {
                    return Err(SessionLocateError::SessionNotFound { session, source: e });
                }
                Err(e) => return Err(SessionLocateError::Archive(e)),
            };
            if captures.captures.is_empty() {
                let reasons = captures
                    .skipped
                    .iter()
                    .map(|r| format!("{}: {}", r.id, r.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(SessionLocateError::NoCaptures { session, reasons });
            }
            let fix = locate_captures(&captures, opts).map_err(SessionLocateError::Locate)?;
            let result = serde_json::to_value(&fix)
                .map_err(|e| SessionLocateError::Archive(Error::invalid("localization", e.to_string())))?;
            match archive.write_localization(session, &result).await {
                Ok((doc, _)) => (doc, false),
                // Another run located the session meanwhile: its result is the one kept.
                Err(Error::AlreadyExists { .. }) => match archive.read_localization(session).await {
                    Ok(Some(doc)) => (doc, true),
                    Ok(None) => {
                        return Err(SessionLocateError::Archive(Error::NotFound {
                            backend: "archive",
                            key,
                        }));
                    }
                    Err(e) => return Err(SessionLocateError::Archive(e)),
                },
                Err(e) => return Err(SessionLocateError::Archive(e)),
            }
        }
    };
    let recorded = match db {
        None => None,
        Some(db) => {
            let row = LocalizationRecord::from_result(session, document.written_at, &document.result)
                .map_err(SessionLocateError::Database)?;
            Some(
                db.record_localization(&row)
                    .await
                    .map_err(SessionLocateError::Database)?,
            )
        }
    };
    Ok(SessionLocalization {
        document,
        key,
        existing,
        recorded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use heimdall_core::testkit::{test_capture_info, test_summary};
    use heimdall_core::{Gap, SampleFormat};

    fn summary(source: TimeSource) -> CaptureSummary {
        let info = test_capture_info("rx-a", SampleFormat::ComplexF32, 10);
        let mut s = test_summary(&info, 10);
        s.time_source = source;
        s
    }

    #[test]
    fn marks_clock_position_and_gaps_carry_over() {
        let mut s = summary(TimeSource::Gps);
        let t0 = s.start_time;
        let rate = s.info.sample_rate_hz;
        s.time_marks = vec![
            heimdall_core::TimeMark {
                sample_index: 0,
                time: t0,
                source: TimeSource::Gps,
            },
            heimdall_core::TimeMark {
                sample_index: 6,
                time: t0 + chrono::Duration::nanoseconds((9.0 / rate * 1e9) as i64),
                source: TimeSource::Gps,
            },
            heimdall_core::TimeMark {
                sample_index: 7,
                time: t0,
                source: TimeSource::Host,
            },
        ];
        s.gaps = vec![Gap {
            sample_index: 4,
            missing_samples: 3,
        }];
        let x: Vec<Complex32> = (0..10).map(|k| Complex32::new(k as f32 + 1.0, 0.0)).collect();
        let c = receiver_capture(&s, SampleBlock::Complex(x)).unwrap();
        assert_eq!(c.clock, ClockSource::Gps);
        assert_eq!(c.samples.len(), 13);
        assert_eq!(c.samples[3].re, 4.0);
        assert_eq!(c.samples[4].re, 0.0);
        assert_eq!(c.samples[7].re, 5.0);
        // The host-clock mark of a GPS capture is dropped; the GPS mark after the gap shifts.
        assert_eq!(c.marks.len(), 2);
        assert_eq!(c.marks[1].sample, 9);
        assert_eq!(c.marks[0].seconds, t0.timestamp());
        assert_eq!(c.marks[0].nanos, f64::from(t0.timestamp_subsec_nanos()));
        let p = s.info.receiver.position.unwrap();
        assert_eq!((c.position.latitude, c.position.longitude), (p.latitude, p.longitude));
        assert_eq!(c.centre_frequency_hz, s.info.center_frequency_hz);
        assert_eq!(c.sample_rate_hz, rate);
    }

    #[test]
    fn host_clocks_audio_and_missing_positions() {
        let s = summary(TimeSource::Host);
        let c = receiver_capture(&s, SampleBlock::Complex(vec![Complex32::new(1.0, 0.0); 10])).unwrap();
        assert_eq!(c.clock, ClockSource::Host);
        assert_eq!(
            receiver_capture(&summary(TimeSource::Simulated), SampleBlock::Complex(vec![]))
                .unwrap()
                .clock,
            ClockSource::Gps
        );
        assert!(matches!(
            receiver_capture(&s, SampleBlock::Real(vec![0.0; 10])),
            Err(Error::InvalidInput { field: "samples", .. })
        ));
        let mut s = summary(TimeSource::Gps);
        s.info.receiver.position = None;
        assert!(matches!(
            receiver_capture(&s, SampleBlock::Complex(vec![])),
            Err(Error::InvalidInput {
                field: "receiver position",
                ..
            })
        ));
        let mut s = summary(TimeSource::Gps);
        s.gaps = vec![Gap {
            sample_index: 0,
            missing_samples: u64::MAX,
        }];
        assert!(matches!(
            receiver_capture(&s, SampleBlock::Complex(vec![])),
            Err(Error::InvalidInput { field: "gaps", .. })
        ));
    }
}
