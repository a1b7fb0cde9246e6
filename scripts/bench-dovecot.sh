#!/usr/bin/env bash
# bench-dovecot.sh: mailsim against Dovecot 2.3 (Debian's dovecot-imapd) on
# the same machine, with the same client (cmd/imapbench), side by side in one
# run, on two workloads:
#
#   corpus  the generated corpus: Dovecot serves the Maildir++ export of
#           mailsim's corpus (same seed, same messages, same UIDs); each
#           connection downloads a different person's INBOX whole
#           (UID FETCH 1:* BODY.PEEK[]).
#   hard    APPENDed mail: FILL (2,000) messages of about FILL_SIZE (100 KiB)
#           each, a short text and a PDF attachment in base64, APPENDed
#           over IMAP to the mailbox "Bench" of the first person on both
#           servers (the same bytes: imapbench --fill). Every connection
#           downloads that mailbox, two ways:
#             hard-binary  UID FETCH 1:* BINARY.PEEK[2]  (the attachment,
#                          decoded from base64 by the server, RFC 3516)
#             hard-whole   UID FETCH 1:* BODY.PEEK[]     (whole messages)
#
# Both servers listen on 127.0.0.1, on non-standard ports, over plain IMAP
# (LOGIN allowed without TLS on both) so that TLS stays out of the
# comparison. Dovecot runs from its own configuration in a temporary
# directory. Both are warmed with one full pass of every mailbox and kind of
# download used. Then, for each workload and each number of connections in
# CONNS, REPEAT times, alternating servers, the connections download for
# DURATION while a probe connection (same account, same mailbox; from its
# own imapbench process unless PROBE_PROCESS=same) times
# FETCH n (FLAGS) every PROBE_EVERY; the script prints a side-by-side table
# (medians) with the load average, and stops both servers.
#
# Usage: scripts/bench-dovecot.sh            (see the variables below)
#        WORKLOADS=hard CONNS="4 8" DURATION=5s scripts/bench-dovecot.sh
# Needs: go, python3 (table and passwd-file), dovecot-imapd (installed with
# apt-get when missing and run as root). See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

SEED=${SEED:-1}
USERS=${USERS:-8}
MESSAGES=${MESSAGES:-400}
DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-3} # runs of each measurement; the table shows medians
CONNS=${CONNS:-"1 2 4 8"}
WORKLOADS=${WORKLOADS:-"corpus hard"}
FILL=${FILL:-2000}             # hard workload: messages APPENDed
FILL_SIZE=${FILL_SIZE:-102400} # hard workload: bytes per message, about
MAILSIM_FLAGS=${MAILSIM_FLAGS:-} # extra flags for maildrill serve
MAILSIM_ENV=${MAILSIM_ENV:-}     # extra environment for maildrill serve only (e.g. GOMAXPROCS=3)
# The probe runs in its own imapbench process (separate), so that its
# latency is the server's and not the bulk client's own Go scheduler, busy
# with the downloads; "same" puts it in the bulk client's process.
PROBE_PROCESS=${PROBE_PROCESS:-separate}
PROBE_EVERY=${PROBE_EVERY:-20ms}
# PROBE_ON=other sends the probe to the other server while this one serves
# the bulk connections: each server's tail under the other's bulk load.
PROBE_ON=${PROBE_ON:-same}
# PACE=dovecot runs Dovecot first at each point, then mailsim with its
# bulk connections paced to the rate Dovecot reached (imapbench --rate):
# the two probes compared at one throughput.
PACE=${PACE:-}
case "$PROBE_ON" in same | other) ;; *) echo "PROBE_ON=$PROBE_ON: want same or other" >&2; exit 2 ;; esac
case "$PACE" in "" | dovecot) ;; *) echo "PACE=$PACE: want dovecot, or nothing" >&2; exit 2 ;; esac
if [ "$PROBE_ON" = other ] && [ "$PROBE_PROCESS" != separate ]; then
  echo "PROBE_ON=other needs the probe in its own process (PROBE_PROCESS=separate)" >&2
  exit 2
fi
MAILSIM_PORT=${MAILSIM_PORT:-31143}
DOVECOT_PORT=${DOVECOT_PORT:-31144}
KEEP=${KEEP:-0} # 1 keeps the work directory (corpus, logs, results)

log() { printf '==> %s\n' "$*" >&2; }

# --- Dovecot 2.3 -------------------------------------------------------------
if ! command -v dovecot >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "dovecot is not installed: apt-get install -y dovecot-imapd (as root)" >&2
    exit 1
  fi
  log "installing dovecot-imapd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
fi
# The package may start a system daemon on 143/993; ours uses its own
# configuration and ports, but the system one would compete for the CPU.
# Only the system instance (its pid file); other Dovecots are left alone.
if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
  log "stopping the system dovecot"
  service dovecot stop >/dev/null 2>&1 || systemctl stop dovecot >/dev/null 2>&1 || true
fi
log "$(dovecot --version | sed 's/^/Dovecot /')"

WORK=$(mktemp -d /tmp/maildrill-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

wait_port() { # host:port what
  local i
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not listen on $1" >&2
  return 1
}

log "building maildrill and imapbench"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/maildrill" ./cmd/maildrill
go build -o "$WORK/bin/imapbench" ./cmd/imapbench
MD="$WORK/bin/maildrill"
IB="$WORK/bin/imapbench"

# --- mailsim -----------------------------------------------------------------
log "starting mailsim (seed $SEED, $USERS users x $MESSAGES messages) on 127.0.0.1:$MAILSIM_PORT"
env $MAILSIM_ENV "$MD" serve --seed "$SEED" --users "$USERS" --messages "$MESSAGES" \
  --imap "127.0.0.1:$MAILSIM_PORT" --imaps off --submission off --mx off --admin off \
  --allow-plaintext-auth --accounts "$WORK/accounts.json" $MAILSIM_FLAGS >"$WORK/mailsim.log" 2>&1 &
PIDS+=($!)
MAILSIM_PID=$!
wait_port "127.0.0.1:$MAILSIM_PORT" mailsim

# --- the same corpus as a Maildir for Dovecot --------------------------------
# Only the mailboxes the runs use are exported: the whole organisation,
# shared mailboxes included, is several times larger and slower to write.
maxc=1
for c in $CONNS; do [ "$c" -gt "$maxc" ] && maxc=$c; done
mapfile -t BENCH_USERS < <(python3 -c '
import json, sys
people = [a["address"] for a in json.load(open(sys.argv[1])) if a.get("kind", "person") == "person"]
print("\n".join(people[: int(sys.argv[2])]))' "$WORK/accounts.json" "$maxc")
log "exporting ${BENCH_USERS[*]} as Maildir++"
"$MD" export-maildir --seed "$SEED" --users "$USERS" --messages "$MESSAGES" \
  $(printf -- '--user %s ' "${BENCH_USERS[@]}") "$WORK/mail" >/dev/null
du -sh "$WORK/mail" | sed 's/^/    corpus on disk: /' >&2

python3 - "$WORK/accounts.json" "$WORK/passwd" <<'EOF'
import json, sys
accs = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for a in accs:
        f.write("%s:{PLAIN}%s\n" % (a["address"], a["password"]))
EOF

if [ "$(id -u)" -eq 0 ]; then
  MAIL_USER=nobody
  MAIL_GROUP=$(id -gn nobody)
  chown -R "$MAIL_USER:$MAIL_GROUP" "$WORK/mail"
else
  MAIL_USER=$(id -un)
  MAIL_GROUP=$(id -gn)
fi
mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/state"
cat >"$WORK/dovecot/dovecot.conf" <<EOF
# Generated by scripts/bench-dovecot.sh: loopback only, non-standard port.
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/state
instance_name = maildrill-bench
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $WORK/dovecot/dovecot.log
mail_location = maildir:$WORK/mail/%u/Maildir
first_valid_uid = 1
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $WORK/passwd
}
userdb {
  driver = static
  args = uid=$MAIL_USER gid=$MAIL_GROUP home=$WORK/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
if [ "$(id -u)" -ne 0 ]; then
  cat >>"$WORK/dovecot/dovecot.conf" <<EOF
default_login_user = $MAIL_USER
default_internal_user = $MAIL_USER
EOF
fi
log "starting Dovecot on 127.0.0.1:$DOVECOT_PORT"
dovecot -F -c "$WORK/dovecot/dovecot.conf" &
PIDS+=($!)
DOVECOT_PID=$!
wait_port "127.0.0.1:$DOVECOT_PORT" Dovecot

has() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- hard workload: the same APPENDed mail on both --------------------------
if has hard; then
  for srv in mailsim:$MAILSIM_PORT dovecot:$DOVECOT_PORT; do
    log "APPENDing $FILL messages of ~$FILL_SIZE bytes (PDF attachment) to ${srv%%:*}'s Bench"
    "$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --mailbox Bench \
      --fill "$FILL" --fill-size "$FILL_SIZE" --label "${srv%%:*}" >>"$WORK/fill.jsonl"
  done
fi

# kinds of run: name|imapbench flags
KINDS=()
if has corpus; then KINDS+=("corpus|--mailbox INBOX"); fi
if has hard; then KINDS+=("hard-binary|--mailbox Bench --same-mailbox --binary 2" "hard-whole|--mailbox Bench --same-mailbox"); fi

# --- warm-up: one full pass of every mailbox and kind used -------------------
for k in "${KINDS[@]}"; do
  for srv in mailsim:$MAILSIM_PORT dovecot:$DOVECOT_PORT; do
    log "warming ${srv%%:*}: ${k%%|*}, one full pass with $maxc connection(s)"
    # shellcheck disable=SC2086
    "$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --conns "$maxc" --rounds 1 \
      ${k#*|} --label "warm-${srv%%:*}" >>"$WORK/warm.jsonl"
  done
done

# --- measurements ------------------------------------------------------------
loadavg() { cut -d' ' -f1 /proc/loadavg; }
: >"$WORK/results.jsonl"
for rep in $(seq 1 "$REPEAT"); do
  for k in "${KINDS[@]}"; do
    for c in $CONNS; do
      order="mailsim:$MAILSIM_PORT dovecot:$DOVECOT_PORT"
      pace_flags=""
      if [ "$PACE" = dovecot ]; then order="dovecot:$DOVECOT_PORT mailsim:$MAILSIM_PORT"; fi
      for srv in $order; do
        log "run $rep/$REPEAT, ${k%%|*}, ${srv%%:*}: $c connection(s) for $DURATION, probe every $PROBE_EVERY (load $(loadavg))"
        l0=$(loadavg)
        probe_port=${srv##*:}
        if [ "$PROBE_ON" = other ]; then
          if [ "$probe_port" = "$MAILSIM_PORT" ]; then probe_port=$DOVECOT_PORT; else probe_port=$MAILSIM_PORT; fi
        fi
        if [ "$PROBE_PROCESS" = separate ]; then
          # shellcheck disable=SC2086
          "$IB" --addr "127.0.0.1:$probe_port" --accounts "$WORK/accounts.json" --conns 0 ${k#*|} \
            --duration "$DURATION" --probe --probe-every "$PROBE_EVERY" --label probe >"$WORK/probe.json" 2>/dev/null &
          probe_pid=$!
          # shellcheck disable=SC2086
          out=$("$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --conns "$c" ${k#*|} \
            --duration "$DURATION" --label "${srv%%:*}" $pace_flags)
          wait "$probe_pid"
          probe=$(cat "$WORK/probe.json")
        else
          # shellcheck disable=SC2086
          out=$("$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --conns "$c" ${k#*|} \
            --duration "$DURATION" --probe --probe-every "$PROBE_EVERY" --label "${srv%%:*}" $pace_flags)
          probe=null
        fi
        printf '{"workload":"%s","load_before":%s,"load_after":%s,"run":%s,"probe_run":%s}\n' \
          "${k%%|*}" "$l0" "$(loadavg)" "$out" "$probe" >>"$WORK/results.jsonl"
        if [ "$PACE" = dovecot ] && [ "${srv%%:*}" = dovecot ]; then
          pace_flags="--rate $(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_s"])')"
        fi
      done
    done
  done
done

# Resident memory after the run, for the record.
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo "?"; }
MAILSIM_RSS=$(rss "$MAILSIM_PID")

python3 - "$WORK/results.jsonl" "$(nproc)" "$SEED" "$USERS" "$MESSAGES" "$DURATION" "$(dovecot --version)" "$MAILSIM_RSS" "$FILL" "$FILL_SIZE" "$PROBE_EVERY" "$PROBE_PROCESS" "$PROBE_ON" "$PACE" <<'EOF'
import json, statistics, sys
path, cores, seed, users, messages, duration, dv, rss, fill, fill_size = sys.argv[1:11]
runs, loads = {}, []
for line in open(path):
    w = json.loads(line)
    r = w["run"]
    if w.get("probe_run"):
        r["probe"] = w["probe_run"].get("probe")
    runs.setdefault((w["workload"], r["label"], r["conns"]), []).append(r)
    loads += [w["load_before"], w["load_after"]]
def med(rs, f):
    return statistics.median(f(r) for r in rs)
print()
print(f"{cores} cores; Dovecot {dv}; plain IMAP on 127.0.0.1; {duration} per run; "
      f"medians of {max(len(v) for v in runs.values())} runs, servers alternating; mailsim RSS {rss} MiB")
print(f"load average (1 min) during the runs: {min(loads):.2f}-{max(loads):.2f}, median {statistics.median(loads):.2f}")
print(f"corpus: seed {seed}, {users} users x {messages} messages, each connection its own INBOX, UID FETCH 1:* BODY.PEEK[]")
print(f"hard: {fill} APPENDed messages of ~{fill_size} bytes with a PDF attachment, one mailbox for every connection;")
print("      hard-binary UID FETCH 1:* BINARY.PEEK[2] (decoded attachment), hard-whole UID FETCH 1:* BODY.PEEK[]")
print(f"probe: FETCH n (FLAGS) every {sys.argv[11]} on another connection, same mailbox, from {'a separate process' if sys.argv[12] == 'separate' else 'the bulk client'}")
if sys.argv[13] == "other":
    print("PROBE_ON=other: each probe column is the OTHER server's probe, timed while this server served the bulk connections")
if sys.argv[14] == "dovecot":
    print("PACE=dovecot: mailsim's bulk connections paced to the rate Dovecot reached just before, at each point")
print()
print("| workload | conns | mailsim MB/s | Dovecot MB/s | ratio m/D | mailsim probe p50 / p99 ms | Dovecot probe p50 / p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
order = {"corpus": 0, "hard-binary": 1, "hard-whole": 2}
for wl, c in sorted({(k[0], k[2]) for k in runs}, key=lambda k: (order.get(k[0], 9), k[1])):
    m, d = runs.get((wl, "mailsim", c)), runs.get((wl, "dovecot", c))
    if not m or not d:
        continue
    mt, dt = med(m, lambda r: r["mb_per_s"]), med(d, lambda r: r["mb_per_s"])
    p = lambda rs, q: med(rs, lambda r: (r.get("probe") or {}).get(q, float("nan")))
    print(f"| {wl} | {c} | {mt:.0f} | {dt:.0f} | {mt / dt:.2f} | "
          f"{p(m, 'p50_ms'):.2f} / {p(m, 'p99_ms'):.2f} | {p(d, 'p50_ms'):.2f} / {p(d, 'p99_ms'):.2f} |")
print()
# CPU per GB moved, from the client's own account and the machine's
# (/proc/stat) over each run: "server" is the machine's busy time less the
# bulk client's (the server, the kernel's work for both sides, the probe).
# On a machine both sides keep busy, throughput is the cores over the CPU
# per byte, so the last column is the ratio the CPU alone allows.
cpu = lambda rs, f: med(rs, lambda r: f(r) / (r["bytes"] / 1e9) * 1e3 if r.get("machine_cpu_s") and r["bytes"] else float("nan"))
client = lambda r: r["client_cpu_s"]
rest = lambda r: r["machine_cpu_s"] - r["client_cpu_s"]
total = lambda r: r["machine_cpu_s"]
print("CPU per GB (ms; medians): client / server (machine less client)")
print()
print("| workload | conns | mailsim: client / server | Dovecot: client / server | CPU ratio D/m |")
print("|---|---:|---:|---:|---:|")
for wl, c in sorted({(k[0], k[2]) for k in runs}, key=lambda k: (order.get(k[0], 9), k[1])):
    m, d = runs.get((wl, "mailsim", c)), runs.get((wl, "dovecot", c))
    if not m or not d:
        continue
    print(f"| {wl} | {c} | {cpu(m, client):.0f} / {cpu(m, rest):.0f} | {cpu(d, client):.0f} / {cpu(d, rest):.0f} | {cpu(d, total) / cpu(m, total):.2f} |")
print()
print("every run (MB/s, probe p99 ms):")
for (wl, label, c), rs in sorted(runs.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][2], kv[0][1])):
    print(f"  {wl:11} {label:8} conns={c}: " + ", ".join(f"{r['mb_per_s']:.0f} MB/s p99 {(r.get('probe') or {}).get('p99_ms', 0):.1f}" for r in rs))
print()
EOF
log "raw results: $WORK/results.jsonl (KEEP=1 keeps them)"
