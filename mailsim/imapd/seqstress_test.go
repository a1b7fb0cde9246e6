package imapd

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// viewChecker follows one session's view of its selected mailbox through
// every untagged response it is sent, and records each response that breaks
// the rules of RFC 9051 §7.5.1 (RFC 3501 §7.4.1 and §5.5) or §7.3.1/§7.3.2:
//   - EXISTS never reports fewer messages than the client was told of,
//     unless EXPUNGE responses came in between;
//   - FETCH, EXPUNGE and SEARCH name only sequence numbers the client knows
//     (1..the last EXISTS, less the EXPUNGEs since);
//   - no EXPUNGE is sent while a FETCH, STORE or SEARCH (not their UID
//     forms) is in progress;
//   - a keyword in a FETCH FLAGS was announced by a FLAGS response first.
type viewChecker struct {
	name     string
	exists   uint32
	selected bool
	cmd      string // the command in progress, upper case
	keywords map[string]bool
	errs     []string
	kwErrs   int
	// condstore: the session enabled CONDSTORE (RFC 7162): every FETCH
	// response but those to a FETCH that did not ask for it carries
	// MODSEQ, and a message's MODSEQ never goes down (§3.1.1).
	condstore bool
	modseqs   map[string]uint64 // by UID
	// qresync: the session enabled QRESYNC (RFC 7162 §3.2.10): expunges
	// come as VANISHED, under the same rules as EXPUNGE, never EXPUNGE.
	qresync bool
	trail   []string // the last lines, for failure messages
	// live is the tag of the session's live search (CONTEXT=SEARCH,
	// RFC 5267 §4: SEARCH RETURN (UPDATE ALL) UNDELETED, held from each
	// SELECT), liveSet its result as the client has been told it:
	// ADDTO names only known messages not in it, REMOVEFROM only messages
	// in it, and no message in it is expunged (REMOVEFROM comes first).
	live       string
	liveSet    map[uint32]bool
	lastSearch []uint32 // the numbers of the last SEARCH response
}

func (v *viewChecker) fail(line, format string, args ...any) {
	if len(v.errs) < 20 {
		v.errs = append(v.errs, fmt.Sprintf("%s during %s: %q: %s", v.name, v.cmd, line, fmt.Sprintf(format, args...)))
	}
}

func parenList(s, key string) ([]string, bool) {
	i := strings.Index(strings.ToUpper(s), key+" (")
	if i < 0 {
		return nil, false
	}
	rest := s[i+len(key)+2:]
	j := strings.IndexByte(rest, ')')
	if j < 0 {
		return nil, false
	}
	return strings.Fields(rest[:j]), true
}

// untagged checks one untagged response line.
func (v *viewChecker) untagged(line string) {
	if v.condstore {
		v.trail = append(v.trail, v.cmd+": "+line)
		if len(v.trail) > 30 {
			v.trail = v.trail[1:]
		}
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	up := strings.ToUpper(f[1])
	if up == "FLAGS" {
		list, _ := parenList(line, "FLAGS")
		v.keywords = map[string]bool{}
		for _, fl := range list {
			v.keywords[strings.ToLower(fl)] = true
		}
		return
	}
	if up == "VANISHED" {
		if len(f) > 2 && strings.EqualFold(f[2], "(EARLIER)") {
			return // about the client's cache, not its view
		}
		if !v.qresync {
			v.fail(line, "VANISHED without ENABLE QRESYNC")
		}
		switch v.cmd {
		case "FETCH", "STORE", "SEARCH":
			v.fail(line, "VANISHED sent during %s (RFC 7162 §3.2.10, RFC 9051 §7.5.1)", v.cmd)
		}
		set, err := parseUIDSet(f[len(f)-1])
		n, ok := setSize(set)
		if err != nil || !ok {
			v.fail(line, "bad UID set")
			return
		}
		if uint64(v.exists) < n {
			v.fail(line, "VANISHED of %d messages, the client knows of %d", n, v.exists)
			v.exists = 0
			return
		}
		v.exists -= uint32(n)
		return
	}
	if up == "ESEARCH" {
		v.esearch(line)
		return
	}
	if up == "SEARCH" {
		v.lastSearch = v.lastSearch[:0]
		for _, n := range f[2:] {
			if x, err := strconv.ParseUint(n, 10, 32); err == nil {
				v.lastSearch = append(v.lastSearch, uint32(x))
			}
		}
		for _, n := range f[2:] {
			x, err := strconv.ParseUint(n, 10, 32)
			if err != nil {
				break
			}
			if !strings.HasPrefix(v.cmd, "UID ") && (x == 0 || uint32(x) > v.exists) {
				v.fail(line, "search result %d beyond the %d messages the client knows", x, v.exists)
			}
		}
		return
	}
	n, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || len(f) < 3 {
		return
	}
	num := uint32(n)
	switch strings.ToUpper(f[2]) {
	case "EXISTS":
		if v.selected && num < v.exists {
			v.fail(line, "EXISTS went down from %d to %d with no EXPUNGE", v.exists, num)
		}
		v.exists = num
	case "EXPUNGE":
		if v.qresync {
			v.fail(line, "EXPUNGE after ENABLE QRESYNC (RFC 7162 §3.2.10: VANISHED)")
		}
		switch v.cmd {
		case "FETCH", "STORE", "SEARCH":
			v.fail(line, "EXPUNGE sent during %s (RFC 9051 §7.5.1)", v.cmd)
		}
		if num == 0 || num > v.exists {
			v.fail(line, "EXPUNGE of a message the client was never told of (%d known)", v.exists)
		} else {
			v.exists--
		}
		if v.liveSet != nil {
			if v.liveSet[num] {
				v.fail(line, "EXPUNGE of a message still in the live search's result (RFC 5267 §4.3: REMOVEFROM first)")
			}
			next := make(map[uint32]bool, len(v.liveSet))
			for x := range v.liveSet {
				if x > num {
					next[x-1] = true
				} else if x < num {
					next[x] = true
				}
			}
			v.liveSet = next
		}
	case "FETCH":
		if num == 0 || num > v.exists {
			v.fail(line, "FETCH of a message the client was never told of (%d known)", v.exists)
		}
		if v.condstore {
			v.checkModSeq(line)
		}
		if list, ok := parenList(line, "FLAGS"); ok {
			for _, fl := range list {
				if !strings.HasPrefix(fl, `\`) && !v.keywords[strings.ToLower(fl)] {
					if v.kwErrs++; v.kwErrs > 3 {
						continue
					}
					v.fail(line, "keyword %s not announced in FLAGS", fl)
				}
			}
		}
	}
}

// esearch follows the ESEARCH responses of the live search.
func (v *viewChecker) esearch(line string) {
	if v.live == "" || !strings.Contains(line, `(TAG "`+v.live+`")`) {
		return
	}
	nums := func(key string) []uint32 {
		i := strings.Index(line, key)
		if i < 0 {
			return nil
		}
		f := strings.Fields(strings.TrimRight(line[i+len(key):], ")"))
		if key != " ALL " {
			f = f[1:] // the position, 0 for a SEARCH
		}
		set, err := parseUIDSet(strings.TrimRight(f[0], ")"))
		if err != nil {
			v.fail(line, "bad set")
			return nil
		}
		var out []uint32
		for _, r := range set {
			for x := r.Start; x <= r.Stop; x++ {
				out = append(out, uint32(x))
			}
		}
		return out
	}
	for _, x := range nums(" ALL ") {
		v.liveSet[x] = true
	}
	for _, x := range nums(" REMOVEFROM (") {
		if !v.liveSet[x] {
			v.fail(line, "REMOVEFROM of %d, not in the result", x)
		}
		delete(v.liveSet, x)
	}
	for _, x := range nums(" ADDTO (") {
		if x == 0 || x > v.exists || v.liveSet[x] {
			v.fail(line, "ADDTO of %d: in the result already, or beyond the %d messages the client knows", x, v.exists)
		}
		v.liveSet[x] = true
	}
}

// checkModSeq checks a FETCH response of a CONDSTORE session.
func (v *viewChecker) checkModSeq(line string) {
	ms, ok := parenList(line, "MODSEQ")
	if !ok {
		if v.cmd != "FETCH" && v.cmd != "UID FETCH" {
			v.fail(line, "FETCH without MODSEQ after CONDSTORE was enabled (RFC 7162 §3.1.4)")
		}
		return
	}
	uid, _ := parenList(strings.Replace(line, "UID ", "UID (", 1)+")", "UID")
	m, err := strconv.ParseUint(strings.Join(ms, ""), 10, 64)
	if len(uid) == 0 || err != nil {
		v.fail(line, "FETCH with MODSEQ but no UID, or a bad MODSEQ")
		return
	}
	if v.modseqs == nil {
		v.modseqs = map[string]uint64{}
	}
	if prev := v.modseqs[uid[0]]; m < prev {
		v.fail(line, "MODSEQ of UID %s went down from %d to %d; lines before: %q", uid[0], prev, m, v.trail)
	}
	v.modseqs[uid[0]] = m
}

// stressClient is a raw IMAP client whose every response goes through its
// viewChecker. Its methods return errors (it runs in goroutines).
type stressClient struct {
	c      net.Conn
	br     *bufio.Reader
	v      *viewChecker
	seq    int
	liveOn bool // hold a live search (viewChecker.live)
}

func (sc *stressClient) readLine() (string, error) {
	l, err := sc.br.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd sends a command (literal: the content of a synchronizing literal
// ending the line) and reads to its tagged response, checking each
// untagged one.
func (sc *stressClient) cmd(name, args string, literal string) (string, error) {
	sc.seq++
	tag := fmt.Sprintf("s%d", sc.seq)
	sc.v.cmd = name
	line := tag + " " + name
	if args != "" {
		line += " " + args
	}
	if literal != "" {
		line += fmt.Sprintf(" {%d}", len(literal))
	}
	if _, err := io.WriteString(sc.c, line+"\r\n"); err != nil {
		return "", err
	}
	if literal != "" {
		l, err := sc.readLine()
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(l, "+") {
			return l, fmt.Errorf("%s: no continuation: %q", name, l)
		}
		if _, err := io.WriteString(sc.c, literal+"\r\n"); err != nil {
			return "", err
		}
	}
	for {
		l, err := sc.readLine()
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if strings.HasPrefix(l, "* ") {
			sc.v.untagged(l)
			continue
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return l, fmt.Errorf("%s %s: %q", name, args, l)
			}
			return l, nil
		}
	}
}

func (sc *stressClient) selectInbox() error {
	sc.v.selected = false
	sc.v.exists = 0
	box := "INBOX"
	if sc.v.condstore {
		box += " (CONDSTORE)"
	}
	sc.v.live, sc.v.liveSet = "", nil // a live search ends with the selection
	_, err := sc.cmd("SELECT", box, "")
	sc.v.selected = true
	if err != nil || !sc.liveOn {
		return err
	}
	sc.v.live, sc.v.liveSet = fmt.Sprintf("s%d", sc.seq+1), map[uint32]bool{}
	_, err = sc.cmd("SEARCH", "RETURN (UPDATE ALL) UNDELETED", "")
	return err
}

// TestSequenceNumberDiscipline runs sessions that APPEND, STORE new
// keywords, EXPUNGE, FETCH and SEARCH the same mailbox at once over real
// TCP, and checks every response each of them is sent against its own view
// of the mailbox (RFC 9051 §7.5.1, §7.3.1, §7.3.2, §7.4.1; RFC 3501 §7.2.6
// for FLAGS). Bounded by a number of commands, not a duration.
func TestSequenceNumberDiscipline(t *testing.T) {
	t.Run("IMAP4rev1", func(t *testing.T) { sequenceDiscipline(t, false, false) })
	// Half the sessions with CONDSTORE: MODSEQ goes with the right
	// message in every FETCH, solicited or not, and never goes down.
	t.Run("CONDSTORE", func(t *testing.T) { sequenceDiscipline(t, true, false) })
	// Half the sessions with QRESYNC: VANISHED in place of EXPUNGE, under
	// the same rules.
	t.Run("QRESYNC", func(t *testing.T) { sequenceDiscipline(t, true, true) })
	// Half the sessions hold a live search (RFC 5267 §4): its updates
	// follow the same discipline, and once every session stopped, the
	// result the client was told equals a new SEARCH's.
	t.Run("CONTEXT=SEARCH", func(t *testing.T) { sequenceDiscipline(t, false, false, true) })
}

func sequenceDiscipline(t *testing.T, condstore, qresync bool, live ...bool) {
	ts := startConnServer(t, connServerOpts{})
	const workers, steps = 8, 400
	var wg, stepped sync.WaitGroup
	checkers := make([]*viewChecker, workers)
	errs := make([]error, workers)
	stepped.Add(workers)
	for w := range workers {
		checkers[w] = &viewChecker{name: fmt.Sprintf("session %d", w), condstore: condstore && w%2 == 0, qresync: qresync && w%2 == 0}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = stressSession(ts.addr, w, steps, checkers[w], len(live) > 0 && live[0] && w%2 == 0, &stepped)
		}()
	}
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Errorf("session %d: %v", w, errs[w])
		}
		for _, e := range checkers[w].errs {
			t.Error(e)
		}
	}
}

// stressSession runs one session's steps, then waits for every session to
// have run theirs (stepped) before its last checks.
func stressSession(addr string, w, steps int, v *viewChecker, live bool, stepped *sync.WaitGroup) error {
	var once sync.Once
	done := func() { once.Do(stepped.Done) }
	defer done()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sc := &stressClient{c: c, br: bufio.NewReader(c), v: v, liveOn: live}
	if _, err := sc.readLine(); err != nil {
		return err
	}
	user := "agent@interieur.test"
	if _, err := sc.cmd("LOGIN", user+" secret-agent", ""); err != nil {
		return err
	}
	if v.qresync {
		if _, err := sc.cmd("ENABLE", "QRESYNC", ""); err != nil {
			return err
		}
	}
	if err := sc.selectInbox(); err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(int64(w) + 1))
	pick := func() uint32 { return uint32(rng.Intn(int(v.exists))) + 1 }
	for i := range steps {
		var err error
		op := rng.Intn(9)
		// With the mailbox empty in this session's view there is no
		// message to STORE to, and FETCH 1:* names a message that does
		// not exist (a BAD, which ends the session): APPEND instead.
		if v.exists == 0 && op >= 1 && op <= 4 {
			op = 0
		}
		switch op {
		case 0:
			msg := fmt.Sprintf("From: s%d@interieur.test\r\nSubject: stress %d/%d\r\n\r\nbody\r\n", w, w, i)
			_, err = sc.cmd("APPEND", fmt.Sprintf("INBOX ($a%d)", w), msg)
		case 1:
			_, err = sc.cmd("STORE", fmt.Sprintf("%d +FLAGS ($k%d_%d)", pick(), w, i), "")
		case 2:
			_, err = sc.cmd("STORE", fmt.Sprintf("%d +FLAGS (\\Deleted)", pick()), "")
		case 3:
			_, err = sc.cmd("EXPUNGE", "", "")
		case 4:
			if v.condstore && i%2 == 0 {
				_, err = sc.cmd("FETCH", "1:* (UID FLAGS MODSEQ)", "")
			} else {
				_, err = sc.cmd("FETCH", "1:* (UID FLAGS)", "")
			}
		case 5:
			_, err = sc.cmd("SEARCH", "ALL", "")
		case 6:
			_, err = sc.cmd("UID FETCH", "1:* (FLAGS)", "")
		case 7:
			_, err = sc.cmd("NOOP", "", "")
		case 8:
			if i%2 == 0 {
				err = sc.selectInbox()
			} else {
				_, err = sc.cmd("UID SEARCH", "KEYWORD $a1", "")
			}
		}
		if err != nil && !strings.Contains(err.Error(), " NO ") {
			return err
		}
	}
	done()
	stepped.Wait()
	if live {
		// Nothing changes any more: the NOOP brings the client up to
		// date, and its live result is what a new SEARCH finds.
		if _, err := sc.cmd("NOOP", "", ""); err != nil {
			return err
		}
		if _, err := sc.cmd("SEARCH", "UNDELETED", ""); err != nil {
			return err
		}
		got := make([]uint32, 0, len(v.liveSet))
		for x := range v.liveSet {
			got = append(got, x)
		}
		slices.Sort(got)
		if !slices.Equal(got, v.lastSearch) {
			v.fail("", "live result %v, SEARCH UNDELETED finds %v", got, v.lastSearch)
		}
	}
	_, err = sc.cmd("LOGOUT", "", "")
	return err
}
