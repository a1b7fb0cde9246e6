package scenarios

import (
	"net/netip"
	"strings"
	"time"
)

// StaffModel is a working-day model of ordinary staff activity, generated
// from the seed: the benign background every rule must stay silent on.
type StaffModel struct {
	Count      int           // staff members (default 25)
	DayStart   time.Duration // office hours, time of day (default 08:00)
	DayEnd     time.Duration // (default 18:30)
	Phones     int           // members whose phone polls all day (default 3)
	Late       int           // members working late (default 1)
	MailPerDay int           // internal mails per member per day (default 2)
	Phone      netip.Prefix  // where phones connect from (default 10.20.200.0/24, the ActiveSync gateway)
}

func (d *decoder) staffModel(n *ynode) *StaffModel {
	m := &StaffModel{Count: 25, DayStart: 8 * time.Hour, DayEnd: 18*time.Hour + 30*time.Minute, Phones: 3, Late: 1, MailPerDay: 2,
		Phone: netip.MustParsePrefix("10.20.200.0/24")}
	if n == nil {
		return m
	}
	get, _ := d.fields(n, "staff", "count", "workday", "phones", "late", "mail_per_day", "phone_network")
	if v, ok := get("count"); ok {
		m.Count = int(d.integer(v, "staff count", 1, 5000))
	}
	if v, ok := get("workday"); ok {
		s := d.str(v, "workday")
		a, b, ok := strings.Cut(s, "-")
		ta, e1 := time.Parse("15:04", strings.TrimSpace(a))
		tb, e2 := time.Parse("15:04", strings.TrimSpace(b))
		if !ok || e1 != nil || e2 != nil || !tb.After(ta) {
			d.errf(v, `e.g. "08:00-18:30"`, "workday %q is not a time range", s)
		} else {
			m.DayStart = time.Duration(ta.Hour())*time.Hour + time.Duration(ta.Minute())*time.Minute
			m.DayEnd = time.Duration(tb.Hour())*time.Hour + time.Duration(tb.Minute())*time.Minute
		}
	}
	if v, ok := get("phones"); ok {
		m.Phones = int(d.integer(v, "phones", 0, 5000))
	}
	if v, ok := get("late"); ok {
		m.Late = int(d.integer(v, "late", 0, 5000))
	}
	if v, ok := get("mail_per_day"); ok {
		m.MailPerDay = int(d.integer(v, "mail_per_day", 0, 100))
	}
	if v, ok := get("phone_network"); ok {
		p, err := parsePrefix(d.str(v, "phone_network"))
		if err != nil {
			d.errf(v, "", "phone_network: %v", err)
		} else {
			m.Phone = p
		}
	}
	return m
}
