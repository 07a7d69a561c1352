-- Heimdall metrics schema, SQLite. Times are Unix microseconds (INTEGER) so that ordering,
-- filtering and epoch-aligned bucketing are plain integer arithmetic; JSON is stored as TEXT.

CREATE TABLE IF NOT EXISTS receivers (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    latitude    DOUBLE CHECK (latitude BETWEEN -90 AND 90),
    longitude   DOUBLE CHECK (longitude BETWEEN -180 AND 180),
    altitude_m  DOUBLE,
    active      BOOLEAN NOT NULL DEFAULT 1,
    options     TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    request             TEXT NOT NULL,
    started_at          BIGINT NOT NULL,
    finished_at         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    receivers_total     INTEGER NOT NULL CHECK (receivers_total >= 0),
    receivers_recorded  INTEGER NOT NULL CHECK (receivers_recorded >= 0),
    errors              TEXT NOT NULL DEFAULT '[]',
    report              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_started_at_idx ON sessions (started_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS measurements (
    id                       INTEGER PRIMARY KEY NOT NULL,
    session_id               TEXT NOT NULL,
    receiver_id              TEXT NOT NULL,
    captured_at              BIGINT NOT NULL,
    time_source              TEXT NOT NULL,
    frequency_hz             DOUBLE NOT NULL,
    center_frequency_hz      DOUBLE NOT NULL,
    sample_rate_hz           DOUBLE NOT NULL CHECK (sample_rate_hz > 0),
    samples                  BIGINT NOT NULL CHECK (samples >= 0),
    duration_s               DOUBLE NOT NULL,
    analysed_samples         BIGINT NOT NULL CHECK (analysed_samples >= 0),
    analysed_sample_rate_hz  DOUBLE NOT NULL,
    snr_db                   DOUBLE,
    frequency_offset_hz      DOUBLE,
    peak_frequency_hz        DOUBLE,
    signal_power_dbfs        DOUBLE,
    noise_power_dbfs         DOUBLE,
    noise_floor_dbfs_per_hz  DOUBLE,
    total_power_dbfs         DOUBLE,
    dc_power_dbfs            DOUBLE,
    clipped_fraction         DOUBLE NOT NULL CHECK (clipped_fraction BETWEEN 0 AND 1),
    signal_power_dbm         DOUBLE,
    rssi                     DOUBLE,
    rssi_unit                TEXT,
    object_keys              TEXT NOT NULL DEFAULT '[]',
    extra                    TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT measurements_session_receiver_key UNIQUE (session_id, receiver_id)
);
CREATE INDEX IF NOT EXISTS measurements_receiver_time_idx ON measurements (receiver_id, captured_at DESC);
CREATE INDEX IF NOT EXISTS measurements_captured_at_idx ON measurements (captured_at);
CREATE INDEX IF NOT EXISTS measurements_frequency_time_idx ON measurements (frequency_hz, captured_at DESC);

