package store

import (
	"context"

	"fiveid"
)

// PutRecordFeatures implements fiveid.Tx: it sets the stored comparison
// features of each record still at its Version (the version is not
// raised: features are derived from the raw values the version
// describes) and reports which it set. PostgreSQL updates a chunk in one
// statement over arrays; the embedded store, a single writer, one
// statement per record.
func (c txConn) PutRecordFeatures(ctx context.Context, recs []fiveid.RecordFeatures) ([]bool, error) {
	const op = "put record features"
	done := make([]bool, len(recs))
	if c.d != postgres {
		for i, r := range recs {
			res, err := c.exec(ctx, op, "UPDATE source_records SET features = ? WHERE system = ? AND local_id = ? AND version = ?",
				r.Features, r.System, r.LocalID, r.Version)
			if err != nil {
				return nil, err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return nil, mapErr(op, err)
			}
			done[i] = n == 1
		}
		return done, nil
	}
	const chunk = 1000
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		sys, local, feats := make([]string, len(part)), make([]string, len(part)), make([]string, len(part))
		vers := make([]int64, len(part))
		pos := make(map[[2]string]int, len(part))
		for i, r := range part {
			sys[i], local[i], feats[i], vers[i] = r.System, r.LocalID, r.Features, r.Version
			pos[[2]string{r.System, r.LocalID}] = start + i
		}
		rows, err := c.query(ctx, `UPDATE source_records s SET features = v.features
			FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[]) AS v (system, local_id, version, features)
			WHERE s.system = v.system AND s.local_id = v.local_id AND s.version = v.version
			RETURNING s.system, s.local_id`, sys, local, vers, feats)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return nil, mapErr(op, err)
			}
			if i, ok := pos[k]; ok {
				done[i] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, mapErr(op, err)
		}
	}
	return done, nil
}
