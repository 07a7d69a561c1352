//! Building the sources of a receivers file: one builder per kind, each behind its feature.

use std::sync::Arc;

use heimdall_core::{DynReceiverSource, Error, ReceiverKind, Result};

use super::entry::{ReceiverEntry, SimulationSpec};

#[derive(Debug)]
pub(super) struct BuildContext {
    #[cfg(feature = "openwebrx")]
    pub(super) owrx_limiter: Arc<crate::openwebrx::HostLimiter>,
    #[cfg(feature = "simulated")]
    transmitter: Option<(Arc<crate::simulated::Transmitter>, u64)>,
}

impl BuildContext {
    #[allow(unused_variables)]
    pub(super) fn new(sim: Option<&SimulationSpec>) -> Result<Self> {
        Ok(BuildContext {
            #[cfg(feature = "openwebrx")]
            owrx_limiter: Arc::new(crate::openwebrx::HostLimiter::default()),
            #[cfg(feature = "simulated")]
            transmitter: sim.map(|s| {
                use crate::simulated::{Modulation, Transmitter};
                let m = match s.modulation.as_str() {
                    "fm_tone" => Modulation::fm_tone(3000.0, 1000.0),
                    "fm_voice" => Modulation::fm_voice(3000.0),
                    _ => Modulation::Carrier,
                };
                (
                    Arc::new(Transmitter::new(s.position, s.frequency_hz, s.eirp_dbm, m)),
                    s.seed,
                )
            }),
        })
    }
}

#[allow(dead_code)] // unused when no backend feature is enabled
fn entry_error(e: &ReceiverEntry, err: Error) -> Error {
    Error::Config {
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
    }
}

#[allow(dead_code)] // unused when every backend feature is enabled
fn not_compiled(e: &ReceiverEntry) -> Error {
    Error::config(format!(
        "receiver {:?} (line {}): receiver kind {} is not compiled in / not available (enable the heimdall-websdr feature `{}`)",
        e.info.id.as_str(),
        e.line,
        e.info.kind,
        e.info.kind.as_str()
    ))
}

#[allow(unused_variables)]
pub(super) fn build_entry(e: &ReceiverEntry, ctx: &BuildContext) -> Result<Arc<DynReceiverSource>> {
    let o = &e.options;
    match e.info.kind {
        #[cfg(feature = "openwebrx")]
        ReceiverKind::OpenWebRx => {
            let mut b =
                crate::openwebrx::OpenWebRxBuilder::new(e.info.clone()).with_host_limiter(ctx.owrx_limiter.clone());
            if let Some(m) = &o.mode {
                b = b.with_mode(m.clone());
            }
            if let Some(p) = o.passband {
                b = b.with_passband(p);
            }
            if let Some(a) = o.allow_profile_switch {
                b = b.with_allow_profile_switch(a);
            }
            if let Some(pem) = &o.ca_certificates_pem {
                b = b.with_root_certificates_pem(pem.clone());
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "kiwisdr")]
        ReceiverKind::KiwiSdr => {
            let mut b = crate::kiwisdr::KiwiSdrBuilder::new(e.info.clone());
            if let Some(p) = &o.password {
                b = b.with_password(p.clone());
            }
            if let Some(p) = &o.time_limit_password {
                b = b.with_tlimit_password(p.clone());
            }
            if let Some(g) = o.gain_db {
                b = b.with_gain(g.round() as i32);
            }
            if let Some(p) = o.passband {
                b = b.with_passband(p);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "rtl_tcp")]
        ReceiverKind::RtlTcp => {
            let mut b = crate::rtl_tcp::RtlTcpBuilder::new(e.info.clone());
            if let Some(sr) = o.sample_rate_hz {
                b = b.with_sample_rate(sr);
            }
            if let Some(g) = o.gain_db {
                b = b.with_gain_db(g);
            }
            if let Some(p) = o.ppm {
                b = b.with_ppm(p);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "http_iq")]
        ReceiverKind::HttpIq => {
            let mut b = crate::http_iq::HttpIqBuilder::new(e.info.clone());
            if let Some(sr) = o.sample_rate_hz {
                b = b.with_sample_rate(sr);
            }
            if let Some(pem) = &o.ca_certificates_pem {
                b = b.with_root_certificates_pem(pem.clone());
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        #[cfg(feature = "simulated")]
        ReceiverKind::Simulated => {
            let Some((tx, seed)) = &ctx.transmitter else {
                return Err(Error::config(format!(
                    "receiver {:?} (line {}): simulated receivers need a [simulation] table",
                    e.info.id.as_str(),
                    e.line
                )));
            };
            let mut b = crate::simulated::SimulatedBuilder::new(e.info.clone())
                .with_transmitter(tx.clone())
                .with_seed(*seed);
            if let Some(sr) = o.sample_rate_hz {
                b = b.with_sample_rate(sr);
            }
            Ok(Arc::new(b.build().map_err(|err| entry_error(e, err))?))
        }
        _ => Err(not_compiled(e)),
    }
}
