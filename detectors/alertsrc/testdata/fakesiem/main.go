// Command fakesiem plays an outside SIEM in alertsrc's tests: it posts
// alerts in its own JSON shape to a webhook, one of them for another run,
// and one only after it is told polling has started (a file appears).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	url := flag.String("url", "", "webhook URL")
	runID := flag.String("run-id", "", "the run to alert on")
	token := flag.String("token", "", "bearer token")
	start := flag.String("start", "", "time of the first alert (RFC 3339)")
	lateAfter := flag.String("late-after", "", "post the late alert once this file exists")
	flag.Parse()
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		log.Fatal(err)
	}
	post := func(body any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			log.Fatalf("post: %s", resp.Status)
		}
	}
	alert := func(name string, t time.Time, run, user string) map[string]any {
		// The SIEM's own shape: nested, epoch milliseconds, its own names.
		return map[string]any{
			"alert":   map[string]any{"name": name, "severity": "high", "id": fmt.Sprintf("siem-%d", t.Unix())},
			"ts":      t.UnixMilli(),
			"context": map[string]any{"run": run, "user": user, "src": "185.220.101.34"},
		}
	}
	// One post with two alerts: ours, and another run's.
	post([]any{
		alert("Spray detected", t0.Add(2*time.Minute), *runID, "director"),
		alert("Spray detected", t0.Add(3*time.Minute), "md-someone-else-00000000", "director"),
	})
	// The late one: only once polling has started.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(*lateAfter); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("polling never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	post(alert("Mass download", t0.Add(20*time.Minute), *runID, "director"))
}
