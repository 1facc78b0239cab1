#!/usr/bin/env bash
# Real Apache Kafka (KRaft, single node) and real Neo4j Community on 127.0.0.1, for tests and CI, without Docker.
#
#   scripts/services.sh up [kafka|neo4j]      fetch (first time), start from a clean state, wait until each answers
#   scripts/services.sh down [kafka|neo4j]    stop (SIGTERM, then SIGKILL after $SERVICES_STOP_TIMEOUT s)
#   scripts/services.sh status                print whether each answers (exit 0 only if both do)
#   scripts/services.sh env                   print export lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh restart-kafka [--hard]  stop and start Kafka, keeping its data (restart/crash tests;
#   scripts/services.sh restart-neo4j [--hard]  --hard kills with SIGKILL instead of a clean stop)
#   scripts/services.sh fetch                 only download the engines into the cache
#   scripts/services.sh kafka-cli CLASS ARGS  run a Kafka tool class (e.g. org.apache.kafka.tools.TopicCommand)
#
# The engines come from Maven Central through `mvn` (poms in scripts/services/) into
# ${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}/{kafka,neo4j}-<version>/lib, reused once complete.
# Runtime state (config, data, logs, pid files) lives in ${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}.
#
# Settings (environment, with defaults):
#   KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 NEO4J_BOLT_PORT=17687 NEO4J_HTTP_PORT=17474
#   NEO4J_PASSWORD=tekton-graph-test (a throwaway test password; user is always neo4j)
#   KAFKA_VERSION=4.1.1 NEO4J_VERSION=5.26.30 SERVICES_TIMEOUT=120 SERVICES_STOP_TIMEOUT=60
#   KAFKA_HEAP_OPTS="-Xms128m -Xmx512m" NEO4J_HEAP_OPTS="-Xms256m -Xmx1g" NEO4J_PAGECACHE=256m
#   JAVA_HOME (optional; Java 17 or 21)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUPPORT_DIR="$SCRIPT_DIR/services"

CACHE_DIR=${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}
RUN_DIR=${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}

KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
NEO4J_VERSION=${NEO4J_VERSION:-5.26.30}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
NEO4J_BOLT_PORT=${NEO4J_BOLT_PORT:-17687}
NEO4J_HTTP_PORT=${NEO4J_HTTP_PORT:-17474}
NEO4J_USER=neo4j
NEO4J_PASSWORD=${NEO4J_PASSWORD:-tekton-graph-test}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-120}
SERVICES_STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-60}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
NEO4J_HEAP_OPTS=${NEO4J_HEAP_OPTS:--Xms256m -Xmx1g}
NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-256m}

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
NEO4J_DIST="$CACHE_DIR/neo4j-$NEO4J_VERSION"
KAFKA_RUN="$RUN_DIR/kafka"
NEO4J_RUN="$RUN_DIR/neo4j"
KAFKA_PID_FILE="$KAFKA_RUN/kafka.pid"
NEO4J_PID_FILE="$NEO4J_RUN/neo4j.pid"
# Every JVM this script starts carries this marker, so a pid is only ever signalled if it is ours.
MARKER_PREFIX="-Dtekton.graph.service="

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

now() { date +%s; }

# ---------------------------------------------------------------------------------------------------------------
# Prerequisites: a JDK (17+), Maven, curl. Installed from Debian when missing and we are root (the machine image
# normally has all three).
ensure_tools() {
  local missing=()
  command -v "$JAVA" >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      log "installing missing tools from Debian: ${missing[*]}"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      die "missing tools: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
    fi
  fi
  local major
  major=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ -n "$major" && "$major" -ge 17 ]] || die "Java 17 or newer is needed (found '${major:-unknown}' at $JAVA)"
}

# ---------------------------------------------------------------------------------------------------------------
# Fetching: mvn dependency:copy-dependencies on a pom-packaging pom, into $CACHE/<name>-<version>/lib.
fetch_engine() { # name version pom-file version-property
  local name=$1 version=$2 pom=$3 prop=$4
  local dest="$CACHE_DIR/$name-$version"
  [[ -f "$dest/.complete" ]] && return 0
  mkdir -p "$CACHE_DIR"
  (
    # One fetch at a time per cache folder (parallel CI jobs, two shells).
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-$name.lock"
      flock 9
    fi
    [[ -f "$dest/.complete" ]] && exit 0
    local tmp="$dest.partial.$$" started
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # Run Maven on a copy of the pom, so nothing is written inside the clone.
    cp "$SUPPORT_DIR/$pom" "$tmp/pom.xml"
    log "fetching $name $version from Maven Central (first time only) ..."
    if ! mvn -B -q -f "$tmp/pom.xml" "-D$prop=$version" \
        dependency:copy-dependencies -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1; then
      tail -n 40 "$tmp/mvn.log" >&2
      rm -rf "$tmp"
      die "fetching $name $version with mvn failed (see above)"
    fi
    ls "$tmp"/lib/*.jar >/dev/null 2>&1 || die "mvn fetched no jars for $name $version"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    printf '%s %s fetched %s, %s jars\n' "$name" "$version" "$(date -u +%FT%TZ)" \
      "$(find "$dest/lib" -name '*.jar' | wc -l)" >"$dest/.complete"
    log "fetched $name $version in $(($(now) - started)) s into $dest"
  )
}

fetch_all() {
  fetch_engine kafka "$KAFKA_VERSION" kafka-pom.xml kafka.version
  fetch_engine neo4j "$NEO4J_VERSION" neo4j-pom.xml neo4j.version
}

# ---------------------------------------------------------------------------------------------------------------
# Process helpers.
render() { # template output key=value...
  local template=$1 out=$2
  shift 2
  local expr=() kv
  for kv in "$@"; do
    expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${expr[@]}" "$template" >"$out"
}

# Prints the pid in $1 if that process is alive and is the JVM we started for service $2.
live_pid() { # pid-file service
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${MARKER_PREFIX}$2 " || return 1
  echo "$pid"
}

port_open() { # port
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The pid listening on a local TCP port, if `ss` can tell.
port_owner() { # port
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# Before a start: the port must be free. A JVM of ours left over from a run folder that was removed is stopped;
# anything else is an error.
claim_port() { # port service
  local port=$1 service=$2 owner
  port_open "$port" || return 0
  owner=$(port_owner "$port")
  if [[ -n "$owner" ]] && tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q -- "-Dtekton.graph.run=$RUN_DIR "; then
    log "port $port is held by a leftover $service JVM of this script (pid $owner); stopping it"
    stop_pid "$owner" "leftover JVM"
  fi
  if port_open "$port"; then
    die "port $port (for $service) is in use by another process${owner:+ (pid $owner: $(tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | cut -c1-160))}; set another port in the environment"
  fi
}

stop_pid() { # pid label
  local pid=$1 label=$2 deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$(($(now) + SERVICES_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now) >= deadline)); then
      log "$label (pid $pid) did not stop within ${SERVICES_STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.25
  done
}

stop_service() { # service pid-file [--hard]
  local service=$1 pid_file=$2 hard=${3:-} pid
  if pid=$(live_pid "$pid_file" "$service"); then
    if [[ "$hard" == --hard ]]; then
      log "killing $service (pid $pid) with SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    else
      log "stopping $service (pid $pid)"
      stop_pid "$pid" "$service"
    fi
  fi
  rm -f "$pid_file"
}

# Starts a JVM in the background, detached from this shell, with its console output in a file.
launch() { # service pid-file console-log java-args...
  local service=$1 pid_file=$2 console=$3
  shift 3
  nohup setsid "$JAVA" "${MARKER_PREFIX}$service" "-Dtekton.graph.run=$RUN_DIR" "$@" \
    </dev/null >"$console" 2>&1 &
  echo $! >"$pid_file"
  disown # no "Killed" job notices from this shell
}

fail_with_log() { # service message log-files...
  local service=$1 message=$2 f
  shift 2
  printf '[services] ERROR: %s\n' "$message" >&2
  for f in "$@"; do
    if [[ -s "$f" ]]; then
      printf '[services] ---- last lines of %s ----\n' "$f" >&2
      tail -n 40 "$f" >&2
    fi
  done
  exit 1
}

# ---------------------------------------------------------------------------------------------------------------
# Kafka.
kafka_java() { # main-class args... (tools: warnings to stderr)
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$SUPPORT_DIR/kafka-tools-log4j2.xml" \
    -cp "$KAFKA_HOME/lib/*" "$@"
}

# What `kafka-storage random-uuid` prints (16 random bytes, URL-safe base64 without padding, not starting with
# '-'), made without starting a JVM.
kafka_cluster_id() {
  local id
  while true; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" != -* ]] && break
  done
  echo "$id"
}

kafka_answers() {
  port_open "$KAFKA_PORT" || return 1
  timeout 30 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$SUPPORT_DIR/kafka-tools-log4j2.xml" -cp "$KAFKA_HOME/lib/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
}

kafka_launch() {
  mkdir -p "$KAFKA_RUN/logs"
  # shellcheck disable=SC2086 # heap options are a word list
  launch kafka "$KAFKA_PID_FILE" "$KAFKA_RUN/logs/console.log" \
    $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SUPPORT_DIR/kafka-log4j2.xml" -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$KAFKA_RUN/server.properties"
}

kafka_start_fresh() {
  stop_service kafka "$KAFKA_PID_FILE"
  claim_port "$KAFKA_PORT" kafka
  claim_port "$KAFKA_CONTROLLER_PORT" "kafka controller"
  rm -rf "$KAFKA_RUN"
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  render "$SUPPORT_DIR/kafka-server.properties.in" "$KAFKA_RUN/server.properties" \
    "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "KAFKA_DATA_DIR=$KAFKA_RUN/data"
  local cluster_id
  cluster_id=$(kafka_cluster_id)
  echo "$cluster_id" >"$KAFKA_RUN/cluster.id"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_RUN/server.properties" \
    >>"$KAFKA_RUN/logs/format.log" 2>&1 ||
    fail_with_log kafka "formatting Kafka storage failed" "$KAFKA_RUN/logs/format.log"
  log "starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT), cluster $cluster_id"
  kafka_launch
}

kafka_restart_keep_data() { # [--hard]
  [[ -f "$KAFKA_RUN/server.properties" && -d "$KAFKA_RUN/data" ]] ||
    die "no Kafka state in $KAFKA_RUN to restart; run: $0 up"
  stop_service kafka "$KAFKA_PID_FILE" "${1:-}"
  claim_port "$KAFKA_PORT" kafka
  claim_port "$KAFKA_CONTROLLER_PORT" "kafka controller"
  log "restarting kafka on 127.0.0.1:$KAFKA_PORT (data kept)"
  kafka_launch
}

kafka_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$KAFKA_PID_FILE" kafka) ||
      fail_with_log kafka "Kafka exited during start-up" "$KAFKA_RUN/logs/console.log" "$KAFKA_RUN/logs/server.log"
    if kafka_answers; then
      log "kafka answers on 127.0.0.1:$KAFKA_PORT after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    (($(now) < deadline)) || stop_service kafka "$KAFKA_PID_FILE" --hard
    (($(now) < deadline)) ||
      fail_with_log kafka "Kafka did not answer on 127.0.0.1:$KAFKA_PORT within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$KAFKA_RUN/logs/console.log" "$KAFKA_RUN/logs/server.log"
    sleep 1
  done
}

# ---------------------------------------------------------------------------------------------------------------
# Neo4j.
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

neo4j_start_fresh() {
  stop_service neo4j "$NEO4J_PID_FILE"
  claim_port "$NEO4J_BOLT_PORT" "neo4j bolt"
  claim_port "$NEO4J_HTTP_PORT" "neo4j http"
  rm -rf "$NEO4J_RUN"
  mkdir -p "$NEO4J_RUN/conf" "$NEO4J_RUN/logs"
  render "$SUPPORT_DIR/neo4j.conf.in" "$NEO4J_RUN/conf/neo4j.conf" \
    "NEO4J_BOLT_PORT=$NEO4J_BOLT_PORT" "NEO4J_HTTP_PORT=$NEO4J_HTTP_PORT" "NEO4J_PAGECACHE=$NEO4J_PAGECACHE"
  # neo4j-admin dbms set-initial-password: writes data/dbms/auth.ini, read at the first start.
  NEO4J_HOME="$NEO4J_RUN" NEO4J_CONF="$NEO4J_RUN/conf" \
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -cp "$NEO4J_DIST/lib/*" org.neo4j.cli.AdminTool \
    dbms set-initial-password "$NEO4J_PASSWORD" >"$NEO4J_RUN/logs/admin.log" 2>&1 ||
    fail_with_log neo4j "setting the initial Neo4j password failed (at least 8 characters are needed)" \
      "$NEO4J_RUN/logs/admin.log"
  log "starting neo4j $NEO4J_VERSION: bolt 127.0.0.1:$NEO4J_BOLT_PORT, http 127.0.0.1:$NEO4J_HTTP_PORT, auth on"
  neo4j_launch
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

# ---------------------------------------------------------------------------------------------------------------
# Commands.
engines_from_args() { # [kafka|neo4j|all]
  case "${1:-all}" in
    all) echo "kafka neo4j" ;;
    kafka | neo4j) echo "$1" ;;
    *) die "unknown engine '$1' (kafka, neo4j or nothing for both)" ;;
  esac
}

cmd_up() {
  local engines
  engines=$(engines_from_args "${1:-}")
  ensure_tools
  fetch_all
  mkdir -p "$RUN_DIR"
  # Start both, then wait for both: the two JVMs boot side by side (Neo4j first: it takes longer).
  [[ " $engines " == *" neo4j "* ]] && neo4j_start_fresh
  [[ " $engines " == *" kafka "* ]] && kafka_start_fresh
  [[ " $engines " == *" kafka "* ]] && kafka_wait
  [[ " $engines " == *" neo4j "* ]] && neo4j_wait
  log "up: $engines (state in $RUN_DIR)"
}

cmd_down() {
  local engines
  engines=$(engines_from_args "${1:-}")
  [[ " $engines " == *" kafka "* ]] && stop_service kafka "$KAFKA_PID_FILE"
  [[ " $engines " == *" neo4j "* ]] && stop_service neo4j "$NEO4J_PID_FILE"
  log "down: $engines"
}

cmd_status() {
  local ok=0 pid=""
  if pid=$(live_pid "$KAFKA_PID_FILE" kafka) && kafka_answers; then
    echo "kafka: up, answers on 127.0.0.1:$KAFKA_PORT (pid $pid, version $KAFKA_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "kafka: running (pid $pid) but not answering on 127.0.0.1:$KAFKA_PORT"
    ok=1
  else
    echo "kafka: down"
    ok=1
  fi
  pid=""
  if pid=$(live_pid "$NEO4J_PID_FILE" neo4j) && neo4j_answers; then
    echo "neo4j: up, answers on bolt://127.0.0.1:$NEO4J_BOLT_PORT and http://127.0.0.1:$NEO4J_HTTP_PORT (pid $pid, version $NEO4J_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "neo4j: running (pid $pid) but not answering on bolt :$NEO4J_BOLT_PORT / http :$NEO4J_HTTP_PORT"
    ok=1
  else
    echo "neo4j: down"
    ok=1
  fi
  return "$ok"
}

cmd_env() {
  printf 'export KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$KAFKA_PORT"
  printf 'export NEO4J_URI=%q\n' "bolt://127.0.0.1:$NEO4J_BOLT_PORT"
  printf 'export NEO4J_HTTP_URL=%q\n' "http://127.0.0.1:$NEO4J_HTTP_PORT"
  printf 'export NEO4J_USER=%q\n' "$NEO4J_USER"
  printf 'export NEO4J_PASSWORD=%q\n' "$NEO4J_PASSWORD"
}

usage() {
  sed -n '2,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    fetch) ensure_tools && fetch_all ;;
    restart-kafka)
      ensure_tools
      kafka_restart_keep_data "${1:-}"
      kafka_wait
      ;;
    restart-neo4j)
      ensure_tools
      neo4j_restart_keep_data "${1:-}"
      neo4j_wait
      ;;
    kafka-cli)
      [[ $# -gt 0 ]] || die "usage: $0 kafka-cli MAIN-CLASS [ARGS...]"
      ensure_tools
      fetch_engine kafka "$KAFKA_VERSION" kafka-pom.xml kafka.version
      kafka_java "$@"
      ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
