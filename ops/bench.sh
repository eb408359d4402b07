#!/usr/bin/env bash
# `make bench`: installs the `bench` extra (matplotlib, VADER, psutil) and runs the end-to-end
# benchmark, which starts and stops its own Kafka + Redis. Arguments go to `python -m ops.bench.e2e`
# (see its --help), e.g. `ops/bench.sh --backlog 20000 --repeats 1 --out /tmp/bench`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv "dev,bench"
exec "$PY" -m ops.bench.e2e "$@"
