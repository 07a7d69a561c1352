//! What a recording holds once decoded ([`Recording`]), and the decoders: kiwirecorder IQ WAV
//! ([`from_kiwi_wav`]) and SigMF ([`super::sigmf`]).
//!
//! A recording's sample rate is the one its time stamps give (a least-squares fit over the
//! stamps that agree with each other), not the rounded rate of a file header: a KiwiSDR's
//! "12 kHz" is e.g. 12 001.4 Hz, and 30 s at the wrong rate is 3 ms of drift.

use chrono::{DateTime, TimeZone, Utc};
use heimdall_core::{Error, TimeMark, TimeSource};
use num_complex::Complex32;
use serde_json::{Map, Value, json};

use crate::kiwi_wav::{self, GPS_EPOCH_UNIX_S, GPS_MINUS_UTC_S};
use crate::registry::UrlRule;

/// The URLs of recordings: `file://` with an absolute path (no host).
pub const URL_RULE: UrlRule = UrlRule {
    schemes: &["file"],
    bare_host: None,
    aliases: &[],
};

/// A decoded recording: samples, their rate and centre frequency, and their time stamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The format the file was in (`kiwi_wav`, `sigmf`).
    pub format: &'static str,
    /// IQ samples scaled to ±1 (integer formats) or as stored (float).
    pub samples: Vec<Complex32>,
    /// Sample rate, Hz: fitted to the time stamps when there are two or more that agree.
    pub sample_rate_hz: f64,
    /// The rate the file header states, Hz.
    pub header_rate_hz: f64,
    /// Frequency of baseband 0 Hz, Hz.
    pub center_frequency_hz: f64,
    /// The time of sample 0 (from the fit, the first stamp, or the file's nominal start).
    pub start: TimeMark,
    /// The file's time stamps in sample order (sample 0's included when the file has one).
    pub marks: Vec<TimeMark>,
    /// Antenna position the file states, if any (SigMF `core:geolocation`).
    pub position: Option<heimdall_core::GeoPosition>,
    /// What is worth archiving about the file (format details, stamps kept and dropped).
    pub details: Map<String, Value>,
}

impl Recording {
    /// The time of `sample`, from sample 0's time at the recording's rate.
    pub fn time_of(&self, sample: u64) -> DateTime<Utc> {
        offset_time(self.start.time, sample as f64 / self.sample_rate_hz)
    }

    /// The first sample taken at or after `t`, if the recording reaches it.
    pub fn sample_at(&self, t: DateTime<Utc>) -> Option<u64> {
        let dt = (t - self.start.time).num_nanoseconds()? as f64 * 1e-9;
        // Within half a sample before sample 0 is sample 0.
        let idx = (dt * self.sample_rate_hz - 0.5).ceil();
        (idx >= 0.0 && idx < self.samples.len() as f64).then_some(idx as u64)
    }
}

/// `t` plus `seconds` (unchanged when that is not a representable time).
pub(crate) fn offset_time(t: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let nanos = (seconds * 1e9).round();
    if !nanos.is_finite() || nanos.abs() > 9.0e18 {
        return t;
    }
    t.checked_add_signed(chrono::Duration::nanoseconds(nanos as i64))
        .unwrap_or(t)
}

/// A straight line through time stamps: `time(sample) = t0 + sample / rate`, and how many of
/// the stamps lie on it (within two samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateFit {
    pub rate_hz: f64,
    /// Seconds from `epoch` of sample 0.
    pub t0_s: f64,
    pub agreeing: usize,
}

/// Fits the stamps `(sample, seconds since an epoch)`, robust to stamps that disagree with the
/// rest (a stale GNSS solution, a stamp hours off): the median rate of consecutive stamps and the
/// median offset pick the consensus, the stamps within two samples of it are refitted by least
/// squares. `None` with fewer than two agreeing stamps or a rate more than 1 % from `nominal_hz`.
pub(crate) fn fit_rate(stamps: &[(u64, f64)], nominal_hz: f64) -> Option<RateFit> {
    if stamps.len() < 2 {
        return None;
    }
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.retain(|x| x.is_finite());
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let rates = stamps
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[1].0 - w[0].0) as f64 / (w[1].1 - w[0].1))
        .filter(|r| (r / nominal_hz - 1.0).abs() < 0.01)
        .collect();
    let rate = median(rates)?;
    let t0 = median(stamps.iter().map(|(s, t)| t - *s as f64 / rate).collect())?;
    let tolerance = 2.0 / rate;
    let kept: Vec<(f64, f64)> = stamps
        .iter()
        .filter(|(s, t)| (t - (t0 + *s as f64 / rate)).abs() <= tolerance)
        .map(|(s, t)| (*s as f64, *t))
        .collect();
    if kept.len() < 2 {
        return None;
    }
    // Least squares of t on s, centred for precision.
    let n = kept.len() as f64;
    let (ms, mt) = (
        kept.iter().map(|k| k.0).sum::<f64>() / n,
        kept.iter().map(|k| k.1).sum::<f64>() / n,
    );
    let (sxx, sxt) = kept.iter().fold((0.0, 0.0), |(a, b), (s, t)| {
        (a + (s - ms) * (s - ms), b + (s - ms) * (t - mt))
    });
    if sxx <= 0.0 || sxt <= 0.0 {
        return None;
    }
    let slope = sxt / sxx;
    let rate_hz = 1.0 / slope;
    ((rate_hz / nominal_hz - 1.0).abs() < 0.01).then_some(RateFit {
        rate_hz,
        t0_s: mt - slope * ms,
        agreeing: kept.len(),
    })
}

/// Unix time of GPS second `gps_s` (since the GPS epoch) and `nanos`.
fn gps_to_utc(gps_s: i64, nanos: u32) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(gps_s + GPS_EPOCH_UNIX_S - GPS_MINUS_UTC_S, nanos)
        .single()
}

/// Decodes a kiwirecorder IQ WAV. `name` is the file name (its UTC time picks the GPS week, its
/// frequency is the centre); stamps whose GNSS solution is older than `max_fix_age_s` seconds,
/// or zero (no time), are not used. Sample 0's time comes from the fit over the remaining
/// stamps (GPS), or from the file name when none agree (host clock: not fit for TDoA).
pub fn from_kiwi_wav(bytes: &[u8], name: &str, max_fix_age_s: u32) -> Result<Recording, Error> {
    let file = kiwi_wav::parse_file_name(name)?;
    let wav = kiwi_wav::parse(bytes, name)?;
    let fresh: Vec<(u64, DateTime<Utc>)> = wav
        .blocks
        .iter()
        .filter(|b| b.last_gps_solution as u32 <= max_fix_age_s && (b.gpssec, b.gpsnsec) != (0, 0))
        .filter_map(|b| Some((b.first_sample, gps_to_utc(wav.gps_seconds(b, file.unix_s), b.gpsnsec)?)))
        .collect();
    let header_rate_hz = f64::from(wav.header_rate_hz);
    let epoch = Utc.timestamp_opt(file.unix_s, 0).single().unwrap_or_default();
    let since = |t: DateTime<Utc>| (t - epoch).num_nanoseconds().unwrap_or(i64::MAX) as f64 * 1e-9;
    let stamps: Vec<(u64, f64)> = fresh.iter().map(|(s, t)| (*s, since(*t))).collect();
    let fit = fit_rate(&stamps, header_rate_hz);
    let (sample_rate_hz, start) = match fit {
        Some(f) => (
            f.rate_hz,
            TimeMark {
                sample_index: 0,
                time: offset_time(epoch, f.t0_s),
                source: TimeSource::Gps,
            },
        ),
        None => (
            header_rate_hz,
            TimeMark {
                sample_index: 0,
                time: epoch,
                source: TimeSource::Host,
            },
        ),
    };
    let marks: Vec<TimeMark> = match fit {
        Some(_) => fresh
            .iter()
            .filter(|(s, _)| *s > 0)
            .map(|(s, t)| TimeMark {
                sample_index: *s,
                time: *t,
                source: TimeSource::Gps,
            })
            .collect(),
        None => Vec::new(),
    };
    let mut details = Map::new();
    details.insert("format".into(), json!("kiwi_wav"));
    details.insert("station".into(), json!(file.station));
    details.insert("header_rate_hz".into(), json!(wav.header_rate_hz));
    details.insert("blocks".into(), json!(wav.blocks.len()));
    details.insert("fresh_gps_stamps".into(), json!(fresh.len()));
    details.insert("agreeing_gps_stamps".into(), json!(fit.map_or(0, |f| f.agreeing)));
    details.insert("max_fix_age_s".into(), json!(max_fix_age_s));
    Ok(Recording {
        format: "kiwi_wav",
        samples: wav.samples,
        sample_rate_hz,
        header_rate_hz,
        center_frequency_hz: file.frequency_hz as f64,
        start,
        marks,
        position: None,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_fit_ignores_stale_and_wild_stamps() {
        let rate = 12_001.4;
        let mut stamps: Vec<(u64, f64)> = (0..40).map(|i| (i * 512, 0.25 + (i * 512) as f64 / rate)).collect();
        stamps[1].1 -= 11_616.0; // hours off, as in a real file
        stamps[20].1 += 0.004; // 48 samples off
        let f = fit_rate(&stamps, 12_001.0).unwrap();
        assert!((f.rate_hz - rate).abs() < 1e-6, "{f:?}");
        assert!((f.t0_s - 0.25).abs() < 1e-9, "{f:?}");
        assert_eq!(f.agreeing, 38);
        assert!(fit_rate(&stamps[..1], 12_001.0).is_none());
        // A rate far from the header's is refused, not believed.
        let fast: Vec<(u64, f64)> = (0..10).map(|i| (i * 512, (i * 512) as f64 / 24_000.0)).collect();
        assert!(fit_rate(&fast, 12_001.0).is_none());
    }

    #[test]
    fn times_and_sample_indices_agree() {
        let t0 = Utc.timestamp_opt(1_597_301_540, 250_000_000).unwrap();
        let r = Recording {
            format: "t",
            samples: vec![Complex32::default(); 100],
            sample_rate_hz: 10.0,
            header_rate_hz: 10.0,
            center_frequency_hz: 0.0,
            start: TimeMark {
                sample_index: 0,
                time: t0,
                source: TimeSource::Gps,
            },
            marks: vec![],
            position: None,
            details: Map::new(),
        };
        assert_eq!(r.time_of(25), offset_time(t0, 2.5));
        assert_eq!(r.sample_at(offset_time(t0, 2.5)), Some(25));
        assert_eq!(r.sample_at(offset_time(t0, 2.56)), Some(26));
        assert_eq!(r.sample_at(offset_time(t0, -0.01)), Some(0));
        assert_eq!(r.sample_at(offset_time(t0, -5.0)), None);
        assert_eq!(r.sample_at(offset_time(t0, 10.0)), None);
    }

    proptest::proptest! {
        /// Whatever the stamps (wild, repeated, out of order, NaN), the fit never panics and
        /// never believes a rate more than 1 % from the header's.
        #[test]
        fn rate_fit_is_total_and_bounded(stamps in proptest::collection::vec((0u64..1_000_000, proptest::num::f64::ANY), 0..50)) {
            if let Some(f) = fit_rate(&stamps, 12_001.0) {
                proptest::prop_assert!((f.rate_hz / 12_001.0 - 1.0).abs() < 0.01);
                proptest::prop_assert!(f.t0_s.is_finite() && f.agreeing >= 2);
            }
        }
    }
}
