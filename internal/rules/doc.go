// Package rules runs user rules: detections in YAML that a SOC writes and
// tests without writing Go (docs/rules.md is the user's guide).
//
// Compile reads rule sources (the embedded pack, a rules directory) into a
// RuleSet: conditions are expr-lang expressions over Env, compiled once;
// correlations (event_count, value_count, temporal, temporal_ordered,
// absent, first) name other rules and run on event time. A Detector runs a
// RuleSet inside the engine as one detect.Detector with per-shard state; a
// Reloader swaps in a new set when the files change. RunTests and Lint back
// vigil rules test and vigil rules lint.
package rules
