//! [`RecordingSource`]: a [`ReceiverSource`] that replays a recording file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, Error, ReceiverHealth, ReceiverInfo, ReceiverSource,
    Result, SampleBlock, SampleFormat, TimeMark,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::error::RecordingError;
use super::protocol::{Recording, from_kiwi_wav};
use super::sigmf;
use crate::stream::{PullChunks, pull_stream};

/// The file formats a recording can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    /// kiwirecorder IQ WAV with GNSS time stamps.
    KiwiWav,
    /// SigMF metadata and dataset.
    Sigmf,
}

#[derive(Debug, Clone)]
pub(crate) struct RecordingConfig {
    pub path: PathBuf,
    pub format: FileFormat,
    pub max_fix_age_s: u32,
    pub chunk_samples: usize,
    pub max_bytes: u64,
}

/// Replays a recording as a capture: the samples the request asks for, from `start_at` when the
/// recording holds that instant (else from its start), with the recording's own time stamps.
/// Replays run as fast as the caller reads.
///
/// Requests outside the recording are refused with the reason: a frequency outside its band, a
/// `start_at` outside its time span. A request longer than what is left of the recording gets
/// the rest (`expected_samples` says how many; `truncated` in the capture's details).
#[derive(Debug)]
pub struct RecordingSource {
    info: ReceiverInfo,
    config: RecordingConfig,
}

impl fmt::Display for RecordingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recording {} ({})", self.info.id, self.config.path.display())
    }
}

fn read_capped(path: &Path, max_bytes: u64) -> std::result::Result<Vec<u8>, RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > max_bytes {
        return Err(RecordingError::TooLarge {
            path: path.display().to_string(),
            bytes,
            limit: max_bytes,
        });
    }
    std::fs::read(path).map_err(io)
}

impl RecordingSource {
    pub(crate) fn new(info: ReceiverInfo, config: RecordingConfig) -> Self {
        RecordingSource { info, config }
    }

    /// The file replayed (for SigMF, the metadata).
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    fn target(&self) -> String {
        self.info.id.to_string()
    }

    /// Reads and decodes the whole recording (blocking file I/O: `open` runs it on a blocking
    /// thread).
    pub fn read(&self) -> Result<Recording> {
        let c = &self.config;
        let target = self.target();
        let origin = c.path.display().to_string();
        match c.format {
            FileFormat::KiwiWav => {
                let bytes = read_capped(&c.path, c.max_bytes).map_err(|e| e.into_core(&target))?;
                from_kiwi_wav(&bytes, &origin, c.max_fix_age_s)
            }
            FileFormat::Sigmf => {
                let text = read_capped(&c.path, 1 << 26).map_err(|e| e.into_core(&target))?;
                let meta = sigmf::parse_meta(&String::from_utf8_lossy(&text), &origin)?;
                let data_path = sigmf::dataset_path(&c.path, &meta)?;
                let data = read_capped(&data_path, c.max_bytes).map_err(|e| e.into_core(&target))?;
                sigmf::from_sigmf(&meta, &data, &origin)
            }
        }
    }

    /// What of `rec` the request asks for: the first sample and how many.
    fn window(&self, rec: &Recording, req: &CaptureRequest) -> std::result::Result<(u64, u64), RecordingError> {
        let half_band = rec.sample_rate_hz / 2.0;
        let inside = (req.frequency_hz - rec.center_frequency_hz).abs() <= half_band;
        if !inside {
            return Err(RecordingError::NotInRecording(format!(
                "{} Hz is outside the recording's band ({} Hz ± {} Hz)",
                req.frequency_hz, rec.center_frequency_hz, half_band
            )));
        }
        let len = rec.samples.len() as u64;
        let first = match req.start_at {
            None => 0,
            Some(t) => rec.sample_at(t).ok_or_else(|| {
                RecordingError::NotInRecording(format!(
                    "start_at {t} is outside the recording ({} to {})",
                    rec.start.time,
                    rec.time_of(len)
                ))
            })?,
        };
        let n = req.samples_at(rec.sample_rate_hz).min(len - first);
        if n == 0 {
            return Err(RecordingError::NotInRecording(format!(
                "a {:?} capture at {} Hz is less than one sample",
                req.duration, rec.sample_rate_hz
            )));
        }
        Ok((first, n))
    }
}

#[async_trait]
impl ReceiverSource for RecordingSource {
    fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    async fn health(&self) -> Result<ReceiverHealth> {
        let meta = tokio::fs::metadata(&self.config.path).await.map_err(|source| {
            RecordingError::Io {
                path: self.config.path.display().to_string(),
                source,
            }
            .into_core(&self.target())
        })?;
        Ok(ReceiverHealth {
            available: meta.is_file(),
            detail: format!("{} bytes", meta.len()),
            ..ReceiverHealth::up()
        })
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let this = RecordingSource {
            info: self.info.clone(),
            config: self.config.clone(),
        };
        let rec = tokio::task::spawn_blocking(move || this.read())
            .await
            .map_err(|e| Error::Generic {
                backend: super::BACKEND,
                source: Box::new(e),
            })??;
        let (first, n) = self.window(&rec, req).map_err(|e| e.into_core(&self.target()))?;
        let mut extra = rec.details.clone();
        extra.insert(
            "file".into(),
            json!(self.config.path.file_name().map(|f| f.to_string_lossy())),
        );
        extra.insert("first_sample".into(), json!(first));
        if let Some(p) = rec.position {
            extra.insert("position".into(), json!(p));
        }
        extra.insert("truncated".into(), Value::Bool(n < req.samples_at(rec.sample_rate_hz)));
        let info = CaptureInfo {
            receiver: self.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: rec.sample_rate_hz,
            center_frequency_hz: rec.center_frequency_hz,
            target_frequency_hz: req.frequency_hz,
            expected_samples: Some(n),
            extra: serde_json::Map::from_iter([("recording".to_string(), Value::Object(extra))]),
        };
        let replay = Replay::new(Arc::new(rec), first, n, self.config.chunk_samples, cancel);
        Ok(CaptureStream {
            info,
            chunks: pull_stream(replay),
        })
    }
}

/// The chunks of a replay: sample 0's time, then each block of samples preceded by the file's
/// time stamps that fall in it (indices relative to the first delivered sample).
struct Replay {
    rec: Arc<Recording>,
    first: u64,
    end: u64,
    next: u64,
    chunk: u64,
    mark: usize,
    started: bool,
    cancel: CancellationToken,
}

impl Replay {
    fn new(rec: Arc<Recording>, first: u64, n: u64, chunk: usize, cancel: CancellationToken) -> Self {
        let mark = rec.marks.partition_point(|m| m.sample_index <= first);
        Replay {
            rec,
            first,
            end: first + n,
            next: first,
            chunk: chunk as u64,
            mark,
            started: false,
            cancel,
        }
    }

    fn step(&mut self) -> Option<Result<CaptureChunk>> {
        if self.cancel.is_cancelled() && self.next < self.end {
            self.next = self.end;
            return Some(Err(Error::Cancelled {
                what: "recording replay".into(),
            }));
        }
        if !self.started {
            self.started = true;
            let time = if self.first == 0 {
                self.rec.start.time
            } else {
                self.rec.time_of(self.first)
            };
            return Some(Ok(CaptureChunk::Time(TimeMark {
                sample_index: 0,
                time,
                source: self.rec.start.source,
            })));
        }
        if self.next >= self.end {
            return None;
        }
        let stop = (self.next + self.chunk).min(self.end);
        if let Some(m) = self.rec.marks.get(self.mark).filter(|m| m.sample_index < stop) {
            self.mark += 1;
            return Some(Ok(CaptureChunk::Time(TimeMark {
                sample_index: m.sample_index - self.first,
                ..*m
            })));
        }
        let block = self.rec.samples[self.next as usize..stop as usize].to_vec();
        self.next = stop;
        Some(Ok(CaptureChunk::Samples(SampleBlock::Complex(block))))
    }
}

impl PullChunks for Replay {
    async fn next_chunk(&mut self) -> Option<Result<CaptureChunk>> {
        self.step()
    }
}
