-- The stewards' dashboard counts active customers and source records by
-- system and link grade. Counting them was a scan of both tables on every
-- view: 4.5 s at 878,000 customers, 28 s at 4,400,000. Now the database
-- keeps the counts as it writes.
--
-- A single counter row per figure would make every registration take that
-- row's lock until it commits, one registration after another. So each
-- statement that changes the counts appends its change as a row of
-- index_figures (statement-level triggers read the statement's rows as a
-- set, once per statement, not once per row, and write nothing when
-- nothing counted changed); a figure is the sum of its rows; and
-- CompactIndexFigures (serve, every minute) replaces the rows by their
-- sums in one statement, which rows appended meanwhile are left out of.
--
-- The links and merges of the week are counted as before, from their
-- events, now through an index on the time.
--
-- The triggers are created before the counts are seeded: creating a
-- trigger locks its table against writes until this migration commits,
-- so no write falls between the seed and the first delta.

CREATE TABLE index_figures (
    what   TEXT NOT NULL,   -- 'customers' (active) or 'records'
    system TEXT NOT NULL,   -- a record's system ('' for customers)
    grade  TEXT NOT NULL,   -- a record's link grade, 'manual' for a steward's link
    n      BIGINT NOT NULL
);

CREATE FUNCTION customers_figures() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    d bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO d FROM new_rows WHERE status = 'active';
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT (SELECT count(*) FROM new_rows WHERE status = 'active')
             - (SELECT count(*) FROM old_rows WHERE status = 'active') INTO d;
    ELSE
        SELECT -count(*) INTO d FROM old_rows WHERE status = 'active';
    END IF;
    IF d <> 0 THEN
        INSERT INTO index_figures (what, system, grade, n) VALUES ('customers', '', '', d);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customers_figures_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_figures();
CREATE TRIGGER customers_figures_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_figures();
CREATE TRIGGER customers_figures_delete AFTER DELETE ON customers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_figures();

CREATE FUNCTION source_records_figures() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO index_figures (what, system, grade, n)
        SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, count(*)
        FROM new_rows GROUP BY 2, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO index_figures (what, system, grade, n)
        SELECT 'records', system, grade, sum(n) FROM (
            SELECT system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END AS grade, 1 AS n FROM new_rows
            UNION ALL
            SELECT system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, -1 FROM old_rows
        ) d GROUP BY 2, 3 HAVING sum(n) <> 0;
    ELSE
        INSERT INTO index_figures (what, system, grade, n)
        SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, -count(*)
        FROM old_rows GROUP BY 2, 3;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER source_records_figures_insert AFTER INSERT ON source_records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION source_records_figures();
CREATE TRIGGER source_records_figures_update AFTER UPDATE ON source_records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION source_records_figures();
CREATE TRIGGER source_records_figures_delete AFTER DELETE ON source_records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION source_records_figures();

-- TRUNCATE fires no delete triggers: a truncated table's counts go with it.
CREATE FUNCTION index_figures_truncated() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM index_figures WHERE what = TG_ARGV[0];
    RETURN NULL;
END $$;

CREATE TRIGGER customers_figures_truncate AFTER TRUNCATE ON customers
    FOR EACH STATEMENT EXECUTE FUNCTION index_figures_truncated('customers');
CREATE TRIGGER source_records_figures_truncate AFTER TRUNCATE ON source_records
    FOR EACH STATEMENT EXECUTE FUNCTION index_figures_truncated('records');

INSERT INTO index_figures (what, system, grade, n)
SELECT 'customers', '', '', count(*) FROM customers WHERE status = 'active' HAVING count(*) > 0;
INSERT INTO index_figures (what, system, grade, n)
SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, count(*)
FROM source_records GROUP BY 2, 3;

CREATE INDEX customer_events_linked_at ON customer_events (at) WHERE kind = 'linked';
CREATE INDEX merges_at ON merges (at);
