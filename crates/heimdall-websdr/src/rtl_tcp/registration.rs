//! The rtl_tcp registration: kind, URLs, options and builder (no HTTP health probe).

use std::sync::Arc;

use heimdall_core::{DynReceiverSource, ReceiverInfo, ReceiverKind, Result};
use serde::Deserialize;

use super::builder::RtlTcpBuilder;
use super::protocol::URL_RULE;
use crate::registry::{Backend, BuildContext, Registry, checks};

/// rtl_tcp options (the receivers file's keys; unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtlTcpOptions {
    /// Sample rate, Hz.
    pub sample_rate_hz: Option<f64>,
    /// Tuner gain, dB.
    pub gain_db: Option<f64>,
    /// Frequency correction, ppm.
    pub ppm: Option<i32>,
}

/// Registers the rtl_tcp backend.
pub fn register(reg: &mut Registry) {
    reg.register(Backend::<RtlTcpOptions>::new(ReceiverKind::RtlTcp, URL_RULE).with_builder(build));
}

fn build(info: &ReceiverInfo, o: RtlTcpOptions, _: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let mut b = RtlTcpBuilder::new(info.clone());
    if let Some(sr) = o.sample_rate_hz {
        checks::sample_rate_hz(sr).map_err(checks::field("sample_rate_hz"))?;
        b = b.with_sample_rate(sr);
    }
    if let Some(g) = o.gain_db {
        checks::gain_db(g).map_err(checks::field("gain_db"))?;
        b = b.with_gain_db(g);
    }
    if let Some(p) = o.ppm {
        b = b.with_ppm(p);
    }
    Ok(Arc::new(b.build()?))
}
