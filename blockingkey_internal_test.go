package fiveid

import (
	"math"
	"slices"
	"strconv"
	"testing"
)

// A blocking key is the first 63 bits of the 128-bit HMAC stored as text
// before migration 0012, which converts a stored key the same way: an
// index migrated from that text finds what the service derives now.
func TestBlockingKeyIsTheOldKeysFirst63Bits(t *testing.T) {
	s := &Service{hmacKey: []byte("a secret")}
	for _, raw := range []string{"", "idab:11010519491231", "n:zhangwei|1949-12", "idasd:110105002231"} {
		old := s.derive("block", raw) // the 32 hex digits of before
		hi, err := strconv.ParseUint(old[:16], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		want := KeyText(int64(hi &^ (1 << 63)))
		var sum [32]byte
		if got := KeyText(blockingKeyOf(s.mac("block", raw, sum[:0]))); got != want {
			t.Errorf("key of %q: %s, want %s (from %s)", raw, got, want, old)
		}
	}
}

// KeyText and KeyValue are each other's inverse, the text orders as the
// numbers do, and no other text is a key.
func TestKeyTextRoundTrip(t *testing.T) {
	vals := []int64{0, 1, 15, 16, 0x0123456789abcdef, math.MaxInt64 - 1, math.MaxInt64}
	var texts []string
	for _, v := range vals {
		k := KeyText(v)
		if got, ok := KeyValue(k); !ok || got != v {
			t.Errorf("KeyValue(KeyText(%d) = %s) = %d, %v", v, k, got, ok)
		}
		if got, ok := KeyValue([]byte(k)); !ok || got != v {
			t.Errorf("KeyValue of bytes %s = %d, %v", k, got, ok)
		}
		texts = append(texts, k)
	}
	if !slices.IsSorted(texts) {
		t.Errorf("key texts out of the numbers' order: %v", texts)
	}
	for _, bad := range []string{"", "0", "000000000000000", "00000000000000000", "8000000000000000", "ffffffffffffffff",
		"000000000000000A", "000000000000000g", "-000000000000001", "0123456789abcdef0123456789abcdef"} {
		if v, ok := KeyValue(bad); ok {
			t.Errorf("KeyValue(%q) = %d, want no key", bad, v)
		}
	}
}
