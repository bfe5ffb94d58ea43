-- A merge that joins customers holding conflicting identifiers needs an
-- admin's override with a reason; both are kept on the merge.

ALTER TABLE merges ADD COLUMN override BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE merges ADD COLUMN reason TEXT NOT NULL DEFAULT '';
