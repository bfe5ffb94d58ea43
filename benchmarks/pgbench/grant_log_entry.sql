-- One grant-log entry appended as fiveid appends one (store/grants.go,
-- appendAuditSQL: the head moved and the entry inserted in one statement),
-- for pgbench, to measure what a durable commit of the log costs on a
-- machine apart from fiveid. Run it against a scratch copy of a fiveid
-- database (it appends entries whose hashes do not chain: never on a real
-- log), with and without synchronous commit:
--
--   createdb -T fiveid_db scratch
--   pgbench -n -M prepared -c 1 -T 8 -f benchmarks/pgbench/grant_log_entry.sql scratch
--   PGOPTIONS='-c synchronous_commit=off' pgbench -n -M prepared -c 1 -T 8 -f benchmarks/pgbench/grant_log_entry.sql scratch
--
-- The difference of the two latencies is the WAL flush a commit waits for.
-- For percentiles, add -l (a log of every transaction's latency in µs,
-- its third field) and sort it:
--
--   pgbench -n -M prepared -c 1 -T 10 -l -f benchmarks/pgbench/grant_log_entry.sql scratch
--   awk '{print $3}' pgbench_log.* | sort -n | awk '{a[NR]=$1} END {print a[int(NR*.5)], a[int(NR*.99)], a[int(NR*.999)]}'
WITH head AS (
	UPDATE audit_head SET seq = seq + 1, hash = md5(random()::text) WHERE id = 1 RETURNING seq
)
INSERT INTO audit_events (seq, id, at, action, actor_key, actor_system, customer_id, grant_id, grade, score,
	purpose, scopes, request_id, subject, id_masked, detail, prev_hash, hash)
SELECT (SELECT seq FROM head), 'ev_' || md5(random()::text), 1796158054000000, 'identify.matched', 'key_bench',
	'care-c', 'C_bench', '', 'certain', 0.99, '', '', 'req_bench', md5(random()::text), '110105********002X', '',
	repeat('b', 64), repeat('c', 64);
