package fiveid

import (
	"strings"
	"unicode/utf8"
)

// ValidText reports whether s can be kept as text: valid UTF-8 holding no
// U+0000. PostgreSQL refuses both (SQLSTATE 22021,
// character_not_in_repertoire) while SQLite stores them, so without one rule
// the two stores would answer the same request differently. The adapters
// apply it where bytes become strings — every string of a JSON body, every
// path and query parameter, every imported CSV cell — so the use cases can
// take text for granted.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// InvalidText is the problem of a field that is not ValidText. The message
// never repeats the value.
func InvalidText(field string) FieldProblem {
	return FieldProblem{Field: field, Code: "invalid_text",
		Message: field + " must be UTF-8 text without NUL (U+0000) characters"}
}
