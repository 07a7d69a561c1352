//! The recording registration: kind, URLs, options and builder.

use std::sync::Arc;

use heimdall_core::{DynReceiverSource, ReceiverInfo, ReceiverKind, Result};
use serde::Deserialize;

use super::builder::RecordingBuilder;
use super::protocol::URL_RULE;
use crate::registry::{Backend, BuildContext, Registry};

/// Recording options (the receivers file's keys; unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingOptions {
    /// Oldest GNSS solution (seconds, 0-255) whose kiwirecorder stamps are used.
    pub max_fix_age_s: Option<u32>,
}

/// Registers the recording backend.
pub fn register(reg: &mut Registry) {
    reg.register(Backend::<RecordingOptions>::new(ReceiverKind::Recording, URL_RULE).with_builder(build));
}

fn build(info: &ReceiverInfo, o: RecordingOptions, _: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let mut b = RecordingBuilder::new(info.clone());
    if let Some(s) = o.max_fix_age_s {
        b = b.with_max_fix_age_s(s);
    }
    Ok(Arc::new(b.build()?))
}
