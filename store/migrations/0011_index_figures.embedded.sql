-- The dashboard's counts, kept by the database as it writes (see
-- 0011_index_figures.postgres.sql). SQLite has one writer at a time, so
-- one row per figure holds its count and row triggers add to it; the
-- sums PostgreSQL reads over its appended rows are then sums of one row.

CREATE TABLE index_figures (
    what   TEXT NOT NULL,
    system TEXT NOT NULL,
    grade  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (what, system, grade)
);

CREATE TRIGGER customers_figures_insert AFTER INSERT ON customers WHEN NEW.status = 'active' BEGIN
    INSERT INTO index_figures (what, system, grade, n) VALUES ('customers', '', '', 1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER customers_figures_update AFTER UPDATE OF status ON customers
    WHEN (OLD.status = 'active') <> (NEW.status = 'active') BEGIN
    INSERT INTO index_figures (what, system, grade, n) VALUES ('customers', '', '', CASE WHEN NEW.status = 'active' THEN 1 ELSE -1 END)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER customers_figures_delete AFTER DELETE ON customers WHEN OLD.status = 'active' BEGIN
    INSERT INTO index_figures (what, system, grade, n) VALUES ('customers', '', '', -1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER source_records_figures_insert AFTER INSERT ON source_records BEGIN
    INSERT INTO index_figures (what, system, grade, n)
        VALUES ('records', NEW.system, CASE WHEN NEW.link_manual THEN 'manual' ELSE NEW.link_grade END, 1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER source_records_figures_update AFTER UPDATE OF system, link_grade, link_manual ON source_records
    WHEN OLD.system <> NEW.system
      OR (CASE WHEN OLD.link_manual THEN 'manual' ELSE OLD.link_grade END) <> (CASE WHEN NEW.link_manual THEN 'manual' ELSE NEW.link_grade END) BEGIN
    INSERT INTO index_figures (what, system, grade, n)
        VALUES ('records', OLD.system, CASE WHEN OLD.link_manual THEN 'manual' ELSE OLD.link_grade END, -1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n - 1;
    INSERT INTO index_figures (what, system, grade, n)
        VALUES ('records', NEW.system, CASE WHEN NEW.link_manual THEN 'manual' ELSE NEW.link_grade END, 1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER source_records_figures_delete AFTER DELETE ON source_records BEGIN
    INSERT INTO index_figures (what, system, grade, n)
        VALUES ('records', OLD.system, CASE WHEN OLD.link_manual THEN 'manual' ELSE OLD.link_grade END, -1)
        ON CONFLICT (what, system, grade) DO UPDATE SET n = n - 1;
END;

INSERT INTO index_figures (what, system, grade, n)
SELECT 'customers', '', '', count(*) FROM customers WHERE status = 'active' HAVING count(*) > 0;
INSERT INTO index_figures (what, system, grade, n)
SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, count(*)
FROM source_records GROUP BY 2, 3;

CREATE INDEX customer_events_linked_at ON customer_events (at) WHERE kind = 'linked';
CREATE INDEX merges_at ON merges (at);
