package corpus

import "time"

// Dates are shown in Paris time. The rules are computed here (EU summer time:
// last Sunday of March to last Sunday of October, 01:00 UTC) so that output
// does not depend on the host's time zone database.

var (
	zoneCET  = time.FixedZone("CET", 3600)
	zoneCEST = time.FixedZone("CEST", 7200)
)

func lastSunday(year int, month time.Month) time.Time {
	last := time.Date(year, month+1, 0, 1, 0, 0, 0, time.UTC) // day 0: the month's last day
	return last.Add(-time.Duration(last.Weekday()) * 24 * time.Hour)
}

// summer[y-summerFrom] holds the Unix seconds of the start and end of summer
// time in year y.
const summerFrom, summerTo = 1970, 2300

var summer = func() [][2]int64 {
	s := make([][2]int64, summerTo-summerFrom+1)
	for y := summerFrom; y <= summerTo; y++ {
		s[y-summerFrom] = [2]int64{lastSunday(y, time.March).Unix(), lastSunday(y, time.October).Unix()}
	}
	return s
}()

func parisSummer(t time.Time) bool {
	u := t.Unix()
	y := t.UTC().Year()
	if y < summerFrom || y > summerTo {
		return !t.Before(lastSunday(y, time.March)) && t.Before(lastSunday(y, time.October))
	}
	b := summer[y-summerFrom]
	return u >= b[0] && u < b[1]
}

// paris returns t in Paris local time.
func paris(t time.Time) time.Time {
	if parisSummer(t) {
		return t.In(zoneCEST)
	}
	return t.In(zoneCET)
}

func parisOffset(t time.Time) int64 {
	if parisSummer(t) {
		return 7200
	}
	return 3600
}

// localDay is the Paris calendar day of t, counted from 1970-01-01.
func localDay(t time.Time) int64 {
	s := t.Unix() + parisOffset(t)
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return d
}

// dayInstant returns the instant of the Paris wall clock minute m of day d.
// Offsets are taken at noon, safe away from the 02:00/03:00 switches.
func dayInstant(d int64, minute int64) time.Time {
	noon := time.Unix(d*86400+12*3600, 0)
	return time.Unix(d*86400+minute*60-parisOffset(noon), 0)
}

func weekdayOf(d int64) time.Weekday { return time.Weekday((d + 4) % 7) } // 1970-01-01 was a Thursday

var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
var frenchDays = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}

// frenchDate formats "14 octobre 2025".
func frenchDate(t time.Time) string {
	t = paris(t)
	return itoa(t.Day()) + " " + frenchMonths[t.Month()-1] + " " + itoa(t.Year())
}

// frenchDateTime formats "mardi 14 octobre 2025 09:12".
func frenchDateTime(t time.Time) string {
	t = paris(t)
	return frenchDays[t.Weekday()] + " " + frenchDate(t) + " " + t.Format("15:04")
}
