use super::*;
use crate::dsp::Welch;

/// A tone, noise, a DC offset and a few clipped samples (xorshift: no RNG dependency).
fn capture(n: usize) -> Vec<Complex32> {
    let mut noise = crate::testkit::xorshift_noise(0x2545_F491, 0.1);
    (0..n)
        .map(|i| {
            let ph = 0.0917_f32 * i as f32;
            let clip = if i % 997 == 0 { 1.0 } else { 0.0 };
            Complex32::new(0.3 * ph.cos() + noise() + 0.01 + clip, 0.3 * ph.sin() + noise())
        })
        .collect()
}

/// Every instruction set this machine has, the portable fallback first.
fn arches() -> Vec<pulp::Arch> {
    let mut v = vec![pulp::Arch::Scalar];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        v.extend(pulp::x86::V3::try_new().map(pulp::Arch::V3));
        v.extend(pulp::x86::V4::try_new().map(pulp::Arch::V4));
    }
    v
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    // Long enough for pieces, checkpoints, paired segments and several flushes; odd chunk
    // sizes so single and paired commits alternate.
    let x = capture(3 * PIECE + 12_345);
    let audio: Vec<f32> = x.iter().map(|c| c.re).collect();
    for (n, chunk) in [(1024, 70_001), (1000, 4_099), (64, PIECE + 1)] {
        let cfg = AnalyzerConfig::new(48_000.0).with_segment_len(n);
        let mut want = None;
        let mut want_real = None;
        for arch in arches() {
            let mut a = Analyzer::new(cfg.clone()).unwrap();
            a.arch = arch;
            for c in x.chunks(chunk) {
                a.push_complex(c).unwrap();
            }
            let got = a.finish().unwrap();
            assert!(got.metrics.clipped_fraction > 0.0);
            assert_eq!(*want.get_or_insert_with(|| got.clone()), got, "{arch:?}, n {n}");
            a.reset();
            for c in audio.chunks(chunk) {
                a.push_real(c).unwrap();
            }
            let got = a.finish().unwrap();
            assert_eq!(
                *want_real.get_or_insert_with(|| got.clone()),
                got,
                "{arch:?}, n {n}, audio"
            );
        }
    }
}

#[test]
fn psd_equals_plain_welch_bit_for_bit() {
    // `Welch` accumulates |X|^2 with straightforward scalar code: an independent check of
    // the blocked, paired, SIMD accumulation.
    let x = capture(2 * PIECE + 777);
    for n in [1024, 256, 100] {
        let mut w = Welch::new(2.4e6, n).unwrap();
        let mut a = Analyzer::new(AnalyzerConfig::new(2.4e6).with_segment_len(n)).unwrap();
        for c in x.chunks(30_000) {
            w.push(c);
            a.push_complex(c).unwrap();
        }
        assert_eq!(a.finish().unwrap().psd, w.finish().unwrap(), "n {n}");
    }
}

#[test]
fn a_defect_in_a_later_piece_rolls_everything_back() {
    let mut x = capture(3 * PIECE);
    let mut a = Analyzer::new(AnalyzerConfig::new(48_000.0)).unwrap();
    a.push_complex(&x[..5000]).unwrap();
    let before = a.finish().unwrap();
    let at = 2 * PIECE + 10;
    x[at] = Complex32::new(0.0, f32::NAN);
    let e = a.push_complex(&x).unwrap_err();
    assert!(e.to_string().contains(&format!("sample {}", 5000 + at)), "{e}");
    assert_eq!(a.samples(), 5000);
    assert_eq!(a.finish().unwrap(), before);
    // And the analysis goes on as if the bad chunk had never been pushed.
    x[at] = Complex32::new(0.0, 0.0);
    a.push_complex(&x).unwrap();
    let mut b = Analyzer::new(AnalyzerConfig::new(48_000.0)).unwrap();
    b.push_complex(&x[..5000]).unwrap();
    b.push_complex(&x).unwrap();
    assert_eq!(a.finish().unwrap(), b.finish().unwrap());
}
