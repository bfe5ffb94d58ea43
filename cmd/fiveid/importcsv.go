package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
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

// importCacheMiB is import's embedded page cache (FIVEID_SQLITE_CACHE_MB
// unset): a batch job, it may hold more of the index than serve does; in
// an import of 300,000 records 256 MiB against 32 took the embedded
// store's CPU a record from 739 to 613 µs (1,140 to 1,369 records/s).
const importCacheMiB = 256

func importCmd(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("import")
	rejects := fs.String("rejects", "", "where rejected rows go (default FILE.rejects.csv)")
	chunk := fs.Int("chunk", fiveid.BulkChunk, "records decided per transaction (at most "+strconv.Itoa(fiveid.BulkChunk)+")")
	allowRejects := fs.Bool("allow-rejects", false, "exit 0 when rows were rejected (the import itself succeeded)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	file := pos[0]
	*chunk = min(max(*chunk, 1), fiveid.BulkChunk)
	if *rejects == "" {
		*rejects = strings.TrimSuffix(file, ".csv") + ".rejects.csv"
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	var bar *progressbar.ProgressBar
	if tf, ok := stderr.(*os.File); ok && term.IsTerminal(int(tf.Fd())) {
		// The bar counts records: the file's lines, less the header, are
		// its total (a quoted line break makes the ETA a little long).
		lines, err := countLines(f)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		bar = progressbar.NewOptions64(max(lines-1, 0), progressbar.OptionSetDescription("importing"),
			progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
	}
	if cfg.PprofAddr != "" {
		// A long import is profiled as serve is (FIVEID_PPROF_ADDR).
		addr, stopPprof, err := startPprof(cfg.PprofAddr, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer stopPprof()
		fmt.Fprintf(stderr, "pprof on http://%s/debug/pprof/\n", addr)
	}
	if cfg.SQLiteCacheMiB == 0 {
		cfg.SQLiteCacheMiB = importCacheMiB
	}
	return withApp(ctx, cfg, func(a *app) error {
		// Matching needs good candidate plans while the tables grow:
		// refresh the planner's statistics as the import goes (and once at
		// the end), whatever the server's autovacuum does. (Best effort
		// while it runs; the final refresh reports.)
		stopStats := refreshStatistics(ctx, a.svc, 20*time.Second, slog.New(slog.DiscardHandler))
		start := time.Now()
		progress := func(n int) {
			if bar != nil {
				bar.Add(n)
			}
		}
		sum, err := importCSV(ctx, a.svc, bufio.NewReaderSize(f, 1<<20), *rejects, *chunk, progress)
		stopStats()
		elapsed := time.Since(start)
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
		fmt.Fprintf(stdout, "imported %d rows: %d new customers, %d linked, %d unchanged, %d for review, %d rejected in %s (%.0f records/s)\n",
			sum.rows, sum.created, sum.linked, sum.unchanged, sum.review, sum.rejected,
			elapsed.Round(time.Millisecond), float64(sum.rows)/max(elapsed.Seconds(), 1e-9))
		if sum.rejected > 0 {
			fmt.Fprintf(stdout, "rejected rows and reasons: %s\n", *rejects)
			if !*allowRejects {
				return fmt.Errorf("import: %w: %d (see %s; --allow-rejects exits 0)", errRowsRejected, sum.rejected, *rejects)
			}
		}
		return nil
	})
}

// countLines counts the lines of f and rewinds it.
func countLines(f *os.File) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	_, err := f.Seek(0, io.SeekStart)
	return n, err
}

// importCSV registers every row, in file order, a chunk of rows per
// transaction (Service.RegisterBulk): the decisions are those of
// registering the rows one after the other. The next chunk is read while
// one registers. A bad row is written to the reject file and never
// aborts; progress is told the rows done.
func importCSV(ctx context.Context, svc *fiveid.Service, src io.Reader, rejectsPath string, chunk int, progress func(rows int)) (importSummary, error) {
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
	var sum importSummary
	reject := func(line int, system, localID, code, field, reason string) {
		sum.rejected++
		rw.Write([]string{strconv.Itoa(line), system, localID, code, field, reason})
	}

	// A batch is a chunk's rows to register, checked and normalized
	// (prepared) by the reader while the chunk before registers, and the
	// rows rejected while reading them (written in line order with the
	// chunk's own).
	type batch struct {
		rows    []importRow
		prep    *fiveid.BulkPrepared
		rejects [][6]string
		read    int
	}
	batches := make(chan batch, 2)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var readErr error
	go func() {
		defer close(batches)
		b := batch{}
		send := func() bool {
			prep, err := svc.PrepareBulk(readCtx, bulkItems(b.rows))
			if err != nil {
				readErr = fmt.Errorf("import: %w", err)
				return false
			}
			b.prep = prep
			select {
			case batches <- b:
				b = batch{}
				return true
			case <-readCtx.Done():
				return false
			}
		}
		line := 1
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			line++
			b.read++
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					b.rejects = append(b.rejects, [6]string{strconv.Itoa(line), "", "", "bad_csv", "", pe.Err.Error()})
					continue
				}
				readErr = fmt.Errorf("import: line %d: %w", line, err)
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
			if err := rowText(get); err != nil {
				code, field, reason := rejectReason(err)
				b.rejects = append(b.rejects, [6]string{strconv.Itoa(line), printable(row.system), printable(row.localID), code, field,
					reason + " (is the file UTF-8? convert GBK or GB18030 files first)"})
				continue
			}
			if row.system == "" {
				b.rejects = append(b.rejects, [6]string{strconv.Itoa(line), "", row.localID, "validation_failed", "system", "system is required"})
				continue
			}
			b.rows = append(b.rows, row)
			if len(b.rows) == chunk && !send() {
				return
			}
		}
		if b.read > 0 {
			send()
		}
	}()

	// A chunk's rows are reported (its results, and the rows rejected
	// while reading it, in line order) once the next chunk has registered
	// too: its results wait for the invalidation of the cached answers it
	// changed (RegisterPrepared), which goes on meanwhile.
	report := func(b batch) {
		for _, rj := range b.rejects {
			reject(atoi(rj[0]), rj[1], rj[2], rj[3], rj[4], rj[5])
		}
		for i, res := range b.prep.Results() {
			row := b.rows[i]
			if res.Err != nil {
				code, field, reason := rejectReason(res.Err)
				reject(row.line, row.system, row.localID, code, field, reason)
				continue
			}
			switch {
			case res.Result.Unchanged:
				sum.unchanged++
			case res.Result.Created:
				sum.created++
			default:
				sum.linked++
			}
			if res.Result.ReviewTaskID != "" {
				sum.review++
			}
		}
		progress(b.read)
	}
	var regErr error
	var registered *batch // not reported yet
	for b := range batches {
		if regErr != nil {
			continue // drain: the reader stops at once
		}
		if err := ctx.Err(); err != nil {
			regErr = err
			stopReading()
			continue
		}
		sum.rows += b.read
		err := registerRetry(ctx, svc, b.prep)
		if registered != nil {
			report(*registered)
			registered = nil
		}
		if err != nil {
			for _, rj := range b.rejects {
				reject(atoi(rj[0]), rj[1], rj[2], rj[3], rj[4], rj[5])
			}
			regErr = fmt.Errorf("import: the chunk of lines up to %d: %w", b.rows[len(b.rows)-1].line, err)
			stopReading()
			continue
		}
		registered = &b
	}
	if registered != nil {
		report(*registered)
	}
	err = errors.Join(regErr, readErr)
	rw.Flush()
	if werr := errors.Join(rw.Error(), rf.Close()); werr != nil && err == nil {
		err = fmt.Errorf("import: writing rejects: %w", werr)
	}
	return sum, err
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
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

// bulkItems are rows as the import registers them.
func bulkItems(rows []importRow) []fiveid.BulkItem {
	items := make([]fiveid.BulkItem, len(rows))
	for i, row := range rows {
		items[i] = fiveid.BulkItem{Principal: fiveid.Principal{KeyID: "cli-import", Role: fiveid.RoleSystem, System: row.system},
			LocalID: row.localID, Input: row.in}
	}
	return items
}

// registerRetry registers a prepared chunk, retrying transient store
// failures (a busy embedded store, a PostgreSQL failover) a few times: a
// chunk is one transaction, so a failed attempt left nothing behind.
func registerRetry(ctx context.Context, svc *fiveid.Service, prep *fiveid.BulkPrepared) error {
	var err error
	for attempt := range 5 {
		err = svc.RegisterPrepared(ctx, prep)
		if !errors.Is(err, fiveid.ErrUnavailable) {
			return err
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	return err
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
