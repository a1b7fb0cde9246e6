#!/usr/bin/env bash
# build.sh: build (once) maildrill's Dovecot + Postfix image from local
# material: the base (base.sh: debootstrap of Debian with dovecot-imapd,
# dovecot-lmtpd and postfix), plus maildrill's configuration below, made
# into one image by one docker import (no docker build, nothing pulled).
# The tag carries a content hash of the recipe (base tag, this file,
# conf/, entrypoint.sh): the image is rebuilt only when one changes.
# Prints the tag on stdout; the rest goes to stderr.
#
# On a cold machine the base's tree is configured where debootstrap left
# it; when only the configuration changed, the tree comes back from the
# base image (docker export).
set -euo pipefail
cd "$(dirname "$0")"
REPO=${IMAGE_REPO:-maildrill/dovecot}
log() { printf '==> %s\n' "$*" >&2; }

# A tmpfs when there is room (same rule as base.sh).
if [ -n "${MAILDRILL_BUILD_DIR:-}" ]; then
  tmp=$MAILDRILL_BUILD_DIR
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] &&
  [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((2 * 1024 * 1024)) ]; then
  tmp=/dev/shm
else
  tmp=/tmp
fi
ROOT=$(mktemp -d "$tmp/maildrill-root.XXXXXX")
# A cold build imports the base beside the configuration (base.sh).
based=$(mktemp -d "$tmp/maildrill-base.XXXXXX")
trap 'rm -rf --one-file-system "$ROOT" "$based"' EXIT

start=$SECONDS
BASE=$(MAILDRILL_ROOT=$ROOT MAILDRILL_BASE_IMPORT=$based/status ./base.sh)
# wait_base waits for that import, if there is one, and fails if it did.
wait_base() {
  [ -e "$based/status.tar" ] || [ -e "$based/status" ] || return 0
  while [ ! -s "$based/status" ]; do sleep 0.05; done
  if [ "$(cat "$based/status")" != 0 ]; then
    echo "build.sh: docker import of the base $BASE failed" >&2
    exit 1
  fi
}
hash=$( { echo "$BASE"; cat build.sh entrypoint.sh; find conf -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)
TAG="$REPO:$hash"
if docker image inspect "$TAG" >/dev/null 2>&1; then
  wait_base
  log "image $TAG is up to date"
  echo "$TAG"
  exit 0
fi
log "building $TAG from $BASE"
if [ ! -e "$ROOT/etc/debian_version" ]; then
  # The base was already there: its tree.
  c=$(docker create "$BASE")
  docker export "$c" | tar -C "$ROOT" --numeric-owner -x
  docker rm "$c" >/dev/null
  rm -f "$ROOT/.dockerenv"
fi

# Runs a shell script in the tree, as base.sh does: a network of its own
# with only loopback, a neutral host name, mounts that vanish with it.
in_root() {
  unshare --mount --uts --net sh -c 'ip link set lo up && hostname localhost && exec chroot "$1" /bin/sh -ec "$2"' \
    sh "$ROOT" "$1" >&2
}

# maildrill's configuration (this was the Dockerfile's work):
# the mail owner, the config files, the entrypoint...
in_root '
  groupadd -g 5000 vmail
  useradd -u 5000 -g vmail -d /srv/mail -s /usr/sbin/nologin vmail
  mkdir -p /srv/mail /etc/maildrill
  chown vmail:vmail /srv/mail'
cp -R conf/. "$ROOT/etc/maildrill/"
install -m 0755 entrypoint.sh "$ROOT/usr/local/sbin/maildrill-entrypoint"
# ... accounts from maildrill.passwd only (no PAM or system users), and
# Postfix's settings. (postconf will not read a main.cf younger than a
# second or two: a wrapper, first in postfix.sh's PATH, backdates it after
# each call, instead of a sleep per call; see base.sh.)
mkdir -p "$ROOT/tmp/maildrill-bin"
printf '#!/bin/sh\n/usr/sbin/postconf "$@" || exit\ntouch -d @$(($(date +%%s) - 2)) /etc/postfix/main.cf\n' \
  >"$ROOT/tmp/maildrill-bin/postconf"
chmod 755 "$ROOT/tmp/maildrill-bin/postconf"
in_root '
  cp /etc/maildrill/dovecot.conf /etc/dovecot/local.conf
  sed -i "s/^!include auth-system.conf.ext/#&/" /etc/dovecot/conf.d/10-auth.conf
  PATH=/tmp/maildrill-bin:$PATH sh /etc/maildrill/postfix.sh'
rm -rf "$ROOT/tmp/maildrill-bin"

# 143/10143 IMAP (direct / PROXY), 993/10993 IMAPS, 24 LMTP, 25/10025 MX,
# 587/10587 submission.
tar -C "$ROOT" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV DEBIAN_FRONTEND=noninteractive' \
  --change 'EXPOSE 143 10143 993 10993 24 25 10025 587 10587' \
  --change 'ENTRYPOINT ["/usr/local/sbin/maildrill-entrypoint"]' \
  --change "LABEL org.maildrill.recipe=$hash" \
  - "$TAG" >/dev/null
wait_base
log "image built in $((SECONDS - start)) s"
# Older recipes' images of this repository are of no further use, nor older
# bases (base.sh could not remove those that older images were built FROM).
docker images --format '{{.Repository}}:{{.Tag}}' "${TAG%%:*}" | grep -vxF "$TAG" | xargs -r docker rmi >/dev/null 2>&1 || true
docker images --format '{{.Repository}}:{{.Tag}}' "${BASE%%:*}" | grep -vxF "$BASE" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$TAG"
