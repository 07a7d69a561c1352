DROP VIEW IF EXISTS measurements_v1;
