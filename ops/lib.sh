# Shared by the ops/ scripts: a project virtualenv that installs itself once per pyproject change.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SENTISTREAM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

pick_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python >= 3.11 is needed (Debian: apt-get install python3)" >&2
  return 1
}

# ensure_venv EXTRAS: create .venv and `pip install -e .[EXTRAS]` unless that exact install is
# already there (the marker names the extras and a hash of pyproject.toml).
ensure_venv() {
  local extras="$1"
  local stamp
  stamp="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras//,/+}"
  if [ ! -x "$PY" ]; then
    echo "==> creating virtualenv $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.installed-$stamp" ]; then
    echo "==> installing sentistream[$extras] into $VENV (first run downloads packages)"
    "$PY" -m pip install -q --upgrade pip setuptools wheel
    "$PY" -m pip install -q -e "$ROOT[$extras]"
    # Stamps of other extras stay valid while pyproject.toml is unchanged (installing the bench
    # extra must not make the next `make test` reinstall); a changed pyproject voids them all.
    find "$VENV" -maxdepth 1 -name '.installed-*' ! -name ".installed-${stamp%%-*}-*" -delete
    touch "$VENV/.installed-$stamp"
  fi
}

# default_services NAME KAFKA CONTROLLER REDIS WORKER_WEB API: the state dir (.state/NAME) and
# ports of one set of services (the tests', the benchmarks'), so that they never touch a running
# demo; SENTISTREAM_* variables already set win.
default_services() {
  export SENTISTREAM_STATE_DIR="${SENTISTREAM_STATE_DIR:-$ROOT/.state/$1}"
  export SENTISTREAM_KAFKA_PORT="${SENTISTREAM_KAFKA_PORT:-$2}"
  export SENTISTREAM_KAFKA_CONTROLLER_PORT="${SENTISTREAM_KAFKA_CONTROLLER_PORT:-$3}"
  export SENTISTREAM_REDIS_PORT="${SENTISTREAM_REDIS_PORT:-$4}"
  export SENTISTREAM_WORKER_WEB_PORT="${SENTISTREAM_WORKER_WEB_PORT:-$5}"
  export SENTISTREAM_API_PORT="${SENTISTREAM_API_PORT:-$6}"
}

# ensure_chromium: the dashboard's browser test drives Debian's Chromium (no browser downloads
# are possible here). Installs it when missing and we are root on Debian.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
    echo "==> installing Debian's chromium for the browser test"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser test needs Chromium: install the 'chromium' package" >&2
    return 1
  fi
}
