//! The TDoA pipeline: decimation to the occupied band, one time grid, pair delays, solve with
//! rejection of inconsistent pairs, covariance and ellipse.

use num_complex::Complex32;
use rustfft::FftPlanner;

use crate::error::LocateError;
use crate::geo::{GeoPoint, PathModel, SPEED_OF_LIGHT};
use crate::report::*;
use crate::signal::{self, Feature};
use crate::solve::{self, Ellipse};
use crate::timing::TimeModel;
use crate::{correlate, reasons};

/// Propagation model σ per pair (s): what the path model does not capture. Below 30 MHz the
/// ground wave's phase velocity and sky-wave mixing bias pair delays by microseconds.
pub(crate) fn propagation_sigma(model: PathModel) -> f64 {
    match model {
        PathModel::Geodesic => 2e-6,
        PathModel::LineOfSight => 5e-9,
    }
}

pub(crate) struct Timed {
    pub(crate) index: usize,
    pub(crate) model: TimeModel,
}

/// Largest 2^a·3^b·5^c not above `n` (fast FFT sizes).
fn smooth_size(n: usize) -> usize {
    let mut best = 1;
    let mut p2 = 1usize;
    while p2 <= n {
        let mut p3 = p2;
        while p3 <= n {
            let mut p5 = p3;
            while p5 <= n {
                best = best.max(p5);
                p5 *= 5;
            }
            p3 *= 3;
        }
        p2 *= 2;
    }
    best
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn tdoa(
    captures: &[ReceiverCapture],
    timed: &[Timed],
    opts: &LocateOptions,
    mut rejected: Vec<Rejected>,
    clocks: Vec<ClockReport>,
    mut notes: Vec<String>,
    model: PathModel,
    model_reason: String,
) -> Result<Localization, LocateError> {
    let stations: Vec<GeoPoint> = timed.iter().map(|t| captures[t.index].position).collect();
    check_collinear(&stations)?;
    // Occupied band from the strongest capture, decimation to it.
    let band = signal::estimate_band_best(
        timed
            .iter()
            .map(|t| (captures[t.index].samples.as_slice(), captures[t.index].sample_rate_hz)),
    );
    let factors: Vec<usize> = timed
        .iter()
        .map(|t| ((t.model.rate_hz / (2.5 * band.width_hz)).floor() as usize).max(1))
        .collect();
    let decimated: Vec<Vec<Complex32>> = timed
        .iter()
        .zip(&factors)
        .map(|(t, &f)| {
            let c = &captures[t.index];
            signal::decimate(&c.samples, c.sample_rate_hz, f, band.centre_hz)
        })
        .collect();
    // Common window (skipping the interpolator's half length at each end).
    let mut start = f64::MIN;
    let mut end = f64::MAX;
    let margin = signal::RESAMPLE_HALF_TAPS as f64;
    for ((t, d), &f) in timed.iter().zip(&decimated).zip(&factors) {
        start = start.max(t.model.time_of(f as f64 * margin + (f as f64 - 1.0) / 2.0));
        end = end.min(
            t.model
                .time_of(f as f64 * (d.len() as f64 - margin - 2.0) + (f as f64 - 1.0) / 2.0),
        );
    }
    let window = end - start;
    if window <= 0.0 {
        return Err(LocateError::NoOverlap { overlap_s: window });
    }
    if window < opts.min_window_s {
        return Err(LocateError::CaptureTooShort {
            seconds: window,
            needed: opts.min_window_s,
        });
    }
    let rate = timed
        .iter()
        .zip(&factors)
        .map(|(t, &f)| t.model.rate_hz / f as f64)
        .fold(f64::MAX, f64::min);
    let n = smooth_size((window * rate).floor() as usize);
    let mut planner = FftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let interp = signal::Interpolator::shared();
    let grid_series: Vec<Vec<Complex32>> = timed
        .iter()
        .zip(&decimated)
        .zip(&factors)
        .map(|((t, d), &f)| signal::resample(d, &t.model, f, start, rate, n, interp))
        .collect();
    drop(decimated);
    // Carrier-dominated signals are timed by their envelope and their phase modulation; others
    // coherently (frequency offset removed) and by their envelope.
    let mut fractions = Vec::new();
    let mut carriers = Vec::new();
    let mut spectra: Vec<Vec<Complex32>> = grid_series
        .iter()
        .map(|z| {
            let mut s = z.clone();
            fwd.process(&mut s);
            let (frac, f) = signal::carrier_line(&s, rate);
            fractions.push(frac);
            carriers.push(f);
            s
        })
        .collect();
    let mut sorted = fractions.clone();
    sorted.sort_by(f64::total_cmp);
    // A carrier with small-index modulation: a strong spectral line and a phase that stays
    // within a few tenths of a radian of it (FM keeps a strong line at low index, but its phase
    // wanders by radians and is timed coherently).
    let window = ((0.5 * rate) as usize).max(3);
    // The series mixed down to their carrier: the phase test's input, then the carrier phase's.
    let mut mixed: Vec<Vec<Complex32>> = Vec::new();
    let carrier = sorted[sorted.len() / 2] > 0.3 && {
        mixed = grid_series
            .iter()
            .zip(&carriers)
            .map(|(z, &f)| {
                let mut s = z.clone();
                signal::mix(&mut s, rate, f);
                s
            })
            .collect();
        let mut dev: Vec<f64> = mixed.iter().map(|s| signal::phase_deviation_rms(s, window)).collect();
        dev.sort_by(f64::total_cmp);
        dev[dev.len() / 2] < 0.5
    };
    // The whole decimated band is offered to the correlation: its ML weights keep the bins
    // where both receivers see signal, including the faint edges beyond the 10 dB width that
    // carry the most timing information per unit of SNR.
    let half_band = 0.45 * rate;
    let features = if carrier {
        vec![Feature::Envelope, Feature::CarrierPhase]
    } else {
        vec![Feature::Coherent, Feature::Envelope]
    };
    let transform = |mut series: Vec<Complex32>| {
        fwd.process(&mut series);
        series
    };
    let mut feature_spectra: Vec<Vec<correlate::Spectrum>> = Vec::new(); // [receiver][feature]
    for (k, z) in grid_series.into_iter().enumerate() {
        let mut per = Vec::new();
        for f in &features {
            let spectrum = match f {
                Feature::Coherent => {
                    // Mixed down by the common band centre at decimation: GPS-timed receivers
                    // have GPS-locked local oscillators, so no per-receiver offset is removed
                    // (a per-receiver estimate off by a fraction of a bin skews the peak). The
                    // mean removed: the series' spectrum without its zero-frequency bin.
                    let mut s = std::mem::take(&mut spectra[k]);
                    s[0] = Complex32::new(0.0, 0.0);
                    s
                }
                Feature::Envelope => transform(signal::envelope(&z)),
                Feature::CarrierPhase => transform(signal::carrier_phase(&mixed[k], window)),
            };
            per.push(correlate::Spectrum::new(spectrum));
        }
        spectra[k] = Vec::new();
        feature_spectra.push(per);
    }
    // Pair delays.
    let mut scratch = correlate::Scratch::default();
    let mut pairs: Vec<PairReport> = Vec::new();
    let mut obs: Vec<(solve::PairObs, usize)> = Vec::new();
    // Per used pair: the variance of the parts its first and second receivers share with their
    // other pairs (their noise's share, their clock, their path).
    let mut parts: Vec<(f64, f64)> = Vec::new();
    let sigma_prop = propagation_sigma(model);
    for a in 0..timed.len() {
        for b in a + 1..timed.len() {
            let baseline = model.distance(&stations[a], &stations[b]);
            let max_lag = baseline / SPEED_OF_LIGHT * 1.02 + 2.0 / rate;
            let mut fds = Vec::new();
            let mut shares = Vec::new();
            for (fi, f) in features.iter().enumerate() {
                let real = *f != Feature::Coherent;
                if let Some(e) = correlate::correlate(
                    &feature_spectra[a][fi],
                    &feature_spectra[b][fi],
                    rate,
                    half_band,
                    max_lag,
                    real,
                    // The forward plan also serves for the inverse (no second plan).
                    fwd.as_ref(),
                    &mut scratch,
                ) {
                    fds.push(FeatureDelay {
                        feature: *f,
                        weighting: e.weighting,
                        delay_s: e.delay_s,
                        rho: e.rho,
                        psr: e.psr,
                        ambiguity: e.ambiguity,
                        sigma_s: e.sigma_s,
                    });
                    shares.push((e.share_a, e.share_b));
                }
            }
            let good: Vec<(f64, f64)> = fds
                .iter()
                .filter(|f| f.usable())
                .map(|f| (f.delay_s, f.sigma_s))
                .collect();
            let (ida, idb) = (captures[timed[a].index].id.clone(), captures[timed[b].index].id.clone());
            if good.is_empty() {
                let best = fds.iter().max_by(|x, y| x.psr.total_cmp(&y.psr));
                let why = best.map_or("no feature correlated".to_owned(), |f| {
                    format!(
                        "best ρ {:.3} (≥ 0.05), detection {:.1} (≥ {} or ρ ≥ {}), ambiguity {:.2} (< {})",
                        f.rho,
                        f.psr,
                        correlate::MIN_PSR,
                        correlate::STRONG_RHO,
                        f.ambiguity,
                        correlate::MAX_AMBIGUITY
                    )
                });
                pairs.push(PairReport {
                    a: ida,
                    b: idb,
                    delay_s: f64::NAN,
                    sigma_s: f64::NAN,
                    features: fds,
                    residual_s: None,
                    used: false,
                    reason: Some(format!("no usable correlation peak ({why})")),
                });
                continue;
            }
            let (d, s) = correlate::fuse(&good);
            // Receiver shares of the best feature's noise.
            let (share_a, share_b) = fds
                .iter()
                .zip(&shares)
                .filter(|(f, _)| f.usable())
                .min_by(|x, y| x.0.sigma_s.total_cmp(&y.0.sigma_s))
                .map(|(_, s)| *s)
                .unwrap_or((0.0, 0.0));
            let half_prop = 0.5 * sigma_prop * sigma_prop;
            parts.push((
                share_a * s * s + timed[a].model.sigma_s().powi(2) + half_prop,
                share_b * s * s + timed[b].model.sigma_s().powi(2) + half_prop,
            ));
            let sigma =
                (s * s + timed[a].model.sigma_s().powi(2) + timed[b].model.sigma_s().powi(2) + sigma_prop * sigma_prop)
                    .sqrt();
            obs.push((
                solve::PairObs {
                    a,
                    b,
                    delay_s: d,
                    sigma_s: sigma,
                },
                pairs.len(),
            ));
            pairs.push(PairReport {
                a: ida,
                b: idb,
                delay_s: d,
                sigma_s: sigma,
                features: fds,
                residual_s: None,
                used: true,
                reason: None,
            });
        }
    }
    // Solve, dropping the worst pair while it is inconsistent and redundancy remains.
    let (solution, field, active_stations) = loop {
        let mut active: Vec<bool> = vec![false; timed.len()];
        for (o, _) in &obs {
            active[o.a] = true;
            active[o.b] = true;
        }
        let n_active = active.iter().filter(|x| **x).count();
        if n_active < 3 || obs.len() < 2 {
            for (k, t) in timed.iter().enumerate() {
                if !active[k] {
                    rejected.push(Rejected {
                        id: captures[t.index].id.clone(),
                        reason: "no consistent correlation with the other receivers".into(),
                    });
                }
            }
            return Err(LocateError::TooFewReceivers {
                usable: n_active,
                needed: 3,
                method: "tdoa",
                reasons: reasons(&rejected),
            });
        }
        let o: Vec<solve::PairObs> = obs.iter().map(|x| x.0).collect();
        let used_st: Vec<GeoPoint> = (0..timed.len()).filter(|&k| active[k]).map(|k| stations[k]).collect();
        let bbox = solve::search_box(&used_st, 0.05);
        let field = solve::grid(&stations, &o, model, bbox, opts.grid_side);
        let sol = solve::solve(&stations, &o, model, &field);
        let dof = (n_active - 1).saturating_sub(2);
        let worst = sol
            .residuals_s
            .iter()
            .zip(&o)
            .enumerate()
            .map(|(k, (r, p))| (k, (r / p.sigma_s).abs()))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        match worst {
            Some((k, z)) if dof > 0 && z > opts.reject_sigma => {
                let (_, pi) = obs.remove(k);
                parts.remove(k);
                pairs[pi].used = false;
                pairs[pi].residual_s = Some(sol.residuals_s[k]);
                pairs[pi].reason = Some(format!(
                    "residual {:.3} µs = {z:.1}σ: inconsistent with the other pairs",
                    sol.residuals_s[k] * 1e6
                ));
            }
            _ => break (sol, field, active),
        }
    };
    for ((_, pi), r) in obs.iter().zip(&solution.residuals_s) {
        pairs[*pi].residual_s = Some(*r);
    }
    let mut used = Vec::new();
    for (k, t) in timed.iter().enumerate() {
        let id = captures[t.index].id.clone();
        if active_stations[k] {
            used.push(id);
        } else {
            rejected.push(Rejected {
                id,
                reason: "its pair delays are inconsistent with the other receivers".into(),
            });
        }
    }
    let n_used = used.len();
    let dof = (n_used - 1).saturating_sub(2);
    // Pairs sharing a receiver share its noise, clock and path errors: the covariance of the
    // pair errors, then the position's by the sandwich, scaled up when the χ² exceeds what those
    // errors make expected (the σ were optimistic).
    let o: Vec<solve::PairObs> = obs.iter().map(|x| x.0).collect();
    let c: Vec<Vec<f64>> = o
        .iter()
        .enumerate()
        .map(|(i, p)| {
            o.iter()
                .enumerate()
                .map(|(k, q)| {
                    if i == k {
                        return p.sigma_s * p.sigma_s;
                    }
                    let mut v = 0.0;
                    for (s, vp, sp) in [(p.a, parts[i].0, 1.0), (p.b, parts[i].1, -1.0)] {
                        for (t, vq, sq) in [(q.a, parts[k].0, 1.0), (q.b, parts[k].1, -1.0)] {
                            if s == t {
                                v += sp * sq * (vp * vq).sqrt();
                            }
                        }
                    }
                    v
                })
                .collect()
        })
        .collect();
    let jac = solve::jacobian(&solution.position, &stations, &o, model);
    let sig: Vec<f64> = o.iter().map(|p| p.sigma_s).collect();
    let (sandwich, expected_chi2) = solve::sandwich(&jac, &sig, &c);
    let mut scale = 1.0;
    if dof > 0 && expected_chi2 > 0.0 {
        scale = (solution.chi2 / expected_chi2).max(1.0);
    }
    let solution = solve::Solution {
        covariance: sandwich,
        ..solution
    };
    let cov = solution.covariance.map(|row| row.map(|v| v * scale));
    let ellipse = Ellipse::from_covariance(cov, opts.confidence);
    let sigma_ellipse = Ellipse::from_covariance(cov, 1.0 - (-0.5f64).exp());
    let median_sigma = {
        let mut s: Vec<f64> = obs.iter().map(|o| o.0.sigma_s).collect();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let poor_geometry = sigma_ellipse.semi_major > 20.0 * SPEED_OF_LIGHT * median_sigma;
    if poor_geometry {
        notes.push(format!(
            "poor geometry: 1σ semi-major {:.0} m is over 20× the range error of one pair",
            sigma_ellipse.semi_major
        ));
    }
    if let Some(alt) = solution.alternative {
        notes.push(format!(
            "ambiguous: another position fits almost as well at {:.5}, {:.5}",
            alt.latitude, alt.longitude
        ));
    }
    if carrier {
        notes.push("carrier-dominated signal: timed by its envelope and its carrier phase modulation, fused with their disagreement as error".into());
    }
    Ok(Localization {
        latitude: solution.position.latitude,
        longitude: solution.position.longitude,
        error_ellipse_m: ellipse,
        sigma_ellipse_m: sigma_ellipse,
        method: Method::Tdoa,
        path_model: model,
        path_model_reason: model_reason,
        stations_used: used,
        stations_rejected: rejected,
        clocks,
        pairs,
        features,
        band_hz: band.width_hz,
        correlation_rate_hz: rate,
        window_s: n as f64 / rate,
        chi2: solution.chi2,
        dof,
        poor_geometry,
        ambiguous: solution.alternative,
        notes,
        field: Some(field),
    })
}

/// Refuses stations on (nearly) one line: their spread across the best-fit line must be at
/// least 1% of the spread along it and 10 m.
fn check_collinear(stations: &[GeoPoint]) -> Result<(), LocateError> {
    let o = stations[0];
    let pts: Vec<(f64, f64)> = stations.iter().map(|s| o.east_north_to(s)).collect();
    let n = pts.len() as f64;
    let (me, mn) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for (e, nn) in &pts {
        a += (e - me).powi(2) / n;
        b += (e - me) * (nn - mn) / n;
        c += (nn - mn).powi(2) / n;
    }
    let tr = 0.5 * (a + c);
    let det = ((0.5 * (a - c)).powi(2) + b * b).sqrt();
    let (l1, l2) = (tr + det, (tr - det).max(0.0));
    let across = l2.sqrt();
    if across < 0.01 * l1.sqrt() || across < 10.0 {
        return Err(LocateError::CollinearStations { spread_m: across });
    }
    Ok(())
}
