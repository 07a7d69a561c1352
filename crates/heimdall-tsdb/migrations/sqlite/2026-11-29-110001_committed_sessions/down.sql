ALTER TABLE sessions DROP COLUMN committed;
