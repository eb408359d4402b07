#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, starts Kafka + Redis and runs the demo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv "dev"
"$VENV/bin/sentistream" infra up
if "$VENV/bin/sentistream" demo --help >/dev/null 2>&1; then
  exec "$VENV/bin/sentistream" demo "$@"
fi
# Until the pipeline's demo is in place, show that the base works end to end.
exec "$VENV/bin/sentistream" smoke
