# Sourced by scripts/test.sh and scripts/check-all.sh: the repository as working directory, the
# project venv for the tests, and a last-resort cleanup of PostgreSQL servers a crashed test
# process left behind (the tests stop what they start).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NVISY_VENV="$PWD/.venv"

cleanup() {
  pkill -QUIT -u nvisy -f 'bin/postgres -D /tmp/nvisy-' 2>/dev/null || true
}
trap cleanup EXIT
