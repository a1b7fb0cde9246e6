package audit

import "encoding/json"

// eventJSON is Event without its methods (no MarshalJSON recursion).
type eventJSON Event

// unknownTLS hides tls.established: the shallower field of the same JSON
// name wins over the embedded one, and omitempty drops it (it is false).
type unknownTLS struct {
	eventJSON
	TLS bool `json:"tls.established,omitempty"`
}

// MarshalJSON writes the event as its struct tags say, except that an
// event whose TLS state is unknown (tls.unknown) carries no
// tls.established at all, as Field reports it: "false" there would tell
// a SIEM, and a replay of the log, that credentials went in clear text
// when the source could not say (a stock Postfix log), and fire the
// cleartext-auth rule on every submission.
func (e Event) MarshalJSON() ([]byte, error) {
	if !e.TLSUnknown {
		return json.Marshal(eventJSON(e))
	}
	return json.Marshal(unknownTLS{eventJSON: eventJSON(e)})
}

// Wire returns e in the form to hand to a json.Encoder on a hot path: the
// same JSON as MarshalJSON, without calling a method, which encoding/json
// follows by re-scanning its output (7.7 µs an event instead of 3.0 µs
// measured on the sinks' encoder).
func Wire(e *Event) any {
	if e.TLSUnknown {
		return &unknownTLS{eventJSON: eventJSON(*e)}
	}
	return (*eventJSON)(e)
}
