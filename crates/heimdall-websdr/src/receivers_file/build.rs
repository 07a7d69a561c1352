//! Building the sources of a receivers file through the [`Registry`].

use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, Result};

use super::entry::ReceiverEntry;
use crate::registry::{BuildContext, Registry};

/// Builds one entry, its error naming the entry and its line.
pub(super) fn build_entry(reg: &Registry, e: &ReceiverEntry, ctx: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    reg.build(&e.info, &e.options.to_json(), ctx)
        .map_err(|err| Error::Config {
            reason: format!(
                "receiver {:?} (line {}, kind {}): cannot build the source: {}",
                e.info.id.as_str(),
                e.line,
                e.info.kind,
                match &err {
                    Error::Config { reason, .. } => reason.clone(),
                    other => other.to_string(),
                }
            ),
            source: Some(Box::new(err)),
        })
}
