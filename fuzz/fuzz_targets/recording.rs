//! Recording decoding on arbitrary bytes: kiwirecorder IQ WAV (`kiwi_wav::parse`, then the
//! replay's stamp selection and rate fit in `recording::protocol::from_kiwi_wav`) and SigMF
//! (metadata text before the first NUL byte, dataset after it).
//!
//! Checks beyond "no panic": a decoded WAV's blocks account for every sample; a decoded
//! recording's rate is positive and finite, its marks lie inside it in order, and its sample
//! 0 time round-trips through `sample_at`.
#![no_main]

use heimdall_websdr::kiwi_wav;
use heimdall_websdr::recording::{Recording, protocol, sigmf};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "20200813T065220Z_77500_FUZZ_iq.wav";

fn check(r: &Recording) {
    assert!(r.sample_rate_hz.is_finite() && r.sample_rate_hz > 0.0, "{}", r.sample_rate_hz);
    assert!(r.marks.windows(2).all(|w| w[0].sample_index <= w[1].sample_index));
    assert!(r.marks.iter().all(|m| m.sample_index > 0));
    if !r.samples.is_empty() {
        assert_eq!(r.sample_at(r.start.time), Some(0));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = kiwi_wav::parse(data, NAME) {
        let total: usize = w.blocks.iter().map(|b| b.len).sum();
        assert_eq!(total, w.samples.len());
    }
    if let Ok(r) = protocol::from_kiwi_wav(data, NAME, 10) {
        check(&r);
    }
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (text, rest) = data.split_at(split);
    if let Ok(meta) = sigmf::parse_meta(&String::from_utf8_lossy(text), "fuzz.sigmf-meta") {
        if let Ok(r) = sigmf::from_sigmf(&meta, rest.get(1..).unwrap_or_default(), "fuzz.sigmf-meta") {
            check(&r);
        }
    }
});
