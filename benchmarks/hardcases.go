package benchmarks

import (
	"fmt"

	"fiveid/match"
)

// HardCases are hard negatives added on purpose, beyond what a population
// draws by chance: the accuracy gate needs many of them in a small sample.
type HardCases struct {
	// Ties is the number of namesake ties to add (see Tie).
	Ties int
}

// Tie is two people the five elements cannot tell apart without an
// identifier: the same name, sex and birth date. A holds a checksum-valid
// citizen number; B another one (a different person), or, when NoID, no
// document at all. Their records are written without noise (a misspelt
// name would no longer be a tie); only the notation of sex and dates varies.
//
// With two numbers, every record is registered: B's first record meets A's
// customer with a conflicting number and must start its own. Without one,
// registering B would be indistinguishable from another record of A (one
// candidate, nothing against it), so the two are loaded as distinct people
// (Record.Distinct: one system's deduplicated index knows them apart) and
// A's further records are registered.
type Tie struct {
	A, B int // person IDs
	NoID bool
	// Third is the index in Dataset.Records of a record of A with name,
	// sex and birth date only, registered after every record of A and B:
	// the evidence fits both equally, so it must not link to either.
	Third int
	// Probes identify with name, sex and birth date only, one about A and
	// one about B: neither may auto-link.
	Probes []Record
}

// tieSalt derives the hard cases' random stream from the population's seed.
const tieSalt = 0x71e5

// SyntheticWithHardCases is Synthetic(seed, n, noise) with h's hard cases
// appended: people n, n+1, …, their records after the population's, and
// Dataset.Ties. The population, its records and its queries are exactly
// Synthetic's — the hard cases come from a random stream of their own — so
// figures measured with Synthetic do not move.
func SyntheticWithHardCases(seed uint64, n int, noise Noise, h HardCases) Dataset {
	ds, g := synthetic(seed, n, noise)
	if h.Ties <= 0 {
		return ds
	}
	t := NewGenerator(seed^tieSalt, Noise{})
	t.used = g.used // citizen numbers stay unique across the whole dataset
	taken := map[string]bool{}
	for _, p := range ds.People {
		taken[tieKey(p)] = true
	}
	local := 0
	next := func(prefix string) string {
		local++
		return fmt.Sprintf("%s%07d", prefix, local)
	}
	elementsOnly := func(p Person, prefix string) Record {
		r := t.Record(p, t.r.IntN(len(Systems)), next(prefix))
		r.Input.IDType, r.Input.IDNumber = "", ""
		return r
	}
	var thirds []Record
	for i := range h.Ties {
		a := Person{ID: len(ds.People), TwinOf: -1, Sex: match.SexMale, IDType: match.IDTypeCitizen}
		if (i/2)%2 == 1 {
			a.Sex = match.SexFemale
		}
		for {
			a.Surname, a.Given, a.Birth = surnames[t.r.IntN(10)].s, t.commonGiven(a.Sex), t.birth()
			if !taken[tieKey(a)] {
				break
			}
		}
		taken[tieKey(a)] = true
		a.IDNumber = t.citizen(districts[t.r.IntN(len(districts))], a.Birth, a.Sex, -1)
		b := a
		b.ID = a.ID + 1
		tie := Tie{A: a.ID, B: b.ID, NoID: i%2 == 1}
		if tie.NoID {
			b.IDType, b.IDNumber = match.IDTypeNone, ""
		} else {
			b.IDNumber = t.citizen(districts[t.r.IntN(len(districts))], b.Birth, b.Sex, -1)
		}
		ds.People = append(ds.People, a, b)
		ds.Registered[a.ID], ds.Registered[b.ID] = true, true
		if tie.NoID {
			sys := t.r.Perm(len(Systems))
			for _, p := range []Person{a, b} {
				r := t.Record(p, sys[0], next("T"))
				r.Distinct = true
				ds.Records = append(ds.Records, r)
			}
			for _, s := range sys[1 : 1+t.r.IntN(2)] {
				ds.Records = append(ds.Records, t.Record(a, s, next("T")))
			}
		} else {
			for _, p := range []Person{a, b} {
				for _, sys := range t.r.Perm(len(Systems))[:1+t.r.IntN(2)] {
					ds.Records = append(ds.Records, t.Record(p, sys, next("T")))
				}
			}
		}
		thirds = append(thirds, elementsOnly(a, "T"))
		tie.Probes = []Record{elementsOnly(a, "P"), elementsOnly(b, "P")}
		ds.Ties = append(ds.Ties, tie)
	}
	for i, r := range thirds {
		ds.Ties[i].Third = len(ds.Records)
		ds.Records = append(ds.Records, r)
	}
	return ds
}

// commonGiven is a given name from the most common characters (where
// namesakes cluster: 张伟, 王芳, 李娜).
func (g *Generator) commonGiven(sex match.Sex) string {
	pool := maleChars[:12]
	if sex == match.SexFemale {
		pool = femaleChars[:12]
	}
	if g.r.IntN(3) == 0 {
		return string(pool[g.r.IntN(len(pool))])
	}
	return string([]rune{pool[g.r.IntN(len(pool))], pool[g.r.IntN(len(pool))]})
}

// tieKey is what two people in a tie share: name, sex and birth date.
func tieKey(p Person) string {
	return fmt.Sprintf("%s|%d|%s", p.Name(), p.Sex, p.Birth)
}

// Relation says how two people of a dataset are related, for reports:
// twin, tie (same name, sex and birth date), namesake (same name) or
// unrelated.
func Relation(ds Dataset, a, b int) string {
	if a < 0 || b < 0 || a >= len(ds.People) || b >= len(ds.People) || a == b {
		return "unrelated"
	}
	pa, pb := ds.People[a], ds.People[b]
	switch {
	case pa.TwinOf == pb.ID || pb.TwinOf == pa.ID:
		return "twin"
	case tieKey(pa) == tieKey(pb):
		return "tie"
	case pa.Name() == pb.Name():
		return "namesake"
	}
	return "unrelated"
}
