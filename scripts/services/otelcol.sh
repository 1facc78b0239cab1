# shellcheck shell=bash
# The OpenTelemetry Collector: a minimal build (OTLP receiver, file exporter) from the Go module in
# scripts/otelcol/, configured from scripts/services/otelcol.yaml.in: OTLP over HTTP on loopback in (plain, and
# over TLS with a CA made per `up` on $OTELCOL_TLS_ENDPOINT), spans out as
# OTLP-JSON lines in $OTELCOL_TRACES_FILE, which the tracing tests read back. Sourced by scripts/services.sh, whose
# settings and helpers (scripts/services/common.sh) it uses.

OTELCOL_PORT=${OTELCOL_PORT:-14318}
OTELCOL_TLS_PORT=${OTELCOL_TLS_PORT:-14319}
OTELCOL_MODULE_DIR="$SCRIPT_DIR/otelcol"
OTELCOL_RUN="$RUN_DIR/otelcol"
OTELCOL_PID_FILE="$OTELCOL_RUN/otelcol.pid"
OTELCOL_TRACES_FILE="$OTELCOL_RUN/traces.jsonl"
OTELCOL_ENDPOINT="http://127.0.0.1:$OTELCOL_PORT"
OTELCOL_TLS_ENDPOINT="https://127.0.0.1:$OTELCOL_TLS_PORT"

otelcol_version() { # the collector release that scripts/otelcol/go.mod requires (its otlpreceiver), without the v
  sed -n 's|^[[:space:]]*go\.opentelemetry\.io/collector/receiver/otlpreceiver v\([0-9][0-9.]*\).*|\1|p' \
    "$OTELCOL_MODULE_DIR/go.mod" | head -n 1
}

OTELCOL_VERSION=$(otelcol_version)
OTELCOL_HOME="$CACHE_DIR/otelcol-${OTELCOL_VERSION:-unknown}"
OTELCOL_BIN="$OTELCOL_HOME/bin/otelcol"

ensure_otelcol_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  install_missing "${missing[@]}"
  [[ -n "$OTELCOL_VERSION" ]] ||
    die "no 'go.opentelemetry.io/collector/receiver/otlpreceiver vX.Y.Z' requirement found in $OTELCOL_MODULE_DIR/go.mod"
}

otelcol_prepare() {
  ensure_otelcol_tools
  prepare_jobs otelcol_build
}

# go build of scripts/otelcol (main.go and the versions pinned in go.mod and go.sum) as for Dex: modules in
# $CACHE_DIR/go/mod, a build cache of its own that is removed after a successful build.
otelcol_build() {
  [[ -f "$OTELCOL_HOME/.complete" && -x "$OTELCOL_BIN" ]] && return 0
  local go
  go=$(go_command) || die "building the OpenTelemetry Collector needs Go 1.26 or newer (set GO=/path/to/go)"
  mkdir -p "$CACHE_DIR"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-otelcol.lock"
      flock 9
    fi
    [[ -f "$OTELCOL_HOME/.complete" ]] && exit 0
    local tmp="$OTELCOL_HOME.partial.$$" started rc=0
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp/src" "$tmp/bin"
    cp "$OTELCOL_MODULE_DIR/go.mod" "$OTELCOL_MODULE_DIR/go.sum" "$OTELCOL_MODULE_DIR/main.go" "$tmp/src/"
    log "building the OpenTelemetry Collector v$OTELCOL_VERSION (OTLP receiver, file exporter) with $("$go" version | cut -d' ' -f3) (first time only; a few minutes) ..."
    (
      cd "$tmp/src" &&
        GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build-cache-otelcol" CGO_ENABLED=0 \
          GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" \
          "$go" build -trimpath -ldflags "-s -w -X main.version=$OTELCOL_VERSION" -o "$tmp/bin/otelcol" .
    ) >"$tmp/build.log" 2>&1 || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building the OpenTelemetry Collector with go failed (see above)"
    fi
    if ! "$tmp/bin/otelcol" --version >"$tmp/versions.txt" 2>&1 || ! grep -q "$OTELCOL_VERSION" "$tmp/versions.txt"; then
      cat "$tmp/versions.txt" >&2
      rm -rf "$tmp"
      die "the built collector does not run or does not report $OTELCOL_VERSION (see above)"
    fi
    rm -rf "$tmp/src" "$CACHE_DIR/go/build-cache-otelcol"
    rm -rf "$OTELCOL_HOME"
    mv "$tmp" "$OTELCOL_HOME"
    printf 'otelcol %s built %s in %s s: %s\n' "$OTELCOL_VERSION" "$(date -u +%FT%TZ)" "$(($(now) - started))" \
      "$(tr '\n' ' ' <"$OTELCOL_HOME/versions.txt")" >"$OTELCOL_HOME/.complete"
    log "built the OpenTelemetry Collector in $(($(now) - started)) s into $OTELCOL_HOME/bin"
  )
}

# Both OTLP/HTTP receivers take an empty export request (JSON) with 200; the TLS one with the CA's certificate.
otelcol_answers() {
  local endpoint
  for endpoint in "$OTELCOL_ENDPOINT" "$OTELCOL_TLS_ENDPOINT"; do
    [[ $(curl -sS --max-time 5 --cacert "$OTELCOL_RUN/tls/ca.crt" -o /dev/null -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' -d '{}' "$endpoint/v1/traces" 2>/dev/null) == 200 ]] || return 1
  done
}

otelcol_launch() {
  launch_native otelcol "$OTELCOL_PID_FILE" "$OTELCOL_RUN/logs/otelcol.log" "$OTELCOL_BIN" \
    --config "file:$OTELCOL_RUN/otelcol.yaml"
}

otelcol_start() {
  stop_service otelcol "$OTELCOL_PID_FILE"
  claim_port "$OTELCOL_PORT" otelcol
  claim_port "$OTELCOL_TLS_PORT" otelcol
  rm -rf "$OTELCOL_RUN"
  mkdir -p "$OTELCOL_RUN/logs"
  make_tls "$OTELCOL_RUN/tls" "$OTELCOL_RUN/logs/tls.log"
  render "$SUPPORT_DIR/otelcol.yaml.in" "$OTELCOL_RUN/otelcol.yaml" \
    "OTELCOL_PORT=$OTELCOL_PORT" "OTELCOL_TLS_PORT=$OTELCOL_TLS_PORT" "OTELCOL_TLS_DIR=$OTELCOL_RUN/tls" \
    "OTELCOL_TRACES_FILE=$OTELCOL_TRACES_FILE"
  log "starting the OpenTelemetry Collector v$OTELCOL_VERSION: OTLP/HTTP on $OTELCOL_ENDPOINT and $OTELCOL_TLS_ENDPOINT, spans into $OTELCOL_TRACES_FILE"
  otelcol_launch
}

otelcol_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$OTELCOL_PID_FILE" otelcol) ||
      fail_with_log otelcol "the collector exited during start-up" "$OTELCOL_RUN/logs/otelcol.log"
    if otelcol_answers; then
      log "otelcol answers on $OTELCOL_ENDPOINT after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service otelcol "$OTELCOL_PID_FILE" --hard
      fail_with_log otelcol "the collector did not answer on $OTELCOL_ENDPOINT within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$OTELCOL_RUN/logs/otelcol.log"
    fi
    sleep 0.2
  done
}

# The same config; the spans file is kept (the file exporter appends).
otelcol_restart() { # [--hard]
  [[ -f "$OTELCOL_RUN/otelcol.yaml" ]] || die "no collector config in $OTELCOL_RUN to restart; run: $0 up otelcol"
  stop_service otelcol "$OTELCOL_PID_FILE" "${1:-}"
  claim_port "$OTELCOL_PORT" otelcol
  claim_port "$OTELCOL_TLS_PORT" otelcol
  otelcol_launch
  otelcol_wait
}

otelcol_stop() {
  stop_service otelcol "$OTELCOL_PID_FILE"
}

otelcol_status() { # one line; fails unless the collector answers
  local pid=""
  if pid=$(live_pid "$OTELCOL_PID_FILE" otelcol) && otelcol_answers; then
    echo "otelcol: up, OTLP/HTTP on $OTELCOL_ENDPOINT and $OTELCOL_TLS_ENDPOINT, spans in $OTELCOL_TRACES_FILE (pid $pid, version $OTELCOL_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "otelcol: running (pid $pid) but not answering on $OTELCOL_ENDPOINT"
    return 1
  else
    echo "otelcol: down"
    return 1
  fi
}

otelcol_env() {
  printf 'export OTELCOL_ENDPOINT=%q\n' "$OTELCOL_ENDPOINT"
  printf 'export OTELCOL_TLS_ENDPOINT=%q\n' "$OTELCOL_TLS_ENDPOINT"
  printf 'export OTELCOL_CA_FILE=%q\n' "$OTELCOL_RUN/tls/ca.crt"
  printf 'export OTELCOL_TRACES_FILE=%q\n' "$OTELCOL_TRACES_FILE"
}
