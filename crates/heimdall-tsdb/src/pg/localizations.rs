//! The `localizations` table: one localization per session, written once.

use diesel::OptionalExtension;
use diesel::pg::Pg;
use diesel::sql_types::{Text, Timestamptz};
use diesel_async::RunQueryDsl;
use heimdall_core::{LocalizationRecord, Result, SessionId};

use super::store::{BACKEND, PgStore};
use crate::rows::{LOCALIZATION_COLUMNS, LocalizationRow, NewLocalization};

impl PgStore {
    pub(crate) async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool> {
        let r = NewLocalization::encode(record)?;
        let mut conn = self.conn("record localization").await?;
        let (id, at) = (r.session_id.clone(), r.located_at);
        let query = diesel::sql_query(
            "INSERT INTO localizations (session_id, located_at, latitude, longitude, semi_major_m, semi_minor_m, \
             orientation_deg, confidence, method, stations_used, stations_rejected, result) \
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::json) \
             ON CONFLICT (session_id) DO NOTHING",
        )
        .into_boxed::<Pg>()
        .bind::<Text, _>(id)
        .bind::<Timestamptz, _>(at);
        let n = r
            .bind_values(query)
            .execute(&mut conn)
            .await
            .map_err(|e| self.ctx().query("record localization", &e))?;
        Ok(n == 1)
    }

    pub(crate) async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>> {
        let mut conn = self.conn("read localization").await?;
        let row = diesel::sql_query(format!(
            "SELECT {LOCALIZATION_COLUMNS} FROM (SELECT session_id::text AS session_id, \
             (EXTRACT(EPOCH FROM located_at) * 1000000)::int8 AS located_at_us, latitude, longitude, semi_major_m, \
             semi_minor_m, orientation_deg, confidence, method, stations_used::text AS stations_used, \
             stations_rejected::text AS stations_rejected, result::text AS result \
             FROM localizations WHERE session_id = $1::uuid) l"
        ))
        .bind::<Text, _>(session.to_string())
        .get_result::<LocalizationRow>(&mut conn)
        .await
        .optional()
        .map_err(|e| self.ctx().query("read localization", &e))?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }
}
