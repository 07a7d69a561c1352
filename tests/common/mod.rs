//! Helpers shared by the facade's integration tests.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::path::PathBuf;

/// The folder of the real KiwiSDR recordings (GPL, never copied into the repository), from
/// `HEIMDALL_KIWI_WAV_DIR` (scripts/test.sh sets it when the folder exists). Without it the
/// caller skips, loudly; under CI=true it must be set.
pub fn real_recordings_dir() -> Option<PathBuf> {
    match std::env::var_os("HEIMDALL_KIWI_WAV_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: scripts/test.sh sets HEIMDALL_KIWI_WAV_DIR"
            );
            eprintln!("HEIMDALL_KIWI_WAV_DIR not set: skipping the real recordings");
            None
        }
    }
}
