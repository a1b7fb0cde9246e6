package detectors

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// checkSameEvent: a decoded event answers every field as the object
// encoding/json decodes, by name and by number, and misses the same ones.
func checkSameEvent(t testing.TB, line []byte, ev *JSONEvent) {
	t.Helper()
	var want map[string]any
	require.NoError(t, json.Unmarshal(line, &want))
	assert.Equal(t, want, ev.toMap(), "%s", line)
	for k, v := range want {
		got, ok := ev.Field(k)
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
		id, _ := sigma.FieldIDOf(k)
		got, ok = ev.FieldByID(id, k)
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
		got, ok = ev.FieldByID(0, k) // no number: by name
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
		if id < 64 {
			assert.Zero(t, ev.lacks()&(1<<id), "%s: lacks", k) // (number 0 included)
		}
	}
	for _, k := range []string{"absent.field", "event", "@timestamp.x"} {
		if _, in := want[k]; in {
			continue
		}
		_, ok := ev.Field(k)
		assert.False(t, ok, k)
		id, _ := sigma.FieldIDOf(k)
		_, ok = ev.FieldByID(id, k)
		assert.False(t, ok, k)
		if ev.slots && id != 0 && id < 64 {
			assert.NotZero(t, ev.lacks()&(1<<id), "%s: not lacking", k)
		}
	}
	if !ev.slots {
		assert.Zero(t, ev.lacks(), "not decoded into slots: cannot tell")
	}
	n := 0
	ev.RangeFields(func(name string, v any) bool {
		n++
		return true
	})
	if ev.slots {
		assert.Equal(t, len(want), n)
	}
}

func TestSlotEvents(t *testing.T) {
	many := map[string]any{"@timestamp": "2025-12-11T08:00:00Z"}
	for i := 0; i < maxSlots+5; i++ {
		many[fmt.Sprintf("f%d", i)] = float64(i)
	}
	manyLine, err := json.Marshal(many)
	require.NoError(t, err)
	cases := []struct {
		line  string
		slots bool
	}{
		{`{"@timestamp":"2025-12-11T08:00:00Z","event.action":"imap.login","user.name":"a@b","n":1.5,"b":true,"z":null,"l":[1,"x",{"y":2}]}`, true},
		{`{"@timestamp":"2025-12-11T08:00:00Z","dup":1,"dup":2,"event.id":"e1"}`, true},
		{`{"@timestamp":"2025-12-11T08:00:00Z","k\u00e9y":"v","esc\"aped":"\u00e9","données":"x"}`, true},
		{`{"@timestamp":"2025-12-11T08:00:00Z","event":{"action":"imap.login"},"user.name":"a"}`, false},
		{`{"@timestamp":"2025-12-11T08:00:00Z","a":1,"event":{"action":"x"},"a":2}`, false},
		{string(manyLine), false},
	}
	for _, c := range cases {
		ev, err := ParseJSONEvent([]byte(c.line), JSONOptions{})
		require.NoError(t, err, c.line)
		assert.Equal(t, c.slots, ev.slots, c.line)
		checkSameEvent(t, []byte(c.line), ev)
	}
	// nested fields are still found by their dotted name
	ev, err := ParseJSONEvent([]byte(cases[3].line), JSONOptions{})
	require.NoError(t, err)
	v, ok := ev.Field("event.action")
	assert.True(t, ok)
	assert.Equal(t, "imap.login", v)
	id, _ := sigma.FieldIDOf("event.action")
	v, ok = ev.FieldByID(id, "event.action")
	assert.True(t, ok)
	assert.Equal(t, "imap.login", v)
	// the id and timestamp are read from the slots
	ev, err = ParseJSONEvent([]byte(cases[1].line), JSONOptions{})
	require.NoError(t, err)
	assert.Equal(t, "e1", ev.ID())
	assert.Equal(t, "2025-12-11T08:00:00Z", ev.Time().Format("2006-01-02T15:04:05Z07:00"))
	// names numbered late (above posIDs) are found by a scan
	for i := 0; i < posIDs; i++ {
		sigma.FieldIDOf(fmt.Sprintf("test.pad%d", i))
	}
	late := []byte(`{"@timestamp":"2025-12-11T08:00:00Z","event.action":"x","test.late.name":"v"}`)
	ev, err = ParseJSONEvent(late, JSONOptions{})
	require.NoError(t, err)
	lateID, _ := sigma.FieldIDOf("test.late.name")
	assert.GreaterOrEqual(t, int(lateID), posIDs)
	checkSameEvent(t, late, ev)
	_, err = ParseJSONEvent([]byte(`{"a":1}`), JSONOptions{})
	assert.ErrorIs(t, err, ErrNoTimestamp)
	for _, bad := range []string{`{"@timestamp":"2025-12-11T08:00:00Z",}`, `{"@timestamp":"x"`, `[]`, `{"a":1}x`} {
		_, err := ParseJSONEvent([]byte(bad), JSONOptions{})
		assert.Error(t, err, bad)
	}
}

// The values of decoded events stay intact through garbage collections
// while the buffer they were decoded from is reused.
func TestSlotEventsSurviveGC(t *testing.T) {
	buf := make([]byte, 0, 256)
	var evs []*JSONEvent
	for i := 0; i < 2000; i++ {
		buf = fmt.Appendf(buf[:0], `{"@timestamp":"2025-12-11T08:00:00Z","event.id":"e%d","user.name":"user%d@interieur.test","n":%d}`, i, i, i)
		ev, err := ParseJSONEvent(buf, JSONOptions{})
		require.NoError(t, err)
		evs = append(evs, ev)
		if i%500 == 0 {
			runtime.GC()
		}
	}
	copy(buf, strings.Repeat("#", len(buf)))
	runtime.GC()
	for i, ev := range evs {
		assert.Equal(t, fmt.Sprintf("e%d", i), ev.ID())
		v, _ := ev.Field("user.name")
		assert.Equal(t, fmt.Sprintf("user%d@interieur.test", i), v)
		id, _ := sigma.FieldIDOf("n")
		v, _ = ev.FieldByID(id, "n")
		assert.Equal(t, float64(i), v)
	}
}

// FuzzParseJSONEvent: whatever the fast decoder accepts as an event answers
// as the object encoding/json decodes.
func FuzzParseJSONEvent(f *testing.F) {
	for _, s := range []string{
		`{"@timestamp":"2025-12-11T08:00:00Z","a":1}`,
		`{"@timestamp":"2025-12-11T08:00:00Z","a":"x","a":"y","b":[{"c":1}]}`,
		`{"@timestamp":"2025-12-11T08:00:00Z","e":{"f":"g"},"h\u00e9":"\ud83d\ude00"}`,
		`{"@timestamp":1765440000,"k":"\xff"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseJSONEvent(b, JSONOptions{})
		if err != nil {
			return
		}
		var want map[string]any
		if json.Unmarshal(b, &want) != nil {
			t.Fatalf("accepted what encoding/json refuses: %q", b)
		}
		checkSameEvent(t, b, ev)
	})
}

// More logsource conditions than the engine decides by bit mask (64): each
// rule still runs only on the events of its logsource.
func TestManyLogsourceConditions(t *testing.T) {
	ls := LogsourceMap{Category: map[string]Conds{}}
	var y strings.Builder
	const n = 70
	for i := 0; i < n; i++ {
		cat := fmt.Sprintf("cat%d", i)
		ls.Category[cat] = Conds{"log.kind": cat, "log.host": fmt.Sprintf("h%d", i%3)}
		fmt.Fprintf(&y, "title: r%d\nid: r%d\nlogsource: {category: %s}\ndetection:\n  sel:\n    event.action: login\n  condition: sel\n---\n", i, i, cat)
	}
	e := engine(t, strings.TrimSuffix(y.String(), "---\n"), Config{Logsources: &ls})
	var evs []Event
	for i := 0; i < n; i++ {
		for _, host := range []string{fmt.Sprintf("h%d", i%3), fmt.Sprintf("h%d", (i+1)%3)} {
			line := fmt.Sprintf(`{"@timestamp":"2025-12-11T08:00:%02dZ","event.id":"e%d-%s","event.action":"login","log.kind":"cat%d","log.host":"%s"}`, i%60, i, host, i, host)
			ev, err := ParseJSONEvent([]byte(line), JSONOptions{})
			require.NoError(t, err)
			evs = append(evs, ev)
		}
	}
	alerts := run(e, evs, "")
	require.Len(t, alerts, n)
	for _, a := range alerts {
		var i int
		_, err := fmt.Sscanf(a.RuleID, "r%d", &i)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("e%d-h%d", i, i%3)}, a.EventIDs)
	}
}

// Once the process has numbered sigma.MaxFieldIDs-1 names, new names get
// no number: events and rules still find them by name. The table cannot
// be emptied, so this runs in a process of its own.
func TestFieldTableFull(t *testing.T) {
	if os.Getenv("MAILDRILL_TEST_FULL_FIELD_TABLE") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFieldTableFull$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILDRILL_TEST_FULL_FIELD_TABLE=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "PASS")
		return
	}
	for i := 0; ; i++ {
		if id, _ := sigma.FieldIDOf(fmt.Sprintf("test.fill.%d", i)); id == 0 {
			break
		}
		require.Less(t, i, sigma.MaxFieldIDs)
	}
	id, _ := sigma.FieldIDOf("late.user")
	require.Zero(t, id, "the table is full")
	e := engine(t, `title: late
id: late
logsource: {product: x}
detection:
  sel:
    late.action: open
    late.user|fieldref|neq: late.owner
  condition: sel
`, Config{})
	var evs []Event
	for i, line := range []string{
		`{"@timestamp":"2025-12-11T08:00:00Z","event.id":"a","late.action":"open","late.user":"u","late.owner":"u"}`,
		`{"@timestamp":"2025-12-11T08:00:01Z","event.id":"b","late.action":"open","late.user":"u","late.owner":"x","late.owner":"v"}`,
		`{"@timestamp":"2025-12-11T08:00:02Z","event.id":"c","late.action":"shut","late.user":"u","late.owner":"v"}`,
		`{"@timestamp":"2025-12-11T08:00:03Z","event.id":"d","late.action":"open","late.user":"u","late.owner":"v","late.owner":"u"}`,
	} {
		ev, err := ParseJSONEvent([]byte(line), JSONOptions{})
		require.NoError(t, err, i)
		require.True(t, ev.slots)
		checkSameEvent(t, []byte(line), ev)
		evs = append(evs, ev)
	}
	alerts := run(e, evs, "")
	require.Len(t, alerts, 1)
	assert.Equal(t, []string{"b"}, alerts[0].EventIDs)
}

// Rules whose needed fields a decoded event lacks are passed over
// (JSONEvent.lacks): the alerts are those of the same events as maps,
// which are evaluated in full, for items of every kind on fields present,
// absent or null.
func TestLacksPassesOverOnlyUnmatchable(t *testing.T) {
	sels := []string{
		"k: x", "k|exists: true", "k|exists: false", "k: null", "k|neq: null", "k: [x, null]",
		"k|neq: x", "k|fieldref: j", "k|fieldref|neq: j", "k|contains: x", "k: ''", "k|gte: 1",
		"k: x\n    j|exists: false", "k|neq: y\n    j: null",
	}
	var rules strings.Builder
	for i, s := range sels {
		fmt.Fprintf(&rules, "---\ntitle: r%d\nid: r%d\nlogsource: {product: t}\ndetection:\n  sel:\n    event.action: a\n    %s\n  condition: sel\n", i, i, s)
	}
	vals := []string{``, `"k":"x",`, `"k":null,`, `"k":"y",`, `"k":2,`, `"k":"",`}
	jvals := []string{``, `"j":"x",`, `"j":null,`, `"j":"y",`}
	var lines []string
	for _, k := range vals {
		for _, j := range jvals {
			lines = append(lines, fmt.Sprintf(`{%s%s"event.action":"a","@timestamp":"2025-12-11T08:00:%02dZ","event.id":"e%d"}`, k, j, len(lines), len(lines)))
		}
	}
	var decoded, maps []Event
	for _, l := range lines {
		ev, err := ParseJSONEvent([]byte(l), JSONOptions{})
		require.NoError(t, err)
		require.True(t, ev.slots, l)
		decoded = append(decoded, ev)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		mev, err := NewMapEvent(m, JSONOptions{})
		require.NoError(t, err)
		require.Zero(t, mev.lacks())
		maps = append(maps, mev)
	}
	got := run(engine(t, rules.String(), Config{}), decoded, "")
	want := run(engine(t, rules.String(), Config{}), maps, "")
	require.NotEmpty(t, want)
	assert.Equal(t, want, got)
	// the needs are used: some rule is passed over for some event
	e := engine(t, rules.String(), Config{})
	passed := false
	for _, b := range e.index {
		for _, c := range b.ents {
			for _, ev := range decoded {
				passed = passed || c.needs&ev.(*JSONEvent).lacks() != 0
			}
		}
	}
	assert.True(t, passed)
}
