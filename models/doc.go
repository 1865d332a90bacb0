// Package models is Millwright's online-learning contract: the interfaces
// every streaming anomaly detector implements and the types that travel with
// a score. Algorithms live in packages of their own below this one; agent/
// and hub/ depend only on this contract and on models/catalog, which builds a
// detector from its kind name.
//
// # Test-then-train
//
// A detector sees one feature vector at a time. Update scores the vector
// against everything learned before it and only then learns from it, so a
// score never looks ahead. Score does the same without learning: it is what
// a frozen champion runs.
//
// # Scores
//
// Scores are calibrated anomaly probabilities in [0, 1]: 0.99 means "rarer
// than 99% of what this detector has seen", the same on every machine, so
// one threshold setting means the same thing everywhere.
//
// # Missing values
//
// A NaN or ±Inf feature is missing: it is skipped (and counted), never
// learned and never propagated into a score.
package models
