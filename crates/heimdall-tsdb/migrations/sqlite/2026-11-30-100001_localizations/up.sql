-- One localization per session (the transmitter's position found from the session's captures):
-- the columns analysts filter on, and the whole result as the localization serialised it.
-- Written once: a second localization of a session is not stored (ON CONFLICT DO NOTHING).
-- Times are Unix microseconds, JSON is text, as in the other tables.
CREATE TABLE IF NOT EXISTS localizations (
    session_id         TEXT PRIMARY KEY NOT NULL,
    located_at         BIGINT NOT NULL,
    latitude           DOUBLE NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude          DOUBLE NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    semi_major_m       DOUBLE NOT NULL CHECK (semi_major_m >= semi_minor_m),
    semi_minor_m       DOUBLE NOT NULL CHECK (semi_minor_m >= 0),
    orientation_deg    DOUBLE NOT NULL,
    confidence         DOUBLE NOT NULL CHECK (confidence > 0 AND confidence < 1),
    method             TEXT NOT NULL,
    stations_used      TEXT NOT NULL DEFAULT '[]',
    stations_rejected  TEXT NOT NULL DEFAULT '[]',
    result             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS localizations_located_at_idx ON localizations (located_at DESC);
