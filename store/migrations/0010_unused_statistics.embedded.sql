-- PostgreSQL stops gathering statistics nobody reads for source_records'
-- read-only columns (0010_unused_statistics.postgres.sql). SQLite's
-- ANALYZE (PRAGMA optimize) only samples indexes: nothing to change.
SELECT 1;
