-- Blocking keys become 63-bit numbers (see 0012_blocking_key_int.postgres.sql).
-- SQLite cannot change a column's type: the table is copied, each key's
-- first 16 hex digits read as a number without the top bit (SQLite has
-- no function that reads hex, hence one term a digit), and the copy
-- takes the table's name, foreign key and index.

CREATE TABLE blocking_keys_0012 (
    key       INTEGER NOT NULL,
    system    TEXT NOT NULL,
    local_id  TEXT NOT NULL,
    PRIMARY KEY (key, system, local_id),
    FOREIGN KEY (system, local_id) REFERENCES source_records (system, local_id) ON DELETE CASCADE
);

INSERT INTO blocking_keys_0012 (key, system, local_id)
SELECT (((instr('0123456789abcdef', substr(key, 1, 1)) - 1) & 7) << 60) |
        ((instr('0123456789abcdef', substr(key, 2, 1)) - 1) << 56) |
        ((instr('0123456789abcdef', substr(key, 3, 1)) - 1) << 52) |
        ((instr('0123456789abcdef', substr(key, 4, 1)) - 1) << 48) |
        ((instr('0123456789abcdef', substr(key, 5, 1)) - 1) << 44) |
        ((instr('0123456789abcdef', substr(key, 6, 1)) - 1) << 40) |
        ((instr('0123456789abcdef', substr(key, 7, 1)) - 1) << 36) |
        ((instr('0123456789abcdef', substr(key, 8, 1)) - 1) << 32) |
        ((instr('0123456789abcdef', substr(key, 9, 1)) - 1) << 28) |
        ((instr('0123456789abcdef', substr(key, 10, 1)) - 1) << 24) |
        ((instr('0123456789abcdef', substr(key, 11, 1)) - 1) << 20) |
        ((instr('0123456789abcdef', substr(key, 12, 1)) - 1) << 16) |
        ((instr('0123456789abcdef', substr(key, 13, 1)) - 1) << 12) |
        ((instr('0123456789abcdef', substr(key, 14, 1)) - 1) << 8) |
        ((instr('0123456789abcdef', substr(key, 15, 1)) - 1) << 4) |
        ((instr('0123456789abcdef', substr(key, 16, 1)) - 1) << 0),
    system, local_id
FROM blocking_keys;

DROP TABLE blocking_keys;
ALTER TABLE blocking_keys_0012 RENAME TO blocking_keys;
CREATE INDEX blocking_keys_record ON blocking_keys (system, local_id);
