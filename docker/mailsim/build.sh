#!/bin/sh
# Puts the static maildrill binary beside docker/mailsim/Dockerfile, the
# build context docker-compose.yml uses. Needs Go (see go.mod) once; the
# result runs anywhere Docker does. Nothing is pulled.
set -eu
cd "$(dirname "$0")/../.."
CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags='-s -w' -o docker/mailsim/maildrill ./cmd/maildrill
echo "docker/mailsim/maildrill built; now: docker-compose build && docker-compose up"
