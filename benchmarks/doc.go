// Package benchmarks measures fiveid: a generator of a synthetic Chinese
// population with ground truth and realistic noise, and a harness that
// registers records and identifies queries through the real Service and
// reports accuracy (correct-, wrong-, review- and missed-link rates,
// pairwise precision and recall) on it and on the public FEBRL4 and
// Splink fake_1000 datasets (read from ../shared/external, never copied).
//
// The noise rates follow ../shared/reference/linkage-anchors.md §5 (the
// "realistic" column) plus the Chinese-specific modes of
// ../shared/reference/cn-identity.md.
package benchmarks
