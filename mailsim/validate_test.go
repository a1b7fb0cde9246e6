package mailsim

import (
	"errors"
	"testing"
)

func TestConfigValidateNamesTheField(t *testing.T) {
	ok := Config{Users: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, q := range []int64{-1, 0, 1, 1 << 40} {
		c := ok
		c.Limits.QuotaBytes = q
		if err := c.Validate(); err != nil {
			t.Errorf("quota %d refused: %v", q, err)
		}
	}
	for field, mod := range map[string]func(*Config){
		"Users":                         func(c *Config) { c.Users = 0 },
		"MessagesPerUser":               func(c *Config) { c.MessagesPerUser = MaxMessagesPerUser + 1 },
		"Limits.IMAPSessions":           func(c *Config) { c.Limits.IMAPSessions = -1 },
		"Limits.SMTPDataTimeout":        func(c *Config) { c.Limits.SMTPDataTimeout = -1 },
		"Throttle.Window":               func(c *Config) { c.Throttle.Window = -1 },
		"Throttle.MaxFailuresPerSource": func(c *Config) { c.Throttle.MaxFailuresPerSource = -2 },
		"Limits.QuotaBytes":             func(c *Config) { c.Limits.QuotaBytes = -2 },
	} {
		c := ok
		mod(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want a FieldError naming %s", field, err, field)
		}
	}
}
