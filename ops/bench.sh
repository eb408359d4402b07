#!/usr/bin/env bash
# `make bench`: installs the `bench` extra (matplotlib, VADER, psutil, py-spy) and runs every
# benchmark behind the README's results table, each writing its results file (date, CPU model,
# command) under ops/bench/results/:
#   e2e      python -m ops.bench.e2e: drain, latency at offered rates, naive ratio (results.*)
#   drain    python -m ops.bench.drain: drain / bare scorer side by side, posts per worker
#            CPU-second, 1 vs 2 workers on 4 partitions, with a py-spy profile (drain.*)
#   replay   ops/bench/replay_bench.py (replay-bench.json)
#   worker   python -m ops.bench.worker_throughput, generated posts (worker-throughput.json)
#   infra    ops/bench/infra_startup.py, broker start-up and RSS (infra-startup.json)
#   redis    python -m ops.bench.redis_ops: Redis commands per batch, per brand (redis-ops.json)
#   budget   python -m ops.bench.cpu_budget: every process's CPU per post during a drain, the
#            worker's by part, and the ceilings they set (cpu-budget.*; BUDGET_ARGS; not run
#            unless named in BENCH_STEPS: ~10 minutes)
# BENCH_STEPS picks some ("drain e2e"); arguments go to `python -m ops.bench.e2e` (see its
# --help), e.g. `ops/bench.sh --backlog 20000 --repeats 1 --out /tmp/bench`; DRAIN_ARGS and
# REPLAY_ARGS, WORKER_ARGS to the drain, replay and worker benchmarks (e.g. DRAIN_ARGS="--posts
# 60000 --repeats 2"). A quick smoke run of every step (minutes, figures not meaningful):
#   BENCH_ARGS="--backlog 3000 --loads 500 --phase-seconds 3 --max-posts 2000 --naive-posts 500
#   --repeats 1 --out /tmp/bench" DRAIN_ARGS="--posts 4000 --repeats 1 --rate 500 --phase-seconds 3
#   --scorer-seconds 1 --out /tmp/bench" REPLAY_ARGS="--rows 20000 --repeat 1"
#   WORKER_ARGS="--posts 5000" make bench
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv "dev,bench"
# The benchmarks' own services and ports (ops/bench/harness.py BENCH_ENV); SENTISTREAM_* win.
default_services bench 29092 29093 26379 26066 28000
STEPS="${BENCH_STEPS:-e2e drain replay worker infra redis}"
step() { [[ " $STEPS " == *" $1 "* ]]; }

step e2e && "$PY" -m ops.bench.e2e "$@"
# shellcheck disable=SC2086  # word splitting of the *_ARGS is wanted
step drain && "$PY" -m ops.bench.drain --workers 1,2 --profile ${DRAIN_ARGS:-}
if step replay || step worker; then
  trap '"$VENV/bin/sentistream" infra down || true' EXIT
  "$VENV/bin/sentistream" infra up
  step replay && "$PY" -m ops.bench.record replay-bench -- "$PY" ops/bench/replay_bench.py --json ${REPLAY_ARGS:-}
  step worker && "$PY" -m ops.bench.record worker-throughput -- \
    "$PY" -m ops.bench.worker_throughput ${WORKER_ARGS:---posts 100000} --json
  "$VENV/bin/sentistream" infra down
  trap - EXIT
fi
step redis && "$PY" -m ops.bench.redis_ops
# shellcheck disable=SC2086
step budget && "$PY" -m ops.bench.cpu_budget ${BUDGET_ARGS:-}
step infra && "$PY" -m ops.bench.record infra-startup -- "$PY" ops/bench/infra_startup.py --json
exit 0
