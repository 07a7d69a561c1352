//! Parsing of kiwirecorder IQ WAV bytes; every malformation is a typed error.

use heimdall_core::Error;
use num_complex::Complex32;

use super::{GPS_EPOCH_UNIX_S, GPS_MINUS_UTC_S, WEEK_S};

/// One `kiwi` + `data` chunk pair.
#[derive(Debug, Clone, PartialEq)]
pub struct KiwiBlock {
    /// Seconds since the receiver's last GNSS fix (0 fresh, 255 none).
    pub last_gps_solution: u8,
    /// GPS second of the week of the block's first sample (0 when the receiver had no time).
    pub gpssec: u32,
    /// Nanoseconds of that second.
    pub gpsnsec: u32,
    /// Index of the block's first sample in the file.
    pub first_sample: u64,
    /// Samples in the block.
    pub len: usize,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct KiwiWav {
    /// Sample rate written in the header (nominal, rounded).
    pub header_rate_hz: u32,
    /// Timestamp blocks.
    pub blocks: Vec<KiwiBlock>,
    /// All samples, scaled to ±1.
    pub samples: Vec<Complex32>,
}

/// What a file name says: start time (Unix s), frequency (Hz) and station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KiwiFileName {
    /// Start time, Unix seconds (UTC).
    pub unix_s: i64,
    /// Tuned frequency (Hz).
    pub frequency_hz: u64,
    /// Station name.
    pub station: String,
}

fn malformed(origin: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        backend: "kiwi_wav",
        origin: origin.to_string(),
        reason: reason.into(),
    }
}

fn u16_at(b: &[u8], p: usize) -> u16 {
    u16::from_le_bytes([b[p], b[p + 1]])
}

fn u32_at(b: &[u8], p: usize) -> u32 {
    u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]])
}

/// Parses a kiwirecorder IQ WAV; `origin` names it in errors.
pub fn parse(bytes: &[u8], origin: &str) -> Result<KiwiWav, Error> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(malformed(origin, "not a RIFF/WAVE file"));
    }
    let mut p = 12;
    let mut rate = None;
    let mut blocks = Vec::new();
    let mut samples: Vec<Complex32> = Vec::new();
    let mut pending: Option<(u8, u32, u32)> = None;
    while p < bytes.len() {
        if bytes.len() - p < 8 {
            return Err(malformed(origin, format!("truncated chunk header at byte {p}")));
        }
        let id = &bytes[p..p + 4];
        let size = u32_at(bytes, p + 4) as usize;
        let body_start = p + 8;
        let Some(body_end) = body_start.checked_add(size).filter(|e| *e <= bytes.len()) else {
            return Err(malformed(
                origin,
                format!(
                    "chunk {:?} at byte {p} claims {size} bytes, {} left",
                    String::from_utf8_lossy(id),
                    bytes.len() - body_start
                ),
            ));
        };
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if size < 16 {
                    return Err(malformed(origin, format!("fmt chunk of {size} bytes")));
                }
                let (format, channels, r, bits) = (u16_at(body, 0), u16_at(body, 2), u32_at(body, 4), u16_at(body, 14));
                if format != 1 || channels != 2 || bits != 16 {
                    return Err(malformed(
                        origin,
                        format!("format {format}, {channels} channels, {bits} bits: expected PCM, 2 (I/Q), 16"),
                    ));
                }
                if r == 0 {
                    return Err(malformed(origin, "sample rate 0"));
                }
                rate = Some(r);
            }
            b"kiwi" => {
                if size != 10 {
                    return Err(malformed(origin, format!("kiwi chunk of {size} bytes, expected 10")));
                }
                pending = Some((body[0], u32_at(body, 2), u32_at(body, 6)));
            }
            b"data" => {
                if rate.is_none() {
                    return Err(malformed(origin, "data chunk before fmt chunk"));
                }
                if !size.is_multiple_of(4) {
                    return Err(malformed(
                        origin,
                        format!("data chunk of {size} bytes is not whole I/Q pairs"),
                    ));
                }
                let Some((fix, sec, nsec)) = pending.take() else {
                    return Err(malformed(
                        origin,
                        format!("data chunk at byte {p} without a kiwi timestamp chunk"),
                    ));
                };
                if nsec >= 1_000_000_000 {
                    return Err(malformed(origin, format!("nanoseconds {nsec} out of range")));
                }
                blocks.push(KiwiBlock {
                    last_gps_solution: fix,
                    gpssec: sec,
                    gpsnsec: nsec,
                    first_sample: samples.len() as u64,
                    len: size / 4,
                });
                samples.extend(body.chunks_exact(4).map(|c| {
                    Complex32::new(
                        i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0,
                        i16::from_le_bytes([c[2], c[3]]) as f32 / 32768.0,
                    )
                }));
            }
            _ => {}
        }
        p = body_end + (size & 1);
    }
    let Some(header_rate_hz) = rate else {
        return Err(malformed(origin, "no fmt chunk"));
    };
    if blocks.is_empty() {
        return Err(malformed(origin, "no timestamped data"));
    }
    Ok(KiwiWav {
        header_rate_hz,
        blocks,
        samples,
    })
}

/// Parses `YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav` (directories ignored).
pub fn parse_file_name(name: &str) -> Result<KiwiFileName, Error> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let bad = |why: &str| {
        malformed(
            base,
            format!("file name: {why} (expected YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav)"),
        )
    };
    let stem = base.strip_suffix("_iq.wav").ok_or_else(|| bad("no _iq.wav suffix"))?;
    let mut parts = stem.splitn(3, '_');
    let (time, freq, station) = (
        parts.next().unwrap_or(""),
        parts.next().ok_or_else(|| bad("no frequency"))?,
        parts.next().ok_or_else(|| bad("no station"))?,
    );
    let t = chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%SZ").map_err(|_| bad("bad time"))?;
    // Whole hertz as kiwirecorder writes them; a decimal one (a renamed file) is rounded.
    let frequency_hz = freq
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e12)
        .map(|f| f.round() as u64)
        .ok_or_else(|| bad("bad frequency"))?;
    Ok(KiwiFileName {
        unix_s: t.and_utc().timestamp(),
        frequency_hz,
        station: station.to_string(),
    })
}

impl KiwiWav {
    /// Absolute GPS seconds (since the GPS epoch) of a block, with the week chosen so the time
    /// lies nearest to `approx_unix_s` (the file name's UTC time).
    pub fn gps_seconds(&self, block: &KiwiBlock, approx_unix_s: i64) -> i64 {
        let approx_gps = approx_unix_s + GPS_MINUS_UTC_S - GPS_EPOCH_UNIX_S;
        let week = approx_gps.div_euclid(WEEK_S);
        let candidates = [week - 1, week, week + 1].map(|w| w * WEEK_S + block.gpssec as i64);
        candidates
            .into_iter()
            .min_by_key(|c| (c - approx_gps).abs())
            .unwrap_or(candidates[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One block: fix age, GPS second, nanoseconds, I/Q pairs.
    type Block = (u8, u32, u32, Vec<(i16, i16)>);

    /// A file built from the layout description: fmt, then kiwi+data pairs.
    fn build(blocks: &[Block]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"WAVE");
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&16u32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&2u16.to_le_bytes());
        body.extend_from_slice(&12001u32.to_le_bytes());
        body.extend_from_slice(&48004u32.to_le_bytes());
        body.extend_from_slice(&4u16.to_le_bytes());
        body.extend_from_slice(&16u16.to_le_bytes());
        for (fix, sec, nsec, iq) in blocks {
            body.extend_from_slice(b"kiwi");
            body.extend_from_slice(&10u32.to_le_bytes());
            body.push(*fix);
            body.push(0);
            body.extend_from_slice(&sec.to_le_bytes());
            body.extend_from_slice(&nsec.to_le_bytes());
            body.extend_from_slice(b"data");
            body.extend_from_slice(&((iq.len() * 4) as u32).to_le_bytes());
            for (i, q) in iq {
                body.extend_from_slice(&i.to_le_bytes());
                body.extend_from_slice(&q.to_le_bytes());
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn reads_blocks_and_samples() {
        let f = build(&[
            (0, 0, 0, vec![(1, 2), (3, 4)]),
            (2, 370_358, 269_435_262, vec![(-32768, 32767)]),
        ]);
        let w = parse(&f, "t").unwrap();
        assert_eq!(w.header_rate_hz, 12001);
        assert_eq!(w.blocks.len(), 2);
        assert_eq!(
            w.blocks[1],
            KiwiBlock {
                last_gps_solution: 2,
                gpssec: 370_358,
                gpsnsec: 269_435_262,
                first_sample: 2,
                len: 1
            }
        );
        assert_eq!(w.samples[2], Complex32::new(-1.0, 32767.0 / 32768.0));
    }

    #[test]
    fn file_name_and_gps_week() {
        let n = parse_file_name("/x/20200813T065220Z_77500_HB9ODP_iq.wav").unwrap();
        assert_eq!(n.frequency_hz, 77_500);
        assert_eq!(n.station, "HB9ODP");
        // 2020-08-13 is GPS week 2118; 06:52:20 UTC Thursday = 4 * 86400 + 24740 + 18 s of the week.
        let w = KiwiWav {
            header_rate_hz: 1,
            blocks: vec![],
            samples: vec![],
        };
        let b = KiwiBlock {
            last_gps_solution: 0,
            gpssec: 370_358,
            gpsnsec: 0,
            first_sample: 0,
            len: 0,
        };
        assert_eq!(w.gps_seconds(&b, n.unix_s), 2118 * WEEK_S + 370_358);
        assert!(parse_file_name("foo.wav").is_err());
        assert_eq!(
            parse_file_name("20200813T065220Z_77500.4_X_iq.wav")
                .unwrap()
                .frequency_hz,
            77_500
        );
        for bad in [
            "20200813T065220Z_-5_X_iq.wav",
            "20200813T065220Z_NaN_X_iq.wav",
            "20200813T065220Z_1e400_X_iq.wav",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let good = build(&[(0, 1, 2, vec![(1, 2)])]);
        for cut in [0, 5, 11, 20, 40, good.len() - 1] {
            assert!(
                matches!(parse(&good[..cut], "t"), Err(Error::Malformed { .. })),
                "cut {cut}"
            );
        }
        let mut no_kiwi = good.clone();
        no_kiwi[36..40].copy_from_slice(b"junk");
        assert!(parse(&no_kiwi, "t").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse(&bytes, "p");
        }

        #[test]
        fn corrupted_valid_files_never_panic(pos in 0usize..100, val in proptest::prelude::any::<u8>(), cut in 0usize..100) {
            let mut f = build(&[(0, 1, 2, vec![(1, 2), (3, 4)]), (1, 5, 6, vec![(7, 8)])]);
            let p = pos % f.len();
            f[p] = val;
            let c = f.len() - cut % f.len();
            let _ = parse(&f[..c], "p");
        }

        /// Any file laid out as the description says reads back exactly: every block's stamp,
        /// its first sample's index, and every sample.
        #[test]
        fn well_formed_files_read_back_exactly(blocks in proptest::collection::vec(
            (proptest::prelude::any::<u8>(), proptest::prelude::any::<u32>(), 0u32..1_000_000_000,
             proptest::collection::vec(proptest::prelude::any::<(i16, i16)>(), 0..40)),
            1..8,
        )) {
            let w = parse(&build(&blocks), "p").unwrap();
            proptest::prop_assert_eq!(w.blocks.len(), blocks.len());
            let mut first = 0u64;
            for (b, (fix, sec, nsec, iq)) in w.blocks.iter().zip(&blocks) {
                proptest::prop_assert_eq!((b.last_gps_solution, b.gpssec, b.gpsnsec), (*fix, *sec, *nsec));
                proptest::prop_assert_eq!((b.first_sample, b.len), (first, iq.len()));
                for (k, (i, q)) in iq.iter().enumerate() {
                    let s = w.samples[first as usize + k];
                    proptest::prop_assert_eq!((s.re * 32768.0, s.im * 32768.0), (f32::from(*i), f32::from(*q)));
                }
                first += iq.len() as u64;
            }
            proptest::prop_assert_eq!(w.samples.len() as u64, first);
        }

        /// A damaged or cut file is either read (every sample it holds accounted for by its
        /// blocks) or refused as `Malformed` naming the file: never another kind of error.
        #[test]
        fn damage_gives_a_malformed_error_or_consistent_blocks(pos in 0usize..4096, val in proptest::prelude::any::<u8>(), cut in 0usize..4096) {
            let mut f = build(&[(0, 0, 0, vec![(1, 2); 7]), (3, 9, 10, vec![(5, 6); 5]), (1, 11, 12, vec![(7, 8); 3])]);
            let p = pos % f.len();
            f[p] = val;
            let c = f.len() - cut % f.len();
            match parse(&f[..c], "p.wav") {
                Ok(w) => {
                    let total: usize = w.blocks.iter().map(|b| b.len).sum();
                    proptest::prop_assert_eq!(total, w.samples.len());
                    proptest::prop_assert!(w.blocks.iter().all(|b| b.gpsnsec < 1_000_000_000));
                }
                Err(Error::Malformed { origin, .. }) => proptest::prop_assert_eq!(origin, "p.wav"),
                Err(e) => proptest::prop_assert!(false, "not Malformed: {e:?}"),
            }
        }
    }
}
