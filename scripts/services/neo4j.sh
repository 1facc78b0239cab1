# shellcheck shell=bash
# Neo4j Community, from Maven Central through `mvn` (scripts/services/neo4j-pom.xml) into
# $CACHE_DIR/neo4j-<version>/lib, configured from scripts/services/neo4j.conf.in: Bolt (with TLS, a throwaway CA)
# and HTTP, auth on. Sourced by scripts/services.sh, whose settings and helpers (scripts/services/common.sh) it uses.

NEO4J_VERSION=${NEO4J_VERSION:-5.26.30}
NEO4J_BOLT_PORT=${NEO4J_BOLT_PORT:-17687}
NEO4J_HTTP_PORT=${NEO4J_HTTP_PORT:-17474}
NEO4J_USER=neo4j
NEO4J_PASSWORD=${NEO4J_PASSWORD:-tekton-graph-test}
NEO4J_HEAP_OPTS=${NEO4J_HEAP_OPTS:--Xms256m -Xmx1g}
NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-256m}
NEO4J_DIST="$CACHE_DIR/neo4j-$NEO4J_VERSION"
NEO4J_RUN="$RUN_DIR/neo4j"
NEO4J_PID_FILE="$NEO4J_RUN/neo4j.pid"

# A JDK and Maven (common.sh); the fetch runs in fetch_all, with Kafka's.
neo4j_prepare() {
  ensure_tools
  prepare_jobs fetch_all
}

neo4j_fetch() {
  fetch_engine neo4j "$NEO4J_VERSION" neo4j-pom.xml neo4j.version
}

NEO4J_JVM_FLAGS=(
  -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+UnlockExperimentalVMOptions -XX:+TrustFinalNonStaticFields
  -XX:+DisableExplicitGC -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true
  -Djdk.tls.ephemeralDHKeySize=2048 -Djdk.tls.rejectClientInitiatedRenegotiation=true
  -XX:FlightRecorderOptions=stackdepth=256 -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
  -Dlog4j2.disable.jmx=true -Dfile.encoding=UTF-8
)

neo4j_cypher() { # statement -> prints the JSON answer of the HTTP transaction API
  local body
  body=$(printf '{"statements":[{"statement":"%s"}]}' "$1")
  curl -sS --max-time 10 -u "$NEO4J_USER:$NEO4J_PASSWORD" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' -d "$body" "http://127.0.0.1:$NEO4J_HTTP_PORT/db/neo4j/tx/commit"
}

# A real Bolt handshake: propose 5.4 (range 4) and 4.4; the server must pick a version (non-zero reply).
bolt_handshake() {
  local reply
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x60\x60\xb0\x17\x00\x04\x04\x05\x00\x00\x04\x04\x00\x00\x00\x00\x00\x00\x00\x00" >&3
    head -c 4 <&3 | od -An -tx1' _ "$NEO4J_BOLT_PORT" 2>/dev/null) || return 1
  reply=${reply//[[:space:]]/}
  [[ ${#reply} -eq 8 && "$reply" != 00000000 ]]
}

neo4j_answers() {
  bolt_handshake || return 1
  local answer
  answer=$(neo4j_cypher 'RETURN 1 AS ok' 2>/dev/null) || return 1
  [[ "$answer" == *'"errors":[]'* && "$answer" == *'"row":[1]'* ]]
}

neo4j_launch() {
  mkdir -p "$NEO4J_RUN/logs"
  # shellcheck disable=SC2086 # heap options are a word list
  launch neo4j "$NEO4J_PID_FILE" "$NEO4J_RUN/logs/console.log" \
    $NEO4J_HEAP_OPTS "${NEO4J_JVM_FLAGS[@]}" -cp "$NEO4J_DIST/lib/*" \
    org.neo4j.server.CommunityEntryPoint --home-dir="$NEO4J_RUN" --config-dir="$NEO4J_RUN/conf"
}

neo4j_start() {
  stop_service neo4j "$NEO4J_PID_FILE"
  claim_port "$NEO4J_BOLT_PORT" "neo4j bolt"
  claim_port "$NEO4J_HTTP_PORT" "neo4j http"
  rm -rf "$NEO4J_RUN"
  mkdir -p "$NEO4J_RUN/conf" "$NEO4J_RUN/logs"
  render "$SUPPORT_DIR/neo4j.conf.in" "$NEO4J_RUN/conf/neo4j.conf" \
    "NEO4J_BOLT_PORT=$NEO4J_BOLT_PORT" "NEO4J_HTTP_PORT=$NEO4J_HTTP_PORT" "NEO4J_PAGECACHE=$NEO4J_PAGECACHE" \
    "NEO4J_RUN=$NEO4J_RUN"
  neo4j_certificates
  # neo4j-admin dbms set-initial-password: writes data/dbms/auth.ini, read at the first start.
  NEO4J_HOME="$NEO4J_RUN" NEO4J_CONF="$NEO4J_RUN/conf" \
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -cp "$NEO4J_DIST/lib/*" org.neo4j.cli.AdminTool \
    dbms set-initial-password "$NEO4J_PASSWORD" >"$NEO4J_RUN/logs/admin.log" 2>&1 ||
    fail_with_log neo4j "setting the initial Neo4j password failed (at least 8 characters are needed)" \
      "$NEO4J_RUN/logs/admin.log"
  log "starting neo4j $NEO4J_VERSION: bolt 127.0.0.1:$NEO4J_BOLT_PORT, http 127.0.0.1:$NEO4J_HTTP_PORT, auth on"
  neo4j_launch
}

# Neo4j's Bolt TLS policy reads public.crt and private.key from its base directory.
neo4j_certificates() {
  local bolt="$NEO4J_RUN/certificates/bolt"
  make_tls "$NEO4J_RUN/tls" "$NEO4J_RUN/logs/tls.log"
  mkdir -p "$bolt/trusted" "$bolt/revoked"
  cp "$NEO4J_RUN/tls/server.crt" "$bolt/public.crt"
  cp "$NEO4J_RUN/tls/server.key" "$bolt/private.key"
}

neo4j_restart_keep_data() { # [--hard]
  [[ -f "$NEO4J_RUN/conf/neo4j.conf" && -d "$NEO4J_RUN/data" ]] ||
    die "no Neo4j state in $NEO4J_RUN to restart; run: $0 up"
  stop_service neo4j "$NEO4J_PID_FILE" "${1:-}"
  claim_port "$NEO4J_BOLT_PORT" "neo4j bolt"
  claim_port "$NEO4J_HTTP_PORT" "neo4j http"
  log "restarting neo4j (data kept)"
  neo4j_launch
}

neo4j_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$NEO4J_PID_FILE" neo4j) ||
      fail_with_log neo4j "Neo4j exited during start-up" "$NEO4J_RUN/logs/console.log" "$NEO4J_RUN/logs/neo4j.log"
    if neo4j_answers; then
      log "neo4j answers on bolt 127.0.0.1:$NEO4J_BOLT_PORT and http :$NEO4J_HTTP_PORT after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    (($(now) < deadline)) || stop_service neo4j "$NEO4J_PID_FILE" --hard
    (($(now) < deadline)) ||
      fail_with_log neo4j "Neo4j did not answer (bolt :$NEO4J_BOLT_PORT, Cypher over http :$NEO4J_HTTP_PORT) within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$NEO4J_RUN/logs/console.log" "$NEO4J_RUN/logs/neo4j.log" "$NEO4J_RUN/logs/debug.log"
    sleep 1
  done
}

neo4j_restart() { # [--hard]
  ensure_tools
  neo4j_restart_keep_data "${1:-}"
  neo4j_wait
}

neo4j_stop() {
  stop_service neo4j "$NEO4J_PID_FILE"
}

neo4j_status() { # one line; fails unless Neo4j answers
  local pid=""
  if pid=$(live_pid "$NEO4J_PID_FILE" neo4j) && neo4j_answers; then
    echo "neo4j: up, answers on bolt://127.0.0.1:$NEO4J_BOLT_PORT and http://127.0.0.1:$NEO4J_HTTP_PORT (pid $pid, version $NEO4J_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "neo4j: running (pid $pid) but not answering on bolt :$NEO4J_BOLT_PORT / http :$NEO4J_HTTP_PORT"
    return 1
  else
    echo "neo4j: down"
    return 1
  fi
}

neo4j_env() {
  printf 'export NEO4J_URI=%q\n' "bolt://127.0.0.1:$NEO4J_BOLT_PORT"
  printf 'export NEO4J_TLS_URI=%q\n' "neo4j+s://127.0.0.1:$NEO4J_BOLT_PORT"
  printf 'export NEO4J_CA_FILE=%q\n' "$NEO4J_RUN/tls/ca.crt"
  printf 'export NEO4J_HTTP_URL=%q\n' "http://127.0.0.1:$NEO4J_HTTP_PORT"
  printf 'export NEO4J_USER=%q\n' "$NEO4J_USER"
  printf 'export NEO4J_PASSWORD=%q\n' "$NEO4J_PASSWORD"
}
