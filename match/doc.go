// Package match turns the five Chinese identity elements — name (姓名), sex
// (性别), birth date (出生日期), ID type (证件类型) and ID number (证件号码) —
// into one canonical, explainable form (Normalize), derives blocking keys
// (BlockingKeys) and scores pairs of records with Fellegi-Sunter weights
// (Scorer.Compare), with EM estimation of those weights (Train).
//
// It is pure: values in, values out. It must not do I/O, read a clock or the
// environment, log, or keep mutable package state; that keeps it
// table-testable, fuzzable and benchmarkable. The only package-level data
// are read-only code tables (GB 11643-1999, GB/T 2261.1, WS 364.3
// CV02.01.101, NHSA psn_cert_type, GA/T 2000.156, OpenCC TSCharacters, the
// lunisolar calendar 1900-2100).
package match

//go:generate go run ./internal/gentschars tschars_gen.go
//go:generate go run ./internal/genlunar lunar_gen.go
