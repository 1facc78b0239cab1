#!/usr/bin/env bash
# The project's test command (the README's second command). Runs every test of the workspace, including the
# conformance suite against every store engine, and a smoke run of the benchmarks so they cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
