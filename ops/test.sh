#!/usr/bin/env bash
# The test command: sets everything up (virtualenv, packages, Kafka jars, redis-server), starts a
# private Kafka + Redis on test ports, runs lint, types and the whole test suite, then stops them.
# Usage: ops/test.sh [pytest args...]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv "dev,train"
ensure_chromium

# Test services live on their own ports and state dir, so a running demo is never touched.
default_services test 19092 19093 16379 16066 18000
# The broker also listens with SASL, without and with TLS (SENTISTREAM_KAFKA_SASL_PORT and
# SENTISTREAM_KAFKA_TLS_PORT, default Kafka port + 2 and + 3), for this user, so that
# tests/infra/test_sasl.py can log in; PLAINTEXT stays the default of the other tests.
export SENTISTREAM_KAFKA_SASL_USERNAME="${SENTISTREAM_KAFKA_SASL_USERNAME:-sentistream-test}"
export SENTISTREAM_KAFKA_SASL_PASSWORD="${SENTISTREAM_KAFKA_SASL_PASSWORD:-test-only-password}"
# Integration tests fail (never skip) when the services are missing.
export SENTISTREAM_TEST_REQUIRE_SERVICES=1

echo "==> lint and types"
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"  # strict, over the whole tree (pyproject.toml lists it)

echo "==> starting test services in $SENTISTREAM_STATE_DIR"
# The trap comes first: if Kafka fails to start, the Redis already started is stopped too.
trap '"$VENV/bin/sentistream" infra down || true' EXIT
"$VENV/bin/sentistream" infra up --sasl

echo "==> tests"
"$VENV/bin/pytest" -rs "$@"
