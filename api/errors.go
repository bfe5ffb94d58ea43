package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// Error is the body of every error response.
type Error struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
	// ReviewTaskID names the review task of a needs_review answer.
	ReviewTaskID string `json:"review_task_id,omitempty"`
	// Conflicts names the records of an identifier_conflict answer.
	Conflicts []IdentifierConflictWire `json:"conflicts,omitempty"`
}

// FieldError is one field at fault.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// requestError is a malformed request found by the adapter itself.
type requestError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *requestError) Error() string { return e.message }

func badRequest(field, msg string) error {
	return &requestError{status: http.StatusBadRequest, code: "bad_request", message: msg, field: field}
}

// rateLimited is a request over its key's rate limit (429 rate_limited;
// the limiter sets Retry-After).
func rateLimited() error {
	return &requestError{status: http.StatusTooManyRequests, code: "rate_limited",
		message: "this API key sent more requests than its rate limit allows; retry after the seconds in Retry-After"}
}

const unsupportedMediaTypeMsg = "send the body as JSON with Content-Type: application/json"

func unsupportedMediaType() error {
	return &requestError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: unsupportedMediaTypeMsg}
}

// jsonContentType accepts a body labelled application/json, with any
// parameters but a charset other than UTF-8 (RFC 8259 §8.1: JSON is UTF-8),
// or not labelled at all: a client that names no type claims nothing the
// strict decoder will not check. Anything else is 415 — notably
// application/x-www-form-urlencoded, which is what curl -d sends without
// -H 'Content-Type: application/json', and text/plain, a browser's default.
func jsonContentType(r *http.Request) error {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupportedMediaType()
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return unsupportedMediaType()
	}
	return nil
}

// errorTable is the one mapping from errors to (status, stable code). The
// codes are listed in openapi.yaml.
var errorTable = []struct {
	err    error
	status int
	code   string
	msg    string
}{
	{fiveid.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "a valid API key is required: Authorization: Bearer KEY"},
	{fiveid.ErrPolicyDenied, http.StatusForbidden, "policy_denied", "no policy lets this system receive these scopes for this purpose; nothing was granted"},
	{fiveid.ErrDenied, http.StatusForbidden, "forbidden", "this key's role may not do this"},
	{fiveid.ErrNoMatch, http.StatusNotFound, "no_match", "no customer matches these identity elements"},
	{fiveid.ErrNotFound, http.StatusNotFound, "not_found", "not found"},
	{fiveid.ErrNeedsReview, http.StatusConflict, "needs_review", "only a possible match: a data steward must review it"},
	{fiveid.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was first used with another request (method, path or body): use a new key for a new request"},
	{fiveid.ErrIdempotencyInProgress, http.StatusConflict, "idempotency_in_progress", "the request first sent with this Idempotency-Key is still running: retry in a moment"},
	{fiveid.ErrIdentifierConflict, http.StatusConflict, "identifier_conflict", "the customers' records hold different identifiers of one namespace (two people): merging them needs \"override\": true and a reason"},
	{fiveid.ErrConflict, http.StatusConflict, "conflict", "conflicts with the current state"},
	{fiveid.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "a backing service is unavailable; retry later"},
	{fiveid.ErrInvalid, http.StatusBadRequest, "invalid", "invalid request"},
}

func statusOf(err error) int {
	s, _ := toError(err)
	return s
}

func toError(err error) (int, Error) {
	var re *requestError
	if errors.As(err, &re) {
		e := Error{Code: re.code, Message: re.message}
		if re.field != "" {
			e.Fields = []FieldError{{Field: re.field, Code: re.code, Message: re.message}}
		}
		return re.status, e
	}
	var ve *fiveid.ValidationError
	if errors.As(err, &ve) {
		e := Error{Code: "validation_failed", Message: "the request has invalid fields"}
		for _, p := range ve.Problems {
			e.Fields = append(e.Fields, FieldError{Field: p.Field, Code: p.Code, Message: p.Message})
		}
		return http.StatusBadRequest, e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, Error{Code: "not_found", Message: "no such route"}
		case http.StatusMethodNotAllowed:
			return he.Code, Error{Code: "method_not_allowed", Message: "method not allowed on this route"}
		case http.StatusRequestEntityTooLarge:
			return he.Code, Error{Code: "too_large", Message: "request body too large"}
		case http.StatusUnsupportedMediaType:
			return he.Code, Error{Code: "unsupported_media_type", Message: unsupportedMediaTypeMsg}
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, Error{Code: "bad_request", Message: http.StatusText(he.Code)}
		}
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			e := Error{Code: row.code, Message: row.msg}
			var ic *fiveid.IdentifierConflictError
			if errors.As(err, &ic) {
				e.Conflicts = conflictsWire(ic.Conflicts)
			}
			return row.status, e
		}
	}
	return http.StatusInternalServerError, Error{Code: "internal", Message: "internal error; the request ID is in the X-Request-Id header"}
}

// errorHandler is echo's one HTTPErrorHandler: every error becomes
// {"code","message","fields"}; details of unknown errors go to the log only.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, body := errorBody(err)
		if status >= 500 {
			// "code" is the kind the wiring's repeat limiter counts by: an
			// outage logs one line per interval, not one per request.
			log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed", slog.String("code", body.Code),
				slog.String("route", c.Path()), slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("error", err.Error()))
		}
		if c.Request().Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		c.JSON(status, body)
	}
}

// errorBody is an error's response: toError's, and the review task of a
// needs_review answer.
func errorBody(err error) (int, Error) {
	status, body := toError(err)
	var rv *reviewError
	if errors.As(err, &rv) {
		body.ReviewTaskID = rv.taskID
	}
	return status, body
}

// reviewError carries the review task of a needs_review answer.
type reviewError struct {
	err    error
	taskID string
}

func (e *reviewError) Error() string { return e.err.Error() }
func (e *reviewError) Unwrap() error { return e.err }

// decode reads a JSON body strictly: another content type (415), unknown
// fields, wrong types, trailing data, text the stores cannot keep
// (bodyText) and oversized bodies are 4xx errors naming the field.
func decode(c echo.Context, limit int64, v any) error {
	r := c.Request()
	if err := jsonContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", message: "request body too large"}
		}
		return badRequest("", "the request body could not be read")
	}
	if p, bad := bodyText(body); bad {
		return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{p}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			return badRequest(ute.Field, "field "+ute.Field+" must be "+ute.Type.String())
		case errors.As(err, &se):
			return badRequest("", "malformed JSON: "+se.Error())
		case errors.Is(err, io.EOF):
			return badRequest("", "a JSON body is required")
		}
		if f, ok := unknownField(err); ok {
			return badRequest(f, "unknown field "+f)
		}
		return badRequest("", "malformed JSON")
	}
	if dec.More() {
		return badRequest("", "trailing data after the JSON body")
	}
	return nil
}

func unknownField(err error) (string, bool) {
	const p = `json: unknown field "`
	s := err.Error()
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p) : len(s)-1], true
	}
	return "", false
}
