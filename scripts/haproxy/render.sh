#!/usr/bin/env bash
# Fills scripts/haproxy/haproxy.cfg.in and prints the config on stdout.
#
#   render.sh BIND DEMO_ADDR BRIDGE_ADDR [BRIDGE_ADDR ...]
#   e.g. render.sh 127.0.0.1:8080 127.0.0.1:5000 127.0.0.1:8081 127.0.0.1:8082
#
# Bridge servers are named bridge1, bridge2, ... in the order given.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
bind=$1 demo=$2
shift 2
hostport='^[][A-Za-z0-9_.:-]+:[0-9]+$'
valid() { [[ "$1" =~ $hostport ]]; }
for a in "$bind" "$demo" "$@"; do
  valid "$a" || { echo "render.sh: '$a' is not HOST:PORT" >&2; exit 2; }
done
servers=""
i=0
for a in "$@"; do
  i=$((i + 1))
  servers+="    server bridge$i $a check"$'\n'
done
tmpl="$(dirname "$0")/haproxy.cfg.in"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    @BRIDGE_SERVERS@) printf '%s' "$servers" ;;
    @DEMO_SERVER@) printf '    server demo %s check\n' "$demo" ;;
    *) printf '%s\n' "${line//@BIND@/$bind}" ;;
  esac
done < "$tmpl"
