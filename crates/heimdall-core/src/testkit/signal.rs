//! Deterministic test signals for the DSP tests and benchmarks (xorshift noise: no RNG dependency).

use num_complex::Complex32;

/// Uniform noise in `[-scale/2, scale/2]` from a 32-bit xorshift started at `seed` (non-zero):
/// the same sequence on every machine.
pub fn xorshift_noise(seed: u32, scale: f32) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s as f32 / u32::MAX as f32 - 0.5) * scale
    }
}

/// `n` samples of a complex tone (amplitude 0.25, 0.123 rad a sample) plus noise of span 0.2:
/// the capture the DSP benchmarks time.
pub fn tone_in_noise(n: usize) -> Vec<Complex32> {
    let mut noise = xorshift_noise(0x9E37_79B9, 0.2);
    (0..n)
        .map(|i| {
            let ph = 0.123_f32 * i as f32;
            Complex32::new(0.25 * ph.cos() + noise(), 0.25 * ph.sin() + noise())
        })
        .collect()
}
