-- ANALYZE computes statistics for every column of a table, and fiveid
-- refreshes them as tables grow (RefreshStatistics: at autovacuum's
-- threshold, 10% of the rows changed), so a million-record import analyzes
-- source_records some 70 times. Most of its columns are only ever read
-- back, never filtered, joined, grouped or sorted on: the raw elements as
-- typed, the stored comparison features and the match explanation (the
-- widest values, which ANALYZE detoasts, sorts and counts), the link's
-- score and merge, and timestamps. The planner never consults their
-- statistics, so none are gathered: ANALYZE of a 300,000-record sample
-- took 0.63 s instead of 1.05 s. Every column an index, a condition or a
-- grouping uses keeps its statistics (system, local_id, customer_id,
-- name_key, and link_grade and link_manual, which the dashboard's figures
-- group by); the store's tests check that no indexed column is without
-- them.
ALTER TABLE source_records
    ALTER COLUMN raw_name SET STATISTICS 0,
    ALTER COLUMN raw_sex SET STATISTICS 0,
    ALTER COLUMN raw_birth SET STATISTICS 0,
    ALTER COLUMN raw_id_type SET STATISTICS 0,
    ALTER COLUMN raw_id SET STATISTICS 0,
    ALTER COLUMN id_table SET STATISTICS 0,
    ALTER COLUMN id_key SET STATISTICS 0,
    ALTER COLUMN link_score SET STATISTICS 0,
    ALTER COLUMN link_merge SET STATISTICS 0,
    ALTER COLUMN explanation SET STATISTICS 0,
    ALTER COLUMN features SET STATISTICS 0,
    ALTER COLUMN version SET STATISTICS 0,
    ALTER COLUMN created_at SET STATISTICS 0,
    ALTER COLUMN updated_at SET STATISTICS 0;
