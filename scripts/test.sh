#!/usr/bin/env bash
# Runs every test: Swift (Swift Testing, against real PostgreSQL, nats-server, dlopen'd plugins
# and embedded Python, which the tests start themselves) and Python (pytest).
set -uo pipefail
cd "$(dirname "$0")/.."
export NVISY_VENV="$PWD/.venv"

cleanup() {
  # The tests stop what they start; this only catches what a crashed test process left behind.
  pkill -QUIT -u nvisy -f 'bin/postgres -D /tmp/nvisy-' 2>/dev/null || true
}
trap cleanup EXIT

status=0
echo "== swift build (tests)"
swift build --build-tests ${SWIFT_BUILD_FLAGS:-} || exit 1

echo "== swift test"
swift test --skip-build ${SWIFT_BUILD_FLAGS:-} 2>&1 | tee .build/swift-test.log | grep -vE '^(􀟈|◇) Test .* started\.$'
swift_status=${PIPESTATUS[0]}
[ "$swift_status" -eq 0 ] || status=$swift_status

if compgen -G "python/tests/test_*.py" > /dev/null || compgen -G "python/**/tests/test_*.py" > /dev/null; then
  echo "== pytest"
  .venv/bin/python -m pytest -q python
  py_status=$?
  # 5 = no tests collected: not a failure of the code under test.
  if [ "$py_status" -ne 0 ] && [ "$py_status" -ne 5 ]; then status=$py_status; fi
fi
exit $status
