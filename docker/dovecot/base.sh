#!/usr/bin/env bash
# base.sh: build (once) the local base image of the Dovecot target: Debian
# (debootstrap --variant=minbase) with dovecot-imapd, dovecot-lmtpd and
# postfix installed in the same pass, then docker import. build.sh adds
# maildrill's configuration on top. Nothing is pulled: the packages come
# from the Debian mirror that apt on this machine is configured with (read
# from /etc/apt/sources.list and /etc/apt/sources.list.d/*; override with
# MIRROR=...).
#
# The tag carries a content hash of this recipe (this file, the suite, the
# variant, the architecture, the packages): the base is rebuilt only when
# one changes. Prints the tag on stdout; everything else goes to stderr.
#
# Usage: docker/dovecot/base.sh            (SUITE=bookworm by default)
# Environment:
#   MAILDRILL_ROOT       an empty folder to build the tree in and leave it
#                        there (build.sh configures it); default: a
#                        temporary folder, removed
#   MAILDRILL_BUILD_DIR  where temporary trees go (default /dev/shm when it
#                        is a tmpfs with 2 GiB free, else /tmp)
#   MAILDRILL_DEB_CACHE  a folder to keep the downloaded .debs in (created;
#                        default none: every build downloads)
#   MAILDRILL_BASE_IMPORT  (build.sh) import the base in the background from a
#                        copy of the tree (FILE.tar) and write the import's
#                        exit status to FILE; the tag is printed at once
# Needs: root, debootstrap, unshare (util-linux), ip (iproute2), docker.
set -euo pipefail
cd "$(dirname "$0")"

SUITE=${SUITE:-bookworm}
VARIANT=minbase
ARCH=${ARCH:-$(dpkg --print-architecture)}
PACKAGES=dovecot-imapd,dovecot-lmtpd,postfix
REPO=${BASE_REPO:-maildrill/debian-base}

log() { printf '==> %s\n' "$*" >&2; }

hash=$( { cat base.sh; echo "$SUITE $VARIANT $ARCH $PACKAGES"; } | sha256sum | cut -c1-12)
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
for tool in debootstrap unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "base.sh: $tool is missing: apt-get install -y debootstrap util-linux iproute2 (as root)" >&2
    exit 1
  }
done

# A tmpfs when there is room: dpkg writes many small files.
builddir() {
  if [ -n "${MAILDRILL_BUILD_DIR:-}" ]; then
    echo "$MAILDRILL_BUILD_DIR"
  elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] &&
    [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((2 * 1024 * 1024)) ]; then
    echo /dev/shm
  else
    echo /tmp
  fi
}
cleanup=()
trap 'if ((${#cleanup[@]})); then rm -rf --one-file-system "${cleanup[@]}"; fi' EXIT
if [ -n "${MAILDRILL_ROOT:-}" ]; then
  ROOT=$MAILDRILL_ROOT
else
  ROOT=$(mktemp -d "$(builddir)/maildrill-root.XXXXXX")
  cleanup+=("$ROOT")
fi

start=$SECONDS
# First stage (download, check, unpack) on this machine. The mirror's name
# is looked up once per package: give up on a lost DNS answer after 1 s
# instead of glibc's 5.
cache=()
if [ -n "${MAILDRILL_DEB_CACHE:-}" ]; then
  mkdir -p "$MAILDRILL_DEB_CACHE"
  cache=(--cache-dir="$(cd "$MAILDRILL_DEB_CACHE" && pwd)")
fi
# debootstrap resolves dependencies by re-reading the 45 MB Packages index
# with grep and perl twice per round, some ten rounds: 13 to 16 s of one
# core, a third of a cold build. A copy of its scripts gets a resolve_deps
# that reads the index once and walks the graph in memory, with the same
# rules (first alternative, versions and :arch dropped, real packages
# only, EXCLUDE_DEPENDENCY honoured), so the same packages are installed.
# The copy goes into the tree too (--foreign), where the second stage uses
# it with the tree's own perl. Without /usr/share/debootstrap, the stock one.
debootstrap_env=()
if [ -z "${DEBOOTSTRAP_DIR:-}" ] && [ -f /usr/share/debootstrap/functions ]; then
  fast=$(mktemp -d "$(builddir)/maildrill-debootstrap.XXXXXX")
  cleanup+=("$fast")
  cp -a /usr/share/debootstrap/. "$fast/"
  # debootstrap's own download_debs, renamed: the one below calls it for
  # whatever it did not get.
  sed -i 's/^download_debs () {$/debootstrap_download_debs () {/' "$fast/functions"
  grep -q '^debootstrap_download_debs () {$' "$fast/functions" || { echo "base.sh: no download_debs in debootstrap's functions" >&2; exit 1; }
  cat >>"$fast/functions" <<'FUNCS'

# maildrill: download_debs fetches the packages with one wget (one
# connection, kept alive) and checks them all with one sha256sum -c
# against the index, instead of a fetch and a dozen small processes per
# package (about 8 s of a cold build for 119 packages, mostly process
# starts). Every package it did not get, or whose checksum does not match,
# goes through debootstrap's own download_debs as before. The same
# deburis and debpaths records, in the same order.
download_debs () {
	local m pkgdest list
	m="$1"
	pkgdest="$2"
	shift; shift
	if [ -n "$CACHE_DIR" ] || [ "$DEBOOTSTRAP_CHECKSUM_FIELD" = MD5SUM ] || ! in_path "sha${SHA_SIZE}sum" || ! in_path wget; then
		debootstrap_download_debs "$m" "$pkgdest" "$@"
		return
	fi
	list="$TARGET/debootstrap/maildrill-debs"
	rm -rf "$list.d" && mkdir -p "$list.d"
	# package version uri destination checksum file-name
	"$PKGDETAILS" PKGS "$m" "$pkgdest" "$@" | awk -v m="$m" '
		$2 == "-" { next }
		{ d = "/var/cache/apt/archives/" $1 "_" $2 "_" $3 ".deb"; sub(/:/, "%3a", d)
		  n = split($5, f, "/"); print $1, $2, m "/" $5, d, $6, f[n] }' >"$list"
	info RETRIEVING "Retrieving %s packages" "$(wc -l <"$list")"
	awk '{ print $3 }' "$list" >"$list.uris"
	(cd "$list.d" && wget -q -i "$list.uris") || true
	awk -v t="$TARGET" -v d="$list.d" '{ print "mv -f \"" d "/" $6 "\" \"" t $4 "\" 2>/dev/null" }' "$list" | sh || true
	info VALIDATING "Validating %s packages" "$(wc -l <"$list")"
	(cd "$TARGET" && awk '{ print $5 "  ." $4 }' "$list" | "sha${SHA_SIZE}sum" -c 2>/dev/null) | sed -n 's/^\.\(.*\): OK$/\1/p' >"$list.ok" || true
	awk -v t="$TARGET" 'NR == FNR { ok[$0] = 1; next }
		($4 in ok) { print $1, $2, $3 >>(t "/debootstrap/deburis"); print $1, $4 >>(t "/debootstrap/debpaths"); print $1 }' \
		"$list.ok" "$list" >"$list.got"
	local rest
	rest=$(printf '%s\n' "$@" | awk 'NR == FNR { got[$0] = 1; next } !($0 in got)' "$list.got" -)
	rm -rf "$list" "$list.d" "$list.uris" "$list.ok" "$list.got"
	if [ -n "$rest" ]; then
		debootstrap_download_debs "$m" "$pkgdest" $rest
	else
		echo >&5 ""
	fi
}

# maildrill: resolve_deps in one pass over the Packages files (see base.sh).
# Called as debootstrap calls it: one or several arguments, each a list of
# names separated by white space (hence $* unquoted below).
resolve_deps () {
	local m1="${MIRRORS%% *}"
	local files="" s c
	for s in $SUITE $EXTRA_SUITES; do
		for c in ${COMPONENTS:-$(echo ${USE_COMPONENTS} | tr '|' ' ')}; do
			files="$files $TARGET/$($DLDEST pkg "$s" "$c" "$ARCH" "$m1" "dists/$s/$c/binary-$ARCH/Packages")"
		done
	done
	perl -e '
my %excl = map { $_ => 1 } split " ", shift @ARGV;
my @files;
push @files, shift @ARGV while @ARGV && $ARGV[0] ne "--";
shift @ARGV;
my (%deps, %real, $pkg);
for my $f (@files) {
	open(my $fh, "<", $f) or die "resolve_deps: $f: $!\n";
	while (<$fh>) {
		if (/^Package: (.*)$/) {
			$pkg = $1;
			$real{$pkg} = 1;
		} elsif (/^Depends: (.*)$/ or /^Pre-Depends: (.*)$/) {
			for my $d (split /\s*,\s*/, $1) {
				$d =~ s/\s*[|].*$//;
				$d =~ s/\s*[(].*[)]\s*//;
				$d =~ s/:.*//;
				push @{ $deps{$pkg} }, $d;
			}
		}
	}
	close $fh;
}
my %all = map { $_ => 1 } @ARGV;
my @queue = @ARGV;
while (@queue) {
	my @next;
	for my $p (@queue) {
		for my $d (@{ $deps{$p} || [] }) {
			next if $excl{$d} or !$real{$d} or $all{$d};
			$all{$d} = 1;
			push @next, $d;
		}
	}
	@queue = @next;
}
print "$_\n" for sort keys %all;
' "${EXCLUDE_DEPENDENCY:-}" $files -- $*
}
FUNCS
  debootstrap_env=(DEBOOTSTRAP_DIR="$fast") # first stage only: the second finds its copy in the tree
fi
log "debootstrap --variant=$VARIANT --include=$PACKAGES $SUITE from apt's mirror into $ROOT"
env ${debootstrap_env[@]+"${debootstrap_env[@]}"} RES_OPTIONS="timeout:1 attempts:5" debootstrap --foreign --variant="$VARIANT" --arch="$ARCH" \
  --include="$PACKAGES" ${cache[@]+"${cache[@]}"} "$SUITE" "$ROOT" "$MIRROR" >&2
log "first stage (download, unpack) done in $((SECONDS - start)) s"

# Second stage (dpkg installs and configures) in the tree, in namespaces of
# its own: a network of its own with only loopback (nothing is fetched any
# more; no package script can reach out, wait on DNS or take a port of this
# machine), mounts that vanish with it, and a neutral host name (the
# package scripts write it into Postfix's main.cf and the snakeoil
# certificate: the build machine's must not end up in the image). dpkg
# skips fsync: the tree is thrown away if the build fails.
in_root() {
  unshare --mount --uts --net sh -c 'ip link set lo up && hostname localhost && root=$1 && shift && exec chroot "$root" "$@"' \
    sh "$ROOT" "$@" >&2
}
#
# Postfix's postconf will not read main.cf until it is a second or two old,
# and postfix's package script edits it, then reads it, a dozen times: 6 s
# of sleeping. For the install, a dpkg hook puts a wrapper in postconf's
# place that backdates main.cf after each call (the real one is back after
# each dpkg run; debootstrap fakes start-stop-daemon the same way).
# Likewise ucf, which dovecot-core's script runs for 24 configuration files:
# each run starts debconf's frontend (0.26 s) to ask nothing, as every file
# is new. For the install, ucf is its own script with the debconf hook-up
# pointed at a missing file (0.10 s): it writes the same files, hashes,
# cache and registry.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/maildrill-build" <<'CFG'
force-unsafe-io
pre-invoke=if [ -f /usr/sbin/postconf ] && [ ! -e /usr/sbin/postconf.maildrill ]; then mv /usr/sbin/postconf /usr/sbin/postconf.maildrill && printf '#!/bin/sh\n/usr/sbin/postconf.maildrill "$@" || exit\ntouch -d @$(($(date +%%s) - 2)) /etc/postfix/main.cf 2>/dev/null || true\n' >/usr/sbin/postconf && chmod 755 /usr/sbin/postconf; fi
post-invoke=if [ -e /usr/sbin/postconf.maildrill ]; then mv /usr/sbin/postconf.maildrill /usr/sbin/postconf; fi
pre-invoke=if [ -f /usr/bin/ucf ] && [ ! -e /usr/bin/ucf.maildrill ]; then mv /usr/bin/ucf /usr/bin/ucf.maildrill && sed 's|/usr/share/debconf/confmodule|/nonexistent/confmodule|' /usr/bin/ucf.maildrill >/usr/bin/ucf && chmod 755 /usr/bin/ucf; fi
post-invoke=if [ -e /usr/bin/ucf.maildrill ]; then mv /usr/bin/ucf.maildrill /usr/bin/ucf; fi
CFG
: >"$ROOT/etc/resolv.conf"
echo localhost >"$ROOT/etc/hostname"
in_root /debootstrap/debootstrap --second-stage
rm -f "$ROOT/etc/dpkg/dpkg.cfg.d/maildrill-build"
if [ -e "$ROOT/usr/sbin/postconf.maildrill" ]; then mv "$ROOT/usr/sbin/postconf.maildrill" "$ROOT/usr/sbin/postconf"; fi
head -c 4 "$ROOT/usr/sbin/postconf" | grep -q ELF || { echo "base.sh: postconf was not put back" >&2; exit 1; }
if [ -e "$ROOT/usr/bin/ucf.maildrill" ]; then mv "$ROOT/usr/bin/ucf.maildrill" "$ROOT/usr/bin/ucf"; fi
(cd "$ROOT" && grep ' usr/bin/ucf$' var/lib/dpkg/info/ucf.md5sums | md5sum -c --quiet) || { echo "base.sh: ucf was not put back" >&2; exit 1; }
# Smaller, and no cached package lists from the build machine.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/* \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
log "second stage (install) done in $((SECONDS - start)) s"

import_base() {
  docker import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.maildrill.recipe=$hash org.maildrill.suite=$SUITE" \
    - "$TAG" >/dev/null
}
if [ -n "${MAILDRILL_BASE_IMPORT:-}" ]; then
  # build.sh goes on configuring the tree: import a copy of it as it is
  # now, beside that work (build.sh waits for the file MAILDRILL_BASE_IMPORT
  # to hold the import's exit status).
  log "docker import as $TAG, beside the configuration"
  snap="$MAILDRILL_BASE_IMPORT.tar"
  tar -C "$ROOT" --numeric-owner -cf "$snap" .
  # (Its stdout is not build.sh's command substitution, which would
  # wait for it.)
  ( status=0; import_base <"$snap" || status=$?; echo "$status" >"$MAILDRILL_BASE_IMPORT"; rm -f "$snap" ) >/dev/null &
  echo "$TAG"
  exit 0
fi
log "docker import as $TAG"
tar -C "$ROOT" --numeric-owner -c . | import_base
log "base image built in $((SECONDS - start)) s"
# Older recipes' images of this repository are of no further use.
docker images --format '{{.Repository}}:{{.Tag}}' "${TAG%%:*}" | grep -vxF "$TAG" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$TAG"
