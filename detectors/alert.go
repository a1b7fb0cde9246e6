package detectors

import "time"

// Alert is a rule that fired.
type Alert struct {
	RuleID   string            `json:"rule.id"`
	RuleName string            `json:"rule.name,omitempty"`
	Title    string            `json:"rule.title"`
	Level    string            `json:"rule.level"`
	Type     string            `json:"rule.type"` // detection, or the correlation type
	Tags     []string          `json:"rule.tags,omitempty"`
	Attack   []string          `json:"rule.attack,omitempty"` // the attack.* tags
	File     string            `json:"rule.file,omitempty"`
	Time     time.Time         `json:"@timestamp"`  // time of the event that completed the match
	First    time.Time         `json:"event.start"` // first contributing event
	Last     time.Time         `json:"event.end"`   // last contributing event
	Group    map[string]string `json:"group"`       // group-by values ({} for detection rules)
	EventIDs []string          `json:"event.ids"`
	Value    float64           `json:"value,omitempty"` // correlations: the aggregate that crossed the threshold
	// DerivedFrom names the rules this alert's rule declares itself derived
	// from (Sigma related, type derived): an expectation on one of them is
	// also met by this alert.
	DerivedFrom []RuleRef `json:"rule.derived_from,omitempty"`
}

// RuleRef names a rule: its id, and its name and title when the rule was
// loaded beside the one referring to it.
type RuleRef struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Title string `json:"title,omitempty"`
}
