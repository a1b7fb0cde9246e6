#!/bin/bash
# maildrill-entrypoint: start Postfix and Dovecot, stream the shared mail
# log to stdout (where maildrill parses it), stop both on SIGTERM.
#
# Environment:
#   MAILDRILL_PROFILE          stock (default) or enhanced
#   MAILDRILL_DOMAIN           mail domain (default interieur.test)
#   MAILDRILL_HOSTNAME         host name (default mail.$MAILDRILL_DOMAIN)
#   MAILDRILL_TRUSTED_PROXIES  who may send PROXY headers to 10143/10587/10025
#                              (Dovecot only; default: the default gateway,
#                              i.e. the runner on the host)
# Files: /etc/dovecot/maildrill.passwd (user:{PLAIN}password lines) and
# /srv/mail/<address>/Maildir (maildrill export-maildir).
set -euo pipefail
PROFILE=${MAILDRILL_PROFILE:-stock}
DOMAIN=${MAILDRILL_DOMAIN:-interieur.test}
HOST=${MAILDRILL_HOSTNAME:-mail.$DOMAIN}
if [ -z "${MAILDRILL_TRUSTED_PROXIES:-}" ]; then
  gw=
  while read -r _ dest hex _; do
    if [ "$dest" = 00000000 ]; then
      gw=$(printf '%d.%d.%d.%d/32' "0x${hex:6:2}" "0x${hex:4:2}" "0x${hex:2:2}" "0x${hex:0:2}")
      break
    fi
  done </proc/net/route
  MAILDRILL_TRUSTED_PROXIES=${gw:-127.0.0.1/32}
fi
echo "haproxy_trusted_networks = $MAILDRILL_TRUSTED_PROXIES" >/etc/dovecot/maildrill-trusted.conf
case "$PROFILE" in
stock) rm -f /etc/dovecot/conf.d/99-maildrill-enhanced.conf; postconf -e 'smtpd_client_port_logging = no' ;;
enhanced)
  cp /etc/maildrill/enhanced.conf /etc/dovecot/conf.d/99-maildrill-enhanced.conf
  postconf -e 'smtpd_client_port_logging = yes'
  ;;
*) echo "maildrill-entrypoint: MAILDRILL_PROFILE must be stock or enhanced" >&2; exit 2 ;;
esac
postconf -e "myhostname = $HOST" "mydomain = $DOMAIN"
echo "$DOMAIN" >/etc/mailname
[ -e /etc/dovecot/maildrill.passwd ] || touch /etc/dovecot/maildrill.passwd
chown -R vmail:vmail /srv/mail
: >/var/log/mail.log
chmod 0666 /var/log/mail.log

stop() {
  postfix stop >/dev/null 2>&1 || true
  doveadm stop >/dev/null 2>&1 || kill "$(cat /run/dovecot/master.pid 2>/dev/null)" 2>/dev/null || true
  sleep 0.2
  kill "$TAIL" 2>/dev/null || true
  exit 0
}
trap stop TERM INT

tail -n +1 -F /var/log/mail.log 2>/dev/null &
TAIL=$!
dovecot
postfix start >/dev/null 2>&1 || postfix start
# Ready when every listener is bound: read from /proc, without connecting
# (a probe connection would be logged as a client).
listening() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
for port in 143 10143 24 25 10025 587 10587; do
  for _ in $(seq 1 400); do
    listening "$port" && break
    sleep 0.025
  done
  listening "$port" || { echo "maildrill-entrypoint: nothing listens on $port" >&2; exit 1; }
done
echo "maildrill: ready profile=$PROFILE host=$HOST trusted=$MAILDRILL_TRUSTED_PROXIES"
wait "$TAIL"
