//! IMA ADPCM as OpenWebRX uses it (csdr `encode_ima_adpcm_i16_u8` / `AdpcmEncoder`, browser
//! `ImaAdpcmCodec`): 4-bit codes, **low nibble first**, state carried across WebSocket frames.
//!
//! Three flavours exist on the wire (audio and FFT frames of OpenWebRX 1.1, 1.2 and OpenWebRX+):
//! - [`ImaAdpcmDecoder`] alone: the raw continuous nibble stream of OpenWebRX ≤ 1.1 audio;
//! - [`SyncAdpcmDecoder`]: OpenWebRX ≥ 1.2 / OpenWebRX+ audio, where an 8-byte block
//!   `SYNC` + step index (int16 LE) + predictor (int16 LE) precedes every 1001 ADPCM bytes. Sync
//!   blocks are not aligned to WebSocket frames; the decoder carries partial headers over;
//! - [`decode_fft_frame`]: FFT lines, each encoded with a fresh codec, prefixed by 10 padding
//!   samples, values are `dB × 100`.
//!
//! Every decoder accepts arbitrary bytes without panicking; out-of-range step indices from the
//! wire are clamped to 0..=88.

/// IMA ADPCM step-index adjustment per 4-bit code.
pub const INDEX_TABLE: [i8; 16] = [-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8];

/// IMA ADPCM quantiser step sizes (89 entries).
pub const STEP_TABLE: [i32; 89] = [
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107,
    118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963,
    1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894,
    6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
    32767,
];

/// The sync word of OpenWebRX ≥ 1.2 audio.
pub const SYNC_WORD: [u8; 4] = *b"SYNC";

/// ADPCM bytes between two sync blocks (the encoder's counter starts at 1000, post-decrement).
pub const SYNC_INTERVAL_BYTES: usize = 1001;

/// Padding samples in front of every ADPCM FFT frame (`COMPRESS_FFT_PAD_N`).
pub const FFT_PAD_SAMPLES: usize = 10;

/// Codec state: predictor and step index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImaAdpcmDecoder {
    predictor: i32,
    index: usize,
}

impl ImaAdpcmDecoder {
    /// A decoder in the initial state (predictor 0, step index 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a state read from the wire (a sync block); the index is clamped to 0..=88.
    pub fn set_state(&mut self, step_index: i16, predictor: i16) {
        self.index = step_index.clamp(0, 88) as usize;
        self.predictor = i32::from(predictor);
    }

    /// Current (step index, predictor).
    pub fn state(&self) -> (usize, i16) {
        (self.index, self.predictor as i16)
    }

    /// Decodes one 4-bit code.
    #[inline]
    pub fn decode_nibble(&mut self, code: u8) -> i16 {
        let code = code & 0x0f;
        let step = STEP_TABLE[self.index.min(88)];
        let mut diff = step >> 3;
        if code & 4 != 0 {
            diff += step;
        }
        if code & 2 != 0 {
            diff += step >> 1;
        }
        if code & 1 != 0 {
            diff += step >> 2;
        }
        if code & 8 != 0 {
            self.predictor -= diff;
        } else {
            self.predictor += diff;
        }
        self.predictor = self.predictor.clamp(-32768, 32767);
        let idx = self.index as i32 + i32::from(INDEX_TABLE[usize::from(code)]);
        self.index = idx.clamp(0, 88) as usize;
        self.predictor as i16
    }

    /// Decodes a byte (low nibble first) into two samples.
    #[inline]
    pub fn decode_byte(&mut self, b: u8) -> [i16; 2] {
        [self.decode_nibble(b & 0x0f), self.decode_nibble(b >> 4)]
    }

    /// Decodes `input` (raw stream, no sync blocks), appending `2 × input.len()` samples to `out`.
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<i16>) {
        out.reserve(input.len() * 2);
        for &b in input {
            out.extend_from_slice(&self.decode_byte(b));
        }
    }
}

/// IMA ADPCM encoder matching csdr's (used by the mock server and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImaAdpcmEncoder {
    state: ImaAdpcmDecoder,
}

impl ImaAdpcmEncoder {
    /// An encoder in the initial state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Current (step index, predictor): what a sync block carries.
    pub fn state(&self) -> (usize, i16) {
        self.state.state()
    }

    /// Encodes one sample into a 4-bit code.
    pub fn encode_sample(&mut self, sample: i16) -> u8 {
        let mut diff = i32::from(sample) - self.state.predictor;
        let mut step = STEP_TABLE[self.state.index.min(88)];
        let mut code = 0u8;
        if diff < 0 {
            code = 8;
            diff = -diff;
        }
        if diff >= step {
            code |= 4;
            diff -= step;
        }
        step >>= 1;
        if diff >= step {
            code |= 2;
            diff -= step;
        }
        step >>= 1;
        if diff >= step {
            code |= 1;
        }
        self.state.decode_nibble(code);
        code
    }

    /// Encodes samples pairwise (low nibble first); an odd trailing sample is padded with a
    /// repeat of itself.
    pub fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        for pair in samples.chunks(2) {
            let lo = self.encode_sample(pair[0]);
            let hi = self.encode_sample(*pair.get(1).unwrap_or(&pair[0]));
            out.push(lo | (hi << 4));
        }
    }
}

/// Encodes a whole audio stream the way OpenWebRX ≥ 1.2 does (`AdpcmEncoder(sync=True)`): a sync
/// block at the start and then before every [`SYNC_INTERVAL_BYTES`] ADPCM bytes.
pub fn encode_with_sync(samples: &[i16]) -> Vec<u8> {
    let mut enc = ImaAdpcmEncoder::new();
    let mut out = Vec::with_capacity(samples.len() / 2 + samples.len() / 2000 * 8 + 16);
    let mut byte = Vec::with_capacity(1);
    for (i, pair) in samples.chunks(2).enumerate() {
        if i % SYNC_INTERVAL_BYTES == 0 {
            let (idx, pred) = enc.state();
            out.extend_from_slice(&SYNC_WORD);
            out.extend_from_slice(&(idx as i16).to_le_bytes());
            out.extend_from_slice(&pred.to_le_bytes());
        }
        byte.clear();
        enc.encode(pair, &mut byte);
        out.extend_from_slice(&byte);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    /// Looking for `SYNC`; `matched` bytes of it seen so far.
    Hunting { matched: usize },
    /// `SYNC` seen; collecting the 4 state bytes.
    Header { buf: [u8; 4], have: usize },
    /// Decoding; `remaining` ADPCM bytes before the next sync block.
    Data { remaining: usize },
}

/// Decoder for OpenWebRX ≥ 1.2 audio (sync blocks every 1001 bytes), state carried across calls.
///
/// Bytes before the first `SYNC` are skipped. When the next `SYNC` is not where expected the
/// decoder hunts for it again, skipping bytes (counted in [`SyncAdpcmDecoder::skipped_bytes`]).
#[derive(Debug, Clone)]
pub struct SyncAdpcmDecoder {
    codec: ImaAdpcmDecoder,
    state: SyncState,
    skipped: u64,
    syncs: u64,
}

impl Default for SyncAdpcmDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncAdpcmDecoder {
    /// A decoder waiting for the first sync block.
    pub fn new() -> Self {
        SyncAdpcmDecoder {
            codec: ImaAdpcmDecoder::new(),
            state: SyncState::Hunting { matched: 0 },
            skipped: 0,
            syncs: 0,
        }
    }

    /// Sync blocks found so far.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Bytes skipped while hunting for a sync block (0 on a clean stream).
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    /// Decodes `input`, appending samples to `out`.
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<i16>) {
        out.reserve(input.len() * 2);
        let mut i = 0;
        while i < input.len() {
            match &mut self.state {
                SyncState::Hunting { matched } => {
                    let b = input[i];
                    i += 1;
                    if b == SYNC_WORD[*matched] {
                        *matched += 1;
                        if *matched == SYNC_WORD.len() {
                            self.state = SyncState::Header { buf: [0; 4], have: 0 };
                        }
                    } else {
                        // Count the partial match as skipped and retry this byte as a start.
                        self.skipped += *matched as u64;
                        if b == SYNC_WORD[0] {
                            *matched = 1;
                        } else {
                            *matched = 0;
                            self.skipped += 1;
                        }
                    }
                }
                SyncState::Header { buf, have } => {
                    let take = (4 - *have).min(input.len() - i);
                    buf[*have..*have + take].copy_from_slice(&input[i..i + take]);
                    *have += take;
                    i += take;
                    if *have == 4 {
                        let idx = i16::from_le_bytes([buf[0], buf[1]]);
                        let pred = i16::from_le_bytes([buf[2], buf[3]]);
                        self.codec.set_state(idx, pred);
                        self.syncs += 1;
                        self.state = SyncState::Data {
                            remaining: SYNC_INTERVAL_BYTES,
                        };
                    }
                }
                SyncState::Data { remaining } => {
                    let take = (*remaining).min(input.len() - i);
                    for &b in &input[i..i + take] {
                        out.extend_from_slice(&self.codec.decode_byte(b));
                    }
                    i += take;
                    *remaining -= take;
                    if *remaining == 0 {
                        self.state = SyncState::Hunting { matched: 0 };
                    }
                }
            }
        }
    }
}

/// Which audio ADPCM flavour a server speaks.
#[derive(Debug, Clone)]
pub enum AudioAdpcm {
    /// OpenWebRX ≤ 1.1: one continuous nibble stream.
    Raw(ImaAdpcmDecoder),
    /// OpenWebRX ≥ 1.2 / OpenWebRX+: sync blocks every 1001 bytes.
    Sync(SyncAdpcmDecoder),
}

impl AudioAdpcm {
    /// Decodes `input`, appending samples to `out`.
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<i16>) {
        match self {
            AudioAdpcm::Raw(d) => d.decode_into(input, out),
            AudioAdpcm::Sync(d) => d.decode_into(input, out),
        }
    }
}

/// Decodes one ADPCM FFT frame (fresh codec, 10 padding samples dropped, `/100` to dB),
/// appending the bins to `out`. A frame of `n` bytes yields `2n − 10` bins (none if shorter).
pub fn decode_fft_frame(input: &[u8], out: &mut Vec<f32>) {
    let mut codec = ImaAdpcmDecoder::new();
    out.reserve((input.len() * 2).saturating_sub(FFT_PAD_SAMPLES));
    let mut n = 0usize;
    for &b in input {
        for s in codec.decode_byte(b) {
            if n >= FFT_PAD_SAMPLES {
                out.push(f32::from(s) / 100.0);
            }
            n += 1;
        }
    }
}

/// Encodes an FFT line the way the server does (for the mock server and tests).
pub fn encode_fft_frame(bins_db: &[f32]) -> Vec<u8> {
    let mut samples = Vec::with_capacity(bins_db.len() + FFT_PAD_SAMPLES);
    let q = |d: &f32| (d * 100.0).round().clamp(-32768.0, 32767.0) as i16;
    // The padding repeats the first bin so that the codec has converged when the bins start.
    samples.extend(std::iter::repeat_n(bins_db.first().map_or(0, q), FFT_PAD_SAMPLES));
    samples.extend(bins_db.iter().map(q));
    let mut enc = ImaAdpcmEncoder::new();
    let mut out = Vec::with_capacity(samples.len() / 2 + 1);
    enc.encode(&samples, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_from_initial_state() {
        // Hand-computed with the IMA algorithm: step 7 at index 0.
        // code 0x7: diff = 0 + 7 + 3 + 1 = 11 -> 11, index 0+8 = 8 (step 16)
        // code 0x0: diff = 2 -> 13, index 7 (step 14)
        // code 0x8: diff = 1 -> 12 (negative), index 6
        // code 0xF: step 13: diff = 1 + 13 + 6 + 3 = 23 -> -11, index 14
        let mut d = ImaAdpcmDecoder::new();
        let mut out = Vec::new();
        d.decode_into(&[0x07, 0xF8], &mut out);
        assert_eq!(out, vec![11, 13, 12, -11]);
        assert_eq!(d.state(), (14, -11));
    }

    #[test]
    fn clamps_at_full_scale() {
        let mut d = ImaAdpcmDecoder::new();
        let mut out = Vec::new();
        d.decode_into(&[0x77; 200], &mut out);
        assert_eq!(*out.last().unwrap(), 32767);
        d.decode_into(&[0xFF; 200], &mut out);
        assert_eq!(*out.last().unwrap(), -32768);
        assert_eq!(d.state().0, 88);
    }

    #[test]
    fn encoder_round_trip_tracks_signal() {
        let samples: Vec<i16> = (0..4000).map(|i| ((i as f32 * 0.05).sin() * 12000.0) as i16).collect();
        let mut enc = ImaAdpcmEncoder::new();
        let mut bytes = Vec::new();
        enc.encode(&samples, &mut bytes);
        let mut out = Vec::new();
        ImaAdpcmDecoder::new().decode_into(&bytes, &mut out);
        assert_eq!(out.len(), samples.len());
        let err: f64 = samples[200..]
            .iter()
            .zip(&out[200..])
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .sum::<f64>()
            / (samples.len() - 200) as f64;
        assert!(err < 300.0, "{err}");
    }

    #[test]
    fn sync_stream_decodes_identically_in_any_split() {
        let samples: Vec<i16> = (0..5000).map(|i| ((i * 37) % 2000 - 1000) as i16 * 10).collect();
        let wire = encode_with_sync(&samples);
        // 2500 bytes of ADPCM -> 3 sync blocks.
        assert_eq!(wire.len(), 2500 + 3 * 8);
        assert_eq!(&wire[..4], b"SYNC");
        assert_eq!(&wire[8 + 1001..8 + 1001 + 4], b"SYNC");
        let mut whole = Vec::new();
        let mut d = SyncAdpcmDecoder::new();
        d.decode_into(&wire, &mut whole);
        assert_eq!(whole.len(), samples.len());
        assert_eq!(d.syncs(), 3);
        assert_eq!(d.skipped_bytes(), 0);
        // Same as a raw decode of the same codes (state in the sync blocks is the encoder's).
        let mut enc = ImaAdpcmEncoder::new();
        let mut raw = Vec::new();
        enc.encode(&samples, &mut raw);
        let mut raw_out = Vec::new();
        ImaAdpcmDecoder::new().decode_into(&raw, &mut raw_out);
        assert_eq!(whole, raw_out);
        for split in [1usize, 3, 5, 7, 64, 1001, 1009] {
            let mut d = SyncAdpcmDecoder::new();
            let mut out = Vec::new();
            for c in wire.chunks(split) {
                d.decode_into(c, &mut out);
            }
            assert_eq!(out, whole, "split {split}");
        }
    }

    #[test]
    fn sync_decoder_skips_leading_garbage() {
        let samples: Vec<i16> = (0..100).map(|i| i * 100).collect();
        let mut wire = b"xxSYNSY".to_vec();
        wire.extend(encode_with_sync(&samples));
        let mut d = SyncAdpcmDecoder::new();
        let mut out = Vec::new();
        d.decode_into(&wire, &mut out);
        assert_eq!(out.len(), 100);
        assert_eq!(d.skipped_bytes(), 7);
    }

    #[test]
    fn fft_frame_round_trip() {
        let bins: Vec<f32> = (0..64).map(|i| -120.0 + i as f32 * 0.5).collect();
        let wire = encode_fft_frame(&bins);
        assert_eq!(wire.len(), (64 + 10) / 2);
        let mut out = Vec::new();
        decode_fft_frame(&wire, &mut out);
        assert_eq!(out.len(), 64);
        // The codec rings for a few bins after the padding, then tracks the ramp.
        for (a, b) in bins.iter().zip(&out).skip(12) {
            assert!((a - b).abs() < 2.0, "{a} vs {b}");
        }
        // The padding (copies of the first bin) is dropped: the first bin is close already.
        assert!((out[0] - bins[0]).abs() < 8.0, "{}", out[0]);
        out.clear();
        decode_fft_frame(&[1, 2], &mut out);
        assert!(out.is_empty());
    }
}
