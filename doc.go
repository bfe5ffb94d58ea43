// Package fiveid is the domain of the fiveid customer data center: its
// vocabulary (Customer, SourceRecord, System, APIKey, ReviewTask), its use
// cases (Service.Register, Identify, Xref, ...) and the ports they need from
// adapters (ports.go): small interfaces by role (systems, keys, customers,
// candidate index, review queue, merges, history, settings) that Reader, Tx
// and Store compose, the grant log's GrantStore, optional capabilities
// (idempotency, webhooks, record scanning, statistics) and Cache. Config
// names each one.
//
// It must not import store/ or api/ and does no HTTP or SQL itself; matching
// logic lives in match/.
package fiveid
