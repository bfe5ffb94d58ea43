// Package fiveid is the domain of the fiveid customer data center: its
// vocabulary (Customer, SourceRecord, System, APIKey, ReviewTask), its use
// cases (Service.Register, Identify, Xref, ...) and the small interfaces they
// need from adapters (Store, Cache).
//
// It must not import store/ or api/ and does no HTTP or SQL itself; matching
// logic lives in match/.
package fiveid
