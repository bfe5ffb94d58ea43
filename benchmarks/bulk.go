package benchmarks

import (
	"encoding/csv"
	"fmt"
	"io"
)

// BulkRecords is a synthetic file of n records for bulk registration: about
// 30% of its people have 2–4 records (each from another system), the
// others one; realistic noise; people's records spread through the file in
// random order, as a hospital group's history is.
func BulkRecords(seed uint64, n int) []Record {
	g := NewGenerator(seed, Realistic)
	people := g.Population(n*10/15 + 10) // 0.7×1 + 0.3×3 = 1.6 records a person, on average
	var out []Record
	for _, p := range people {
		k := 1
		if g.chance(0.3) {
			k = 2 + g.r.IntN(3)
		}
		for _, sys := range g.r.Perm(len(Systems))[:k] {
			out = append(out, g.Record(p, sys, fmt.Sprintf("B%08d", len(out))))
		}
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// WriteCSV writes records in fiveid import's format.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"system", "local_id", "name", "sex", "birth_date", "id_type", "id_number"})
	for _, r := range recs {
		cw.Write([]string{r.System, r.LocalID, r.Input.Name, r.Input.Sex, r.Input.BirthDate, r.Input.IDType, r.Input.IDNumber})
	}
	cw.Flush()
	return cw.Error()
}
