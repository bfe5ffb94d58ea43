package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/match"
)

// countedFigures is what the dashboard's counts must equal: active
// customers and records by system and grade, counted row by row (the
// query the dashboard ran before migration 0011).
const countedFigures = `SELECT 'customers', '', '', COUNT(*) FROM customers WHERE status = 'active' HAVING COUNT(*) > 0
UNION ALL
SELECT 'records', system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END, COUNT(*) FROM source_records
 GROUP BY system, CASE WHEN link_manual THEN 'manual' ELSE link_grade END`

// keptFigures reads the counts the database keeps.
const keptFigures = `SELECT what, system, grade, CAST(SUM(n) AS BIGINT) FROM index_figures GROUP BY what, system, grade HAVING SUM(n) <> 0`

// The dashboard's counts, kept by triggers since migration 0011, equal
// the counts of the rows after each kind of write fiveid makes: data
// written before the migration, single and bulk registration, a manual
// link, an unlink, a merge and its undoing; and compacting PostgreSQL's
// appended rows changes no figure. Both stores.
func TestIndexFiguresKeptEqualCounted(t *testing.T) {
	t.Parallel()
	for _, d := range []dialect{embedded, postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			open := opener(t, d)
			db := open(10)
			for _, q := range []string{
				`INSERT INTO systems (code, name, kind, created_at) VALUES ('h', 'H', 'medical', 1)`,
				`INSERT INTO customers (id, status, version, created_at, updated_at) VALUES ('c1', 'active', 1, 1, 1), ('c2', 'active', 1, 1, 1)`,
				`INSERT INTO customers (id, status, merged_into, version, created_at, updated_at) VALUES ('c3', 'merged', 'c1', 1, 1, 1)`,
				`INSERT INTO source_records (system, local_id, customer_id, raw_name, raw_sex, raw_birth, raw_id_type, raw_id, name_key, link_grade, link_manual, version, created_at, updated_at)
					VALUES ('h', 'r1', 'c1', 'n', 'M', '1990-01-01', '', '', 'nk1', '', FALSE, 1, 1, 1),
					       ('h', 'r2', 'c1', 'n', 'M', '1990-01-01', '', '', 'nk1', 'certain', FALSE, 1, 1, 1),
					       ('h', 'r3', 'c2', 'm', 'F', '1991-01-01', '', '', 'nk2', 'probable', TRUE, 1, 1, 1)`,
			} {
				if _, err := db.write.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			db = open(0)
			defer db.Close()
			rows := func(q string) map[string]int64 {
				t.Helper()
				rs, err := db.read.QueryContext(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				type figure struct {
					key string
					n   int64
				}
				out, err := collect(rs, "figures", func(sc interface{ Scan(...any) error }) (figure, error) {
					var what, system, grade string
					var f figure
					err := sc.Scan(&what, &system, &grade, &f.n)
					f.key = what + "/" + system + "/" + grade
					return f, err
				})
				if err != nil {
					t.Fatal(err)
				}
				m := map[string]int64{}
				for _, f := range out {
					m[f.key] = f.n
				}
				return m
			}
			check := func(after string) {
				t.Helper()
				counted, kept := rows(countedFigures), rows(keptFigures)
				if diff := cmp.Diff(counted, kept); diff != "" {
					t.Errorf("after %s, kept figures (-counted +kept):\n%s", after, diff)
				}
				if len(counted) < 2 && after != "the migration" {
					t.Errorf("after %s, only %v: the workload counts nothing", after, counted)
				}
			}
			check("the migration")

			sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db,
				Cache: NewMemoryCache(time.Minute, 1000), Scorer: sc})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			admin := fiveid.Principal{KeyID: "test", Role: fiveid.RoleAdmin}
			p := map[string]fiveid.Principal{}
			for _, c := range []string{"a", "b"} {
				if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: c, Name: c, Kind: fiveid.KindMedical}); err != nil {
					t.Fatal(err)
				}
				p[c] = fiveid.Principal{KeyID: "k-" + c, Role: fiveid.RoleSystem, System: c}
			}
			zhang := match.Input{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}
			li := match.Input{Name: "李娜", Sex: "女", BirthDate: "1980-02-03"}
			r1, err := svc.Register(ctx, p["a"], "1", zhang)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Register(ctx, p["b"], "x", zhang); err != nil {
				t.Fatal(err)
			}
			rLi, err := svc.Register(ctx, p["a"], "2", li)
			if err != nil {
				t.Fatal(err)
			}
			check("single registrations")

			var items []fiveid.BulkItem
			for i := range 40 {
				in := match.Input{Name: fmt.Sprintf("王%c", rune('一'+i%20)), Sex: "女", BirthDate: fmt.Sprintf("19%02d-03-04", 50+i%20)}
				items = append(items, fiveid.BulkItem{Principal: p[[]string{"a", "b"}[i/20]], LocalID: fmt.Sprint("bulk-", i), Input: in})
			}
			items = append(items, fiveid.BulkItem{Principal: p["b"], LocalID: "y", Input: li})
			if _, err := svc.RegisterBulk(ctx, items); err != nil {
				t.Fatal(err)
			}
			check("a bulk registration")

			if err := svc.Link(ctx, admin, "b", "y", r1.CustomerID); err != nil {
				t.Fatal(err)
			}
			check("a manual link")
			if _, err := svc.Unlink(ctx, admin, "b", "y"); err != nil {
				t.Fatal(err)
			}
			check("an unlink")
			m, err := svc.CommitMerge(ctx, admin, rLi.CustomerID, r1.CustomerID, fiveid.MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("a merge")
			if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
				t.Fatal(err)
			}
			check("an unmerge")

			var before int
			if err := db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM index_figures").Scan(&before); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RefreshStatistics(ctx); err != nil {
				t.Fatal(err)
			}
			check("compacting")
			var after int
			if err := db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM index_figures").Scan(&after); err != nil {
				t.Fatal(err)
			}
			if figures := len(rows(keptFigures)); after != figures || (d == postgres && before <= after) {
				t.Errorf("index_figures holds %d rows before compacting, %d after, for %d figures", before, after, figures)
			}

			f, err := svc.IndexFigures(ctx, admin, time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var records int64
			for _, n := range f.Records {
				records += n
			}
			if f.Customers < 20 || records != 3+2+1+41 || f.Links < 44 || f.Merges != 1 {
				t.Errorf("figures: %+v", f)
			}
		})
	}
}
