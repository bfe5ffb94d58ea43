package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// Text the stores cannot keep alike (fiveid.ValidText) is refused here,
// where bytes become strings, so both stores answer the same 400 naming
// the field: bodyText for every string of a JSON body (in decode, the one
// door of bodies), textParams for every path and query parameter (on every
// authenticated route). Doing it in the adapter, not in each use case,
// makes it complete by construction: a new field or route is covered
// without anyone remembering to.

// bodyText names the first string of a JSON body — member name or value,
// at any depth — that is not fiveid.ValidText: `records[2].name`. The JSON
// decoder would silently turn invalid UTF-8 into U+FFFD, so the raw bytes
// of each token are checked too. A syntax error ends the walk: decode
// reports it.
func bodyText(body []byte) (fiveid.FieldProblem, bool) {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u0000`)) {
		return fiveid.FieldProblem{}, false // the common case: nothing to walk
	}
	type frame struct {
		array bool
		key   string // object: the current member
		index int    // array: the current element
		inKey bool   // object: the next token is a member name
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(printable(f.key))
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := &stack[len(stack)-1]; top.array {
			top.index++
		} else {
			top.inKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return fiveid.FieldProblem{}, false
		}
		raw := body[start:dec.InputOffset()]
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, frame{inKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		case string:
			inKey := len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].inKey
			if inKey {
				stack[len(stack)-1].key, stack[len(stack)-1].inKey = tok, false
			}
			if !fiveid.ValidText(tok) || !utf8.Valid(raw) {
				return fiveid.InvalidText(path()), true
			}
			if inKey {
				continue
			}
		}
		valueDone()
	}
}

// printable shows a member or parameter name that is itself bad text
// without echoing NUL or broken bytes.
func printable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", `\u0000`)
}

// textParams refuses a path or query parameter that is not
// fiveid.ValidText (`/v1/customers/%00`, `?system=%ff`).
func textParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var problems []fiveid.FieldProblem
		for _, name := range c.ParamNames() {
			if !fiveid.ValidText(c.Param(name)) {
				problems = append(problems, fiveid.InvalidText(name))
			}
		}
		for name, values := range c.QueryParams() {
			bad := !fiveid.ValidText(name)
			for _, v := range values {
				bad = bad || !fiveid.ValidText(v)
			}
			if bad {
				problems = append(problems, fiveid.InvalidText(printable(name)))
			}
		}
		if len(problems) > 0 {
			slices.SortFunc(problems, func(a, b fiveid.FieldProblem) int { return strings.Compare(a.Field, b.Field) })
			return &fiveid.ValidationError{Problems: problems}
		}
		return next(c)
	}
}
