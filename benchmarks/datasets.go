package benchmarks

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"fiveid/match"
)

// ExternalDir is where the public datasets are read from (never copied
// into the repository): $FIVEID_EXTERNAL, else ../shared/external relative
// to the module root.
func ExternalDir(moduleRoot string) string {
	if d := os.Getenv("FIVEID_EXTERNAL"); d != "" {
		return d
	}
	return filepath.Join(moduleRoot, "..", "shared", "external")
}

func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for {
		row, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m := map[string]string{}
		for i, h := range header {
			if i < len(row) {
				m[strings.TrimSpace(h)] = strings.TrimSpace(row[i])
			}
		}
		out = append(out, m)
	}
}

// FEBRL3 reads dataset3 (one file, 2,000 people, 5,000 records) as one
// system, for training weights on other data than FEBRL4.
func FEBRL3(dir string) ([]Record, error) { return FEBRLDedupe(dir, 3) }

// FEBRLDedupe reads FEBRL's deduplication dataset n (1: 1,000 records of
// 500 people; 2: 5,000 of 4,000; 3: 5,000 of 2,000) as one system, with
// the fields FEBRL4 uses.
func FEBRLDedupe(dir string, n int) ([]Record, error) {
	if n < 1 || n > 3 {
		return nil, fmt.Errorf("febrl: no deduplication dataset %d", n)
	}
	return febrl(dir, []struct{ file, system string }{{fmt.Sprintf("dataset%d.csv", n), fmt.Sprintf("febrl-%d", n)}})
}

// FEBRL4 reads dataset4a (system febrl-a) and dataset4b (system febrl-b):
// name = given_name + " " + surname, date_of_birth, soc_sec_id as an ID of
// type other ("99"), no sex. Truth: rec-N-org and rec-N-dup-0 are person N.
func FEBRL4(dir string) ([]Record, error) {
	return febrl(dir, []struct{ file, system string }{{"dataset4a.csv", "febrl-a"}, {"dataset4b.csv", "febrl-b"}})
}

func febrl(dir string, parts []struct{ file, system string }) ([]Record, error) {
	var out []Record
	for _, part := range parts {
		rows, err := readCSV(filepath.Join(dir, "febrl", part.file))
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			id := r["rec_id"]
			f := strings.Split(id, "-")
			if len(f) < 3 {
				return nil, fmt.Errorf("febrl rec_id %q", id)
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("febrl rec_id %q", id)
			}
			in := match.Input{Name: strings.TrimSpace(r["given_name"] + " " + r["surname"]), BirthDate: r["date_of_birth"]}
			if r["soc_sec_id"] != "" {
				in.IDType, in.IDNumber = "99", r["soc_sec_id"]
			}
			out = append(out, Record{PersonID: n, System: part.system, LocalID: id, Input: in})
		}
	}
	return out, nil
}

// Fake1000 reads Splink's fake_1000.csv: first_name + surname, dob; cluster
// is the truth. No ID, no sex.
func Fake1000(dir string) ([]Record, error) {
	rows, err := readCSV(filepath.Join(dir, "splink_datasets", "fake_1000.csv"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range rows {
		c, err := strconv.Atoi(r["cluster"])
		if err != nil {
			return nil, fmt.Errorf("fake_1000 cluster %q", r["cluster"])
		}
		out = append(out, Record{PersonID: c, System: "splink", LocalID: r["unique_id"],
			Input: match.Input{Name: strings.TrimSpace(r["first_name"] + " " + r["surname"]), BirthDate: r["dob"]}})
	}
	return out, nil
}
