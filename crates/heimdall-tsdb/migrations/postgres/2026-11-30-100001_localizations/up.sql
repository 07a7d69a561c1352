-- One localization per session (the transmitter's position found from the session's captures):
-- the columns analysts filter on, and the whole result as the localization serialised it
-- (json, not jsonb, so that it reads back byte-exact). Written once: a second localization of
-- a session is not stored (ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS localizations (
    session_id         UUID PRIMARY KEY,
    located_at         TIMESTAMPTZ NOT NULL,
    latitude           DOUBLE PRECISION NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude          DOUBLE PRECISION NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    semi_major_m       DOUBLE PRECISION NOT NULL CHECK (semi_major_m >= semi_minor_m),
    semi_minor_m       DOUBLE PRECISION NOT NULL CHECK (semi_minor_m >= 0),
    orientation_deg    DOUBLE PRECISION NOT NULL,
    confidence         DOUBLE PRECISION NOT NULL CHECK (confidence > 0 AND confidence < 1),
    method             TEXT NOT NULL,
    stations_used      JSONB NOT NULL DEFAULT '[]'::jsonb,
    stations_rejected  JSONB NOT NULL DEFAULT '[]'::jsonb,
    result             JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS localizations_located_at_idx ON localizations (located_at DESC);
