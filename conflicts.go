package fiveid

import (
	"fiveid/match"
)

// heldIDs lists the identifiers the records hold, one entry per record
// that has one (checksum-valid or not: the rules using them decide).
// Records that no longer normalize hold nothing.
func heldIDs(recs []SourceRecord) []match.Held {
	var out []match.Held
	for _, r := range recs {
		nr, err := recordOf(r)
		if err != nil || nr.ID.IsZero() {
			continue
		}
		out = append(out, match.Held{System: r.System, LocalID: r.LocalID, ID: nr.ID})
	}
	return out
}

// RecordRef names a source record and the identifier it holds, masked.
type RecordRef struct {
	System   string
	LocalID  string
	MaskedID string
}

// IdentifierConflict is a pair of records, one on each side, holding
// different checksum-valid identifiers of one namespace: two people.
type IdentifierConflict struct {
	Namespace string
	A, B      RecordRef
}

// identifierConflicts lists every pair of a's and b's identifiers that
// conflict (match.IDsConflict).
func identifierConflicts(a, b []match.Held) []IdentifierConflict {
	var out []IdentifierConflict
	for _, x := range a {
		for _, y := range b {
			if match.IDsConflict(x.ID, y.ID) {
				out = append(out, IdentifierConflict{
					Namespace: x.ID.Namespace,
					A:         RecordRef{System: x.System, LocalID: x.LocalID, MaskedID: match.MaskID(x.ID.Number)},
					B:         RecordRef{System: y.System, LocalID: y.LocalID, MaskedID: match.MaskID(y.ID.Number)},
				})
			}
		}
	}
	return out
}
