//! Clocks and timeable modulations: GPS mark jitter statistics, NTP-like host offsets, and
//! AM-keyed and voice-like AM envelopes timed by cross-correlation between receivers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use heimdall_core::{Complex32, TimeMark, TimeSource};

use super::{collect, req, tx};
use crate::simulated::{Clock, Modulation, SimulatedNetwork};

/// Error of each mark against the true time of its sample, ns.
fn mark_errors_ns(marks: &[TimeMark], start: DateTime<Utc>, fs: f64) -> Vec<f64> {
    marks
        .iter()
        .map(|m| {
            let truth = start + chrono::Duration::nanoseconds((m.sample_index as f64 / fs * 1e9).round() as i64);
            (m.time - truth).num_nanoseconds().unwrap() as f64
        })
        .collect()
}

/// A fixed capture start, so that the drawn clock errors are the same on every run.
fn fixed_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 123_456_789).unwrap()
}

fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[tokio::test]
async fn gps_marks_repeat_every_second_with_the_configured_jitter() {
    let fs = 1000.0;
    let jitter = Duration::from_nanos(30);
    let mut net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 21)
        .with_sample_rate(fs)
        .with_clock(Clock::Gps)
        .with_gps_jitter(jitter);
    net.receivers.iter_mut().for_each(|c| c.chunk_samples = 250);
    let start = fixed_start();
    let mut r = req(100.0);
    r.start_at = Some(start);
    let mut errors = vec![];
    for rx in net.receivers() {
        let c = collect(rx.as_ref(), &r).await.unwrap();
        assert!(c.end.is_none(), "{:?}", c.end);
        // One mark at sample 0, then one per second of samples.
        assert_eq!(c.marks.len(), 100, "{rx}");
        for (i, m) in c.marks.iter().enumerate() {
            assert_eq!(m.sample_index, i as u64 * 1000);
            assert_eq!(m.source, TimeSource::Gps);
        }
        let e = mark_errors_ns(&c.marks, start, fs);
        // Independent marks: neighbouring errors are uncorrelated.
        let (m, s) = mean_std(&e);
        let lag1 = e.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>() / ((e.len() - 1) as f64 * s * s);
        assert!(lag1.abs() < 0.35, "{rx}: lag-1 correlation {lag1}");
        errors.extend(e);
    }
    let (mean, std) = mean_std(&errors);
    let sigma = jitter.as_nanos() as f64;
    let n = errors.len() as f64;
    assert!(
        mean.abs() < 4.0 * sigma / n.sqrt(),
        "mean error {mean} ns over {n} marks"
    );
    assert!((std / sigma - 1.0).abs() < 0.12, "std {std} ns, configured {sigma} ns");
    let worst = errors.iter().fold(0.0f64, |a, e| a.max(e.abs()));
    assert!(worst < 6.0 * sigma, "worst mark error {worst} ns");

    // The ideal GPS clock is exact, and the jittered one is a GPS clock for health too.
    let ideal = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 21)
        .with_sample_rate(fs)
        .with_clock(Clock::Gps);
    let c = collect(ideal.receivers()[0].as_ref(), &r).await.unwrap();
    assert!(mark_errors_ns(&c.marks, start, fs).iter().all(|e| *e == 0.0));
    let health = heimdall_core::ReceiverSource::health(net.receivers()[0].as_ref())
        .await
        .unwrap();
    assert_eq!(health.gps_locked, Some(true));
    assert!(Clock::gps_typical().is_gps() && !Clock::Exact.is_gps());
}

#[tokio::test]
async fn host_offsets_are_ntp_like_and_persist_across_captures() {
    let fs = 1000.0;
    let jitter = Duration::from_millis(5);
    let mut offsets = vec![];
    for seed in 0..60 {
        let net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), seed)
            .with_sample_rate(fs)
            .with_clock(Clock::Host { jitter });
        for rx in net.receivers() {
            let start = fixed_start();
            let mut r = req(2.5);
            r.start_at = Some(start);
            let c = collect(rx.as_ref(), &r).await.unwrap();
            // Host clocks stamp sample 0 only.
            assert_eq!(c.marks.len(), 1);
            assert_eq!(c.marks[0].source, TimeSource::Host);
            let e = mark_errors_ns(&c.marks, start, fs)[0];
            if seed == 0 {
                // The same receiver later: the same offset (NTP between corrections).
                let later = start + chrono::Duration::seconds(30);
                r.start_at = Some(later);
                let again = collect(rx.as_ref(), &r).await.unwrap();
                assert_eq!(mark_errors_ns(&again.marks, later, fs)[0], e, "{rx}");
            }
            offsets.push(e * 1e-6);
        }
    }
    let (mean, std) = mean_std(&offsets);
    let n = offsets.len() as f64;
    assert!(mean.abs() < 4.0 * 5.0 / n.sqrt(), "mean offset {mean} ms over {n}");
    assert!((std / 5.0 - 1.0).abs() < 0.15, "offset std {std} ms, configured 5 ms");
}

/// The envelope.
fn envelope(x: &[Complex32]) -> Vec<f64> {
    x.iter().map(|s| f64::from(s.norm())).collect()
}

/// The lag `L` (fractional samples, |L| ≤ `max_lag`) maximising the Pearson correlation of the
/// central part of `a` with `b` shifted by `L` (the same part of `a` at every lag; offset and
/// scale of each window removed, so that without noise the maximum is exactly at the true
/// lag): a coarse search every 8 lags on every 8th sample, every lag around the best, then a
/// parabola through the peak.
fn xcorr_lag(a: &[f64], b: &[f64], max_lag: usize) -> f64 {
    let margin = max_lag + 16;
    let c = |lag: i64, step: usize| -> f64 {
        let idx = (margin..a.len() - margin).step_by(step);
        let m = idx.len() as f64;
        let (sa, sb) = idx
            .clone()
            .fold((0.0, 0.0), |(sa, sb), n| (sa + a[n], sb + b[(n as i64 + lag) as usize]));
        let (ma, mb) = (sa / m, sb / m);
        let (ab, aa, bb) = idx.fold((0.0, 0.0, 0.0), |(ab, aa, bb), n| {
            let (x, y) = (a[n] - ma, b[(n as i64 + lag) as usize] - mb);
            (ab + x * y, aa + x * x, bb + y * y)
        });
        ab / (aa * bb).sqrt()
    };
    let max = max_lag as i64;
    let coarse = (-max..=max)
        .step_by(8)
        .max_by(|x, y| c(*x, 8).total_cmp(&c(*y, 8)))
        .unwrap();
    let best = (coarse - 12..=coarse + 12)
        .filter(|l| l.abs() < max)
        .max_by(|x, y| c(*x, 1).total_cmp(&c(*y, 1)))
        .unwrap();
    let (ym, y0, yp) = (c(best - 1, 1), c(best, 1), c(best + 1, 1));
    best as f64 + 0.5 * (ym - yp) / (ym - 2.0 * y0 + yp)
}

/// For each receiver after the first: (measured − true) delay relative to the first, and
/// the part of it the time marks explain (their errors' difference), both ns.
async fn delay_errors(modulation: Modulation, clock: Clock) -> Vec<(f64, f64)> {
    let fs = 2.4e6;
    let net = SimulatedNetwork::reference_network(tx(modulation, 75.0), 33)
        .with_sample_rate(fs)
        .with_clock(clock);
    let start = fixed_start();
    let mut r = req(0.02);
    r.start_at = Some(start);
    let rxs = net.receivers();
    let mut seen = vec![];
    for rx in &rxs {
        let c = collect(rx.as_ref(), &r).await.unwrap();
        let mark = c.marks[0];
        // Receiver clock's time of sample 0 minus the true time.
        let mark_error_ns = (mark.time - start).num_nanoseconds().unwrap() as f64;
        seen.push((envelope(&c.samples), mark_error_ns, rx.delay_s().unwrap()));
    }
    let (a, a_mark, a_delay) = &seen[0];
    seen[1..]
        .iter()
        .map(|(b, b_mark, b_delay)| {
            // Arrival-time difference as the receivers' clocks see it.
            let lag = xcorr_lag(a, b, 1920);
            let measured_ns = lag / fs * 1e9 + (b_mark - a_mark);
            let true_ns = (b_delay - a_delay) * 1e9;
            (measured_ns - true_ns, b_mark - a_mark)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_and_voice_am_are_timed_by_cross_correlation_within_the_clock_jitter() {
    let keyed = Modulation::AmKeyed {
        depth: 0.85,
        period: Duration::from_millis(5),
        short: Duration::from_millis(1),
        long: Duration::from_millis(2),
        ramp: Duration::from_micros(20),
    };
    let jitter = Duration::from_nanos(30);
    for modulation in [keyed, Modulation::am_voice(0.8)] {
        // Exact clocks: the correlation alone recovers the delays to a few ns.
        for (err, _) in delay_errors(modulation.clone(), Clock::Gps).await {
            assert!(
                err.abs() < 5.0,
                "{modulation:?}: delay error {err} ns with exact clocks"
            );
        }
        // Jittered GPS clocks: the error is the marks' error, within a few σ.
        for (err, marks) in delay_errors(modulation.clone(), Clock::GpsWithJitter { jitter }).await {
            assert!(
                (err - marks).abs() < 5.0,
                "{modulation:?}: {err} ns vs mark errors {marks} ns"
            );
            assert!(
                err.abs() < 4.0 * 2f64.sqrt() * 30.0 + 5.0,
                "{modulation:?}: delay error {err} ns"
            );
        }
    }
}

#[tokio::test]
async fn time_code_keys_like_dcf77() {
    let fs = 12_000.0;
    let net = SimulatedNetwork::reference_network(tx(Modulation::time_code(), 60.0), 4).with_sample_rate(fs);
    let rx = &net.receivers()[2];
    // Start on a second of the transmitter's epoch: keys begin at whole seconds plus the delay.
    let start = DateTime::from_timestamp(1_767_225_600 + 86_400, 0).unwrap();
    let mut r = req(6.0);
    r.start_at = Some(start);
    let c = collect(rx.as_ref(), &r).await.unwrap();
    let env: Vec<f64> = c.samples.iter().map(|s| f64::from(s.norm())).collect();
    let high = env.iter().cloned().fold(0.0, f64::max);
    let low = env.iter().cloned().fold(f64::MAX, f64::min);
    assert!((low / high - 0.15).abs() < 0.03, "keyed level {}", low / high);
    // Falling crossings at whole seconds + delay, keys of 100 or 200 ms, both present.
    let half = (high + low) / 2.0;
    let (mut falls, mut keys) = (vec![], vec![]);
    for i in 1..env.len() {
        if env[i - 1] >= half && env[i] < half {
            falls.push(i as f64 / fs);
        } else if env[i - 1] < half
            && env[i] >= half
            && let Some(f) = falls.last()
        {
            keys.push(i as f64 / fs - f);
        }
    }
    assert_eq!(falls.len(), 6, "{falls:?}");
    let delay = rx.delay_s().unwrap();
    for (k, f) in falls.iter().enumerate() {
        // The crossing is at the middle of the 1 ms fall.
        let expected = k as f64 + delay + 0.0005;
        assert!(
            (f - expected).abs() < 1.5 / fs,
            "fall {k} at {f} s, expected {expected} s"
        );
    }
    assert!(
        keys.iter()
            .all(|k| (k - 0.1).abs() < 2.0 / fs || (k - 0.2).abs() < 2.0 / fs),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| *k < 0.15) && keys.iter().any(|k| *k > 0.15),
        "{keys:?}"
    );
}
