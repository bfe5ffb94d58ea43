-- write-floor.sql: what PostgreSQL alone spends storing the rows of an
-- index that fiveid built, with no matching, no client and no round trip:
-- the customers, source records, blocking keys and history are copied by
-- INSERT ... SELECT into empty tables with the same columns, indexes and
-- checks (not the triggers or foreign keys), in one transaction each,
-- WAL-logged and durable like fiveid's own writes. It prints the backend's
-- CPU time per source record (from /proc, so run it as a superuser on the
-- database's own machine) and the elapsed time. A bulk import writes these
-- rows too, and reads candidates, so this is a floor under what its
-- PostgreSQL backends spend per record.
--
--   psql -X -h 127.0.0.1 -U postgres -d bench_1m -f benchmarks/pgbench/write-floor.sql
--
-- It leaves nothing behind (the copies live in the schema write_floor,
-- dropped at the end).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS write_floor CASCADE;
CREATE SCHEMA write_floor;
CREATE TABLE write_floor.customers (LIKE public.customers INCLUDING ALL);
CREATE TABLE write_floor.source_records (LIKE public.source_records INCLUDING ALL);
CREATE TABLE write_floor.blocking_keys (LIKE public.blocking_keys INCLUDING ALL);
CREATE TABLE write_floor.customer_events (LIKE public.customer_events INCLUDING ALL);
CHECKPOINT;
-- utime + stime of this backend, in clock ticks (fields 14 and 15 of
-- /proc/PID/stat; a backend's name has no spaces).
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
	SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
	FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s
$$;
SELECT pg_temp.cpu_ticks() AS cpu0, clock_timestamp() AS t0 \gset
INSERT INTO write_floor.customers SELECT * FROM public.customers;
INSERT INTO write_floor.source_records SELECT * FROM public.source_records;
INSERT INTO write_floor.blocking_keys SELECT * FROM public.blocking_keys ORDER BY rid;
INSERT INTO write_floor.customer_events SELECT * FROM public.customer_events;
SELECT pg_temp.cpu_ticks() AS cpu1, clock_timestamp() AS t1 \gset
SELECT (SELECT count(*) FROM write_floor.source_records) AS records,
	(SELECT count(*) FROM write_floor.blocking_keys) AS keys,
	(SELECT count(*) FROM write_floor.customers) AS customers,
	(SELECT count(*) FROM write_floor.customer_events) AS history \gset
-- Clock ticks are 1/100 s on Linux (getconf CLK_TCK).
SELECT :records AS records, :keys AS keys, :customers AS customers, :history AS history,
	round(((:cpu1 - :cpu0) * 10000.0 / :records)::numeric, 1) AS backend_cpu_us_per_record,
	round((extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz) * 1e6 / :records)::numeric, 1) AS elapsed_us_per_record;
DROP SCHEMA write_floor CASCADE;
