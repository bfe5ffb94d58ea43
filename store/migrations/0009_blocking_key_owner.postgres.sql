-- A blocking key belongs to a source record. Until now a FOREIGN KEY said
-- so, and PostgreSQL checks a foreign key row by row: an internal query
-- (plan, executor start, index probe, row lock) for each key row, nine per
-- record. It was a fifth of the backends' CPU in a bulk import, which
-- COPYs a chunk's 9,000 key rows in one statement. Here the same rule is
-- kept by statement-level triggers that check a statement's rows as a set:
-- once per record, not per key, and an index probe each (the lateral
-- lookup; a hash join would read every record per statement).
--
-- What the foreign key guaranteed, and what keeps it now:
-- * a key row names an existing record (insert or update of blocking_keys):
--   blocking_keys_owned, after each statement, locks the records its rows
--   name FOR KEY SHARE, as the foreign key's check did, so none can be
--   deleted or renamed before this transaction ends, and fails with the
--   foreign key's SQLSTATE (23503) when one is missing;
-- * ON DELETE CASCADE: source_records_delete_keys deletes the keys of the
--   deleted records (a record's delete waits for the transactions holding
--   it FOR KEY SHARE, so the keys they added are deleted too);
-- * NO ACTION on a change of a record's (system, local_id) while keys name
--   it: source_records_renamed fails with 23503 (the writers never change
--   them: their upserts do not set these columns, so it never fires);
-- * TRUNCATE of source_records alone: source_records_truncated refuses it
--   while keys exist, as PostgreSQL refuses to truncate a referenced table.
-- The embedded store keeps its foreign key: SQLite checks it inside its
-- own insert, one primary-key probe a row (0009_*.embedded.sql).
--
-- The functions are bound to the schema they are created in (SET
-- search_path FROM CURRENT), so they read its tables whoever calls them.

ALTER TABLE blocking_keys DROP CONSTRAINT blocking_keys_system_local_id_fkey;

CREATE FUNCTION blocking_keys_owned() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    wanted bigint;
    found  bigint;
BEGIN
    SELECT count(*), count(l.found) INTO wanted, found
    FROM (SELECT DISTINCT k.system, k.local_id FROM new_keys k) k
    LEFT JOIN LATERAL (SELECT true AS found FROM source_records r
        WHERE r.system = k.system AND r.local_id = k.local_id FOR KEY SHARE) l ON true;
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

CREATE FUNCTION source_records_delete_keys() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM blocking_keys b USING gone g WHERE b.system = g.system AND b.local_id = g.local_id;
    RETURN NULL;
END $$;

CREATE TRIGGER source_records_delete_keys AFTER DELETE ON source_records
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION source_records_delete_keys();

CREATE FUNCTION source_records_renamed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT FROM blocking_keys b WHERE b.system = OLD.system AND b.local_id = OLD.local_id) THEN
        RAISE EXCEPTION 'source record renamed while blocking keys name it'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'source_records';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER source_records_renamed AFTER UPDATE OF system, local_id ON source_records
    FOR EACH ROW WHEN (OLD.system IS DISTINCT FROM NEW.system OR OLD.local_id IS DISTINCT FROM NEW.local_id)
    EXECUTE FUNCTION source_records_renamed();

CREATE FUNCTION source_records_truncated() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT FROM blocking_keys) THEN
        RAISE EXCEPTION 'source records truncated while blocking keys name them'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'source_records';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER source_records_truncated BEFORE TRUNCATE ON source_records
    FOR EACH STATEMENT EXECUTE FUNCTION source_records_truncated();
