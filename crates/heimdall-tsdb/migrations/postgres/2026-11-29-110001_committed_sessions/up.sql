-- Whether a session's manifest is committed in the archive: a committed session's record is
-- never replaced by a report that is not committed (a failed or late attempt cannot downgrade
-- it), and its rows are never removed by a garbage collection.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS committed BOOLEAN NOT NULL DEFAULT false;
-- Records written before this column existed: a session with rows was committed before them.
UPDATE sessions SET committed = true
 WHERE NOT committed AND EXISTS (SELECT 1 FROM measurements m WHERE m.session_id = sessions.id);
