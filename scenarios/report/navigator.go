package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ATT&CK Navigator layer, format 4.5: the techniques the scenarios
// exercise (their attack: list), scored 100 when every scenario that
// exercises one raised an alert tagged with it, 0 when none did, and in
// between when some did; coloured green, amber or red to match.

// Layer colours.
const (
	ColorDetected = "#8ec843"
	ColorPartial  = "#ffd966"
	ColorMissed   = "#ff6666"
)

// NavigatorLayer is an ATT&CK Navigator layer (format 4.5).
type NavigatorLayer struct {
	Name                          string               `json:"name"`
	Versions                      NavigatorVersions    `json:"versions"`
	Domain                        string               `json:"domain"`
	Description                   string               `json:"description"`
	Sorting                       int                  `json:"sorting"`
	Layout                        NavigatorLayout      `json:"layout"`
	HideDisabled                  bool                 `json:"hideDisabled"`
	Techniques                    []NavigatorTechnique `json:"techniques"`
	Gradient                      NavigatorGradient    `json:"gradient"`
	LegendItems                   []NavigatorLegend    `json:"legendItems"`
	Metadata                      []NavigatorMeta      `json:"metadata"`
	ShowTacticRowBackground       bool                 `json:"showTacticRowBackground"`
	TacticRowBackground           string               `json:"tacticRowBackground"`
	SelectTechniquesAcrossTactics bool                 `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool                 `json:"selectSubtechniquesWithParent"`
	SelectVisibleTechniques       bool                 `json:"selectVisibleTechniques"`
}

// NavigatorVersions are the ATT&CK, Navigator and layer format versions.
type NavigatorVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

// NavigatorLayout is the matrix layout.
type NavigatorLayout struct {
	Layout                string `json:"layout"`
	AggregateFunction     string `json:"aggregateFunction"`
	ShowID                bool   `json:"showID"`
	ShowName              bool   `json:"showName"`
	ShowAggregateScores   bool   `json:"showAggregateScores"`
	CountUnscored         bool   `json:"countUnscored"`
	ExpandedSubtechniques string `json:"expandedSubtechniques"`
}

// NavigatorTechnique annotates one technique (across all its tactics).
type NavigatorTechnique struct {
	TechniqueID       string          `json:"techniqueID"`
	Score             *float64        `json:"score,omitempty"`
	Color             string          `json:"color,omitempty"`
	Comment           string          `json:"comment,omitempty"`
	Enabled           bool            `json:"enabled"`
	Metadata          []NavigatorMeta `json:"metadata,omitempty"`
	ShowSubtechniques bool            `json:"showSubtechniques"`
}

// NavigatorGradient maps scores to colours.
type NavigatorGradient struct {
	Colors   []string `json:"colors"`
	MinValue float64  `json:"minValue"`
	MaxValue float64  `json:"maxValue"`
}

// NavigatorLegend is a legend entry.
type NavigatorLegend struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// NavigatorMeta is a name/value annotation.
type NavigatorMeta struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Navigator builds the layer of a report.
func Navigator(rep *Report) *NavigatorLayer {
	type tally struct {
		detected, missed []string
		rules            map[string]bool
	}
	byTech := map[string]*tally{}
	var ids []string
	for _, s := range rep.Scenarios {
		for _, c := range s.Techniques {
			t := byTech[c.Technique]
			if t == nil {
				t = &tally{rules: map[string]bool{}}
				byTech[c.Technique] = t
				ids = append(ids, c.Technique)
			}
			if c.Detected {
				t.detected = append(t.detected, s.ID)
			} else {
				t.missed = append(t.missed, s.ID)
			}
			for _, r := range c.Rules {
				t.rules[r] = true
			}
		}
	}
	sort.Strings(ids)
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.ID)
	}
	name := "maildrill"
	if len(names) == 1 {
		name += ": " + names[0]
	} else {
		name += fmt.Sprintf(": %d scenarios", len(names))
	}
	l := &NavigatorLayer{
		Name:        name,
		Versions:    NavigatorVersions{Attack: "16", Navigator: "5.1.0", Layer: "4.5"},
		Domain:      "enterprise-attack",
		Description: "Techniques exercised by maildrill scenarios (" + strings.Join(names, ", ") + "), coloured by whether the detection rules raised an alert tagged with them.",
		Layout: NavigatorLayout{Layout: "side", AggregateFunction: "average", ShowID: true, ShowName: true,
			ExpandedSubtechniques: "annotated"},
		Techniques:  []NavigatorTechnique{},
		Gradient:    NavigatorGradient{Colors: []string{ColorMissed, ColorPartial, ColorDetected}, MinValue: 0, MaxValue: 100},
		LegendItems: []NavigatorLegend{{"detected", ColorDetected}, {"detected in some scenarios", ColorPartial}, {"missed", ColorMissed}},
		Metadata: []NavigatorMeta{{"generated", rep.Generated.Format("2006-01-02T15:04:05Z")},
			{"expectations met", fmt.Sprintf("%d of %d", rep.Summary.Passed, rep.Summary.Expectations)}},
		TacticRowBackground:           "#dddddd",
		SelectTechniquesAcrossTactics: true,
	}
	parents := map[string]bool{}
	for _, id := range ids {
		t := byTech[id]
		n := len(t.detected) + len(t.missed)
		score := float64(100*len(t.detected)) / float64(n)
		nt := NavigatorTechnique{TechniqueID: id, Score: &score, Enabled: true}
		switch {
		case len(t.missed) == 0:
			nt.Color = ColorDetected
			nt.Comment = "detected"
		case len(t.detected) == 0:
			nt.Color = ColorMissed
			nt.Comment = "missed: no alert tagged with this technique"
		default:
			nt.Color = ColorPartial
			nt.Comment = fmt.Sprintf("detected in %d of %d scenarios", len(t.detected), n)
		}
		for _, s := range t.detected {
			nt.Metadata = append(nt.Metadata, NavigatorMeta{"detected in", s})
		}
		for _, s := range t.missed {
			nt.Metadata = append(nt.Metadata, NavigatorMeta{"missed in", s})
		}
		var rules []string
		for r := range t.rules {
			rules = append(rules, r)
		}
		sort.Strings(rules)
		for _, r := range rules {
			nt.Metadata = append(nt.Metadata, NavigatorMeta{"rule", r})
		}
		l.Techniques = append(l.Techniques, nt)
		if p, _, ok := strings.Cut(id, "."); ok && byTech[p] == nil {
			parents[p] = true
		}
	}
	// Unscored parents, so that the Navigator opens their sub-techniques.
	var ps []string
	for p := range parents {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		l.Techniques = append(l.Techniques, NavigatorTechnique{TechniqueID: p, Enabled: true, ShowSubtechniques: true})
	}
	return l
}

// WriteNavigator writes the report's ATT&CK Navigator layer.
func WriteNavigator(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Navigator(rep)); err != nil {
		return fmt.Errorf("writing the Navigator layer: %w", err)
	}
	return nil
}
