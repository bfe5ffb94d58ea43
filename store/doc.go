// Package store holds fiveid's adapters: the master customer index on
// PostgreSQL (pgx) or on the embedded default (SQLite through the pure-Go
// modernc.org/sqlite, one file in a data directory), their shared
// migrations, and the Redis and in-process caches.
//
// Both databases run the same SQL through database/sql; the dialect
// differences (placeholders, locking, error codes) live in dialect.go.
// Each role of fiveid's ports has its file: systems_keys.go (systems, API
// keys), customers.go, records.go (source records and the candidate index:
// blocking keys, name statistics, the record scan), review.go (the review
// queue), merges.go, history.go (changes, the webhook outbox), webhooks.go,
// settings.go (settings, secrets), grants.go (the grant log),
// idempotency.go. db.go opens a database, runs transactions and refreshes
// statistics; migrate.go applies migrations; cache.go holds the caches.
// Rows never leave this package: every method returns root-package types,
// and every error is translated at one choke point (mapErr).
package store
