//! The receivers file: a TOML list of `[[receiver]]` tables that builds the sources.
//!
//! ```toml
//! [[receiver]]
//! id = "torino"                     # slug: ASCII letters, digits, '-', '_' (required, unique)
//! name = "Torino"                   # display name (default: the id)
//! kind = "openwebrx"                # kiwisdr | openwebrx | rtl_tcp | http_iq | simulated
//! url = "http://vst-aero.it:8073/"  # endpoint (never put a password in it)
//! latitude = 45.044                 # WGS84 degrees (required)
//! longitude = 7.672                 # (required)
//! altitude_m = 250                  # optional
//! enabled = true                    # optional, default true
//! # optional, per kind:
//! password = "..."                  # kiwisdr: login password
//! time_limit_password = "..."       # kiwisdr: time-limit exemption password
//! mode = "nfm"                      # openwebrx demodulator
//! allow_profile_switch = false      # openwebrx: may move a shared receiver
//! passband_low_hz = -4000           # passband relative to the tuned frequency
//! passband_high_hz = 4000
//! gain_db = 30                      # kiwisdr manual gain (AGC is always off) / rtl_tcp tuner gain
//! sample_rate_hz = 2048000          # rtl_tcp / http_iq rate
//! ppm = 0                           # rtl_tcp frequency correction
//! ca_file = "my-ca.pem"             # openwebrx / http_iq over https: extra trusted CA (PEM),
//!                                   # relative to this file; the Mozilla roots are always trusted
//!
//! # Only needed by `kind = "simulated"` entries: the emitter they all hear.
//! [simulation]
//! seed = 42
//! latitude = 45.1                   # transmitter position
//! longitude = 7.6
//! altitude_m = 300
//! frequency_hz = 145500000
//! eirp_dbm = 30
//! modulation = "carrier"            # carrier | fm_tone | fm_voice | am_voice | time_code
//! ```
//!
//! Accepted URLs per kind: `openwebrx` http://, https://, ws:// or wss:// (the page or `/ws/` URL); `kiwisdr`
//! http://, ws://, kiwisdr://, kiwi://, tcp:// or `host:port`; `rtl_tcp` tcp://, rtl_tcp:// or
//! `host:port`; `http_iq` http:// or https://; `simulated` anything (e.g. `sim://id`): each
//! backend's [`crate::registry::UrlRule`], checked by the [`crate::registry::Registry`] the file
//! is parsed with, which also refuses an option the entry's kind does not take.
//!
//! Errors name the line and the field: `receivers.toml:12:11: field `latitude`: 95 is not
//! within -90..=90 degrees`. They are [`heimdall_core::Error::Config`] whose source is a
//! [`ReceiversFileError`] carrying the same data as fields.
//!
//! ```
//! use heimdall_websdr::receivers_file::ReceiversFile;
//! let f = ReceiversFile::parse(r#"
//! [[receiver]]
//! id = "torino"
//! kind = "openwebrx"
//! url = "http://vst-aero.it:8073/"
//! latitude = 45.044
//! longitude = 7.672
//! "#).unwrap();
//! assert_eq!(f.receivers()[0].info.id.as_str(), "torino");
//! let bad = "[[receiver]]\nid = \"x\"\nkind = \"radio\"\nurl = \"http://h/\"\nlatitude = 1\nlongitude = 2\n";
//! let err = ReceiversFile::parse(bad).unwrap_err();
//! assert!(err.to_string().contains("line 3, field `kind`"), "{err}");
//! ```

mod build;
mod check;
mod entry;
mod file;

pub use crate::registry::SimulationSpec;
pub use crate::registry::checks::MAX_CA_FILE_BYTES;
pub use entry::{ReceiverEntry, ReceiverOptions, ReceiversFileError};
pub use file::ReceiversFile;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ca_file(path: &str) -> String {
        format!(
            "[[receiver]]\nid = \"o\"\nkind = \"openwebrx\"\nurl = \"https://h/\"\nlatitude = 1\nlongitude = 2\nca_file = {path:?}\n"
        )
    }

    /// `ca_file = "/dev/zero"` was read to the end: memory without bound. Devices and FIFOs are
    /// refused before any read.
    #[test]
    fn ca_file_that_is_a_device_is_refused_without_reading() {
        let err = ReceiversFile::parse_located(&with_ca_file("/dev/zero"), None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ca_file"));
        assert!(err.message.contains("not a regular file"), "{err}");
        assert_eq!(err.line, 7);
    }

    #[test]
    fn ca_file_larger_than_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        pem.resize(MAX_CA_FILE_BYTES as usize + 1, b'A');
        std::fs::write(&big, &pem).unwrap();
        let err = ReceiversFile::parse_located(&with_ca_file(big.to_str().unwrap()), None).unwrap_err();
        assert!(err.message.contains("too large"), "{err}");
        pem.truncate(MAX_CA_FILE_BYTES as usize);
        std::fs::write(&big, &pem).unwrap();
        let ok = ReceiversFile::parse_located(&with_ca_file(big.to_str().unwrap()), None).unwrap();
        assert_eq!(
            ok.receivers()[0]
                .options
                .ca_certificates_pem
                .as_deref()
                .map(<[u8]>::len),
            Some(pem.len())
        );
    }
}
