#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, starts Kafka + Redis and runs the demo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv "dev"
"$VENV/bin/sentistream" infra up
"$VENV/bin/sentistream" smoke
# A worker, the generator and the dashboard, with a live per-brand table; Ctrl-C stops them.
exec "$VENV/bin/sentistream" demo "$@"
