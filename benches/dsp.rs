//! DSP core benchmarks, throughput in samples: Welch alone, the full metrics pipeline
//! (`Analyzer` push + finish) and the sample conversions, 2^14 to 2^22 samples, and the bound
//! they are held to: rustfft's 1024-point FFT, counted as the 512 samples one Welch segment
//! advances (`fft_bound/1024`).
//!
//! `cargo bench --bench dsp -- 'fft_bound|analyzer/4194304'` prints the pipeline next to its
//! bound; `cargo run --release -p heimdall-core --example dsp_bench` measures the same pair in
//! alternated runs and prints the ratio with its spread.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heimdall::core::Complex32;
use heimdall::core::dsp::{Analyzer, AnalyzerConfig, IqFormat, Welch, convert_to_slice};
use heimdall::core::testkit::tone_in_noise;

const SIZES: [usize; 5] = [1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22];

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 3) as u8).collect()
}

fn bench_welch(c: &mut Criterion) {
    let mut g = c.benchmark_group("welch");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        let x = tone_in_noise(n);
        let mut w = Welch::new(2.048e6, 1024).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &x, |b, x| {
            b.iter(|| {
                w.reset();
                w.push(black_box(x));
                black_box(w.finish().unwrap())
            })
        });
    }
    g.finish();
}

fn bench_fft_bound(c: &mut Criterion) {
    let mut g = c.benchmark_group("fft_bound");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(1024);
    let mut buf = tone_in_noise(1024);
    let mut scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
    // One transform per Welch segment, i.e. per 512 new samples.
    g.throughput(Throughput::Elements(512));
    g.bench_function("1024", |b| {
        b.iter(|| fft.process_with_scratch(black_box(buf.as_mut_slice()), scratch.as_mut_slice()))
    });
    g.finish();
}

fn bench_analyzer(c: &mut Criterion) {
    let mut g = c.benchmark_group("analyzer");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        let x = tone_in_noise(n);
        let mut a = Analyzer::new(AnalyzerConfig::new(2.048e6)).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &x, |b, x| {
            b.iter(|| {
                a.reset();
                // Chunks as a receiver delivers them.
                for chunk in black_box(x).chunks(65_536) {
                    a.push_complex(chunk).unwrap();
                }
                black_box(a.finish().unwrap())
            })
        });
    }
    g.finish();
}

fn bench_convert(c: &mut Criterion) {
    let mut g = c.benchmark_group("convert");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in SIZES {
        let mut out = vec![Complex32::default(); n];
        g.throughput(Throughput::Elements(n as u64));
        for (name, format) in [
            ("i16_le", IqFormat::I16Le),
            ("i16_be", IqFormat::I16Be),
            ("u8", IqFormat::U8),
        ] {
            let input = bytes(n * format.bytes_per_sample());
            g.bench_with_input(BenchmarkId::new(name, n), &input, |b, input| {
                b.iter(|| convert_to_slice(format, black_box(input), &mut out).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters needs system fonts that minimal hosts lack.
    config = Criterion::default().without_plots();
    targets = bench_fft_bound, bench_welch, bench_analyzer, bench_convert
}
criterion_main!(benches);
