package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"fiveid"
	"fiveid/match"
)

// importColumns are the header names a CSV must carry (other columns are
// ignored).
var importColumns = []string{"system", "local_id", "name", "sex", "birth_date", "id_type", "id_number"}

type importRow struct {
	line    int
	system  string
	localID string
	in      match.Input
}

type importSummary struct {
	rows, created, linked, unchanged, review, rejected int
}

func importCmd(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("import")
	rejects := fs.String("rejects", "", "where rejected rows go (default FILE.rejects.csv)")
	workers := fs.Int("workers", 2*runtime.GOMAXPROCS(0), "parallel registrations")
	allowRejects := fs.Bool("allow-rejects", false, "exit 0 when rows were rejected (the import itself succeeded)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	file := pos[0]
	if *workers < 1 {
		*workers = 1
	}
	if *rejects == "" {
		*rejects = strings.TrimSuffix(file, ".csv") + ".rejects.csv"
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var bar *progressbar.ProgressBar
	var src io.Reader = bufio.NewReaderSize(f, 1<<20)
	if tf, ok := stderr.(*os.File); ok && term.IsTerminal(int(tf.Fd())) {
		bar = progressbar.DefaultBytes(st.Size(), "importing")
		src = io.TeeReader(src, bar)
	}
	return withApp(ctx, cfg, func(a *app) error {
		// Matching each row needs good candidate plans while the tables
		// grow: refresh the planner's statistics as the import goes (and
		// once at the end), whatever the server's autovacuum does.
		// (Best effort while it runs; the final refresh reports.)
		stopStats := refreshStatistics(ctx, a.svc, 20*time.Second, slog.New(slog.DiscardHandler))
		sum, err := importCSV(ctx, a.svc, src, *rejects, *workers)
		stopStats()
		if err == nil {
			if _, serr := a.svc.RefreshStatistics(ctx, operator); serr != nil {
				fmt.Fprintf(stderr, "import: refreshing statistics: %v\n", serr)
			}
		}
		if bar != nil {
			bar.Finish()
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %d rows: %d new customers, %d linked, %d unchanged, %d for review, %d rejected\n",
			sum.rows, sum.created, sum.linked, sum.unchanged, sum.review, sum.rejected)
		if sum.rejected > 0 {
			fmt.Fprintf(stdout, "rejected rows and reasons: %s\n", *rejects)
			if !*allowRejects {
				return fmt.Errorf("import: %w: %d (see %s; --allow-rejects exits 0)", errRowsRejected, sum.rejected, *rejects)
			}
		}
		return nil
	})
}

// importCSV registers every row. Rows of one (system, local_id) always go to
// the same worker, so a file that mentions a record twice applies its rows
// in file order. A bad row is written to the reject file and never aborts.
func importCSV(ctx context.Context, svc *fiveid.Service, src io.Reader, rejectsPath string, workers int) (importSummary, error) {
	r := csv.NewReader(src)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return importSummary{}, fmt.Errorf("import: reading the header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	var missing []string
	for _, c := range importColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return importSummary{}, fmt.Errorf("import: the header lacks column(s) %s", strings.Join(missing, ", "))
	}

	rf, err := os.Create(rejectsPath)
	if err != nil {
		return importSummary{}, fmt.Errorf("import: %w", err)
	}
	rw := csv.NewWriter(rf)
	rw.Write([]string{"line", "system", "local_id", "code", "field", "reason"})
	var mu sync.Mutex
	var sum importSummary
	reject := func(line int, system, localID, code, field, reason string) {
		mu.Lock()
		defer mu.Unlock()
		sum.rejected++
		rw.Write([]string{strconv.Itoa(line), system, localID, code, field, reason})
	}

	queues := make([]chan importRow, workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan importRow, 64)
		wg.Add(1)
		go func(q chan importRow) {
			defer wg.Done()
			for row := range q {
				p := fiveid.Principal{KeyID: "cli-import", Role: fiveid.RoleSystem, System: row.system}
				res, err := registerRetry(ctx, svc, p, row)
				if err != nil {
					code, field, reason := rejectReason(err)
					reject(row.line, row.system, row.localID, code, field, reason)
					continue
				}
				mu.Lock()
				switch {
				case res.Unchanged:
					sum.unchanged++
				case res.Created:
					sum.created++
				default:
					sum.linked++
				}
				if res.ReviewTaskID != "" {
					sum.review++
				}
				mu.Unlock()
			}
		}(queues[i])
	}

	line := 1
	var readErr error
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				reject(line, "", "", "bad_csv", "", pe.Err.Error())
				continue
			}
			readErr = fmt.Errorf("import: line %d: %w", line, err)
			break
		}
		if ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
		get := func(c string) string {
			if i := col[c]; i < len(rec) {
				return rec[i]
			}
			return ""
		}
		row := importRow{
			line: line, system: strings.TrimSpace(get("system")), localID: strings.TrimSpace(get("local_id")),
			in: match.Input{Name: get("name"), Sex: get("sex"), BirthDate: get("birth_date"), IDType: get("id_type"), IDNumber: get("id_number")},
		}
		mu.Lock()
		sum.rows++
		mu.Unlock()
		if err := rowText(get); err != nil {
			code, field, reason := rejectReason(err)
			reject(line, printable(row.system), printable(row.localID), code, field, reason+" (is the file UTF-8? convert GBK or GB18030 files first)")
			continue
		}
		if row.system == "" {
			reject(line, "", row.localID, "validation_failed", "system", "system is required")
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(row.system + "\x00" + row.localID))
		queues[int(h.Sum32()%uint32(workers))] <- row
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	rw.Flush()
	if err := errors.Join(rw.Error(), rf.Close()); err != nil && readErr == nil {
		readErr = fmt.Errorf("import: writing rejects: %w", err)
	}
	return sum, readErr
}

// rowText refuses a row with a cell that is not fiveid.ValidText (a NUL,
// bytes that are not UTF-8): PostgreSQL cannot store it and the embedded
// store would keep it, so both stores reject it the same way, naming the
// columns, as the API does.
func rowText(get func(column string) string) error {
	var problems []fiveid.FieldProblem
	for _, c := range importColumns {
		if !fiveid.ValidText(get(c)) {
			problems = append(problems, fiveid.InvalidText(c))
		}
	}
	if len(problems) > 0 {
		return &fiveid.ValidationError{Problems: problems}
	}
	return nil
}

// printable is s for the reject file without NUL or broken bytes.
func printable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", `\u0000`)
}

// registerRetry retries transient store failures (a busy embedded store, a
// PostgreSQL failover) a few times before rejecting the row.
func registerRetry(ctx context.Context, svc *fiveid.Service, p fiveid.Principal, row importRow) (fiveid.RegisterResult, error) {
	var err error
	for attempt := range 5 {
		var res fiveid.RegisterResult
		res, err = svc.Register(ctx, p, row.localID, row.in)
		if !errors.Is(err, fiveid.ErrUnavailable) {
			return res, err
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	return fiveid.RegisterResult{}, err
}

// rejectReason turns an error into (code, field, reason) without raw values.
func rejectReason(err error) (string, string, string) {
	var ve *fiveid.ValidationError
	switch {
	case errors.As(err, &ve):
		var fields, msgs []string
		for _, p := range ve.Problems {
			fields = append(fields, p.Field)
			msgs = append(msgs, p.Field+": "+p.Code)
		}
		return "validation_failed", strings.Join(fields, ";"), strings.Join(msgs, "; ")
	case errors.Is(err, fiveid.ErrNotFound):
		return "unknown_system", "system", "no registered system has this code"
	case errors.Is(err, fiveid.ErrUnavailable):
		return "unavailable", "", "the store was unavailable; re-run the import"
	}
	return "internal", "", "internal error (see the service log)"
}
