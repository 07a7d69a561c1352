//! The HTTP IQ registration: kind, URLs, options and builder (no probe of its own: the
//! registry's HEAD-then-GET liveness check serves any `http(s)` URL).

use std::path::PathBuf;
use std::sync::Arc;

use heimdall_core::{DynReceiverSource, ReceiverInfo, ReceiverKind, Result};
use serde::Deserialize;

use super::builder::HttpIqBuilder;
use super::protocol::URL_RULE;
use crate::registry::{Backend, BuildContext, Registry, checks};

/// HTTP IQ options (the receivers file's keys; unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpIqOptions {
    /// Sample rate asked for, Hz.
    pub sample_rate_hz: Option<f64>,
    /// A file of extra trusted CA certificates (PEM), read when the source is built.
    pub ca_file: Option<PathBuf>,
    /// Extra trusted CA certificates, PEM text.
    pub ca_certificates_pem: Option<String>,
}

/// Registers the HTTP IQ backend.
pub fn register(reg: &mut Registry) {
    reg.register(Backend::<HttpIqOptions>::new(ReceiverKind::HttpIq, URL_RULE).with_builder(build));
}

fn build(info: &ReceiverInfo, o: HttpIqOptions, _: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let mut b = HttpIqBuilder::new(info.clone());
    if let Some(sr) = o.sample_rate_hz {
        checks::sample_rate_hz(sr).map_err(checks::field("sample_rate_hz"))?;
        b = b.with_sample_rate(sr);
    }
    for pem in checks::ca_pems(o.ca_file.as_deref(), o.ca_certificates_pem)? {
        b = b.with_root_certificates_pem(pem);
    }
    Ok(Arc::new(b.build()?))
}
