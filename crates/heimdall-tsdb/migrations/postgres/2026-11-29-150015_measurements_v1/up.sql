-- The old service's `measurements` table as a view, with its column names and units, so that
-- dashboards and scripts written against it keep working (read-only).
--   websdr_id        the old integer id: kept from an imported archive (extra.legacy.websdr_id),
--                    else the registry's `websdr_id` option of the receiver, else NULL
--   frequency_mhz    target frequency, MHz            sample_rate_khz  sample rate, kHz
--   samples_count    samples captured                 timestamp_utc    time of the first sample
--   power_dbm        calibrated signal power, else a dBm S-meter reading (KiwiSDR), else NULL
--   s3_path          the old `s3://bucket/key` of an imported capture, else the .npy object key
CREATE OR REPLACE VIEW measurements_v1 AS
SELECT
    m.id                                   AS id,
    m.session_id::text                     AS task_id,
    COALESCE(
        CASE WHEN jsonb_typeof(m.extra -> 'legacy' -> 'websdr_id') = 'number'
             THEN (m.extra -> 'legacy' ->> 'websdr_id')::integer END,
        (SELECT (r.options ->> 'websdr_id')::integer FROM receivers r
          WHERE r.id = m.receiver_id AND jsonb_typeof(r.options -> 'websdr_id') = 'number')
    )                                      AS websdr_id,
    m.frequency_hz / 1e6                   AS frequency_mhz,
    m.sample_rate_hz / 1e3                 AS sample_rate_khz,
    m.samples                              AS samples_count,
    m.captured_at                          AS timestamp_utc,
    m.snr_db                               AS snr_db,
    m.frequency_offset_hz                  AS frequency_offset_hz,
    COALESCE(m.signal_power_dbm, CASE WHEN m.rssi_unit = 'dbm' THEN m.rssi END) AS power_dbm,
    COALESCE(
        m.extra -> 'legacy' ->> 's3_path',
        (SELECT k FROM jsonb_array_elements_text(m.object_keys) AS k
          WHERE k LIKE '%.npy' AND k NOT LIKE '%\_spectra.npy' LIMIT 1)
    )                                      AS s3_path,
    m.receiver_id                          AS receiver_id
FROM measurements m;
