package fiveid

import "testing"

// A record's derived keys are current when they are the set it carries,
// whatever their order and however often a key is derived.
func TestSameKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		derived, carried []string
		want             bool
	}{
		{"same set, other order", []string{"a", "b", "c"}, []string{"c", "a", "b"}, true},
		{"a key derived twice", []string{"a", "b", "a"}, []string{"b", "a"}, true},
		{"none and none", nil, nil, true},
		{"one key not carried", []string{"a", "b"}, []string{"a"}, false},
		{"a stale key carried", []string{"a"}, []string{"a", "old"}, false},
		{"as many keys, others", []string{"a", "b"}, []string{"a", "c"}, false},
		{"repeats make up the count", []string{"a", "a"}, []string{"a", "b"}, false},
		{"carried, none derived", nil, []string{"old"}, false},
	} {
		if got := sameKeys(tc.derived, tc.carried); got != tc.want {
			t.Errorf("%s: sameKeys(%q, %q) = %v, want %v", tc.name, tc.derived, tc.carried, got, tc.want)
		}
	}
}
