-- SQLite compares text byte by byte unless told otherwise (its BINARY
-- collation): source records' (system, local_id) already order as
-- 0014_record_order.postgres.sql makes them on PostgreSQL.
SELECT 1;
