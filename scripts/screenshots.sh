#!/usr/bin/env bash
# Screenshots of the web UI's main pages on the demo data, for the README: starts `graph-service demo` on a free
# loopback port, photographs each page with Debian's headless Chromium (scripts/browser-deps.sh installs it) and
# stops the demo again. Output: docs/screenshots/*.png (override with $SCREENSHOTS_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${SCREENSHOTS_DIR:-docs/screenshots}
port=${SCREENSHOTS_PORT:-18099}
mkdir -p "$out"
scripts/browser-deps.sh
cargo build -q -p graph-service --bin graph-service
"${CARGO_TARGET_DIR:-./target}/debug/graph-service" demo --listen "127.0.0.1:$port" >/dev/null 2>&1 &
demo=$!
profile=$(mktemp -d)
trap 'kill "$demo" 2>/dev/null || true; rm -rf "$profile"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/healthz" >/dev/null

image=$(curl -fsS "$base/runs/idec/idec-image-builds-run-0e089" | grep -o '/images/sha256[^"]*' | head -n1)
shoot() { # name path [extra chromium flags]
  local name=$1 path=$2
  shift 2
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --user-data-dir="$profile" --hide-scrollbars --window-size=1366,900 "$@" \
    --screenshot="$out/$name.png" "$base$path" >/dev/null 2>&1
  echo "$out/$name.png"
}
shoot runs "/"
shoot run "/runs/rhtapuser-tenant/human-resources-on-pull-request-rlrj8"
shoot diff "/runs/idec/idec-image-builds-run-5ca46-r-9f9f7/diff"
shoot image "$image"
shoot systems "/systems"
shoot run-dark "/runs/rhtapuser-tenant/human-resources-on-pull-request-rlrj8" --force-dark-mode \
  --blink-settings=preferredColorScheme=0
