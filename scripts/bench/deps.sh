#!/usr/bin/env bash
# Installs the Debian packages only the benchmarks need: nginx and the Nchan
# module (the peer target), plus redis-server/redis-tools if missing.
# Idempotent: installs only what is missing and runs apt-get update only then.
# Needs root (or passwordless sudo) when something is missing; prints what it
# did on stderr and exits 0 when everything is present.
#
# usage: scripts/bench/deps.sh [--check]   (--check: report only, exit 1 if missing)
set -uo pipefail

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

log() { echo "deps: $*" >&2; }

installed() { # installed PKG: true when dpkg has it fully installed
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
# nginx: any of the Debian flavours provides /usr/sbin/nginx; nginx-light is
# the small one (in bookworm it is a thin package over nginx).
if ! installed nginx && ! installed nginx-light && ! installed nginx-core && ! installed nginx-full \
  && ! installed nginx-extras; then
  missing+=(nginx-light)
fi
installed libnginx-mod-nchan || missing+=(libnginx-mod-nchan)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)

if [ ${#missing[@]} -eq 0 ]; then
  log "all present ($(dpkg-query -W -f='${Package} ${Version}, ' nginx libnginx-mod-nchan 2>/dev/null | sed 's/, $//'))"
  exit 0
fi
if [ "$CHECK" = 1 ]; then
  log "missing: ${missing[*]}"
  exit 1
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    log "missing ${missing[*]} and not root: install them as root"; exit 1
  fi
fi

# Installing nginx must not start a system nginx on port 80: when no
# policy-rc.d forbids service starts, put one in place for the install only.
POLICY=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod 755 "$POLICY" \
    && made_policy=1
fi
restore() { [ "$made_policy" = 1 ] && $SUDO rm -f "$POLICY"; }
trap restore EXIT

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { log "apt-get update failed"; exit 1; }
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { log "apt-get install ${missing[*]} failed"; exit 1; }
# Belt and braces: if a packaged nginx service got started anyway, leave it
# alone but say so (it listens on port 80, not on our ports).
if pgrep -x nginx >/dev/null 2>&1; then
  log "note: an nginx is running (started by the package?); the benchmark uses its own"
fi
log "installed ${missing[*]}"
