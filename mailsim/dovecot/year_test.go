package dovecot

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A timestamp without a year takes the latest year that does not put it
// more than a week after now.
func TestInYear(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	stamp := func(s string) time.Time {
		v, err := time.ParseInLocation(time.Stamp, s, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, stamp, now, want string
	}{
		{"this year", "Nov  7 00:54:33", "2026-12-06T13:00:00Z", "2026-11-07T00:54:33+01:00"},
		{"December read in January", "Dec 31 23:59:59", "2027-01-01T00:00:05Z", "2026-12-31T23:59:59+01:00"},
		{"November read in March", "Nov 30 10:00:00", "2027-03-02T09:00:00Z", "2026-11-30T10:00:00+01:00"},
		{"a day ahead", "Dec  7 10:00:00", "2026-12-06T13:00:00Z", "2026-12-07T10:00:00+01:00"},
		{"January read on 31 December, a clock ahead", "Jan  1 00:00:30", "2026-12-31T23:00:00Z", "2027-01-01T00:00:30+01:00"},
		{"29 February, the last leap year", "Feb 29 08:00:00", "2027-03-02T09:00:00Z", "2024-02-29T08:00:00+01:00"},
		{"29 February, this leap year", "Feb 29 08:00:00", "2028-03-02T09:00:00Z", "2028-02-29T08:00:00+01:00"},
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		assert.Equal(t, tc.want, InYear(stamp(tc.stamp), now, paris).Format(time.RFC3339), tc.name)
	}
}
