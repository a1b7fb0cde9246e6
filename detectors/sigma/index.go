package sigma

import (
	"sort"
)

// RequiredValues returns the set of values one event field must equal (case
// insensitively, lower-cased) for the rule to possibly match, if the detection
// implies such a set. The engine uses it to index rules by event.action.
func (m *Matcher) RequiredValues(field string) ([]string, bool) {
	var acc map[string]bool
	for _, c := range m.conds {
		s, ok := requiredSet(c, field)
		if !ok {
			return nil, false
		}
		if acc == nil {
			acc = map[string]bool{}
		}
		for k := range s {
			acc[k] = true
		}
	}
	out := make([]string, 0, len(acc))
	for k := range acc {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, acc != nil
}

func requiredSet(n cnode, field string) (map[string]bool, bool) {
	switch x := n.(type) {
	case *searchM:
		if x.keywords != nil {
			return nil, false
		}
		acc := map[string]bool{}
		for _, mp := range x.maps {
			found := false
			for _, it := range mp {
				if it.field == field && it.plainEq && it.mode == modeValues && len(it.exactVals) > 0 {
					for _, v := range it.exactVals {
						acc[v] = true
					}
					found = true
					break
				}
			}
			if !found {
				return nil, false
			}
		}
		return acc, true
	case andN:
		l, lok := requiredSet(x.l, field)
		r, rok := requiredSet(x.r, field)
		switch {
		case lok && rok:
			out := map[string]bool{}
			for k := range l {
				if r[k] {
					out[k] = true
				}
			}
			return out, true
		case lok:
			return l, true
		case rok:
			return r, true
		}
		return nil, false
	case orN:
		l, lok := requiredSet(x.l, field)
		r, rok := requiredSet(x.r, field)
		if !lok || !rok {
			return nil, false
		}
		for k := range r {
			l[k] = true
		}
		return l, true
	case ofN:
		if x.n < 0 { // all of: like and
			var acc map[string]bool
			for _, s := range x.subs {
				if set, ok := requiredSet(s, field); ok {
					if acc == nil {
						acc = set
					} else {
						for k := range acc {
							if !set[k] {
								delete(acc, k)
							}
						}
					}
				}
			}
			return acc, acc != nil
		}
		acc := map[string]bool{}
		for _, s := range x.subs {
			set, ok := requiredSet(s, field)
			if !ok {
				return nil, false
			}
			for k := range set {
				acc[k] = true
			}
		}
		return acc, true
	}
	return nil, false
}
