#!/usr/bin/env bash
# Installs every Debian package sse-bridge needs to build, test and run.
# Idempotent: packages already installed are skipped, apt runs only when
# something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libhiredis-dev zlib1g-dev libcjson-dev check node-llhttp libssl-dev liburing-dev
  redis-server redis-tools redis-sentinel
  python3 python3-redis python3-pytest python3-jwt
  curl ca-certificates procps
  chromium
  prometheus
  haproxy python3-flask docker-compose
)
# prometheus: only its promtool, which checks /metrics in the tests (the
# package's service is never started here: no systemd, and policy-rc.d or
# invoke-rc.d refuse it in containers; a started one would listen on :9090,
# which no test uses).
# haproxy, python3-flask, docker-compose: the local stack of scripts/run.sh
# (haproxy as the load balancer, the Flask demo) and the offline checks of
# docker-compose.yml (`docker-compose config`, no Docker engine needed). The
# haproxy package's own service is not started in a container either, and
# run.sh and the tests run haproxy with their own config on their own ports.
# Node.js for the browser tests (playwright-core) and the client's unit
# tests: Debian's nodejs and npm, unless a node and npm are already there
# (a NodeSource nodejs bundles npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
else
  echo "deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of the browser tests (skipped when already current).
"$(dirname "$0")/browser_deps.sh"
