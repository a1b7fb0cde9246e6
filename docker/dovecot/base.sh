#!/usr/bin/env bash
# base.sh: build (once) the local Debian base image that docker/dovecot's
# Dockerfile starts FROM, with debootstrap --variant=minbase and docker import.
# Nothing is pulled: the packages come from the Debian mirror that apt on
# this machine is configured with (read from /etc/apt/sources.list and
# /etc/apt/sources.list.d/*; override with MIRROR=...).
#
# The tag carries a content hash of this recipe (this file, the suite, the
# variant, the architecture): the base is rebuilt only when one changes.
# Prints the tag on stdout; everything else goes to stderr.
#
# Usage: docker/dovecot/base.sh            (SUITE=bookworm by default)
# Needs: root, debootstrap, docker.
set -euo pipefail
cd "$(dirname "$0")"

SUITE=${SUITE:-bookworm}
VARIANT=minbase
ARCH=${ARCH:-$(dpkg --print-architecture)}
REPO=${BASE_REPO:-maildrill/debian-base}

log() { printf '==> %s\n' "$*" >&2; }

hash=$( { cat base.sh; echo "$SUITE $VARIANT $ARCH"; } | sha256sum | cut -c1-12)
TAG="$REPO:$SUITE-$hash"
if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "base image $TAG is up to date"
  echo "$TAG"
  exit 0
fi

# The mirror apt uses for the main archive of $SUITE (not the security one).
mirror() {
  local f
  # deb822 .sources: a stanza whose Suites names $SUITE exactly.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uris != "" && hit && deb) print uris; uris=""; hit=0; deb=0 }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uris = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END { flush() }' "$f"
  done
  # One-line format.
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
        if ($(i + 1) == suite) print $i
      }' "$f"
  done
}
MIRROR=${MIRROR:-$(mirror | head -n1)}
if [ -z "$MIRROR" ]; then
  echo "base.sh: no Debian mirror for $SUITE in apt's sources; set MIRROR=" >&2
  exit 1
fi
command -v debootstrap >/dev/null 2>&1 || {
  echo "base.sh: debootstrap is missing: apt-get install -y debootstrap (as root)" >&2
  exit 1
}

ROOT=$(mktemp -d /tmp/maildrill-debootstrap.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
start=$SECONDS
log "debootstrap --variant=$VARIANT $SUITE from apt's mirror into $ROOT"
debootstrap --variant="$VARIANT" --arch="$ARCH" "$SUITE" "$ROOT" "$MIRROR" >&2
# Smaller, and no cached package lists from the build machine.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/* \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
log "docker import as $TAG"
tar -C "$ROOT" --numeric-owner -c . | docker import \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.maildrill.recipe=$hash org.maildrill.suite=$SUITE" \
  - "$TAG" >&2
log "base image built in $((SECONDS - start)) s"
# Older recipes' images of this repository are of no further use.
docker images --format '{{.Repository}}:{{.Tag}}' "${TAG%%:*}" | grep -vxF "$TAG" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$TAG"
