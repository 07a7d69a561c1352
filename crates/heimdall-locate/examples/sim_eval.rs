//! Accuracy of the localization on synthetic networks over many seeds: median and 95th
//! percentile error, and how often the 95% ellipse holds the truth.
//!
//! ```sh
//! cargo run --release -p heimdall-locate --example sim_eval -- --seeds 50 --duration 1.0 [--host] [--json]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use heimdall_locate::testkit::{NetworkSpec, network};
use heimdall_locate::{ClockSource, LocateOptions, Method, SPEED_OF_LIGHT, geo::geodesic_distance, locate};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
}

fn median_of(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seeds = value("--seeds", 50.0) as u64;
    let duration = value("--duration", 1.0);
    let host = args.iter().any(|a| a == "--host");
    let json = args.iter().any(|a| a == "--json");
    let (mut errors, mut inside, mut refused, mut methods) = (Vec::new(), 0usize, Vec::new(), Vec::new());
    let mut locate_s = Vec::new();
    // Pair delays against the true geometry: error (s) and error over the reported σ.
    let (mut pair_err, mut pair_z) = (Vec::new(), Vec::new());
    let mut md2: Vec<f64> = Vec::new();
    for seed in 1..=seeds {
        let spec = NetworkSpec {
            seed,
            duration_s: duration,
            clock: if host { ClockSource::Host } else { ClockSource::Gps },
            ..NetworkSpec::default()
        };
        let net = network(&spec);
        let t = Instant::now();
        match locate(
            &net.captures,
            &LocateOptions {
                min_window_s: 0.2,
                ..LocateOptions::default()
            },
        ) {
            Ok(fix) => {
                locate_s.push(t.elapsed().as_secs_f64());
                let e = geodesic_distance(&net.truth, &fix.position());
                errors.push(e);
                if fix.ellipse_contains(&net.truth) {
                    inside += 1;
                }
                // Squared Mahalanobis distance of the truth in units of the reported ellipse
                // (χ²₂ / χ²₂(confidence) when the ellipse is honest: mean 1 / 5.99 · 2 at 95%).
                let (de, dn) = fix.position().east_north_to(&net.truth);
                let el = fix.error_ellipse_m;
                let th = el.orientation_deg.to_radians();
                let (along, across) = (de * th.sin() + dn * th.cos(), -de * th.cos() + dn * th.sin());
                let k2 = -2.0 * (1.0 - el.confidence).ln();
                md2.push(((along / el.semi_major).powi(2) + (across / el.semi_minor.max(1e-9)).powi(2)) * k2 / 2.0);
                methods.push(fix.method);
                for p in fix.pairs.iter().filter(|p| p.delay_s.is_finite()) {
                    let at = |id: &str| net.captures.iter().find(|c| c.id == id).map(|c| c.position);
                    if let (Some(a), Some(b)) = (at(&p.a), at(&p.b)) {
                        let m = fix.path_model;
                        let truth_s = (m.distance(&net.truth, &a) - m.distance(&net.truth, &b)) / SPEED_OF_LIGHT;
                        pair_err.push(p.delay_s - truth_s);
                        pair_z.push((p.delay_s - truth_s) / p.sigma_s);
                    }
                }
                if host && !refused.iter().any(|r: &String| r.contains("host clock")) {
                    refused.extend(fix.notes.iter().filter(|n| n.contains("host clock")).take(1).cloned());
                }
                if !json {
                    eprintln!(
                        "seed {seed}: error {e:.1} m, 95% ellipse {:.0}x{:.0} m, inside {}, {:?}",
                        fix.error_ellipse_m.semi_major,
                        fix.error_ellipse_m.semi_minor,
                        fix.ellipse_contains(&net.truth),
                        fix.method
                    );
                }
            }
            Err(e) => {
                eprintln!("seed {seed}: refused: {e}");
                refused.push(e.to_string());
            }
        }
    }
    let n = errors.len();
    let median = percentile(&mut errors.clone(), 0.5);
    let p95 = percentile(&mut errors.clone(), 0.95);
    let coverage = inside as f64 / n.max(1) as f64;
    let tdoa = methods.iter().filter(|m| **m == Method::Tdoa).count();
    let median_locate = percentile(&mut locate_s, 0.5);
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64).sqrt();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (pair_rms_ns, pair_mean_ns, pair_z_rms) = (1e9 * rms(&pair_err), 1e9 * mean(&pair_err), rms(&pair_z));
    // 1 when the ellipses are honest, above 1 when they are too small.
    let ellipse_scale = median_of(&mut md2) / std::f64::consts::LN_2;
    if json {
        println!(
            "{{\"seeds\": {seeds}, \"duration_s\": {duration}, \"clock\": \"{}\", \"located\": {n}, \"tdoa\": {tdoa}, \"median_error_m\": {median:.2}, \"p95_error_m\": {p95:.2}, \"ellipse_coverage\": {coverage:.3}, \"median_locate_s\": {median_locate:.4}, \"pair_error_rms_ns\": {pair_rms_ns:.2}, \"pair_error_mean_ns\": {pair_mean_ns:.2}, \"pair_error_over_sigma_rms\": {pair_z_rms:.2}, \"truth_over_ellipse\": {ellipse_scale:.2}, \"refusals\": {}}}",
            if host { "host" } else { "gps" },
            serde_json::to_string(&refused).unwrap_or_default()
        );
    } else {
        println!(
            "{} clocks, {seeds} seeds x {duration} s: located {n} ({tdoa} by TDoA), median error {median:.1} m, p95 {p95:.1} m, 95% ellipse coverage {:.1}%, median locate time {median_locate:.3} s",
            if host { "host" } else { "GPS" },
            100.0 * coverage
        );
        println!(
            "pair delays against the true geometry: rms {pair_rms_ns:.1} ns, mean {pair_mean_ns:.1} ns, rms of error/σ {pair_z_rms:.2}; truth's (Mahalanobis distance / its expected median)² {ellipse_scale:.2}"
        );
        for r in refused.iter().take(3) {
            println!("  refusal/rejection: {r}");
        }
    }
}
