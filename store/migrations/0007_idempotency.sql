-- Idempotency-Key: the answer to a request sent with a key, replayed to
-- its retries until the record expires. A record belongs to one API key
-- (key_id): two systems may use the same key string. Nothing here is
-- identity data: the key a client chose and the request are stored only as
-- keyed HMACs, and an answer keeps no grant token (a replay signs it again).
--
-- A record is running (owner and lease set, status 0), released (neither:
-- its run failed, a retry runs it again at once) or finished (status and
-- body kept). grant_id is the ID reserved for the grant the request may
-- mint, the same for every run of the record: the grants table's primary
-- key then admits one grant per record, whatever crashes in between.

CREATE TABLE idempotency_keys (
    key_id       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    grant_id     TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    status       INTEGER NOT NULL DEFAULT 0,
    body         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (key_id, key_hash),
    -- A 5xx answer is never kept: the request may be retried.
    CHECK (status = 0 OR status BETWEEN 200 AND 499),
    -- A kept answer has no runner; a runner holds a lease.
    CHECK (status = 0 OR owner = ''),
    CHECK ((owner = '') = (lease_until = 0)),
    CHECK (expires_at > created_at)
);
CREATE UNIQUE INDEX idempotency_keys_grant ON idempotency_keys (grant_id) WHERE grant_id <> '';
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
