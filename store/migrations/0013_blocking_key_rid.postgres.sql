-- A blocking key names its record by a number, not by (system, local_id).
--
-- Why: blocking_keys is the largest table, and its primary key the index
-- every registration inserts about ten entries into and every query
-- reads. Each entry carried the record's system and local ID as text
-- (about 44 bytes an entry at ten million records, where the key itself
-- is 8), and so did the by-record index beside it. Now each source record
-- has a number of its own, rid (a sequence's, never changed, never
-- reused), and a key row is two bigints: on a tenth of a ten-million
-- index copied both ways the primary key was 332 MB against 523 and the
-- table 467 MB against 636, and the by-record index is one bigint an
-- entry. A key's order among a key's records is still (system, local_id):
-- the readers join to source_records for it.
--
-- The rule 0009 kept with triggers stays, by rid:
-- * a key row names an existing record: blocking_keys_owned locks the
--   records its statement's rows name FOR KEY SHARE and fails with 23503
--   when one is missing;
-- * a deleted record takes its keys along (source_records_delete_keys);
-- * a record's rid cannot change while keys name it
--   (source_records_rid_kept; no writer sets it after the insert). Its
--   system and local ID may now change without touching its keys, so
--   source_records_renamed goes;
-- * TRUNCATE of source_records alone is refused while keys exist
--   (source_records_truncated, unchanged).
--
-- The table is rewritten with the service stopped: 1 min 29 s for a
-- million records (11 million key rows), measured with `fiveid migrate`. Processes of the build
-- before cannot use the index afterwards (they write system and local_id
-- into it): stop them first.

CREATE SEQUENCE source_record_rids AS bigint;
ALTER TABLE source_records ADD COLUMN rid bigint NOT NULL DEFAULT nextval('source_record_rids');
ALTER SEQUENCE source_record_rids OWNED BY source_records.rid;
CREATE UNIQUE INDEX source_records_rid ON source_records (rid);

-- The copy is written in record order, as registrations write it: a
-- record's keys share a page or two of the table, which the readers of a
-- record's keys (a re-registration, reindex) fetch through the by-record
-- index. In key order they were a page each: a reindex of a million
-- records with keys current took 58 s, and 13 s once the same table was
-- rewritten in record order (CLUSTER on the by-record index).
CREATE TABLE blocking_keys_0013 (
    key  bigint NOT NULL,
    rid  bigint NOT NULL
);
INSERT INTO blocking_keys_0013 (key, rid)
SELECT b.key, r.rid FROM blocking_keys b JOIN source_records r ON r.system = b.system AND r.local_id = b.local_id
ORDER BY r.rid, b.key;

DROP TRIGGER source_records_renamed ON source_records;
DROP FUNCTION source_records_renamed();
DROP TABLE blocking_keys; -- and its triggers
ALTER TABLE blocking_keys_0013 RENAME TO blocking_keys;
ALTER TABLE blocking_keys ADD PRIMARY KEY (key, rid);
CREATE INDEX blocking_keys_record ON blocking_keys (rid);

CREATE OR REPLACE FUNCTION blocking_keys_owned() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    wanted bigint;
    found  bigint;
BEGIN
    SELECT count(*), count(l.found) INTO wanted, found
    FROM (SELECT DISTINCT k.rid FROM new_keys k) k
    LEFT JOIN LATERAL (SELECT true AS found FROM source_records r WHERE r.rid = k.rid FOR KEY SHARE) l ON true;
    IF found < wanted THEN
        RAISE EXCEPTION 'blocking key of a source record that does not exist'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'blocking_keys';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER blocking_keys_owned_insert AFTER INSERT ON blocking_keys
    REFERENCING NEW TABLE AS new_keys FOR EACH STATEMENT EXECUTE FUNCTION blocking_keys_owned();
CREATE TRIGGER blocking_keys_owned_update AFTER UPDATE ON blocking_keys
    REFERENCING NEW TABLE AS new_keys FOR EACH STATEMENT EXECUTE FUNCTION blocking_keys_owned();

CREATE OR REPLACE FUNCTION source_records_delete_keys() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM blocking_keys b USING gone g WHERE b.rid = g.rid;
    RETURN NULL;
END $$;

CREATE FUNCTION source_records_rid_kept() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT FROM blocking_keys b WHERE b.rid = OLD.rid) THEN
        RAISE EXCEPTION 'source record renumbered while blocking keys name it'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'source_records';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER source_records_rid_kept AFTER UPDATE OF rid ON source_records
    FOR EACH ROW WHEN (OLD.rid IS DISTINCT FROM NEW.rid)
    EXECUTE FUNCTION source_records_rid_kept();

-- The new table and column have no statistics yet; an empty table (a
-- new database) is left for the first refresh, as before.
DO $$ BEGIN
    IF EXISTS (SELECT FROM blocking_keys) THEN
        ANALYZE blocking_keys;
        ANALYZE source_records;
    END IF;
END $$;
