#!/usr/bin/env bash
# The project's test command (the README's second command). Starts real Kafka, Neo4j, a kube-apiserver (on etcd),
# Dex, an OpenID Connect provider, Mailpit, an SMTP server, and RabbitMQ (scripts/services.sh: Kafka and Neo4j
# fetched from Maven Central, the others built from the Go module proxy, on first use, cached outside the clone;
# RabbitMQ installed from Debian), runs every test of the workspace against them — the conformance suite runs against
# the embedded store and Neo4j — and stops them again.
# The web UI's browser tests drive Debian's headless Chromium through chromedriver (scripts/browser-deps.sh installs
# both). Tests that need an engine or the browser fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

keep="${KEEP_SERVICES:-0}"   # KEEP_SERVICES=1 leaves the engines running afterwards
cleanup() { [ "$keep" = 1 ] || scripts/services.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

scripts/build-deps.sh
scripts/browser-deps.sh
scripts/test-tools.sh
scripts/services.sh up
eval "$(scripts/services.sh env)"
cargo test --workspace --locked "$@"
