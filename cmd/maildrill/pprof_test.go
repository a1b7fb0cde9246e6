package main

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPprofLoopbackOnly(t *testing.T) {
	var errb bytes.Buffer
	stop, err := startPprof("127.0.0.1:0", &errb)
	require.NoError(t, err)
	defer stop()
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/debug/pprof/`).FindStringSubmatch(errb.String())
	require.NotNil(t, m, errb.String())
	resp, err := http.Get("http://" + m[1] + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "goroutine profile:")

	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", ":6060", "example.org:6060", "6060"} {
		_, err := startPprof(addr, io.Discard)
		assert.Error(t, err, addr)
	}
}
