//! Finishing a committed session from its manifest: the rows and the record, idempotently.

use crate::error::Result;
use crate::ids::SessionId;
use crate::report::SessionReport;
use crate::sink::IqArchive;
use crate::store::{MetricStore, RecordOutcome};

/// Writes the measurement rows and the session record of a **committed** session from its
/// manifest, and returns the report as recorded (receivers with a row are recorded, see
/// [`SessionReport::mark_recorded`]).
///
/// This is what a worker does when a redelivered job finds its session already committed (the
/// first worker died after the commit, before or while writing rows), and what a rebuild of
/// the database from the archive does: the rows come from the immutable manifest, so every
/// call writes the same rows (duplicates are skipped) and the record only ever improves.
pub async fn record_committed(
    archive: &dyn IqArchive,
    store: &dyn MetricStore,
    session: SessionId,
) -> Result<(SessionReport, RecordOutcome)> {
    let mut report = archive.read_manifest(session).await?;
    report.committed = true;
    let rows = report.measurements();
    let outcome = store.record_measurements(&rows).await?;
    report.mark_recorded(&rows);
    store.record_session(&report).await?;
    Ok((report, outcome))
}
