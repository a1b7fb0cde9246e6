// Package detectors is maildrill's Sigma engine: it evaluates Sigma v2
// detection and correlation rules over a stream of events, in event time, and
// emits alerts. It knows nothing about mail: events expose named fields and a
// timestamp (Event), rules come from Sigma YAML (package sigma), windows and
// group state live in package correlation, and the built-in rule pack for the
// simulated ministry mail server is embedded (Pack).
//
// Use:
//
//	rules, err := detectors.PackRules()           // or LoadPath(dir), LoadFS, ParseRules
//	eng, err := detectors.NewEngine(rules, detectors.PackConfig())
//	for ev := range events {                      // in (roughly) time order
//		for _, a := range eng.Process(ev) { ... } // alerts completed by ev
//	}
//	for _, a := range eng.Flush() { ... }         // end of stream: open windows
//
// Events are JSONEvent (ParseJSONEvent, NewMapEvent: flat or nested JSON) or
// any type with Field/Time/ID; Wrap adapts a type with only Field and Time.
package detectors
