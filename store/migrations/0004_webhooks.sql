-- Webhooks: subscribers to customer changes. The history table is the
-- outbox (written in the changing transaction); each webhook keeps a
-- cursor into it, advanced only after a delivery was acknowledged.

CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    secret        BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT NOT NULL DEFAULT 0,
    cursor_id     TEXT NOT NULL DEFAULT '',
    delivered     BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_attempt  BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    failing_since BIGINT NOT NULL DEFAULT 0
);
