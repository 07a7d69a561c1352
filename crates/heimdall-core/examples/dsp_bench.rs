//! The DSP core next to its bound, in alternated pairs within one process.
//!
//! ```text
//! cargo run --release -p heimdall-core --example dsp_bench               # 2^22 samples, 9 pairs
//! cargo run --release -p heimdall-core --example dsp_bench -- --pairs 15 --samples 1048576
//! cargo run --release -p heimdall-core --example dsp_bench -- --npy FILE.npy --rate 2048000
//! ```
//!
//! Default mode: each pair times the 1024-point FFT bound and the full metrics pipeline
//! (`Analyzer`, pushed in chunks of 65 536 samples, then `finish`) and Welch alone, swapping
//! which runs first every pair, and prints each figure's median in MS/s with the ratio
//! pipeline / bound as median [min, max] over the pairs. The bound is rustfft's in-place
//! 1024-point forward FFT on one cache-resident buffer, counted as 512 samples per transform
//! (a Welch segment every 512 samples at 50 % overlap): no analysis can go faster.
//!
//! `--only pipeline|welch|bound`: that figure alone, once, over the same number of samples
//! (for `valgrind --tool=callgrind`, whose instruction counts do not depend on the load).
//!
//! `--npy FILE --rate HZ`: one JSON line like `benches/peer/time_reference.py` prints (median
//! of `--repeats` full analyses of that capture, read into memory first), so a script can pair
//! it with the Python peer run for run.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use heimdall_core::Complex32;
use heimdall_core::dsp::{Analyzer, AnalyzerConfig, Welch};
use rustfft::FftPlanner;

const CHUNK: usize = 65_536;
const SEGMENT: usize = 1024;

/// A tone plus xorshift noise (as benches/dsp.rs).
fn capture(n: usize) -> Vec<Complex32> {
    let mut s = 0x9E37_79B9u32;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s as f32 / u32::MAX as f32 - 0.5) * 0.2
    };
    (0..n)
        .map(|i| {
            let ph = 0.123_f32 * i as f32;
            Complex32::new(0.25 * ph.cos() + noise(), 0.25 * ph.sin() + noise())
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn spread(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Rates of one run: over the whole run, and the median over its chunks of `CHUNK` samples
/// (robust to the time slices another process takes on a loaded machine).
#[derive(Clone, Copy)]
struct Rate {
    whole: f64,
    chunks: f64,
}

fn rate(samples: usize, total: Duration, per_chunk: &mut [f64]) -> Rate {
    Rate {
        whole: samples as f64 / total.as_secs_f64() / 1e6,
        chunks: CHUNK as f64 / median(per_chunk) / 1e6,
    }
}

/// The whole pipeline over `x`.
#[inline(never)]
fn pipeline(a: &mut Analyzer, x: &[Complex32], per_chunk: &mut Vec<f64>) -> Rate {
    per_chunk.clear();
    let t = Instant::now();
    a.reset();
    for c in x.chunks(CHUNK) {
        let tc = Instant::now();
        a.push_complex(black_box(c)).expect("push");
        per_chunk.push(tc.elapsed().as_secs_f64());
    }
    black_box(a.finish().expect("finish"));
    rate(x.len(), t.elapsed(), per_chunk)
}

#[inline(never)]
fn welch(w: &mut Welch, x: &[Complex32], per_chunk: &mut Vec<f64>) -> Rate {
    per_chunk.clear();
    let t = Instant::now();
    w.reset();
    for c in x.chunks(CHUNK) {
        let tc = Instant::now();
        w.push(black_box(c));
        per_chunk.push(tc.elapsed().as_secs_f64());
    }
    black_box(w.finish().expect("finish"));
    rate(x.len(), t.elapsed(), per_chunk)
}

/// One streaming read of `x` (a sum of its floats): what memory alone allows.
#[inline(never)]
fn stream(x: &[Complex32], per_chunk: &mut Vec<f64>) -> Rate {
    per_chunk.clear();
    let t = Instant::now();
    let mut total = [0f32; 16];
    for c in x.chunks(CHUNK) {
        let tc = Instant::now();
        let f: &[f32] = bytemuck::cast_slice(black_box(c));
        for ch in f.chunks_exact(16) {
            for (t, v) in total.iter_mut().zip(ch) {
                *t += v;
            }
        }
        per_chunk.push(tc.elapsed().as_secs_f64());
    }
    black_box(total);
    rate(x.len(), t.elapsed(), per_chunk)
}

/// In-place 1024-point FFTs, one per 512 of `samples` (one per Welch segment), timed by
/// groups of `CHUNK / 512`.
#[inline(never)]
fn fft_bound(
    fft: &dyn rustfft::Fft<f32>,
    buf: &mut [Complex32],
    scratch: &mut [Complex32],
    samples: usize,
    out_of_place: bool,
    per_chunk: &mut Vec<f64>,
) -> Rate {
    per_chunk.clear();
    let t = Instant::now();
    let group = CHUNK / (SEGMENT / 2);
    let (a, b) = buf.split_at_mut(SEGMENT);
    for _ in 0..(samples / CHUNK).max(1) {
        let tc = Instant::now();
        for _ in 0..group {
            if out_of_place {
                fft.process_outofplace_with_scratch(black_box(&mut *a), b, scratch);
            } else {
                fft.process_with_scratch(black_box(&mut *a), scratch);
            }
        }
        per_chunk.push(tc.elapsed().as_secs_f64());
    }
    black_box(&buf);
    rate(samples.max(CHUNK), t.elapsed(), per_chunk)
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() -> heimdall_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = arg::<String>(&args, "--npy") {
        let rate: f64 = arg(&args, "--rate").unwrap_or(2_048_000.0);
        let repeats: usize = arg(&args, "--repeats").unwrap_or(7);
        let bytes = std::fs::read(&path).map_err(|e| heimdall_core::Error::invalid("npy", format!("{path}: {e}")))?;
        let x = match heimdall_core::npy::decode(&bytes)? {
            heimdall_core::SampleBlock::Complex(x) => x,
            heimdall_core::SampleBlock::Real(_) => {
                return Err(heimdall_core::Error::invalid("npy", "expected complex64 samples"));
            }
        };
        let mut a = Analyzer::new(AnalyzerConfig::new(rate))?;
        let mut per_chunk = Vec::new();
        pipeline(&mut a, &x, &mut per_chunk); // warm-up
        let ms: Vec<f64> = (0..repeats)
            .map(|_| x.len() as f64 / pipeline(&mut a, &x, &mut per_chunk).whole / 1e3)
            .collect();
        let med = median(&ms);
        println!(
            "{{\"samples\": {}, \"sample_rate_hz\": {rate}, \"median_ms\": {med:.3}, \"best_ms\": {:.3}, \"msps\": {:.2}}}",
            x.len(),
            spread(&ms).0,
            x.len() as f64 / med / 1e3
        );
        return Ok(());
    }
    let pairs: usize = arg(&args, "--pairs").unwrap_or(9);
    let n: usize = arg(&args, "--samples").unwrap_or(1 << 22);
    let x = capture(n);
    let mut per_chunk = Vec::new();
    // One figure alone, once (for instruction counts under callgrind).
    match arg::<String>(&args, "--only").as_deref() {
        Some("pipeline") => {
            let mut a = Analyzer::new(AnalyzerConfig::new(2.048e6))?;
            for _ in 0..arg(&args, "--repeat").unwrap_or(1) {
                println!("pipeline {:.1} MS/s", pipeline(&mut a, &x, &mut per_chunk).chunks);
            }
            return Ok(());
        }
        Some("welch") => {
            let mut w = Welch::new(2.048e6, SEGMENT)?;
            println!("welch {:.1} MS/s", welch(&mut w, &x, &mut per_chunk).whole);
            return Ok(());
        }
        Some("bound") => {
            let fft = FftPlanner::<f32>::new().plan_fft_forward(SEGMENT);
            let mut buf = x[..2 * SEGMENT].to_vec();
            let mut scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
            let r = fft_bound(&*fft, &mut buf, &mut scratch, n, false, &mut per_chunk);
            println!("bound {:.1} MS/s", r.whole);
            return Ok(());
        }
        _ => {}
    }
    let mut a = Analyzer::new(AnalyzerConfig::new(2.048e6))?;
    let mut w = Welch::new(2.048e6, SEGMENT)?;
    let fft = FftPlanner::<f32>::new().plan_fft_forward(SEGMENT);
    let mut buf = x[..2 * SEGMENT].to_vec();
    let scratch_len = fft.get_inplace_scratch_len().max(fft.get_outofplace_scratch_len());
    let mut scratch = vec![Complex32::default(); scratch_len];
    let pc = &mut per_chunk;
    let mut bound_of = |oop, pc: &mut Vec<f64>| fft_bound(&*fft, &mut buf, &mut scratch, n, oop, pc);
    // Warm-up.
    pipeline(&mut a, &x, pc);
    welch(&mut w, &x, pc);
    bound_of(false, pc);
    bound_of(true, pc);
    let (mut inplace, mut oop, mut full, mut wel, mut mem) = (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..pairs {
        mem.push(stream(&x, pc));
        if i % 2 == 0 {
            inplace.push(bound_of(false, pc));
            oop.push(bound_of(true, pc));
            full.push(pipeline(&mut a, &x, pc));
            wel.push(welch(&mut w, &x, pc));
        } else {
            wel.push(welch(&mut w, &x, pc));
            full.push(pipeline(&mut a, &x, pc));
            oop.push(bound_of(true, pc));
            inplace.push(bound_of(false, pc));
        }
    }
    // The bound of each pair is the faster of the two ways to call the FFT.
    let bound: Vec<Rate> = inplace
        .iter()
        .zip(&oop)
        .map(|(a, b)| Rate {
            whole: a.whole.max(b.whole),
            chunks: a.chunks.max(b.chunks),
        })
        .collect();
    println!("{n} complex64 samples, chunks of {CHUNK}, {pairs} alternated runs of each (median [min, max] over runs)");
    println!("{:<32} {:>22} {:>30}", "", "whole run, MS/s", "median chunk, MS/s");
    let show = |name: &str, v: &[Rate]| {
        let w: Vec<f64> = v.iter().map(|r| r.whole).collect();
        let c: Vec<f64> = v.iter().map(|r| r.chunks).collect();
        let ((wl, wh), (cl, ch)) = (spread(&w), spread(&c));
        println!(
            "{name:<32} {:>7.1} [{wl:>6.1}, {wh:>6.1}] {:>14.1} [{cl:>6.1}, {ch:>6.1}]",
            median(&w),
            median(&c)
        );
    };
    show("FFT bound: in place", &inplace);
    show("FFT bound: out of place", &oop);
    show("full pipeline (Analyzer)", &full);
    show("Welch alone", &wel);
    show("one read of the capture (memory)", &mem);
    let ratio = |num: &[Rate], f: fn(&Rate) -> f64| -> String {
        let r: Vec<f64> = num.iter().zip(&bound).map(|(a, b)| f(a) / f(b)).collect();
        let (lo, hi) = spread(&r);
        format!("{:.1} % [{:.1}, {:.1}]", 100.0 * median(&r), 100.0 * lo, 100.0 * hi)
    };
    println!(
        "full pipeline / FFT bound: whole runs {}, median chunks {}",
        ratio(&full, |r| r.whole),
        ratio(&full, |r| r.chunks)
    );
    println!(
        "Welch alone / FFT bound:   whole runs {}, median chunks {}",
        ratio(&wel, |r| r.whole),
        ratio(&wel, |r| r.chunks)
    );
    Ok(())
}
