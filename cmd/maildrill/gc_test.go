package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// maildrill collects at GOGC=50 unless the environment says otherwise.
func TestSetGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	assert.Equal(t, defaultGCPercent, setGC(func(string) string { return "" }))
	assert.Equal(t, defaultGCPercent, debug.SetGCPercent(77), "applied")
	// GOGC set: the runtime already read it; setGC leaves it alone.
	assert.Equal(t, 77, setGC(func(k string) string {
		if k == "GOGC" {
			return "77"
		}
		return ""
	}))
	assert.Equal(t, 77, debug.SetGCPercent(old))
}
