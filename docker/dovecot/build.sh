#!/usr/bin/env bash
# build.sh: build (once) maildrill's Dovecot + Postfix image from local
# material: the debootstrap base (base.sh), then this folder's Dockerfile.
# The tag carries a content hash of the recipe (base tag, Dockerfile, conf/,
# entrypoint.sh): the image is rebuilt only when one of them changes.
# Prints the tag on stdout; the rest goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"
REPO=${IMAGE_REPO:-maildrill/dovecot}
log() { printf '==> %s\n' "$*" >&2; }

BASE=$(./base.sh)
hash=$( { echo "$BASE"; cat Dockerfile entrypoint.sh; find conf -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)
TAG="$REPO:$hash"
if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG is up to date"
  echo "$TAG"
  exit 0
fi
start=$SECONDS
log "building $TAG FROM $BASE"
# --network host: the build's apt reaches the mirror the way the host does.
docker build -q --network host --pull=false --build-arg "BASE=$BASE" \
  --label "org.maildrill.recipe=$hash" -t "$TAG" . >&2
log "image built in $((SECONDS - start)) s"
# Older recipes' images of this repository are of no further use.
docker images --format '{{.Repository}}:{{.Tag}}' "${TAG%%:*}" | grep -vxF "$TAG" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$TAG"
