//! Receiver health and discovery without opening a capture:
//!
//! - [`KiwiStatus`]: KiwiSDR `GET /status` (`key=value` lines: users, users_max, GPS fixes,
//!   offline, auth, name, loc, gps) → [`heimdall_core::ReceiverHealth`] and position;
//! - [`OpenWebRxStatus`]: OpenWebRX `GET /status.json` (receiver, sdrs, profiles);
//! - [`check_http_liveness`]: the old Python (FastAPI/Celery) service's HEAD-then-GET check for anything else;
//! - [`probe_health`]: the right one of the above for a [`heimdall_core::ReceiverInfo`];
//! - [`parse_kiwisdr_directory`] / [`load_kiwisdr_directory`]: the public KiwiSDR directory
//!   (kiwisdr.com/public HTML or the rx.linkfanel.net `kiwisdr_com.js` list) → receiver
//!   descriptions, no network needed.
//!
//! ```
//! use heimdall_websdr::discovery::KiwiStatus;
//! let s = KiwiStatus::parse("users=1\nusers_max=4\nfixes_min=10\ngps=(45.0, 7.5)\n");
//! let h = s.to_health(false);
//! assert!(h.available);
//! assert_eq!(h.gps_locked, Some(true));
//! assert_eq!(s.position().unwrap().longitude, 7.5);
//! ```

mod directory;
mod kiwisdr_status;
mod liveness;
mod openwebrx_status;

pub use directory::{
    DirectoryEntry, entries_to_infos, load_kiwisdr_directory, parse_kiwisdr_directory, parse_kiwisdr_directory_entries,
};
pub use kiwisdr_status::{KiwiStatus, parse_gps_pair};
pub use liveness::{check_http_liveness, fetch_kiwisdr_status, fetch_openwebrx_status, join_url, probe_health};
pub use openwebrx_status::{LatLon, OpenWebRxProfile, OpenWebRxReceiver, OpenWebRxSdr, OpenWebRxStatus};
