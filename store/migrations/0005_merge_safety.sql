-- A merge that joins customers holding conflicting identifiers needs an
-- admin's override with a reason; both are kept on the merge. A record a
-- merge moved names that merge (link_merge) until something else moves it:
-- unmerge returns exactly those records, and leaves later work alone.

ALTER TABLE merges ADD COLUMN override BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE merges ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE source_records ADD COLUMN link_merge TEXT NOT NULL DEFAULT '';
