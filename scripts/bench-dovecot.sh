#!/usr/bin/env bash
# bench-dovecot.sh: mailsim against Dovecot 2.3 (Debian's dovecot-imapd) on
# the same machine and the same corpus, with the same client (cmd/imapbench).
#
# Both servers listen on 127.0.0.1, on non-standard ports, over plain IMAP
# (LOGIN allowed without TLS on both) so that TLS stays out of the
# comparison. Dovecot runs from its own configuration in a temporary
# directory and serves the Maildir++ export of mailsim's corpus (same seed,
# same messages, same UIDs). Both are warmed with one full pass of every
# mailbox used, so mailsim's generation cache and the page cache under
# Dovecot's Maildir are both warm. Then, for 1 and 4 connections, each
# downloads INBOXes whole for DURATION while a probe connection times
# FETCH n (FLAGS); the script prints a side-by-side table and stops both.
#
# Usage: scripts/bench-dovecot.sh            (see the variables below)
#        USERS=8 MESSAGES=400 DURATION=10s scripts/bench-dovecot.sh
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
CONNS=${CONNS:-"1 4"}
PROBE_EVERY=${PROBE_EVERY:-20ms}
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
"$MD" serve --seed "$SEED" --users "$USERS" --messages "$MESSAGES" \
  --imap "127.0.0.1:$MAILSIM_PORT" --imaps off --submission off --mx off --admin off \
  --allow-plaintext-auth --accounts "$WORK/accounts.json" >"$WORK/mailsim.log" 2>&1 &
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

# --- warm-up: one full pass of every INBOX used ------------------------------
for srv in mailsim:$MAILSIM_PORT dovecot:$DOVECOT_PORT; do
  log "warming ${srv%%:*}: one full pass of $maxc INBOXes"
  "$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --conns "$maxc" --rounds 1 \
    --label "warm-${srv%%:*}" >>"$WORK/warm.jsonl"
done

# --- measurements ------------------------------------------------------------
: >"$WORK/results.jsonl"
for rep in $(seq 1 "$REPEAT"); do
  for c in $CONNS; do
    for srv in mailsim:$MAILSIM_PORT dovecot:$DOVECOT_PORT; do
      log "run $rep/$REPEAT, ${srv%%:*}: $c connection(s) for $DURATION, probe every $PROBE_EVERY"
      "$IB" --addr "127.0.0.1:${srv##*:}" --accounts "$WORK/accounts.json" --conns "$c" \
        --duration "$DURATION" --probe --probe-every "$PROBE_EVERY" --label "${srv%%:*}" >>"$WORK/results.jsonl"
    done
  done
done

# Resident memory after the run, for the record.
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo "?"; }
MAILSIM_RSS=$(rss "$MAILSIM_PID")

python3 - "$WORK/results.jsonl" "$(nproc)" "$SEED" "$USERS" "$MESSAGES" "$DURATION" "$(dovecot --version)" "$MAILSIM_RSS" <<'EOF'
import json, statistics, sys
path, cores, seed, users, messages, duration, dv, rss = sys.argv[1:9]
runs = {}
for line in open(path):
    r = json.loads(line)
    runs.setdefault((r["label"], r["conns"]), []).append(r)
def med(rs, f):
    return statistics.median(f(r) for r in rs)
print()
print(f"corpus: seed {seed}, {users} users x {messages} messages; INBOX downloads "
      f"(UID FETCH 1:* BODY.PEEK[]), {duration} per run, plain IMAP on 127.0.0.1; "
      f"{cores} cores; Dovecot {dv}; mailsim RSS {rss} MiB")
print("medians of", max(len(v) for v in runs.values()), "runs; probe: FETCH n (FLAGS) on another connection")
print()
print("| conns | mailsim MB/s | Dovecot MB/s | ratio m/D | mailsim probe p50 / p99 ms | Dovecot probe p50 / p99 ms |")
print("|---:|---:|---:|---:|---:|---:|")
for c in sorted({k[1] for k in runs}):
    m, d = runs.get(("mailsim", c)), runs.get(("dovecot", c))
    if not m or not d:
        continue
    mt, dt = med(m, lambda r: r["mb_per_s"]), med(d, lambda r: r["mb_per_s"])
    p = lambda rs, q: med(rs, lambda r: (r.get("probe") or {}).get(q, float("nan")))
    print(f"| {c} | {mt:.0f} | {dt:.0f} | {mt / dt:.2f} | "
          f"{p(m, 'p50_ms'):.2f} / {p(m, 'p99_ms'):.2f} | {p(d, 'p50_ms'):.2f} / {p(d, 'p99_ms'):.2f} |")
print()
print("every run (MB/s, probe p99 ms):")
for (label, c), rs in sorted(runs.items()):
    print(f"  {label:8} conns={c}: " + ", ".join(f"{r['mb_per_s']:.0f} MB/s p99 {(r.get('probe') or {}).get('p99_ms', 0):.1f}" for r in rs))
print()
EOF
log "raw results: $WORK/results.jsonl (KEEP=1 keeps them)"
