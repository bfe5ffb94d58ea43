package fiveid

import "encoding/binary"

// A blocking key, as the service derives it (Service.blockingKeys) and the
// stores keep it, is a 63-bit number: the first 64 bits of a keyed HMAC
// (the rule's name and value, keyed with the index's secret) with the top
// bit cleared, so that it is a non-negative 64-bit integer in either
// store. In Go it travels as 16 lower-case hex digits (KeyText), which
// order as the numbers do; the stores keep the number (KeyValue), whose
// index entries are about a third smaller than with the 32 hex digits
// stored until migration 0012 (the keys' primary key at a million
// records: 598 MB against 930) and compare as integers.
//
// 63 bits are plenty: two different values meeting on one key only add a
// candidate, which scoring then judges; at ten million records of ten keys
// each, the chance that any two of the 10^8 keys collide is about 0.05%.

// keyMask clears a key's top bit.
const keyMask = 1<<63 - 1

// blockingKeyOf is the key of an HMAC sum, as a number.
func blockingKeyOf(sum []byte) int64 {
	return int64(binary.BigEndian.Uint64(sum[:8]) & keyMask)
}

// KeyText is a key's form in Go: 16 lower-case hex digits.
func KeyText(v int64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	u := uint64(v)
	for i := 15; i >= 0; i-- {
		b[i] = digits[u&0xf]
		u >>= 4
	}
	return string(b[:])
}

// KeyValue is the number a key's text stands for; ok is false for any
// text KeyText does not write (a key no build derives).
func KeyValue[S string | []byte](k S) (v int64, ok bool) {
	if len(k) != 16 {
		return 0, false
	}
	var u uint64
	for i := range 16 {
		d, ok := hexDigit(k[i])
		if !ok {
			return 0, false
		}
		u = u<<4 | uint64(d)
	}
	if u > keyMask {
		return 0, false
	}
	return int64(u), true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
