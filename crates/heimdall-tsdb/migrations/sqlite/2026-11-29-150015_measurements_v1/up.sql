-- The old service's `measurements` table as a view, with its column names and units, so that
-- dashboards and scripts written against it keep working (read-only). Same columns as on
-- PostgreSQL; timestamp_utc is ISO 8601 text in UTC (millisecond precision).
--   websdr_id        the old integer id: kept from an imported archive (extra.legacy.websdr_id),
--                    else the registry's `websdr_id` option of the receiver, else NULL
--   power_dbm        calibrated signal power, else a dBm S-meter reading (KiwiSDR), else NULL
--   s3_path          the old `s3://bucket/key` of an imported capture, else the .npy object key
CREATE VIEW IF NOT EXISTS measurements_v1 AS
SELECT
    m.id                                   AS id,
    m.session_id                           AS task_id,
    COALESCE(
        CASE WHEN json_type(m.extra, '$.legacy.websdr_id') = 'integer'
             THEN json_extract(m.extra, '$.legacy.websdr_id') END,
        (SELECT json_extract(r.options, '$.websdr_id') FROM receivers r
          WHERE r.id = m.receiver_id AND json_type(r.options, '$.websdr_id') = 'integer')
    )                                      AS websdr_id,
    m.frequency_hz / 1e6                   AS frequency_mhz,
    m.sample_rate_hz / 1e3                 AS sample_rate_khz,
    m.samples                              AS samples_count,
    strftime('%Y-%m-%dT%H:%M:%fZ', m.captured_at / 1000000.0, 'unixepoch') AS timestamp_utc,
    m.snr_db                               AS snr_db,
    m.frequency_offset_hz                  AS frequency_offset_hz,
    COALESCE(m.signal_power_dbm, CASE WHEN m.rssi_unit = 'dbm' THEN m.rssi END) AS power_dbm,
    COALESCE(
        json_extract(m.extra, '$.legacy.s3_path'),
        (SELECT k.value FROM json_each(m.object_keys) AS k
          WHERE k.value LIKE '%.npy' AND k.value NOT LIKE '%\_spectra.npy' ESCAPE '\' LIMIT 1)
    )                                      AS s3_path,
    m.receiver_id                          AS receiver_id
FROM measurements m;
