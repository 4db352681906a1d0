#!/usr/bin/env bash
# The test command: installs what is missing, builds a normal and an
# ASan+UBSan build (warnings are errors), and runs the unit tests (check),
# the integration tests (pytest against real redis-server and the real
# binary) and the browser tests (headless chromium) on both, plus the
# browser client's unit tests (node --test). Exits non-zero when anything
# fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/deps.sh || { echo "test.sh: installing dependencies failed" >&2; exit 1; }

JOBS=$(nproc 2>/dev/null || echo 2)
build() {
  local dir=$1; shift
  echo "== build $dir"
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$JOBS" -- --no-print-directory
}
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo || { echo "test.sh: build failed" >&2; exit 1; }
build build-asan -DCMAKE_BUILD_TYPE=Debug -DENABLE_ASAN=ON -DENABLE_UBSAN=ON \
  || { echo "test.sh: sanitizer build failed" >&2; exit 1; }

passed=0
failed=0
count() { # adds one runner's figures to the totals
  passed=$((passed + $1)); failed=$((failed + $2))
}

# Runs one pytest suite against $1's binary and adds its figures.
pytest_suite() {
  local dir=$1 path=$2 what=$3 out_file rc summary p f
  out_file=$(mktemp)
  SSE_BRIDGE_BIN="$ROOT/$dir/bridge/sse-bridge" /usr/bin/python3 -m pytest "$path" \
    -q -p no:cacheprovider 2>&1 | tee "$out_file"
  rc=${PIPESTATUS[0]}
  summary=$(grep -E '[0-9]+ (passed|failed)' "$out_file" | tail -1)
  p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
  f=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
  count "${p:-0}" "${f:-0}"
  rm -f "$out_file"
  [ "$rc" -eq 0 ] || { [ "${f:-0}" -gt 0 ] || count 0 1; echo "FAILED: $what tests on $dir (exit $rc)"; }
}

# The browser client's unit tests (no browser, no build): node's test runner.
echo "== browser client unit tests (node --test)"
out=$(timeout 120 node --test --test-reporter=tap tests/browser/unit/*.test.js 2>&1); rc=$?
echo "$out" | grep -E '^(not ok|# (tests|pass|fail))' || true
echo "$out" | grep -E '^not ok' -A 12 | head -n 80 || true
p=$(echo "$out" | sed -nE 's/^# pass ([0-9]+)$/\1/p' | tail -1)
f=$(echo "$out" | sed -nE 's/^# fail ([0-9]+)$/\1/p' | tail -1)
count "${p:-0}" "${f:-0}"
[ $rc -eq 0 ] || { [ "${f:-0}" -gt 0 ] || count 0 1; echo "FAILED: node --test tests/browser/unit (exit $rc)"; }

for dir in build build-asan; do
  echo "== unit tests ($dir)"
  for t in "$dir"/tests/unit/test_* "$dir"/scripts/bench/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    echo "$out" | tail -n 20
    line=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
    if [ -n "$line" ]; then
      n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
      set -- $n
      count $(($1 - $2 - $3)) $(($2 + $3))
    fi
    [ $rc -eq 0 ] || { [ -n "$line" ] || count 0 1; echo "FAILED: $t (exit $rc)"; }
  done

  echo "== load generator self-test ($dir): a dropped event must be reported missing"
  if bash scripts/bench/selftest.sh "$dir/bridge/sse-bridge" > "$dir/selftest.log" 2>&1; then
    tail -n 1 "$dir/selftest.log"; count 1 0
  else
    cat "$dir/selftest.log"; count 0 1; echo "FAILED: scripts/bench/selftest.sh on $dir"
  fi

  echo "== integration tests ($dir)"
  pytest_suite "$dir" tests/integration integration

  echo "== browser tests ($dir): headless chromium, EnhancedSSEClient and EventSource"
  pytest_suite "$dir" tests/browser browser
done

# libFuzzer targets (clang, ASan+UBSan): 60 s each, crash inputs kept.
echo "== fuzzing (60 s per target)"
if scripts/fuzz.sh 60; then
  count 1 0
else
  count 0 1
  echo "FAILED: scripts/fuzz.sh (crash inputs in build-fuzz/fuzz-artifacts/)"
fi

echo
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
