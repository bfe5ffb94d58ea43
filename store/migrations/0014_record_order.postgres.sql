-- A source record's (system, local_id) compare byte by byte, whatever the
-- database's collation.
--
-- Why: where a key has more records than the candidate limit, the first
-- ones by (system, local_id) are kept. The database orders them in SQL
-- (Candidates) and the bulk pipeline in Go, byte by byte (fiveid's
-- recordOrder, KeyCandidates): the two agree only on a C collation, and a
-- bulk import must decide exactly as one-at-a-time registration does. A
-- database created with a language's collation (en_US.UTF-8, ICU) would
-- order "B" after "a".
--
-- Only the columns' collation changes (text stays text): no row is
-- rewritten; the indexes holding them (the primary key) are rebuilt.

ALTER TABLE source_records
    ALTER COLUMN system TYPE text COLLATE "C",
    ALTER COLUMN local_id TYPE text COLLATE "C";
