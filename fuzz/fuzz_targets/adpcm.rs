//! IMA ADPCM as OpenWebRX sends it: the raw stream (≤ 1.1), the sync-block stream (≥ 1.2) and
//! FFT lines, on arbitrary bytes.
//!
//! Checks beyond "no panic": the raw decoder yields exactly 2 samples per byte; both stream
//! decoders give the same samples when the input is split in two anywhere (state carried across
//! WebSocket frames) as when decoded whole; the sync decoder yields 2 samples per data byte, never
//! more than 2 per input byte, and accounts for every byte (data, sync header or skipped); an FFT
//! line of n bytes gives max(2n − 10, 0) bins within ±327.68 dB.
#![no_main]

use heimdall_websdr::openwebrx::adpcm::{self, AudioAdpcm, ImaAdpcmDecoder, SyncAdpcmDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let at = data.first().map_or(0, |&b| usize::from(b) * 7) % (data.len() + 1);

    // Raw stream.
    let mut raw = Vec::new();
    ImaAdpcmDecoder::new().decode_into(data, &mut raw);
    assert_eq!(raw.len(), 2 * data.len());
    let mut split = Vec::new();
    let mut d = AudioAdpcm::Raw(ImaAdpcmDecoder::new());
    d.decode_into(&data[..at], &mut split);
    d.decode_into(&data[at..], &mut split);
    assert_eq!(split, raw);

    // Sync-block stream.
    let mut whole = Vec::new();
    let mut sync = SyncAdpcmDecoder::new();
    sync.decode_into(data, &mut whole);
    assert_eq!(whole.len() % 2, 0);
    assert!(whole.len() <= 2 * data.len());
    let consumed = whole.len() as u64 / 2 + sync.syncs() * 8 + sync.skipped_bytes();
    assert!(
        consumed <= data.len() as u64,
        "{consumed} bytes accounted for, {} given",
        data.len()
    );
    assert!(
        data.len() as u64 - consumed < 8,
        "more than a partial sync header unaccounted for"
    );
    let mut pieces = Vec::new();
    let mut d = AudioAdpcm::Sync(SyncAdpcmDecoder::new());
    d.decode_into(&data[..at], &mut pieces);
    d.decode_into(&data[at..], &mut pieces);
    assert_eq!(pieces, whole);

    // FFT line.
    let mut bins = Vec::new();
    adpcm::decode_fft_frame(data, &mut bins);
    assert_eq!(bins.len(), (2 * data.len()).saturating_sub(adpcm::FFT_PAD_SAMPLES));
    assert!(bins.iter().all(|b| (-327.69..=327.68).contains(b)));
});
