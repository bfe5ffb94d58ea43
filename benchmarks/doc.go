// Package benchmarks measures fiveid: a generator of a synthetic Chinese
// population with ground truth and realistic noise, and a harness that
// registers records and identifies queries through the real Service and
// reports accuracy (correct-, wrong-, review- and missed-link rates,
// pairwise precision, recall and found recall — true pairs linked or
// waiting in review) on it and on the public FEBRL 1–4 and Splink
// fake_1000 datasets (read from $FIVEID_EXTERNAL, never copied; see
// docs/references.md).
//
// Hard cases can be added on purpose (SyntheticWithHardCases: namesake
// ties) without changing the population they are added to; the accuracy
// gate of make test (TestAccuracyGate) runs a small such sample and fails
// on any tie or twin that auto-links.
//
// The noise rates are the published "realistic" ones plus errors specific
// to Chinese data (docs/references.md).
package benchmarks
