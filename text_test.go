package fiveid_test

import (
	"testing"

	"fiveid"
)

func TestValidText(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"":               true,
		"张伟":             true,
		"tab\tnewline\n": true,
		"\u200d\ufffd":   true,
		"a\x00b":         false,
		"\x00":           false,
		"\xff\xfe":       false,
		"\xed\xa0\x80":   false, // an encoded surrogate (CESU-8), not UTF-8
		"张\xe4\xbc":      false, // a truncated character
	} {
		if got := fiveid.ValidText(s); got != want {
			t.Errorf("ValidText(%q) = %v, want %v", s, got, want)
		}
	}
}
