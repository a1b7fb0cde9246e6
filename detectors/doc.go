// Package detectors is maildrill's Sigma engine: it evaluates Sigma v2
// detection and correlation rules over a stream of events, in event time, and
// emits alerts. It knows nothing about mail: events expose named fields and a
// timestamp (Event), rules come from Sigma YAML (package sigma), windows and
// group state live in package correlation. The built-in rule pack for the
// simulated ministry mail server, with its configuration, is package
// rulepack, which this package does not import.
//
// Use:
//
//	rules, err := rulepack.Rules()                // or LoadPath(dir), LoadFS, ParseRules
//	eng, err := detectors.NewEngine(rules, rulepack.Config())
//	for ev := range events {                      // in (roughly) time order
//		for _, a := range eng.Process(ev) { ... } // alerts completed by ev
//	}
//	for _, a := range eng.Flush() { ... }         // end of stream: open windows
//
// Events are JSONEvent (ParseJSONEvent, NewMapEvent: flat or nested JSON) or
// any type with Field/Time/ID; Wrap adapts a type with only Field and Time.
package detectors
