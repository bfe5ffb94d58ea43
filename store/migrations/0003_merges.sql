-- Merges keep the exact state before them so that unmerge can restore it;
-- pairs a steward declared not to be one person are remembered.

CREATE TABLE merges (
    id         TEXT PRIMARY KEY,
    from_id    TEXT NOT NULL REFERENCES customers (id),
    into_id    TEXT NOT NULL REFERENCES customers (id),
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    snapshot   TEXT NOT NULL,
    undone_at  BIGINT NOT NULL DEFAULT 0,
    undone_by  TEXT NOT NULL DEFAULT '',
    CHECK (from_id <> into_id)
);
CREATE INDEX merges_from ON merges (from_id);
CREATE INDEX merges_into ON merges (into_id);

CREATE TABLE not_duplicates (
    pair_lo  TEXT NOT NULL,
    pair_hi  TEXT NOT NULL,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    PRIMARY KEY (pair_lo, pair_hi),
    CHECK (pair_lo < pair_hi)
);
