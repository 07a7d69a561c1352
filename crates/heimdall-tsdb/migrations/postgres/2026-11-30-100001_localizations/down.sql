DROP TABLE IF EXISTS localizations;
