//! Held-out synthetic captures (seeded Gaussian noise, tones anywhere in +-0.45 fs, with and
//! without DC / LO leakage) against the accuracy targets, plus streaming, real-audio and
//! bad-input behaviour.
#![allow(clippy::print_stderr)] // the tests report their accuracy figures

use heimdall_core::dsp::{Analysis, Analyzer, AnalyzerConfig, analyze_complex, analyze_real};
use heimdall_core::{Complex32, Error, SampleBlock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Standard normal pairs by Box-Muller.
struct Gauss(StdRng);

impl Gauss {
    fn new(seed: u64) -> Self {
        Gauss(StdRng::seed_from_u64(seed))
    }
    fn pair(&mut self) -> (f64, f64) {
        let u1: f64 = 1.0 - self.0.random::<f64>(); // (0, 1]
        let u2: f64 = self.0.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        (r * t.cos(), r * t.sin())
    }
}

struct Capture {
    x: Vec<Complex32>,
    /// Tone power / realised noise power, dB (the truth files' definition).
    snr_db: f64,
    tone_hz: f64,
}

/// Tone of power 0.0625 at `f0` + complex AWGN at `snr_db` over the full band + optional DC.
/// `snr_db = None`: noise only (power 0.0625).
fn capture(fs: f64, n: usize, f0: f64, snr_db: f64, dc: Complex32, seed: u64) -> Capture {
    capture_amp(fs, n, f0, 0.25, snr_db, dc, seed)
}

fn noise_only(fs: f64, n: usize, dc: Complex32, seed: u64) -> Vec<Complex32> {
    capture_amp(fs, n, 0.0, 0.0, 0.0, dc, seed).x
}

fn capture_amp(fs: f64, n: usize, f0: f64, amp: f64, snr_db: f64, dc: Complex32, seed: u64) -> Capture {
    let mut g = Gauss::new(seed);
    let sigma = (0.0625 * 10f64.powf(-snr_db / 10.0) / 2.0).sqrt();
    let phase0 = seed as f64 * 0.7;
    let mut noise_power = 0.0;
    let x = (0..n)
        .map(|i| {
            let (a, b) = g.pair();
            let (nr, ni) = ((a * sigma) as f32, (b * sigma) as f32);
            noise_power += f64::from(nr * nr + ni * ni);
            let ph = std::f64::consts::TAU * f0 * i as f64 / fs + phase0;
            Complex32::new((amp * ph.cos()) as f32 + nr, (amp * ph.sin()) as f32 + ni) + dc
        })
        .collect();
    noise_power /= n as f64;
    Capture {
        x,
        snr_db: 10.0 * (amp * amp / noise_power).log10(),
        tone_hz: f0,
    }
}

fn analyze(fs: f64, x: &[Complex32]) -> Analysis {
    analyze_complex(AnalyzerConfig::new(fs), x).unwrap()
}

#[derive(Default, Debug)]
struct Worst {
    snr: f64,
    freq: f64,
    cases: usize,
}

/// Runs `cases` random captures; returns worst |SNR error| and worst |frequency error| (the
/// latter only over SNR >= 0 dB).
fn sweep(fs: f64, n: usize, cases: u64, seed0: u64, snr_range: (f64, f64), with_dc: bool) -> Worst {
    let mut rng = StdRng::seed_from_u64(seed0);
    let mut w = Worst::default();
    let df = fs / 1024.0;
    for c in 0..cases {
        let snr = rng.random_range(snr_range.0..=snr_range.1);
        let mut f0 = rng.random_range(-0.45 * fs..=0.45 * fs);
        // Every fourth tone sits on a bin edge or centre exactly.
        match c % 4 {
            1 => f0 = (f0 / df).round() * df + 0.5 * df,
            2 => f0 = (f0 / df).round() * df,
            _ => {}
        }
        // Keep clear of the DC guard when DC is present.
        if with_dc && f0.abs() < 6.0 * df {
            f0 += 10.0 * df * f0.signum().max(0.0) - 5.0 * df;
        }
        let dc = if with_dc {
            Complex32::new(rng.random_range(-0.1..0.1), rng.random_range(-0.1..0.1))
        } else {
            Complex32::default()
        };
        let cap = capture(fs, n, f0, snr, dc, seed0 * 1000 + c);
        let m = analyze(fs, &cap.x).metrics;
        let got = m
            .snr_db
            .unwrap_or_else(|| panic!("fs {fs} n {n}: no tone found at {f0} Hz, SNR {}", cap.snr_db));
        let e = got - cap.snr_db;
        assert!(
            e.abs() < 0.5,
            "fs {fs} n {n} f0 {f0} dc {dc}: SNR {got} vs truth {} (err {e})",
            cap.snr_db
        );
        w.snr = w.snr.max(e.abs());
        if cap.snr_db >= 0.0 {
            let fe = m.frequency_offset_hz.unwrap() - cap.tone_hz;
            w.freq = w.freq.max(fe.abs());
        }
        if with_dc {
            assert!(m.dc_power_dbfs.is_some(), "DC not reported");
        }
        w.cases += 1;
    }
    w
}

#[test]
fn snr_and_frequency_at_12k() {
    let w = sweep(12_000.0, 16_384, 120, 1, (-5.0, 40.0), false);
    eprintln!("12 kHz, 16384 samples: {w:?}");
    assert!(w.freq <= 0.05, "{w:?}");
    let w = sweep(12_000.0, 65_536, 30, 2, (-5.0, 40.0), true);
    eprintln!("12 kHz, 65536 samples, DC: {w:?}");
    assert!(w.freq <= 0.05, "{w:?}");
    let w = sweep(12_000.0, 16_384, 60, 3, (-5.0, 40.0), true);
    eprintln!("12 kHz, 16384 samples, DC: {w:?}");
    assert!(w.freq <= 0.05, "{w:?}");
}

#[test]
fn snr_and_frequency_at_20k25() {
    let w = sweep(20_250.0, 16_384, 60, 4, (-5.0, 40.0), false);
    eprintln!("20.25 kHz: {w:?}");
    assert!(w.freq <= 0.1, "{w:?}");
    let w = sweep(20_250.0, 32_768, 40, 5, (-5.0, 40.0), true);
    eprintln!("20.25 kHz, DC: {w:?}");
    assert!(w.freq <= 0.1, "{w:?}");
}

#[test]
fn snr_and_frequency_at_2m048() {
    // 2^18 samples (128 ms) as the truth vector: frequency within 1 Hz.
    let w = sweep(2_048_000.0, 1 << 18, 16, 6, (0.0, 40.0), false);
    eprintln!("2.048 MS/s, 2^18 samples: {w:?}");
    assert!(w.freq <= 1.0, "{w:?}");
    let w = sweep(2_048_000.0, 1 << 18, 8, 7, (0.0, 40.0), true);
    eprintln!("2.048 MS/s, 2^18 samples, DC: {w:?}");
    assert!(w.freq <= 1.0, "{w:?}");
    let w = sweep(2_048_000.0, 1 << 16, 24, 10, (0.0, 40.0), true);
    eprintln!("2.048 MS/s, 2^16 samples, DC: {w:?}");
    assert!(w.freq <= 1.0, "{w:?}");
    // Short captures: SNR still within 0.5 dB (frequency limited by the Cramer-Rao bound,
    // 0.38 Hz rms at 0 dB for 16384 samples).
    let w = sweep(2_048_000.0, 16_384, 40, 8, (-5.0, 40.0), true);
    eprintln!("2.048 MS/s, 16384 samples, DC: {w:?}");
    let w = sweep(2_400_000.0, 1 << 17, 16, 9, (-5.0, 40.0), false);
    eprintln!("2.4 MS/s, 2^17 samples: {w:?}");
}

#[test]
fn tones_at_the_band_edges_and_negative_offsets() {
    let fs = 12_000.0;
    for (i, f0) in [-0.45 * fs, 0.45 * fs, -0.499 * fs, 0.4995 * fs, -1234.56, 37.0]
        .into_iter()
        .enumerate()
    {
        let cap = capture(fs, 16_384, f0, 10.0, Complex32::default(), 100 + i as u64);
        let m = analyze(fs, &cap.x).metrics;
        let f = m.peak_frequency_hz.unwrap();
        // The band is circular: -fs/2 and +fs/2 are the same frequency.
        let err = (f - f0 + fs / 2.0).rem_euclid(fs) - fs / 2.0;
        assert!(err.abs() < 0.05, "{f0}: got {f}");
        assert!(
            (m.snr_db.unwrap() - cap.snr_db).abs() < 0.5,
            "{f0}: {:?} vs {}",
            m.snr_db,
            cap.snr_db
        );
    }
}

/// A narrowband signal (40 random-phase tones over ~600 Hz) is measured whole.
#[test]
fn narrowband_multitone_signal_power() {
    let fs = 12_000.0;
    let n = 65_536;
    let mut g = Gauss::new(31);
    let tones: Vec<(f64, f64)> = (0..40).map(|k| (2000.0 + 15.0 * k as f64, g.pair().0 * 3.0)).collect();
    let amp = (0.0625f64 / 40.0).sqrt();
    let sigma = (0.0625f64 * 10f64.powf(-10.0 / 10.0) / 2.0).sqrt();
    let mut noise_power = 0.0;
    let mut sig_power = 0.0;
    let x: Vec<Complex32> = (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            let (mut re, mut im) = (0.0, 0.0);
            for &(f, ph) in &tones {
                let a = std::f64::consts::TAU * f * t + ph;
                re += amp * a.cos();
                im += amp * a.sin();
            }
            sig_power += re * re + im * im;
            let (a, b) = g.pair();
            let (nr, ni) = (a * sigma, b * sigma);
            noise_power += nr * nr + ni * ni;
            Complex32::new((re + nr) as f32, (im + ni) as f32)
        })
        .collect();
    let truth = 10.0 * (sig_power / noise_power).log10();
    let m = analyze(fs, &x).metrics;
    eprintln!("multitone: snr {:?} vs {truth}", m.snr_db);
    assert!((m.snr_db.unwrap() - truth).abs() < 0.5, "{:?} vs {truth}", m.snr_db);
}

#[test]
fn target_offset_and_calibration() {
    let fs = 12_000.0;
    let cap = capture(fs, 16_384, 1500.25, 20.0, Complex32::default(), 7);
    let cfg = AnalyzerConfig::new(fs)
        .with_target_offset_hz(1500.0)
        .with_calibration_db(-30.0);
    let m = analyze_complex(cfg, &cap.x).unwrap().metrics;
    assert!((m.frequency_offset_hz.unwrap() - 0.25).abs() < 0.05);
    assert!((m.peak_frequency_hz.unwrap() - 1500.25).abs() < 0.05);
    let dbm = m.signal_power_dbm.unwrap();
    assert!((dbm - (m.signal_power_dbfs.unwrap() - 30.0)).abs() < 1e-12);
    assert!((m.signal_power_dbfs.unwrap() + 12.04).abs() < 0.1);
}

#[test]
fn noise_only_reports_no_signal() {
    let mut false_alarms = 0;
    let trials = 300;
    for seed in 0..trials {
        let dc = if seed % 2 == 0 {
            Complex32::new(0.05, -0.02)
        } else {
            Complex32::default()
        };
        let x = noise_only(12_000.0, 16_384, dc, 5000 + seed);
        let m = analyze(12_000.0, &x).metrics;
        if m.snr_db.is_some() {
            false_alarms += 1;
            eprintln!("false alarm, seed {seed}: {m:?}");
        }
        assert!(m.noise_power_dbfs.is_some());
        assert_eq!(m.signal_power_dbfs.is_some(), m.snr_db.is_some());
        assert_eq!(m.dc_power_dbfs.is_some(), seed % 2 == 0, "seed {seed}");
        if let Some(dc) = m.dc_power_dbfs {
            assert!((dc - 10.0 * (0.05f64 * 0.05 + 0.02 * 0.02).log10()).abs() < 0.6, "{dc}");
        }
    }
    eprintln!("{false_alarms} false alarms in {trials} noise-only captures");
    assert!(false_alarms <= 2, "{false_alarms} false alarms in {trials}");
}

#[test]
fn minus_5_db_tones_are_found_at_16384_samples() {
    for seed in 0..40 {
        // Away from 0 Hz: a tone within the DC guard looks like LO leakage.
        let f0 = -5000.0 + 250.0 * seed as f64 + 100.37;
        let cap = capture(12_000.0, 16_384, f0, -5.0, Complex32::default(), 900 + seed);
        let m = analyze(12_000.0, &cap.x).metrics;
        assert!(m.snr_db.is_some(), "seed {seed}");
    }
}

#[test]
fn streaming_in_any_chunks_equals_one_shot() {
    let fs = 48_000.0;
    let cap = capture(fs, 50_000, 3210.0, 5.0, Complex32::new(0.01, 0.0), 42);
    let one = analyze(fs, &cap.x);
    let mut rng = StdRng::seed_from_u64(9);
    let mut a = Analyzer::new(AnalyzerConfig::new(fs)).unwrap();
    for _ in 0..10 {
        a.reset();
        let mut off = 0;
        while off < cap.x.len() {
            let len = match rng.random_range(0..4) {
                0 => rng.random_range(0..4),
                1 => rng.random_range(0..2000),
                2 => 512,
                _ => rng.random_range(0..20_000),
            };
            let end = (off + len).min(cap.x.len());
            a.push_complex(&cap.x[off..end]).unwrap();
            off = end;
        }
        assert_eq!(a.finish().unwrap(), one);
    }
    // Through SampleBlock too.
    a.reset();
    a.push(&SampleBlock::Complex(cap.x.clone())).unwrap();
    assert_eq!(a.finish().unwrap(), one);
}

#[test]
fn real_audio_tone() {
    let fs = 12_000.0;
    let n = 32_768;
    let mut g = Gauss::new(77);
    let (amp, f0, snr_db) = (0.3f64, 1001.3, 15.0);
    let tone_power = amp * amp / 2.0;
    let sigma = (tone_power * 10f64.powf(-snr_db / 10.0)).sqrt();
    let mut noise_power = 0.0;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            let nz = (g.pair().0 * sigma) as f32;
            noise_power += f64::from(nz * nz);
            (amp * (std::f64::consts::TAU * f0 * i as f64 / fs).cos()) as f32 + nz
        })
        .collect();
    let truth = 10.0 * (tone_power / (noise_power / n as f64)).log10();
    let a = analyze_real(AnalyzerConfig::new(fs), &x).unwrap();
    assert!(a.real_input);
    assert_eq!(a.psd.len(), 513);
    assert_eq!(a.psd.frequencies_hz[512], 6000.0);
    let m = a.metrics;
    assert!((m.snr_db.unwrap() - truth).abs() < 0.5, "{:?} vs {truth}", m.snr_db);
    assert!(
        (m.peak_frequency_hz.unwrap() - f0).abs() < 0.05,
        "{:?}",
        m.peak_frequency_hz
    );
    assert!((m.signal_power_dbfs.unwrap() - 10.0 * tone_power.log10()).abs() < 0.3);
    // Streaming equals one-shot for audio too.
    let mut an = Analyzer::new(AnalyzerConfig::new(fs)).unwrap();
    for c in x.chunks(999) {
        an.push_real(c).unwrap();
    }
    assert_eq!(an.finish().unwrap(), analyze_real(AnalyzerConfig::new(fs), &x).unwrap());
    // Mixing audio into an IQ analysis is an error.
    assert!(an.push_complex(&[Complex32::default()]).is_err());
}

#[test]
fn clipping_is_counted() {
    let mut x = vec![Complex32::new(0.1, 0.1); 4096];
    for v in x.iter_mut().step_by(8) {
        *v = Complex32::new(1.0, 0.0);
    }
    x[3] = Complex32::new(0.0, -0.9995);
    let m = analyze(1000.0, &x).metrics;
    assert!((m.clipped_fraction - (512.0 + 1.0) / 4096.0).abs() < 1e-12);
}

fn invalid_field(e: &Error) -> &'static str {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    for fs in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            invalid_field(&Analyzer::new(AnalyzerConfig::new(fs)).unwrap_err()),
            "sample_rate_hz"
        );
    }
    assert!(Analyzer::new(AnalyzerConfig::new(1.0).with_segment_len(0)).is_err());
    assert!(Analyzer::new(AnalyzerConfig::new(1.0).with_clip_level(f32::NAN)).is_err());
    let mut a = Analyzer::new(AnalyzerConfig::new(1000.0)).unwrap();
    let e = a.finish().unwrap_err();
    assert!(e.to_string().contains("empty capture"), "{e}");
    a.push_complex(&[]).unwrap();
    assert!(a.finish().is_err());
    let mut x = vec![Complex32::new(0.1, 0.0); 5000];
    a.push_complex(&x[..10]).unwrap();
    x[4321] = Complex32::new(f32::NAN, 0.0);
    let e = a.push_complex(&x).unwrap_err();
    assert_eq!(invalid_field(&e), "samples");
    assert!(e.to_string().contains("sample 4331"), "{e}");
    assert_eq!(a.samples(), 10, "a rejected chunk is not used");
    x[4321] = Complex32::new(1e30, 0.0);
    assert!(a.push_complex(&x).unwrap_err().to_string().contains("too large"));
    let e = a.finish().unwrap_err();
    assert!(e.to_string().contains("shorter than one Welch segment"), "{e}");
    assert!(a.push_real(&[f32::INFINITY]).is_err());
}

/// Arbitrary chunking of arbitrary (including garbage) samples never panics and never yields
/// NaN: every result is either an error or finite metrics.
#[test]
fn fuzz_chunks_and_garbage_never_panic() {
    let mut rng = StdRng::seed_from_u64(0xF0F0);
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        1e-40,
        3e18,
        1e19,
        f32::NAN,
        f32::INFINITY,
    ];
    for case in 0..300 {
        let n = rng.random_range(0..6000);
        let seg = [8usize, 16, 64, 100, 256, 1024][rng.random_range(0..6)];
        let fs = [1.0, 12_000.0, 2.4e6, 1e-3][rng.random_range(0..4)];
        let garbage = rng.random_range(0..3);
        let x: Vec<Complex32> = (0..n)
            .map(|_| match garbage {
                0 => Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)),
                1 => Complex32::new(
                    specials[rng.random_range(0..specials.len())],
                    specials[rng.random_range(0..specials.len())],
                ),
                _ => Complex32::new(0.5, -0.5),
            })
            .collect();
        let mut a = match Analyzer::new(AnalyzerConfig::new(fs).with_segment_len(seg)) {
            Ok(a) => a,
            Err(_) => continue,
        };
        let mut off = 0;
        while off < x.len() {
            let end = (off + rng.random_range(0..3000)).min(x.len());
            let _ = a.push_complex(&x[off..end]);
            off = end;
        }
        if let Ok(r) = a.finish() {
            let m = r.metrics;
            for v in [
                m.snr_db,
                m.frequency_offset_hz,
                m.peak_frequency_hz,
                m.signal_power_dbfs,
                m.noise_power_dbfs,
                m.noise_floor_dbfs_per_hz,
                m.total_power_dbfs,
                m.dc_power_dbfs,
            ]
            .into_iter()
            .flatten()
            {
                assert!(v.is_finite(), "case {case}: {m:?}");
            }
            assert!(m.clipped_fraction.is_finite());
            assert!(r.psd.density.iter().all(|d| d.is_finite()), "case {case}");
        }
        let audio: Vec<f32> = x.iter().map(|c| c.re).collect();
        a.reset();
        let _ = a.push_real(&audio);
        if let Ok(r) = a.finish() {
            assert!(r.metrics.snr_db.is_none_or(f64::is_finite));
        }
    }
}
