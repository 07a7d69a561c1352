//! The backend registry: which backend serves a receiver kind, the URLs it accepts, its
//! options and how its sources are built and probed.
//!
//! A [`Registry`] is an instance the caller owns (there is no global one).
//! [`Registry::with_defaults`] registers every backend whose cargo feature is on; each
//! backend's folder has a `register` function that adds its [`Backend`]: its
//! [`heimdall_core::ReceiverKind`], its [`UrlRule`], a serde options struct that refuses
//! unknown fields, its builder and, where discovery has one, its health probe. Adding a
//! protocol is one new folder and one `register` line in `defaults.rs`.
//!
//! Options are the receivers file's keys, per kind: `kiwisdr` `password`,
//! `time_limit_password`, `gain_db`, `passband_low_hz`, `passband_high_hz`; `openwebrx` `mode`,
//! `allow_profile_switch`, the passband, `ca_file`, `ca_certificates_pem`; `rtl_tcp`
//! `sample_rate_hz`, `gain_db`, `ppm`; `http_iq` `sample_rate_hz`, `ca_file`,
//! `ca_certificates_pem`; `simulated` `sample_rate_hz`; `recording` `max_fix_age_s`.
//!
//! URLs per kind: `openwebrx` http://, https://, ws:// or wss://; `kiwisdr` http://, ws://,
//! kiwisdr://, kiwi://, tcp:// or `host:port` (KiwiSDRs do not use TLS); `rtl_tcp` tcp://,
//! rtl_tcp:// or `host:port`; `http_iq` http:// or https://; `simulated` anything (e.g.
//! `sim://id`); `recording` file:// with an absolute path. No URL may hold a password or a secret-named query parameter.

pub mod checks;
mod context;
mod defaults;
mod table;
mod urls;

pub use context::{BuildContext, SimulationSpec};
#[cfg(feature = "discovery")]
pub use table::ProbeFn;
pub use table::{Backend, BuildFn, Registry};
pub use urls::{UrlRule, http_base, parse_url};

#[cfg(test)]
mod tests;
