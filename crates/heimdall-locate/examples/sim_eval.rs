//! Accuracy of the localization on synthetic networks over many seeds: median and 95th
//! percentile error, and how often the 95% ellipse holds the truth.
//!
//! ```sh
//! cargo run --release -p heimdall-locate --example sim_eval -- --seeds 50 --duration 1.0 [--host] [--json]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use heimdall_locate::testkit::{NetworkSpec, network};
use heimdall_locate::{ClockSource, LocateOptions, Method, geo::geodesic_distance, locate};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
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
                methods.push(fix.method);
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
    if json {
        println!(
            "{{\"seeds\": {seeds}, \"duration_s\": {duration}, \"clock\": \"{}\", \"located\": {n}, \"tdoa\": {tdoa}, \"median_error_m\": {median:.2}, \"p95_error_m\": {p95:.2}, \"ellipse_coverage\": {coverage:.3}, \"median_locate_s\": {median_locate:.4}, \"refusals\": {}}}",
            if host { "host" } else { "gps" },
            serde_json::to_string(&refused).unwrap_or_default()
        );
    } else {
        println!(
            "{} clocks, {seeds} seeds x {duration} s: located {n} ({tdoa} by TDoA), median error {median:.1} m, p95 {p95:.1} m, 95% ellipse coverage {:.1}%, median locate time {median_locate:.3} s",
            if host { "host" } else { "GPS" },
            100.0 * coverage
        );
        for r in refused.iter().take(3) {
            println!("  refusal/rejection: {r}");
        }
    }
}
