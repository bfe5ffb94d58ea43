package fiveid

import (
	"errors"
	"fmt"
	"strings"
)

// The closed set of error kinds. Adapters translate their own errors into
// these at one choke point; api maps them to HTTP statuses and stable codes.
var (
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrInvalid         = errors.New("invalid")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrDenied          = errors.New("permission denied")
	ErrUnavailable     = errors.New("unavailable")
	// ErrNoMatch: identify found nobody (HTTP 404 no_match).
	ErrNoMatch = errors.New("no match")
	// ErrIdentifierConflict: a merge would join customers whose records
	// hold different checksum-valid identifiers of one namespace — two
	// people (HTTP 409 identifier_conflict). Only an admin's override with
	// a reason lets it through.
	ErrIdentifierConflict = errors.New("identifier conflict")
	// ErrCacheSkipped: the cache did not try the operation (its circuit
	// breaker is open: the cache failed repeatedly). Never seen by
	// clients: a lookup falls back to the store, an invalidation raises
	// the cache epoch (see Cache).
	ErrCacheSkipped = errors.New("cache skipped: circuit breaker open")
	// ErrIdempotencyKeyReused: an Idempotency-Key came back with another
	// request (HTTP 422 idempotency_key_reused).
	ErrIdempotencyKeyReused = errors.New("idempotency key reused")
	// ErrIdempotencyInProgress: the request first sent with this
	// Idempotency-Key is still running (HTTP 409 idempotency_in_progress).
	ErrIdempotencyInProgress = errors.New("idempotency key in progress")
)

// IdentifierConflictError names the records whose identifiers conflict
// (masked); it matches ErrIdentifierConflict with errors.Is.
type IdentifierConflictError struct {
	Conflicts []IdentifierConflict
}

func (e *IdentifierConflictError) Error() string {
	return fmt.Sprintf("the customers' records hold different identifiers of one namespace (%d record pairs)", len(e.Conflicts))
}

// Is makes errors.Is(err, ErrIdentifierConflict) true.
func (e *IdentifierConflictError) Is(target error) bool { return target == ErrIdentifierConflict }

// FieldProblem is one problem with one input field.
type FieldProblem struct {
	Field   string
	Code    string
	Message string
}

// ValidationError carries per-field problems; it matches ErrInvalid with
// errors.Is.
type ValidationError struct {
	Problems []FieldProblem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true for validation errors.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// invalid builds a one-field ValidationError.
func invalid(field, code, msg string) *ValidationError {
	return &ValidationError{Problems: []FieldProblem{{Field: field, Code: code, Message: msg}}}
}
