//! Per-receiver time model: a sample rate and an offset fitted to the receiver's time marks.

use serde::{Deserialize, Serialize};

/// Where a receiver's sample times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// GNSS-disciplined time marks (tens of ns): usable for TDoA.
    Gps,
    /// The host's clock (NTP, milliseconds at best): useless for TDoA, RSSI only.
    Host,
}

/// The time of one sample, as delivered by the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeMark {
    /// Index of the sample in the capture.
    pub sample: u64,
    /// Whole seconds of the sample's time (any epoch shared by all receivers, e.g. GPS or Unix).
    pub seconds: i64,
    /// Fraction of a second, in nanoseconds (may carry sub-nanosecond digits).
    pub nanos: f64,
    /// Seconds since the receiver's last GNSS fix when known (`None` = unknown, treated as fresh).
    pub fix_age_s: Option<u32>,
}

/// A fitted time model: `time(sample) = offset_s + sample / rate_hz` (seconds since the
/// localization's reference epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeModel {
    /// Fitted sample rate (Hz).
    pub rate_hz: f64,
    /// Time of sample 0, seconds since the reference epoch.
    pub offset_s: f64,
    /// RMS of the kept marks around the fit (s).
    pub rms_residual_s: f64,
    /// Marks kept.
    pub marks_used: usize,
    /// Marks dropped (stale fix, zero, inconsistent with the others).
    pub marks_dropped: usize,
}

impl TimeModel {
    /// Time (s since the epoch) of a (fractional) sample index.
    pub fn time_of(&self, sample: f64) -> f64 {
        self.offset_s + sample / self.rate_hz
    }

    /// 1σ uncertainty of a time computed from this model: the fit's own error plus the GNSS
    /// time error (about 20 ns 1σ).
    pub fn sigma_s(&self) -> f64 {
        let fit = self.rms_residual_s / (self.marks_used.max(1) as f64).sqrt();
        (fit * fit + 20e-9f64.powi(2)).sqrt()
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Fits a time model to `marks` (times relative to `epoch_s`). Marks with a fix older than
/// `max_fix_age_s`, a zero time, or off the consensus line by more than one sample are dropped.
/// Returns the reason as text when no consistent pair of marks is left.
pub fn fit_time_model(
    marks: &[TimeMark],
    nominal_rate_hz: f64,
    epoch_s: i64,
    max_fix_age_s: u32,
) -> Result<TimeModel, String> {
    let fresh: Vec<(f64, f64)> = marks
        .iter()
        .filter(|m| m.fix_age_s.is_none_or(|a| a <= max_fix_age_s) && (m.seconds != 0 || m.nanos != 0.0))
        .map(|m| (m.sample as f64, (m.seconds - epoch_s) as f64 + m.nanos * 1e-9))
        .collect();
    if fresh.len() < 2 {
        return Err(format!(
            "{} of {} time marks fresh (fix age <= {max_fix_age_s} s)",
            fresh.len(),
            marks.len()
        ));
    }
    // Rate: median over consecutive fresh marks whose rate is plausible (within 0.1% of nominal).
    let mut rates: Vec<f64> = fresh
        .windows(2)
        .filter_map(|w| {
            let (ds, dt) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            (ds > 0.0 && dt > 0.0).then_some(ds / dt)
        })
        .filter(|r| (r / nominal_rate_hz - 1.0).abs() < 1e-3)
        .collect();
    if rates.is_empty() {
        return Err("no two consecutive time marks agree with the nominal sample rate".into());
    }
    let rate0 = median(&mut rates);
    let mut offsets: Vec<f64> = fresh.iter().map(|(s, t)| t - s / rate0).collect();
    let off0 = median(&mut offsets);
    let tol = 1.0 / nominal_rate_hz;
    let kept: Vec<(f64, f64)> = fresh
        .iter()
        .copied()
        .filter(|(s, t)| (t - s / rate0 - off0).abs() < tol)
        .collect();
    if kept.len() < 2 {
        return Err("time marks inconsistent with each other".into());
    }
    // Least squares t = a + b s, centred for conditioning.
    let n = kept.len() as f64;
    let sm = kept.iter().map(|k| k.0).sum::<f64>() / n;
    let tm = kept.iter().map(|k| k.1).sum::<f64>() / n;
    let sxx: f64 = kept.iter().map(|k| (k.0 - sm).powi(2)).sum();
    let sxt: f64 = kept.iter().map(|k| (k.0 - sm) * (k.1 - tm)).sum();
    let b = if sxx > 0.0 { sxt / sxx } else { 1.0 / rate0 };
    let a = tm - b * sm;
    let rms = (kept.iter().map(|k| (k.1 - a - b * k.0).powi(2)).sum::<f64>() / n).sqrt();
    Ok(TimeModel {
        rate_hz: 1.0 / b,
        offset_s: a,
        rms_residual_s: rms,
        marks_used: kept.len(),
        marks_dropped: marks.len() - kept.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(sample: u64, t: f64, age: u32) -> TimeMark {
        TimeMark {
            sample,
            seconds: t.floor() as i64,
            nanos: (t - t.floor()) * 1e9,
            fix_age_s: Some(age),
        }
    }

    #[test]
    fn fits_rate_and_drops_stale_and_inconsistent_marks() {
        let rate = 12_001.084_3;
        let mut marks: Vec<TimeMark> = (0..100u64)
            .map(|k| mark(k * 512, 370_000.25 + (k * 512) as f64 / rate, 0))
            .collect();
        marks[0] = mark(0, 0.0, 0);
        marks[1] = mark(512, 358_742.5, 0);
        marks[7].fix_age_s = Some(255);
        let m = fit_time_model(&marks, 12_001.0, 369_000, 10).unwrap();
        assert!((m.rate_hz - rate).abs() < 1e-6, "{}", m.rate_hz);
        assert!((m.time_of(0.0) - 1_000.25).abs() < 1e-9);
        assert_eq!(m.marks_dropped, 3);
    }

    #[test]
    fn all_stale_is_refused() {
        let marks: Vec<TimeMark> = (0..10u64).map(|k| mark(k * 512, 100.0 + k as f64, 255)).collect();
        assert!(fit_time_model(&marks, 512.0, 0, 10).is_err());
    }
}
