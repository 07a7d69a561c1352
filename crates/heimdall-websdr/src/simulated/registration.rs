//! The simulated registration: kind, any URL, options and builder. Its sources hear the
//! transmitter of the build context's [`SimulationSpec`].

use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, ReceiverInfo, ReceiverKind, Result};
use serde::Deserialize;

use super::builder::SimulatedBuilder;
use super::transmitter::{Modulation, Transmitter};
use crate::registry::{Backend, BuildContext, Registry, SimulationSpec, UrlRule, checks};

/// Simulated receiver options (the receivers file's keys; unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedOptions {
    /// Sample rate, Hz.
    pub sample_rate_hz: Option<f64>,
}

/// Registers the simulated backend.
pub fn register(reg: &mut Registry) {
    reg.register(Backend::<SimulatedOptions>::new(ReceiverKind::Simulated, UrlRule::ANY).with_builder(build));
}

fn build(info: &ReceiverInfo, o: SimulatedOptions, ctx: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let spec = ctx
        .get::<SimulationSpec>()
        .ok_or_else(|| Error::config("simulated receivers need a [simulation] table describing the transmitter"))?;
    // One transmitter for every receiver of the context (or the caller's own).
    let tx = ctx.get_or_insert_with(|| {
        let m = match spec.modulation.as_str() {
            "fm_tone" => Modulation::fm_tone(3000.0, 1000.0),
            "fm_voice" => Modulation::fm_voice(3000.0),
            "am_voice" => Modulation::am_voice(0.8),
            "time_code" => Modulation::time_code(),
            _ => Modulation::Carrier,
        };
        Transmitter::new(spec.position, spec.frequency_hz, spec.eirp_dbm, m)
    });
    let mut b = SimulatedBuilder::new(info.clone())
        .with_transmitter(tx)
        .with_seed(spec.seed);
    if let Some(sr) = o.sample_rate_hz {
        checks::sample_rate_hz(sr).map_err(checks::field("sample_rate_hz"))?;
        b = b.with_sample_rate(sr);
    }
    Ok(Arc::new(b.build()?))
}
