-- PostgreSQL replaces the foreign key from blocking_keys to source_records
-- by statement-level triggers (see 0009_blocking_key_owner.postgres.sql).
-- SQLite keeps the foreign key: it checks it inside its own insert, a
-- primary-key probe a row, and has no statement-level triggers.
SELECT 1;
