package container

import (
	"os"
	"strconv"
	"strings"
)

// LabelProcess names the process that created an object:
// HOST/PID/START, START being the process's start time in clock ticks
// since boot (/proc/PID/stat), so that a PID the kernel gave to another
// process since does not pass for it.
const LabelProcess = "org.maildrill.process"

var process = processID(os.Getpid())

// Process is this process's LabelProcess value.
func Process() string { return process }

func processID(pid int) string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(pid) + "/" + startTicks(pid)
}

// startTicks is field 22 of /proc/PID/stat ("" when it cannot be read).
func startTicks(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 counted from 1, less the two before ')'
}

// Alive says whether the process a LabelProcess value names still runs:
// on this host, the same PID with the same start time. A value from
// another host cannot be checked and counts as alive; an empty one (an
// object of an older maildrill) as gone.
func Alive(v string) bool {
	if v == "" {
		return false
	}
	parts := strings.Split(v, "/")
	if len(parts) != 3 {
		return false
	}
	if host, _ := os.Hostname(); parts[0] != host {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if parts[2] != "" {
		return startTicks(pid) == parts[2]
	}
	return pidRuns(pid)
}
