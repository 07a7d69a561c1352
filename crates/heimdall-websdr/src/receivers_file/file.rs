//! [`ReceiversFile`]: parsing and loading a receivers file, and building its sources.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, ReceiverId, ReceiverInfo, ReceiverKind, Result};

use super::build::build_entry;
use super::check::{Locator, RawFile, validate, validate_simulation};
use super::entry::{ReceiverEntry, ReceiversFileError};
use crate::registry::{BuildContext, Registry, SimulationSpec};

/// A parsed receivers file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiversFile {
    path: Option<PathBuf>,
    receivers: Vec<ReceiverEntry>,
    simulation: Option<SimulationSpec>,
}

impl ReceiversFile {
    /// Parses a receivers file from a string, with the backends compiled in
    /// ([`Registry::with_defaults`]).
    pub fn parse(text: &str) -> Result<ReceiversFile> {
        Self::parse_located(text, None).map_err(Error::from)
    }

    /// Parses a receivers file from a string: kinds, URLs and options as `reg` accepts them.
    pub fn parse_with(reg: &Registry, text: &str) -> Result<ReceiversFile> {
        Self::parse_located_with(reg, text, None).map_err(Error::from)
    }

    /// Reads and parses a receivers file, with the backends compiled in.
    pub fn load(path: impl AsRef<Path>) -> Result<ReceiversFile> {
        Self::load_with(&Registry::with_defaults(), path)
    }

    /// Reads and parses a receivers file: kinds, URLs and options as `reg` accepts them.
    pub fn load_with(reg: &Registry, path: impl AsRef<Path>) -> Result<ReceiversFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            reason: format!("cannot read receivers file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Self::parse_located_with(reg, &text, Some(path)).map_err(Error::from)
    }

    /// Like [`ReceiversFile::parse`], returning the located error itself.
    pub fn parse_located(text: &str, path: Option<&Path>) -> std::result::Result<ReceiversFile, ReceiversFileError> {
        Self::parse_located_with(&Registry::with_defaults(), text, path)
    }

    /// Like [`ReceiversFile::parse_with`], returning the located error itself.
    pub fn parse_located_with(
        reg: &Registry,
        text: &str,
        path: Option<&Path>,
    ) -> std::result::Result<ReceiversFile, ReceiversFileError> {
        let loc = Locator { text, path };
        let raw: RawFile = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        let simulation = raw.simulation.map(|s| validate_simulation(&loc, s)).transpose()?;
        let mut receivers = Vec::with_capacity(raw.receiver.len());
        let mut ids: HashMap<ReceiverId, usize> = HashMap::new();
        for entry in raw.receiver {
            let span = entry.span();
            let e = entry.into_inner();
            let line = loc.line_col(span.start).0;
            let entry = validate(reg, &loc, e, line)?;
            if let Some(first) = ids.insert(entry.info.id.clone(), line) {
                return Err(ReceiversFileError {
                    field: Some("id".into()),
                    message: format!(
                        "id {:?} is already used by the receiver at line {first}",
                        entry.info.id.as_str()
                    ),
                    ..loc.err(span, None, "")
                });
            }
            receivers.push(entry);
        }
        if simulation.is_none()
            && let Some(e) = receivers.iter().find(|e| e.info.kind == ReceiverKind::Simulated)
        {
            return Err(ReceiversFileError {
                path: path.map(Path::to_path_buf),
                line: e.line,
                column: 1,
                field: Some("kind".into()),
                message: "simulated receivers need a [simulation] table describing the transmitter".into(),
            });
        }
        Ok(ReceiversFile {
            path: path.map(Path::to_path_buf),
            receivers,
            simulation,
        })
    }

    /// Every entry, enabled or not, in file order.
    pub fn receivers(&self) -> &[ReceiverEntry] {
        &self.receivers
    }

    /// The receiver descriptions of the enabled entries.
    pub fn infos(&self) -> Vec<ReceiverInfo> {
        self.enabled().map(|e| e.info.clone()).collect()
    }

    /// The enabled entries.
    pub fn enabled(&self) -> impl Iterator<Item = &ReceiverEntry> {
        self.receivers.iter().filter(|r| r.enabled)
    }

    /// The `[simulation]` table, if any.
    pub fn simulation(&self) -> Option<&SimulationSpec> {
        self.simulation.as_ref()
    }

    /// The file it was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Builds a source for every enabled entry (no I/O), with the backends compiled in.
    /// OpenWebRX entries share one [`crate::openwebrx::HostLimiter`] with the default 10 s
    /// interval.
    pub fn build_sources(&self) -> Result<Vec<Arc<DynReceiverSource>>> {
        self.build_sources_with(&Registry::with_defaults(), &BuildContext::new())
    }

    /// Builds a source for every enabled entry through `reg` (no I/O). The sources share
    /// what `ctx` holds (an OpenWebRX host limiter, a simulated transmitter...); the file's
    /// `[simulation]` table is added to it when it has none.
    pub fn build_sources_with(&self, reg: &Registry, ctx: &BuildContext) -> Result<Vec<Arc<DynReceiverSource>>> {
        if let Some(sim) = &self.simulation {
            ctx.get_or_insert_with(|| sim.clone());
        }
        self.enabled().map(|e| build_entry(reg, e, ctx)).collect()
    }

    /// Like [`ReceiversFile::build_sources`], with a caller-owned OpenWebRX host limiter (share
    /// it with any other source of the process that may reach the same hosts).
    #[cfg(feature = "openwebrx")]
    pub fn build_sources_with_limiter(
        &self,
        limiter: Arc<crate::openwebrx::HostLimiter>,
    ) -> Result<Vec<Arc<DynReceiverSource>>> {
        self.build_sources_with(&Registry::with_defaults(), &BuildContext::new().with(limiter))
    }
}
