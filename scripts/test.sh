#!/usr/bin/env bash
# Runs every test: Swift (Swift Testing, against real PostgreSQL, nats-server, dlopen'd plugins
# and embedded Python, which the tests start themselves) and Python (pytest).
set -uo pipefail
source "$(dirname "$0")/test-env.sh"

status=0
echo "== swift build (tests)"
swift build --build-tests ${SWIFT_BUILD_FLAGS:-} || exit 1

echo "== swift test"
# The parser fuzz suites run after the rest, alone: they keep both cores busy, and the suites
# that check fault handling against wall-clock bounds should not share the machine with them.
swift test --skip-build ${SWIFT_BUILD_FLAGS:-} --skip FuzzTests 2>&1 | tee .build/swift-test.log | grep -vE '^(􀟈|◇) Test .* started\.$'
swift_status=${PIPESTATUS[0]}
[ "$swift_status" -eq 0 ] || status=$swift_status
echo "== swift test (parser fuzzing)"
swift test --skip-build ${SWIFT_BUILD_FLAGS:-} --filter FuzzTests 2>&1 | tee .build/swift-fuzz.log | grep -vE '^(􀟈|◇) Test .* started\.$'
fuzz_status=${PIPESTATUS[0]}
[ "$fuzz_status" -eq 0 ] || status=$fuzz_status

if compgen -G "python/tests/test_*.py" > /dev/null || compgen -G "python/**/tests/test_*.py" > /dev/null; then
  echo "== pytest"
  .venv/bin/python -m pytest -q python
  py_status=$?
  # 5 = no tests collected: not a failure of the code under test.
  if [ "$py_status" -ne 0 ] && [ "$py_status" -ne 5 ]; then status=$py_status; fi
fi
exit $status
