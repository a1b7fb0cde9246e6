#!/usr/bin/env bash
# compose-smoke.sh: the trainer's path, end to end — docker-compose.yml
# brings up mailsim and the detection engine from images built here; a
# login from this machine (outside the office network) must show up as an
# alert in the detection engine's output. Everything is removed at the
# end, whatever happens. Needs Go, Docker and docker-compose (or the
# compose plugin); nothing is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "compose-smoke: neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
export MAILDRILL_ADMIN_TOKEN=smoke-$$ MAILDRILL_USERS=10 MAILDRILL_MESSAGES=20
project=maildrill-smoke-$$
dc() { "${compose[@]}" -p "$project" "$@"; }
cleanup() {
  dc down -v --remove-orphans >/dev/null 2>&1 || true
  docker rmi maildrill-mailsim:compose >/dev/null 2>&1 || true
  rm -f docker/mailsim/maildrill
}
trap cleanup EXIT

sh docker/mailsim/build.sh >/dev/null
t0=$SECONDS
dc up -d --build >/dev/null 2>&1 || { dc logs; exit 1; }
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8025/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS http://127.0.0.1:8025/healthz >/dev/null || { echo "compose-smoke: mailsim never became healthy" >&2; dc logs; exit 1; }
echo "compose-smoke: up and healthy in $((SECONDS - t0)) s"

# The admin API wants the token and serves no password.
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8025/api/users)
[ "$code" = 401 ] || { echo "compose-smoke: /api/users without a token answered $code, want 401" >&2; exit 1; }
if curl -fsS -H "Authorization: Bearer $MAILDRILL_ADMIN_TOKEN" http://127.0.0.1:8025/api/users | grep -qi password; then
  echo "compose-smoke: /api/users serves passwords" >&2; exit 1
fi

# One account, from the --accounts file in the container (written just
# after the listeners answer); log in over IMAP as that user.
users=
for _ in $(seq 1 50); do
  users=$(docker cp "$(dc ps -q mailsim)":/certs/accounts.json - 2>/dev/null | tar -xO 2>/dev/null) && [ -n "$users" ] && break
  sleep 0.1
done
[ -n "$users" ] || { echo "compose-smoke: no /certs/accounts.json in the mailsim container" >&2; dc logs; exit 1; }
read -r addr pass < <(python3 -c 'import json,sys
for u in json.load(sys.stdin):
    if u.get("kind","person") == "person":
        print(u["address"], u["password"]); break' <<<"$users")
curl -fsS --url imap://127.0.0.1:1143/ --user "$addr:$pass" -X 'EXAMINE INBOX' >/dev/null

alerted=
for _ in $(seq 1 50); do
  if dc logs detect 2>/dev/null | grep -q '"rule.title":"IMAP Login From Outside The Office Network"'; then
    echo "compose-smoke: the detection engine alerted on $addr's login"
    alerted=1
    break
  fi
  sleep 0.2
done
[ -n "$alerted" ] || { echo "compose-smoke: no alert from the detection engine" >&2; dc logs; exit 1; }

# The exercise server: both views answer on their links, a wrong token is
# refused, and the players' stream carries the scenario clock.
fac= soc=
for _ in $(seq 1 100); do
  fac=$(dc logs exercise 2>/dev/null | grep -o 'http://127.0.0.1:8080/f/[0-9a-f]*/' | head -1)
  soc=$(dc logs exercise 2>/dev/null | grep -o 'http://127.0.0.1:8080/soc/[0-9a-f]*/' | head -1)
  [ -n "$fac" ] && [ -n "$soc" ] && break
  sleep 0.2
done
[ -n "$fac" ] && [ -n "$soc" ] || { echo "compose-smoke: the exercise printed no links" >&2; dc logs exercise; exit 1; }
page=$(curl -fsS "$fac") && grep -q 'Facilitator' <<<"$page" || { echo "compose-smoke: no facilitator view at $fac" >&2; exit 1; }
page=$(curl -fsS "$soc") && grep -q 'SOC console' <<<"$page" || { echo "compose-smoke: no players' view at $soc" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/soc/0000000000000000/)
[ "$code" = 404 ] || { echo "compose-smoke: a wrong token answered $code, want 404" >&2; exit 1; }
stream=$(curl -sS -N --max-time 3 "${soc}stream" 2>/dev/null || true)
grep -q '^event: clock' <<<"$stream" || { echo "compose-smoke: the players' stream carried no clock" >&2; exit 1; }
echo "compose-smoke: the exercise serves both views"
exit 0
