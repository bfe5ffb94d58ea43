-- fiveid schema, version 1. One file for both dialects: only types and
-- syntax that PostgreSQL and SQLite read alike (times are UTC microseconds
-- since the Unix epoch, 0 = unset). Every invariant is a constraint.

CREATE TABLE systems (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('medical', 'eldercare', 'funeral', 'other')),
    id_table    TEXT NOT NULL DEFAULT '' CHECK (id_table IN ('', 'ws364', 'nhsa', 'gat2000')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    hash        BYTEA NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('system', 'auditor', 'admin')),
    system      TEXT REFERENCES systems (code),
    name        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL DEFAULT 0,
    CHECK ((role = 'system') = (system IS NOT NULL))
);

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('active', 'merged')),
    merged_into TEXT REFERENCES customers (id),
    name        TEXT NOT NULL DEFAULT '',
    sex         TEXT NOT NULL DEFAULT '',
    birth_date  TEXT NOT NULL DEFAULT '',
    id_type     TEXT NOT NULL DEFAULT '',
    id_number   TEXT NOT NULL DEFAULT '',
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CHECK ((status = 'merged') = (merged_into IS NOT NULL)),
    CHECK (merged_into IS NULL OR merged_into <> id)
);

CREATE TABLE source_records (
    system       TEXT NOT NULL REFERENCES systems (code),
    local_id     TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    raw_name     TEXT NOT NULL,
    raw_sex      TEXT NOT NULL,
    raw_birth    TEXT NOT NULL,
    raw_id_type  TEXT NOT NULL,
    raw_id       TEXT NOT NULL,
    id_table     TEXT NOT NULL DEFAULT '',
    name_key     TEXT NOT NULL,
    id_key       TEXT NOT NULL DEFAULT '',
    link_grade   TEXT NOT NULL DEFAULT '',
    link_score   DOUBLE PRECISION NOT NULL DEFAULT 0,
    link_manual  BOOLEAN NOT NULL DEFAULT FALSE,
    explanation  TEXT NOT NULL DEFAULT '',
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (system, local_id)
);
CREATE INDEX source_records_customer ON source_records (customer_id);

-- Blocking keys are keyed HMACs of match.BlockingKeys: no identity data.
CREATE TABLE blocking_keys (
    key       TEXT NOT NULL,
    system    TEXT NOT NULL,
    local_id  TEXT NOT NULL,
    PRIMARY KEY (key, system, local_id),
    FOREIGN KEY (system, local_id) REFERENCES source_records (system, local_id) ON DELETE CASCADE
);
CREATE INDEX blocking_keys_record ON blocking_keys (system, local_id);

-- Term-frequency statistics, kept exact by PutSourceRecord.
CREATE TABLE name_stats (
    name_key  TEXT PRIMARY KEY,
    n         BIGINT NOT NULL CHECK (n >= 0)
);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    n     BIGINT NOT NULL CHECK (n >= 0)
);
INSERT INTO counters (name, n) VALUES ('source_records', 0);

CREATE TABLE review_tasks (
    id            TEXT PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    reason        TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    candidate_id  TEXT NOT NULL,
    pair_lo       TEXT NOT NULL,
    pair_hi       TEXT NOT NULL,
    system        TEXT NOT NULL DEFAULT '',
    local_id      TEXT NOT NULL DEFAULT '',
    score         DOUBLE PRECISION NOT NULL DEFAULT 0,
    explanation   TEXT NOT NULL DEFAULT '',
    resolution    TEXT NOT NULL DEFAULT '',
    resolved_by   TEXT NOT NULL DEFAULT '',
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CHECK (pair_lo <= pair_hi)
);
-- At most one open task per unordered pair of customers.
CREATE UNIQUE INDEX review_tasks_open_pair ON review_tasks (pair_lo, pair_hi) WHERE status = 'open';
CREATE INDEX review_tasks_status ON review_tasks (status, created_at);

CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL
);

-- Grants (see grants_domain.go).
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    grantee     TEXT NOT NULL REFERENCES systems (code),
    scopes      TEXT NOT NULL,
    purposes    TEXT NOT NULL,
    max_ttl_ms  BIGINT NOT NULL CHECK (max_ttl_ms > 0),
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    deleted_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX policies_grantee ON policies (grantee);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    private     BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    grantee      TEXT NOT NULL,
    grantee_key  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    grade        TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    issued_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT NOT NULL DEFAULT 0,
    revoked_by   TEXT NOT NULL DEFAULT '',
    signing_key  TEXT NOT NULL REFERENCES signing_keys (id),
    request_id   TEXT NOT NULL DEFAULT '',
    CHECK (expires_at > issued_at)
);
CREATE INDEX grants_customer ON grants (customer_id);
CREATE INDEX grants_grantee ON grants (grantee);

-- The append-only grant log, hash-chained (see audit.go).
CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    at            BIGINT NOT NULL,
    action        TEXT NOT NULL,
    actor_key     TEXT NOT NULL,
    actor_system  TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    grant_id      TEXT NOT NULL,
    grade         TEXT NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    purpose       TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    subject       TEXT NOT NULL,
    id_masked     TEXT NOT NULL,
    detail        TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_events_customer ON audit_events (customer_id, seq);
CREATE INDEX audit_events_system ON audit_events (actor_system, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
