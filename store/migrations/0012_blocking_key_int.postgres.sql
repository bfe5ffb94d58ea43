-- A blocking key was stored as the 32 hex digits of a 128-bit keyed HMAC.
-- It is now the HMAC's first 64 bits without the top one, as a bigint
-- (fiveid.KeyText, blockingkey.go): the service derives the same number
-- from the same record, so no key is lost and no reindex is needed.
--
-- Why: blocking_keys is the largest table and its primary key the index
-- that every registration inserts about ten entries into, at random
-- places. At a million records that index was 930 MB (about 95 bytes an
-- entry, 33 of them the key) and inserting into it most of a bulk
-- import's database time; an entry of an 8-byte key is about a third
-- smaller and compares as an integer, not as collated text.
--
-- The table and both indexes are rewritten: about a minute per ten million
-- key rows (a million records). Processes of the build before cannot use
-- the index afterwards (they bind text keys): stop them first.

ALTER TABLE blocking_keys ALTER COLUMN key TYPE bigint
    USING (('x' || substr(key, 1, 16))::bit(64)::bigint & 9223372036854775807);

-- Changing the column's type dropped its statistics; without them the
-- planner guesses how many rows a key finds. An empty table (a new
-- database) is left for the first refresh, as before.
DO $$ BEGIN
    IF EXISTS (SELECT FROM blocking_keys) THEN
        ANALYZE blocking_keys;
    END IF;
END $$;
