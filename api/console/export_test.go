package console

// HasMessage reports a text for key in both languages (tests).
func HasMessage(key string) bool {
	m, ok := messages[key]
	return ok && m[0] != "" && m[1] != ""
}
