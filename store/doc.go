// Package store holds fiveid's adapters: the master customer index on
// PostgreSQL (pgx) or on the embedded default (SQLite through the pure-Go
// modernc.org/sqlite, one file in a data directory), their shared
// migrations, and the Redis and in-process caches.
//
// Both databases run the same SQL through database/sql; the dialect
// differences (placeholders, locking, error codes) live in dialect.go.
// Each entity has its file: systems_keys.go, customers.go, records.go
// (source records, candidates, blocking keys, name statistics), review.go,
// merges.go, history.go (changes, the webhook outbox), webhooks.go,
// settings.go, grants.go, idempotency.go.
// Rows never leave this package: every method returns root-package types,
// and every error is translated at one choke point (mapErr).
package store
