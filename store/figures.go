package store

import (
	"context"
	"time"

	"fiveid"
)

// figuresQuery counts the dashboard's figures in one statement: each
// branch of the UNION tags its rows with what they count.
const figuresQuery = `SELECT 'customers', '', '', COUNT(*) FROM customers WHERE status = 'active'
UNION ALL
SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, COUNT(*) FROM source_records
 GROUP BY system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END
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
