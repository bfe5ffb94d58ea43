-- Deaths recorded by funeral systems or admins, and every change to a
-- customer, written in the transaction that makes it (history).

ALTER TABLE customers ADD COLUMN death_date TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN death_source TEXT NOT NULL DEFAULT '';

CREATE TABLE customer_events (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'linked', 'unlinked', 'merged', 'unmerged', 'edited', 'death_recorded')),
    actor        TEXT NOT NULL,
    system       TEXT NOT NULL DEFAULT '',
    local_id     TEXT NOT NULL DEFAULT '',
    before_json  TEXT NOT NULL DEFAULT '',
    after_json   TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX customer_events_customer ON customer_events (customer_id, id);
