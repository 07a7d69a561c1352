//! The KiwiSDR registration: kind, URLs, options, builder and health probe.

use std::fmt;

use heimdall_core::ReceiverKind;
use serde::Deserialize;

use super::protocol::URL_RULE;
use crate::registry::{Backend, Registry};

/// KiwiSDR options (the receivers file's keys; unknown fields are refused).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KiwiSdrOptions {
    /// Login password.
    pub password: Option<String>,
    /// Time-limit exemption password.
    pub time_limit_password: Option<String>,
    /// Manual RF gain, dB (AGC is always off).
    pub gain_db: Option<f64>,
    /// Passband low edge relative to the tuned frequency, Hz.
    pub passband_low_hz: Option<f64>,
    /// Passband high edge, Hz.
    pub passband_high_hz: Option<f64>,
}

impl fmt::Debug for KiwiSdrOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |p: &Option<String>| p.as_ref().map(|_| "<redacted>");
        f.debug_struct("KiwiSdrOptions")
            .field("password", &redact(&self.password))
            .field("time_limit_password", &redact(&self.time_limit_password))
            .field("gain_db", &self.gain_db)
            .field("passband_low_hz", &self.passband_low_hz)
            .field("passband_high_hz", &self.passband_high_hz)
            .finish()
    }
}

/// Registers the KiwiSDR backend (its builder and probe with the `kiwisdr` feature).
pub fn register(reg: &mut Registry) {
    let backend = Backend::<KiwiSdrOptions>::new(ReceiverKind::KiwiSdr, URL_RULE);
    #[cfg(feature = "kiwisdr")]
    let backend = backend.with_builder(enabled::build).with_probe(enabled::probe);
    reg.register(backend);
}

#[cfg(feature = "kiwisdr")]
mod enabled {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::future::BoxFuture;
    use heimdall_core::{DynReceiverSource, ReceiverHealth, ReceiverInfo, Result};

    use super::KiwiSdrOptions;
    use crate::kiwisdr::builder::KiwiSdrBuilder;
    use crate::registry::{BuildContext, checks};

    pub(super) fn build(info: &ReceiverInfo, o: KiwiSdrOptions, _: &BuildContext) -> Result<Arc<DynReceiverSource>> {
        let mut b = KiwiSdrBuilder::new(info.clone());
        if let Some(p) = o.password {
            b = b.with_password(p);
        }
        if let Some(p) = o.time_limit_password {
            b = b.with_tlimit_password(p);
        }
        if let Some(g) = o.gain_db {
            checks::gain_db(g).map_err(checks::field("gain_db"))?;
            b = b.with_gain(g.round() as i32);
        }
        if let Some(p) = checks::passband(o.passband_low_hz, o.passband_high_hz).map_err(checks::config_error)? {
            b = b.with_passband(p);
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
            Ok(crate::discovery::fetch_kiwisdr_status(client, &base, timeout)
                .await?
                .to_health(false))
        })
    }
}
