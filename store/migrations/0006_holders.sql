-- Holders: which systems hold data of which scopes (see grants_domain.go).
-- Introspection shows a grant's details to a holder of one of its scopes,
-- besides its grantee and admins. Kept like policies: deleted_at is 0
-- while in force.
CREATE TABLE holders (
    id          TEXT PRIMARY KEY,
    system      TEXT NOT NULL REFERENCES systems (code),
    scopes      TEXT NOT NULL CHECK (scopes <> ''),
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    deleted_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX holders_system ON holders (system);

-- Revoking an API key can revoke the grants still active that were asked
-- for with it (grants.grantee_key).
CREATE INDEX grants_grantee_key ON grants (grantee_key) WHERE revoked_at = 0;
