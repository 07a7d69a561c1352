//! The receiver registry.

use chrono::Utc;
use diesel::OptionalExtension;
use diesel::sql_types::{Bool, Double, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use heimdall_core::{ReceiverId, ReceiverInfo, ReceiverRecord, Result};

use super::store::{BACKEND, PgStore, RECEIVER_COLUMNS};
use crate::rows::{self, ReceiverRow};

impl PgStore {
    pub(crate) async fn upsert_receiver(
        &self,
        info: &ReceiverInfo,
        options: &serde_json::Value,
    ) -> Result<ReceiverRecord> {
        let options = rows::receiver_options_json(info, options)?;
        let now = rows::from_micros(BACKEND, rows::to_micros(Utc::now()))?;
        let pos = info.position;
        let mut conn = self.conn("upsert receiver").await?;
        let row = diesel::sql_query(format!(
            "INSERT INTO receivers (id, name, kind, url, latitude, longitude, altitude_m, active, options, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8::jsonb, $9, $9) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, url = EXCLUDED.url, \
             latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, altitude_m = EXCLUDED.altitude_m, \
             active = TRUE, options = EXCLUDED.options, updated_at = EXCLUDED.updated_at \
             RETURNING {RECEIVER_COLUMNS}"
        ))
        .bind::<Text, _>(info.id.as_str())
        .bind::<Text, _>(info.name.as_str())
        .bind::<Text, _>(info.kind.as_str())
        .bind::<Text, _>(info.url.as_str())
        .bind::<Nullable<Double>, _>(pos.map(|p| p.latitude))
        .bind::<Nullable<Double>, _>(pos.map(|p| p.longitude))
        .bind::<Nullable<Double>, _>(pos.and_then(|p| p.altitude_m))
        .bind::<Text, _>(options)
        .bind::<Timestamptz, _>(now)
        .get_result::<ReceiverRow>(&mut conn)
        .await
        .map_err(|e| self.ctx().query("upsert receiver", &e))?;
        row.decode(BACKEND)
    }

    pub(crate) async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>> {
        let mut conn = self.conn("read receiver").await?;
        let row = diesel::sql_query(format!("SELECT {RECEIVER_COLUMNS} FROM receivers WHERE id = $1"))
            .bind::<Text, _>(id.as_str())
            .get_result::<ReceiverRow>(&mut conn)
            .await
            .optional()
            .map_err(|e| self.ctx().query("read receiver", &e))?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>> {
        let mut conn = self.conn("list receivers").await?;
        let rows = diesel::sql_query(format!(
            "SELECT {RECEIVER_COLUMNS} FROM receivers WHERE active OR NOT $1 ORDER BY id"
        ))
        .bind::<Bool, _>(active_only)
        .load::<ReceiverRow>(&mut conn)
        .await
        .map_err(|e| self.ctx().query("list receivers", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool> {
        let mut conn = self.conn("deactivate receiver").await?;
        let n = diesel::sql_query("UPDATE receivers SET active = FALSE, updated_at = $1 WHERE id = $2")
            .bind::<Timestamptz, _>(Utc::now())
            .bind::<Text, _>(id.as_str())
            .execute(&mut conn)
            .await
            .map_err(|e| self.ctx().query("deactivate receiver", &e))?;
        Ok(n > 0)
    }
}
