-- A blocking key names its record by a number (see
-- 0013_blocking_key_rid.postgres.sql). Here the number of a record that
-- exists is its rowid, and a new record's is the largest plus one (the
-- embedded store has a single writer). The key table is copied, as in
-- 0012, and becomes WITHOUT ROWID: its rows are its primary key, stored
-- once instead of in a table and again in the key's index.

ALTER TABLE source_records ADD COLUMN rid INTEGER NOT NULL DEFAULT 0;
UPDATE source_records SET rid = rowid;
CREATE UNIQUE INDEX source_records_rid ON source_records (rid);

CREATE TABLE blocking_keys_0013 (
    key  INTEGER NOT NULL,
    rid  INTEGER NOT NULL REFERENCES source_records (rid) ON DELETE CASCADE,
    PRIMARY KEY (key, rid)
) WITHOUT ROWID;

INSERT INTO blocking_keys_0013 (key, rid)
SELECT b.key, r.rid FROM blocking_keys b JOIN source_records r ON r.system = b.system AND r.local_id = b.local_id
ORDER BY b.key, r.rid; -- the primary key's order: the table is that b-tree

DROP TABLE blocking_keys;
ALTER TABLE blocking_keys_0013 RENAME TO blocking_keys;
CREATE INDEX blocking_keys_record ON blocking_keys (rid);
