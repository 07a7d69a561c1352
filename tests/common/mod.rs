//! Helpers shared by the facade's integration tests.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use heimdall::storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};
use heimdall::tsdb::Tsdb;

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

/// An archive on local disk (`DIR/archive`, in `format`) and a migrated SQLite database
/// (`DIR/metrics.db`).
pub async fn archive_and_db(dir: &Path, format: ArchiveFormat) -> (Arc<ArchiveSink>, Arc<Tsdb>) {
    let url = url::Url::from_directory_path(dir.join("archive")).unwrap().to_string();
    let sink = Arc::new(ArchiveBuilder::from_url(url).with_format(format).build().unwrap());
    let db = Arc::new(Tsdb::from_url(&format!("sqlite://{}", dir.join("metrics.db").display())).unwrap());
    db.migrate().await.unwrap();
    (sink, db)
}
