#!/bin/bash
# maildrill-entrypoint: start Postfix and Dovecot, stream the shared mail
# log to stdout (unless MAILDRILL_LOG_STDOUT=no: maildrill bind-mounts
# /var/log/mail.log from the host and reads it there), stop both on SIGTERM.
#
# Environment:
#   MAILDRILL_PROFILE          stock (default) or enhanced
#   MAILDRILL_DOMAIN           mail domain (default interieur.test)
#   MAILDRILL_HOSTNAME         host name (default mail.$MAILDRILL_DOMAIN)
#   MAILDRILL_TRUSTED_PROXIES  who may send PROXY headers to 10143/10587/10025
#                              (Dovecot only; default: the default gateway,
#                              i.e. the runner on the host)
# Files (written by maildrill before the start):
#   /etc/dovecot/maildrill.passwd   who may log in (user:{PLAIN}password)
#   /etc/dovecot/maildrill.users    every account (passwd-file userdb); the
#                                   home field is the account's namespace
#                                   link, made here: /srv/maildrill/users/<a>
#                                   (people, Users/) or /srv/maildrill/shared/<a>
#                                   (shared mailboxes, Shared/) -> /srv/mail/<a>
#   /etc/dovecot/maildrill-shared.db  acl_shared_dict seed (who sees whose)
#   /etc/maildrill/tls/{server.pem,server-key.pem,ca.pem}  TLS material
#                                   (Debian's snakeoil certificate without)
#   /srv/mail/<address>/Maildir     maildrill export-maildir, with the
#                                   dovecot-acl files of delegated mailboxes
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
stock)
  rm -f /etc/dovecot/conf.d/99-maildrill-enhanced.conf
  postconf -e 'smtpd_client_port_logging = no' 'smtpd_tls_loglevel = 0' 'mime_header_checks ='
  ;;
enhanced)
  cp /etc/maildrill/enhanced.conf /etc/dovecot/conf.d/99-maildrill-enhanced.conf
  postconf -e 'smtpd_client_port_logging = yes' 'smtpd_tls_loglevel = 1' \
    'mime_header_checks = regexp:/etc/maildrill/mime_header_checks'
  ;;
*) echo "maildrill-entrypoint: MAILDRILL_PROFILE must be stock or enhanced" >&2; exit 2 ;;
esac
postconf -e "myhostname = $HOST" "mydomain = $DOMAIN"
echo "$DOMAIN" >/etc/mailname
[ -e /etc/dovecot/maildrill.passwd ] || touch /etc/dovecot/maildrill.passwd
if [ ! -e /etc/dovecot/maildrill.users ]; then
  # Older callers: every login account, a person.
  while IFS=: read -r user _; do
    [ -n "$user" ] && echo "$user:::::/srv/maildrill/users/$user::"
  done </etc/dovecot/maildrill.passwd >/etc/dovecot/maildrill.users
fi
mkdir -p /srv/maildrill/users /srv/maildrill/shared
while IFS=: read -r user _ _ _ _ home _; do
  case "$home" in
  /srv/maildrill/users/* | /srv/maildrill/shared/*) ln -sfn "/srv/mail/$user" "$home" ;;
  esac
done </etc/dovecot/maildrill.users
if [ -e /etc/dovecot/maildrill-shared.db ]; then
  cp /etc/dovecot/maildrill-shared.db /srv/maildrill/shared-mailboxes.db
else
  : >/srv/maildrill/shared-mailboxes.db
fi
chown -R vmail:vmail /srv/mail /srv/maildrill
if [ -s /etc/maildrill/tls/server.pem ] && [ -s /etc/maildrill/tls/server-key.pem ]; then
  chmod 0600 /etc/maildrill/tls/server-key.pem
  printf 'ssl_cert = </etc/maildrill/tls/server.pem\nssl_key = </etc/maildrill/tls/server-key.pem\n' >/etc/dovecot/maildrill-tls.conf
  postconf -e 'smtpd_tls_cert_file = /etc/maildrill/tls/server.pem' 'smtpd_tls_key_file = /etc/maildrill/tls/server-key.pem'
else
  rm -f /etc/dovecot/maildrill-tls.conf
fi
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

if [ "${MAILDRILL_LOG_STDOUT:-yes}" = no ]; then
  # maildrill reads /var/log/mail.log itself (a file of the host, bind-mounted).
  sleep infinity &
else
  # -s: poll every 2 ms (inotify does not see writes through overlayfs here;
  # the default 1 s poll would delay every event by up to a second).
  tail -s 0.002 -n +1 -F /var/log/mail.log 2>/dev/null &
fi
TAIL=$!
# postconf -e above left main.cf seconds old; Postfix waits until its
# configuration is at least a second or two old before it starts (about
# 2 s of start-up). Backdate it.
touch -d "@$(($(date +%s) - 2))" /etc/postfix/main.cf /etc/postfix/master.cf
dovecot
postfix start >/dev/null 2>&1 || postfix start
# Ready when every listener is bound: read from /proc, without connecting
# (a probe connection would be logged as a client).
listening() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
for port in 143 10143 993 10993 24 25 10025 587 10587; do
  for _ in $(seq 1 400); do
    listening "$port" && break
    sleep 0.025
  done
  listening "$port" || { echo "maildrill-entrypoint: nothing listens on $port" >&2; exit 1; }
done
echo "maildrill: ready profile=$PROFILE host=$HOST trusted=$MAILDRILL_TRUSTED_PROXIES"
wait "$TAIL"
