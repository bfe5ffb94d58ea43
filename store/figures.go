package store

import (
	"context"
	"time"

	"fiveid"
)

// figuresQuery reads the dashboard's figures in one statement: each
// branch of the UNION tags its rows with what they count. The counts of
// customers and records are kept by the database as it writes (migration
// 0011): a figure is the sum of its rows in index_figures. Links and
// merges since a time are counted from their events, through an index on
// the time.
const figuresQuery = `SELECT what, system, grade, CAST(SUM(n) AS BIGINT) FROM index_figures GROUP BY what, system, grade HAVING SUM(n) <> 0
UNION ALL
SELECT 'links', '', '', COUNT(*) FROM customer_events WHERE kind = 'linked' AND at >= ?
UNION ALL
SELECT 'merges', '', '', COUNT(*) FROM merges WHERE at >= ?`

// IndexFigures implements fiveid.CustomerReader.
func (c conn) IndexFigures(ctx context.Context, since time.Time) (fiveid.IndexFigures, error) {
	f := fiveid.IndexFigures{Records: map[string]int64{}, Grades: map[string]int64{}, Since: since}
	rows, err := c.query(ctx, figuresQuery, micros(since), micros(since))
	if err != nil {
		return f, mapErr("index figures", err)
	}
	defer rows.Close()
	for rows.Next() {
		var what, system, grade string
		var n int64
		if err := rows.Scan(&what, &system, &grade, &n); err != nil {
			return f, mapErr("index figures", err)
		}
		switch what {
		case "customers":
			f.Customers = n
		case "records":
			f.Records[system] += n
			f.Grades[grade] += n
		case "links":
			f.Links = n
		case "merges":
			f.Merges = n
		}
	}
	return f, mapErr("index figures", rows.Err())
}

// compactIndexFigures replaces the rows PostgreSQL appends to
// index_figures (one a statement that changed a count) by one row a
// figure, in one statement: a row appended while it runs is not among
// those it deletes and stays as it is, and the figures read the same
// before and after. RefreshStatistics runs it (serve: every minute). The
// embedded store keeps one row a figure already, and deletes those that
// fell to zero.
func (db *DB) compactIndexFigures(ctx context.Context) error {
	if db.d != postgres {
		_, err := db.write.ExecContext(ctx, "DELETE FROM index_figures WHERE n = 0")
		return mapErr("compact index figures", err)
	}
	_, err := db.write.ExecContext(ctx, `WITH gone AS (DELETE FROM index_figures RETURNING what, system, grade, n)
		INSERT INTO index_figures (what, system, grade, n)
		SELECT what, system, grade, SUM(n) FROM gone GROUP BY what, system, grade HAVING SUM(n) <> 0`)
	return mapErr("compact index figures", err)
}
