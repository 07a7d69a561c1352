//! The OpenWebRX registration: kind, URLs, options, builder and health probe.

use std::path::PathBuf;

use heimdall_core::ReceiverKind;
use serde::Deserialize;

use super::protocol::URL_RULE;
use crate::registry::{Backend, Registry};

/// OpenWebRX options (the receivers file's keys; unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenWebRxOptions {
    /// Demodulator mode (`^[a-z0-9-]+$`: usb, am, nfm...).
    pub mode: Option<String>,
    /// Whether a shared receiver's profile may be switched.
    pub allow_profile_switch: Option<bool>,
    /// Passband low edge relative to the tuned frequency, Hz.
    pub passband_low_hz: Option<f64>,
    /// Passband high edge, Hz.
    pub passband_high_hz: Option<f64>,
    /// A file of extra trusted CA certificates (PEM), read when the source is built.
    pub ca_file: Option<PathBuf>,
    /// Extra trusted CA certificates, PEM text.
    pub ca_certificates_pem: Option<String>,
}

/// Registers the OpenWebRX backend (its builder and probe with the `openwebrx` feature).
/// Sources built with one [`crate::registry::BuildContext`] share its
/// [`crate::openwebrx::HostLimiter`] (a default one unless the caller put its own).
pub fn register(reg: &mut Registry) {
    let backend = Backend::<OpenWebRxOptions>::new(ReceiverKind::OpenWebRx, URL_RULE);
    #[cfg(feature = "openwebrx")]
    let backend = backend.with_builder(enabled::build).with_probe(enabled::probe);
    reg.register(backend);
}

#[cfg(feature = "openwebrx")]
mod enabled {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::future::BoxFuture;
    use heimdall_core::{DynReceiverSource, ReceiverHealth, ReceiverInfo, Result};

    use super::OpenWebRxOptions;
    use crate::openwebrx::builder::OpenWebRxBuilder;
    use crate::openwebrx::limiter::HostLimiter;
    use crate::registry::{BuildContext, checks};

    pub(super) fn build(
        info: &ReceiverInfo,
        o: OpenWebRxOptions,
        ctx: &BuildContext,
    ) -> Result<Arc<DynReceiverSource>> {
        let mut b = OpenWebRxBuilder::new(info.clone()).with_host_limiter(ctx.get_or_default::<HostLimiter>());
        if let Some(m) = o.mode {
            checks::mode(&m).map_err(checks::field("mode"))?;
            b = b.with_mode(m);
        }
        if let Some(p) = checks::passband(o.passband_low_hz, o.passband_high_hz).map_err(checks::config_error)? {
            b = b.with_passband(p);
        }
        if let Some(a) = o.allow_profile_switch {
            b = b.with_allow_profile_switch(a);
        }
        for pem in checks::ca_pems(o.ca_file.as_deref(), o.ca_certificates_pem)? {
            b = b.with_root_certificates_pem(pem);
        }
        Ok(Arc::new(b.build()?))
    }

    pub(super) fn probe<'a>(
        client: &'a reqwest::Client,
        _: &'a ReceiverInfo,
        url: url::Url,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ReceiverHealth>> {
        Box::pin(async move {
            let base = crate::registry::http_base(&url);
            Ok(crate::discovery::fetch_openwebrx_status(client, &base, timeout)
                .await?
                .to_health())
        })
    }
}
