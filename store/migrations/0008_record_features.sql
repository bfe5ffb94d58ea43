-- What comparison reads of a source record, kept with it: match.EncodeFeatures
-- of its raw values normalized (without a date bound), written whenever the
-- record is, so that a candidate is not normalized again on every query.
-- '' (rows written before this migration, or by a writer that does not
-- compute them) and text of older normalization rules (match.NormalizeRules)
-- are read by normalizing the raw values, as before: there is nothing to
-- backfill for correctness, and a record gets its features the next time it
-- is written. Adding a column with a constant default rewrites no rows on
-- either database.

ALTER TABLE source_records ADD COLUMN features TEXT NOT NULL DEFAULT '';
