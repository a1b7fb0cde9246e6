package dovecot

import "time"

// yearSlack is how far after now a syslog timestamp without a year may
// be and still be read in the year that puts it there: the logging host's
// clock may run ahead of this one's.
const yearSlack = 7 * 24 * time.Hour

// InYear gives a syslog timestamp without a year (RFC 3164, and Dovecot's
// and Postfix's log files: "Dec 31 23:59:59") the latest year that does
// not put it more than a week after now. A December line read in January
// is last year's, and so is a November line read in March (a log read
// months after it was written), while a January line read on 31 December
// from a host whose clock is a minute ahead is next year's. 29 February
// goes to the latest leap year before that bound. The date and clock of v
// are read in loc.
func InYear(v time.Time, now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	for y := n.Year() + 1; y >= n.Year()-7; y-- {
		t := time.Date(y, v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), loc)
		if t.Day() == v.Day() && !t.After(n.Add(yearSlack)) {
			return t
		}
	}
	return time.Date(n.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), loc)
}
