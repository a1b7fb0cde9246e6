package run

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/scenarios"
)

// The target's caches are sized for the actors that can talk to it at
// once: one on the virtual clock, where actors take turns; every staff
// member and scripted actor otherwise.
func TestConcurrentClients(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight")
	require.NoError(t, err)
	assert.Equal(t, 1, concurrentClients(sc, clock.NewVirtual(sc.Env.Start)))
	scaled, err := clock.NewScaled(sc.Env.Start, 60)
	require.NoError(t, err)
	assert.Equal(t, 25+1, concurrentClients(sc, scaled), "25 staff and the attacker")
}

// An actor keeps of its downloads only what a later step can send: all of
// them (within maxKeptDownloads) when a send attaches what was downloaded,
// nested steps included; the last one for a staff member; none otherwise.
func TestKeepOnlyWhatIsSent(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight")
	require.NoError(t, err)
	r := &runner{sc: sc}
	var attacker, staff *scenarios.Actor
	for _, a := range sc.Actors {
		switch a.Kind {
		case "staff":
			staff = a
		case "attacker":
			attacker = a
		}
	}
	require.NotNil(t, attacker)
	require.NotNil(t, staff)
	att := func(name string, n int) attachment { return attachment{name: name, data: make([]byte, n)} }

	ar := r.newActorRun(attacker, nil, 0)
	require.Equal(t, keepAll, ar.keepDownloads, "the flagship's attacker mails what it downloaded")
	ar.keep(att("a", 10))
	ar.keep(att("b", maxKeptDownloads))
	ar.keep(att("c", 10))
	require.Len(t, ar.downloads, 2)
	assert.Equal(t, "c", ar.downloads[1].name, "a file past the bound is not kept, later small ones are")

	nested := *attacker
	nested.Steps = nil
	for _, st := range attacker.Steps {
		if !st.Params().Attach {
			nested.Steps = append(nested.Steps, st)
		}
	}
	assert.Equal(t, keepNone, r.newActorRun(&nested, nil, 0).keepDownloads, "no step attaches downloads")
	quiet := r.newActorRun(&nested, nil, 0)
	quiet.keep(att("a", 10))
	assert.Empty(t, quiet.downloads)

	m := r.newActorRun(staff, &staffMember{}, 1)
	require.Equal(t, keepLast, m.keepDownloads)
	defer r.blobs.close()
	m.keep(att("a", 10))
	b := att("b", 20)
	b.data[3] = 7
	m.keep(b)
	require.Len(t, m.downloads, 1)
	assert.Equal(t, "b", m.downloads[0].name)
	assert.EqualValues(t, 30, m.dlBytes)
	assert.Nil(t, m.downloads[0].data, "kept out of memory")
	back, err := m.load(m.downloads[0])
	require.NoError(t, err)
	assert.Equal(t, b.data, back.data, "and read back whole")

	// Two staff members keeping the same file share one copy on disk.
	m2 := r.newActorRun(staff, &staffMember{}, 2)
	m2.keep(b)
	assert.Equal(t, m.downloads[0].blob, m2.downloads[0].blob)
	files, err := os.ReadDir(r.blobs.dir)
	require.NoError(t, err)
	require.Len(t, files, 1, "one file")
	st, err := os.Stat(filepath.Join(r.blobs.dir, files[0].Name()))
	require.NoError(t, err)
	assert.EqualValues(t, 10+20, st.Size(), "a and b, b once")
	back2, err := m2.load(m2.downloads[0])
	require.NoError(t, err)
	assert.Equal(t, b.data, back2.data)
	a2, err := r.blobs.put(att("a", 10).data)
	require.NoError(t, err)
	backA, err := r.blobs.get(a2)
	require.NoError(t, err)
	assert.Equal(t, att("a", 10).data, backA, "the first content, where it was put")
	_, err = r.blobs.get("no-such-name")
	assert.ErrorContains(t, err, "no file kept under")
	// Contents that differ, even by one byte at the same length, have
	// different names; an empty file comes back empty.
	names := map[string]bool{}
	for i := range 1000 {
		d := make([]byte, 64)
		d[i%64] = byte(1 + i/64)
		names[blobName(d)] = true
	}
	assert.Len(t, names, 1000)
	empty, err := r.blobs.put(nil)
	require.NoError(t, err)
	got, err := r.blobs.get(empty)
	require.NoError(t, err)
	assert.Empty(t, got)

	dir := r.blobs.dir
	r.blobs.close()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "closed: the files are gone")
}

func TestAttachesDownloadsNested(t *testing.T) {
	sc, err := scenarios.Parse("n.yaml", []byte(`
id: nested
title: nested
environment: {users: 5, messages: 10, seed: 1, start: 2025-12-11T07:00:00+01:00, duration: 1h}
actors:
  - id: a
    kind: attacker
    source: 203.0.113.5
    credentials: {user: director, from: stolen}
    steps:
      - login: {}
      - foreach:
          over: others
          steps:
            - download_attachments: {limit: 1}
            - send: {to: [x@example.org], attach: downloaded}
`))
	require.NoError(t, err)
	assert.True(t, attachesDownloads(sc.Actors[0].Steps))
	assert.False(t, attachesDownloads(sc.Actors[0].Steps[:1]))
}

// Without a corpus cache directory, a run on the embedded target keeps
// the documents it renders in a temporary one (each rendered once, memory
// holding only those in use), removed at the end.
func TestRunKeepsItsCorpusOnDiskMeanwhile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	sc, err := scenarios.Parse("c.yaml", []byte(`
id: corpus-dir
title: corpus dir
environment: {users: 5, messages: 30, seed: 3, start: 2025-12-11T07:00:00+01:00, duration: 2h}
actors:
  - id: a
    kind: attacker
    source: 203.0.113.5
    credentials: {user: director, from: stolen}
    steps:
      - login: {}
      - download_attachments: {mailbox: INBOX, limit: 5}
      - logout
`))
	require.NoError(t, err)
	var during []string
	_, err = Run(context.Background(), sc, Options{OnEvent: func(e audit.Event) {
		if e.Action == audit.IMAPLogout && during == nil {
			during, _ = filepath.Glob(filepath.Join(tmp, "maildrill-corpus-*", "*", "*", "*", "*.b64"))
		}
	}})
	require.NoError(t, err)
	assert.NotEmpty(t, during, "the documents were on disk during the run")
	left, _ := filepath.Glob(filepath.Join(tmp, "maildrill-corpus-*"))
	assert.Empty(t, left, "and removed after it")
}
