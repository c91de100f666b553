# Sourced by scripts/demo and scripts/test: make sure .venv exists, was made with Python 3.11+,
# and holds what it should. Installs only when it is new or pyproject.toml / requirements.lock
# changed since the last install (a restart of the demo needs no package index and no 9 s).
# $1: "demo" (the package and its dependencies) or "test" (the pinned lock, dev tools too).
_lienlac_venv() {
  local purpose="$1"
  PYTHON="${PYTHON:-python3}"
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "LienLac needs Python 3.11 or newer: '$PYTHON' was not found. Install python3.11 (e.g. sudo apt install python3.11 python3.11-venv) and run again, or set PYTHON=/path/to/python3.11." >&2
    exit 2
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "LienLac needs Python 3.11 or newer; $("$PYTHON" -V 2>&1) was found. Install python3.11 and run again with PYTHON=python3.11 (e.g. PYTHON=python3.11 ./scripts/$purpose)." >&2
    exit 2
  fi
  if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Rebuilding .venv: it was made with $(.venv/bin/python -V 2>&1)." >&2
    rm -rf .venv
  fi
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  local stamp=".venv/.lienlac-$purpose"
  local want
  want="$(cat pyproject.toml requirements.lock | "$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if [ "$purpose" = "test" ]; then
    # The pinned versions first (requirements.lock), then this package without resolving again.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
  fi
  echo "$want" > "$stamp"
}
_lienlac_venv "$1"
