#!/usr/bin/env bash
# Installs every Debian package sse-bridge needs to build, test and run.
# Idempotent: packages already installed are skipped, apt runs only when
# something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libuv1-dev libhiredis-dev zlib1g-dev libcjson-dev check node-llhttp libssl-dev
  redis-server redis-tools redis-sentinel
  python3 python3-redis python3-pytest python3-jwt
  curl ca-certificates procps
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
