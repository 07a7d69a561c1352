//! kiwirecorder IQ WAV files with GNSS timestamps (`--kiwi-wav`): a reader.
//!
//! Layout (little-endian): `RIFF` size `WAVE`, a `fmt ` chunk (PCM, 2 channels I/Q, 16 bits,
//! the nominal rate rounded), then repeated pairs of a 10-byte `kiwi` chunk (`u8` seconds since
//! the last GNSS fix, `u8` unused, `u32` GPS second of the week, `u32` nanoseconds: the time of
//! the first sample of the next `data` chunk) and a `data` chunk of interleaved int16 I, Q.
//! The GPS week is not in the file: it comes from the file name's UTC time
//! (`YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav`) or the caller.

mod protocol;

pub use protocol::{KiwiBlock, KiwiFileName, KiwiWav, parse, parse_file_name};

/// GPS time minus UTC (leap seconds since 2017-01-01).
pub const GPS_MINUS_UTC_S: i64 = 18;
/// Unix time of the GPS epoch (1980-01-06T00:00:00Z).
pub const GPS_EPOCH_UNIX_S: i64 = 315_964_800;
/// Seconds in a GPS week.
pub const WEEK_S: i64 = 604_800;
