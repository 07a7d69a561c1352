//! [`RecordingBuilder`]: configuration of a [`RecordingSource`], validated in `build()`, no I/O.

use std::path::PathBuf;

use heimdall_core::{Error, ReceiverInfo, ReceiverKind, Result};

use super::protocol::URL_RULE;
use super::source::{FileFormat, RecordingConfig, RecordingSource};

/// Default limit on a recording's size: 4 GiB (a replay holds the file in memory).
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// Builds a [`RecordingSource`].
///
/// | Setter | Default | Meaning |
/// |---|---|---|
/// | `with_max_fix_age_s` | 10 s | kiwirecorder stamps from an older GNSS solution are not used |
/// | `with_chunk_samples` | 8 192 | samples per delivered chunk |
/// | `with_max_bytes` | 4 GiB | larger files are refused (the replay reads the file whole) |
///
/// The URL (`ReceiverInfo::url`) is a `file://` URL with an absolute path: a kiwirecorder
/// `*.wav`, a SigMF `*.sigmf-meta` or its `*.sigmf-data`.
#[derive(Debug, Clone)]
pub struct RecordingBuilder {
    info: ReceiverInfo,
    max_fix_age_s: u32,
    chunk_samples: usize,
    max_bytes: u64,
}

impl RecordingBuilder {
    /// A builder for `info` with default settings.
    pub fn new(info: ReceiverInfo) -> Self {
        RecordingBuilder {
            info,
            max_fix_age_s: 10,
            chunk_samples: 8192,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
    /// Oldest GNSS solution (seconds) whose kiwirecorder stamps are used.
    pub fn with_max_fix_age_s(mut self, s: u32) -> Self {
        self.max_fix_age_s = s;
        self
    }
    /// Samples per delivered chunk.
    pub fn with_chunk_samples(mut self, n: usize) -> Self {
        self.chunk_samples = n;
        self
    }
    /// Largest file read.
    pub fn with_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// Validates and builds (no I/O).
    pub fn build(self) -> Result<RecordingSource> {
        let u = crate::registry::parse_url(ReceiverKind::Recording, &URL_RULE, &self.info.url)
            .map_err(|why| Error::config(format!("recording url: {why}")))?;
        let path: PathBuf = u
            .to_file_path()
            .map_err(|()| Error::config(format!("recording url {:?} is not an absolute local path", u.as_str())))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let format = if name.ends_with(".wav") {
            FileFormat::KiwiWav
        } else if name.ends_with(".sigmf-meta") || name.ends_with(".sigmf-data") {
            FileFormat::Sigmf
        } else {
            return Err(Error::config(format!(
                "recording {:?}: expected a kiwirecorder .wav, a .sigmf-meta or a .sigmf-data file",
                path.display()
            )));
        };
        if !(1..=1 << 24).contains(&self.chunk_samples) {
            return Err(Error::config(format!(
                "recording chunk of {} samples is not within 1..=16777216",
                self.chunk_samples
            )));
        }
        if self.max_fix_age_s > 255 {
            return Err(Error::config(format!(
                "recording max_fix_age_s {} is more than 255 (the file's field is one byte)",
                self.max_fix_age_s
            )));
        }
        let path = match format {
            FileFormat::Sigmf => path.with_extension("sigmf-meta"),
            FileFormat::KiwiWav => path,
        };
        Ok(RecordingSource::new(
            self.info,
            RecordingConfig {
                path,
                format,
                max_fix_age_s: self.max_fix_age_s,
                chunk_samples: self.chunk_samples,
                max_bytes: self.max_bytes,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use heimdall_core::ReceiverId;

    use super::*;

    fn build(url: &str) -> Result<RecordingSource> {
        let id = ReceiverId::new("rec").unwrap();
        RecordingBuilder::new(ReceiverInfo::new(id, "Rec", ReceiverKind::Recording, url)).build()
    }

    #[test]
    fn urls_name_a_local_recording() {
        assert!(build("file:///data/20200813T065220Z_77500_HB9ODP_iq.wav").is_ok());
        assert!(build("file:///data/a.sigmf-data").is_ok());
        for url in [
            "http://h/a.wav",
            "file:///data/a.txt",
            "file://remote-host/a.wav",
            "relative/a.wav",
            "file:///data/a.wav?token=hunter2",
        ] {
            let e = build(url).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
