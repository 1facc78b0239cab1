#!/usr/bin/env bash
# Real Apache Kafka (KRaft, single node), real Neo4j Community, a real Kubernetes API server (kube-apiserver on
# etcd, with Tekton's PipelineRun/TaskRun CRDs), a real OpenID Connect provider (Dex) and a real SMTP server with
# an HTTP API (Mailpit) on 127.0.0.1, for tests and CI, without Docker.
#
#   scripts/services.sh up [kafka|neo4j|kube|dex|mailpit]  fetch (first time), start from a clean state, wait until
#                                             each answers
#   scripts/services.sh down [kafka|neo4j|kube|dex|mailpit]  stop (SIGTERM, then SIGKILL after $SERVICES_STOP_TIMEOUT s)
#   scripts/services.sh status                print whether each answers (exit 0 only if all five do)
#   scripts/services.sh env                   print export lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh restart-kafka [--hard]  stop and start Kafka, keeping its data (restart/crash tests;
#   scripts/services.sh restart-neo4j [--hard]  --hard kills with SIGKILL instead of a clean stop)
#   scripts/services.sh restart-kube-apiserver [--hard]  the same for kube-apiserver (etcd and its data stay up)
#   scripts/services.sh restart-dex [--hard]  stop and start Dex with the same config: new signing keys (key rotation)
#   scripts/services.sh fetch                 only download (Kafka, Neo4j) and build (kube, dex, mailpit, Tekton
#                                             Triggers) the engines into the cache (the Go builds run side by side)
#   scripts/services.sh kafka-cli CLASS ARGS  run a Kafka tool class (e.g. org.apache.kafka.tools.TopicCommand)
#   scripts/services.sh kube-smoke            create a tekton.dev/v1 PipelineRun, set its status, read it and watch it
#   scripts/services.sh triggers-smoke        run real Tekton Triggers EventListener sinks against kube: a POST makes a
#                                             PipelineRun labelled with the answer's eventID; a wrong secret, none
#   scripts/services.sh dex-token USER        print an ID token for USER (alice or alice@example.com) from a password
#                                             grant of client $DEX_CLIENT_ID (scopes openid email groups profile)
#
# Kafka and Neo4j come from Maven Central through `mvn` (poms in scripts/services/) into
# ${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}/{kafka,neo4j}-<version>/lib, reused once complete.
# kube-apiserver and etcd are built with `go` from the Go module proxy (the module in scripts/kube/ pins both) into
# $TEKTON_GRAPH_CACHE/kube-<version>/bin, reused once complete (a cold build takes minutes; modules are kept in
# $TEKTON_GRAPH_CACHE/go/mod). The Tekton CRDs come from testdata/kubernetes/tekton-crds.json.
# Dex is built the same way from the module in scripts/dex/ into $TEKTON_GRAPH_CACHE/dex-<version>/bin, and Mailpit
# from scripts/mailpit/ into $TEKTON_GRAPH_CACHE/mailpit-<version>/bin (its code is in scripts/services/mailpit.sh).
# With kube come Tekton Triggers' CRDs and its core interceptors server (cel, github, ...; on :8443, fixed by the
# binary), built with its EventListener sink from scripts/triggers/ into $TEKTON_GRAPH_CACHE/triggers-<version>/bin;
# tests start a sink per EventListener. `env` prints TEKTON_TRIGGERS_SINK_BIN and the rest: see
# scripts/services/triggers.sh.
# Runtime state (config, data, logs, pid files) lives in ${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}.
#
# Settings (environment, with defaults):
#   KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 KAFKA_SASL_PORT=19094 (SASL_SSL, SCRAM-SHA-512) NEO4J_BOLT_PORT=17687 NEO4J_HTTP_PORT=17474
#   ETCD_PORT=12379 ETCD_PEER_PORT=12380 KUBE_APISERVER_PORT=16443 KUBE_SERVICE_CIDR=10.96.0.0/16
#   DEX_PORT=15556 GRAPH_TEST_UI_PORT=18080 (where the UI tests serve graph-service: Dex's redirect URIs)
#   MAILPIT_SMTP_PORT=11025 MAILPIT_HTTP_PORT=18025
#   NEO4J_PASSWORD=tekton-graph-test (a throwaway test password; user is always neo4j)
#   DEX_PASSWORD=tekton-graph-test (a throwaway test password, the same for every Dex user)
#   KAFKA_VERSION=4.1.1 NEO4J_VERSION=5.26.30 SERVICES_TIMEOUT=120 SERVICES_STOP_TIMEOUT=60
#   KAFKA_HEAP_OPTS="-Xms128m -Xmx512m" NEO4J_HEAP_OPTS="-Xms256m -Xmx1g" NEO4J_PAGECACHE=256m
#   JAVA_HOME (optional; Java 17 or 21)   GO (optional; the go command, Go 1.26 or newer)
# The Kubernetes version is the one scripts/kube/go.mod requires; the admin token is random per `up` and is in
# $TEKTON_GRAPH_RUN/kube/kubeconfig (user admin, group system:masters).
# Dex (the version scripts/dex/go.mod pins) serves the issuer http://127.0.0.1:$DEX_PORT/dex with in-memory storage
# (signing keys are new at every start), the confidential client tekton-graph (secret random per `up`, in
# $TEKTON_GRAPH_RUN/dex/client-secret; redirect URIs http://127.0.0.1:$GRAPH_TEST_UI_PORT/auth/callback and the same
# on localhost; grants authorization_code (PKCE allowed), password, refresh_token) and the static users
# alice@example.com [team-a], bob@example.com [team-b], harvester@example.com [ingesters], admin@example.com
# [admins] and nobody@example.com (no groups). `env` prints DEX_ISSUER, DEX_CLIENT_ID, DEX_CLIENT_SECRET,
# DEX_PASSWORD and GRAPH_TEST_UI_PORT.
# Mailpit (the version scripts/mailpit/go.mod pins) takes SMTP on 127.0.0.1:$MAILPIT_SMTP_PORT with STARTTLS
# required (a throwaway CA per `up`) and AUTH required (user tekton-graph, password random per `up`), keeps the mail
# in a database new per `up`, and serves its API on http://127.0.0.1:$MAILPIT_HTTP_PORT, with chaos on (PUT
# /api/v1/chaos makes SMTP commands fail). `env` prints MAILPIT_SMTP, MAILPIT_API, MAILPIT_USER,
# MAILPIT_PASSWORD_FILE and MAILPIT_CA_FILE.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUPPORT_DIR="$SCRIPT_DIR/services"

CACHE_DIR=${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}
RUN_DIR=${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}

KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
NEO4J_VERSION=${NEO4J_VERSION:-5.26.30}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-19094}
KAFKA_SASL_USER=tekton-graph
NEO4J_BOLT_PORT=${NEO4J_BOLT_PORT:-17687}
NEO4J_HTTP_PORT=${NEO4J_HTTP_PORT:-17474}
NEO4J_USER=neo4j
NEO4J_PASSWORD=${NEO4J_PASSWORD:-tekton-graph-test}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-120}
SERVICES_STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-60}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
NEO4J_HEAP_OPTS=${NEO4J_HEAP_OPTS:--Xms256m -Xmx1g}
NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-256m}
ETCD_PORT=${ETCD_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-12380}
KUBE_APISERVER_PORT=${KUBE_APISERVER_PORT:-16443}
KUBE_SERVICE_CIDR=${KUBE_SERVICE_CIDR:-10.96.0.0/16}
DEX_PORT=${DEX_PORT:-15556}
GRAPH_TEST_UI_PORT=${GRAPH_TEST_UI_PORT:-18080}
DEX_PASSWORD=${DEX_PASSWORD:-tekton-graph-test}

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
KUBE_MODULE_DIR="$SCRIPT_DIR/kube"
KUBE_TESTDATA_DIR="$SCRIPT_DIR/../testdata/kubernetes"
KUBE_RUN="$RUN_DIR/kube"
ETCD_PID_FILE="$KUBE_RUN/etcd.pid"
KUBE_APISERVER_PID_FILE="$KUBE_RUN/kube-apiserver.pid"
KUBECONFIG_FILE="$KUBE_RUN/kubeconfig"
DEX_MODULE_DIR="$SCRIPT_DIR/dex"
DEX_RUN="$RUN_DIR/dex"
DEX_PID_FILE="$DEX_RUN/dex.pid"
DEX_CLIENT_SECRET_FILE="$DEX_RUN/client-secret"
DEX_ISSUER="http://127.0.0.1:$DEX_PORT/dex"
DEX_CLIENT_ID=tekton-graph
# Every JVM this script starts carries this marker, so a pid is only ever signalled if it is ours. The Go
# programs (etcd, kube-apiserver, dex) take no unknown flags: they carry TEKTON_GRAPH_SERVICE=<service> and
# TEKTON_GRAPH_RUN=<run dir> in their environment instead.
MARKER_PREFIX="-Dtekton.graph.service="

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

now() { date +%s; }

# Installs the named Debian packages when any are given (as root, with apt-get), else names them and stops.
install_missing() { # package...
  (($#)) || return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing missing tools from Debian: $*"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "missing tools: $* (install them, e.g. apt-get install $*)"
  fi
}

# ---------------------------------------------------------------------------------------------------------------
# Prerequisites: a JDK (17+), Maven, curl, openssl (the test certificates). Installed from Debian when missing and
# we are root (the machine image normally has them all).
ensure_tools() {
  local missing=()
  command -v "$JAVA" >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  install_missing "${missing[@]}"
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

# Prints the pid in $1 if that process is alive and is the process we started for service $2.
live_pid() { # pid-file service
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${MARKER_PREFIX}$2 " &&
    ! tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx -- "TEKTON_GRAPH_SERVICE=$2"; then
    return 1
  fi
  echo "$pid"
}

# Whether pid $1 is a process this script started for the run folder $RUN_DIR (JVM flag or Go program's environment).
started_for_this_run() { # pid
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "-Dtekton.graph.run=$RUN_DIR " ||
    tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qx -- "TEKTON_GRAPH_RUN=$RUN_DIR"
}

port_open() { # port
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The pid listening on a local TCP port, if `ss` can tell.
port_owner() { # port
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# Before a start: the port must be free. A process of ours left over from a run folder that was removed is
# stopped; anything else is an error.
claim_port() { # port service
  local port=$1 service=$2 owner
  port_open "$port" || return 0
  owner=$(port_owner "$port")
  if [[ -n "$owner" ]] && started_for_this_run "$owner"; then
    log "port $port is held by a leftover $service process of this script (pid $owner); stopping it"
    stop_pid "$owner" "leftover $service"
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

# The same for a native program (etcd, kube-apiserver, dex), marked through its environment.
launch_native() { # service pid-file console-log program args...
  local service=$1 pid_file=$2 console=$3
  shift 3
  TEKTON_GRAPH_SERVICE=$service TEKTON_GRAPH_RUN=$RUN_DIR nohup setsid "$@" </dev/null >"$console" 2>&1 &
  echo $! >"$pid_file"
  disown
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
  claim_port "$KAFKA_SASL_PORT" "kafka sasl_ssl"
  rm -rf "$KAFKA_RUN"
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  # The SASL_SSL listener: TLS with a throwaway CA, one SCRAM-SHA-512 user with a random password per `up`.
  make_tls "$KAFKA_RUN/tls" "$KAFKA_RUN/logs/tls.log"
  cat "$KAFKA_RUN/tls/server.key" "$KAFKA_RUN/tls/server.crt" >"$KAFKA_RUN/tls/keystore.pem"
  random_secret >"$KAFKA_RUN/sasl-password"
  render "$SUPPORT_DIR/kafka-server.properties.in" "$KAFKA_RUN/server.properties" \
    "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "KAFKA_DATA_DIR=$KAFKA_RUN/data" \
    "KAFKA_SASL_PORT=$KAFKA_SASL_PORT" "KAFKA_KEYSTORE=$KAFKA_RUN/tls/keystore.pem"
  local cluster_id
  cluster_id=$(kafka_cluster_id)
  echo "$cluster_id" >"$KAFKA_RUN/cluster.id"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_RUN/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$(cat "$KAFKA_RUN/sasl-password")]" \
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
  claim_port "$KAFKA_SASL_PORT" "kafka sasl_ssl"
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

# A random hex secret (24 bytes) on stdout.
random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# A throwaway CA and a server certificate it signs for 127.0.0.1 and localhost, new per `up`, in DIR: ca.crt,
# server.crt, server.key (PKCS#8). Clients verify the engine with ca.crt and see a connection without it refused.
make_tls() { # dir log
  local tls=$1
  mkdir -p "$tls"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tekton-graph test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.crt" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/key.pem" -out "$tls/server.csr" &&
      openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') \
        -out "$tls/server.crt" &&
      openssl pkcs8 -topk8 -nocrypt -in "$tls/key.pem" -out "$tls/server.key"
  } >"$2" 2>&1 || fail_with_log tls "making the test TLS certificates in $tls failed" "$2"
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

# ---------------------------------------------------------------------------------------------------------------
# Kubernetes: etcd + kube-apiserver, built from the Go module in scripts/kube/, with Tekton's CRDs applied.
kube_version() { # the k8s.io/kubernetes version that scripts/kube/go.mod requires, without the v
  sed -n 's|^[[:space:]]*\(require[[:space:]]\{1,\}\)\{0,1\}k8s\.io/kubernetes v\([0-9][0-9.]*\).*|\2|p' \
    "$KUBE_MODULE_DIR/go.mod" | head -n 1
}

etcd_version() {
  sed -n 's|^[[:space:]]*go\.etcd\.io/etcd/server/v3 v\([0-9][0-9.]*\).*|\1|p' "$KUBE_MODULE_DIR/go.mod" | head -n 1
}

KUBE_VERSION=$(kube_version)
KUBE_HOME="$CACHE_DIR/kube-${KUBE_VERSION:-unknown}"
KUBE_APISERVER_BIN="$KUBE_HOME/bin/kube-apiserver"
ETCD_BIN="$KUBE_HOME/bin/etcd"

# curl, openssl (certificates and keys) and jq (CRD JSON) are on the machine image; installed from Debian if not.
ensure_kube_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  install_missing "${missing[@]}"
  [[ -n "$KUBE_VERSION" ]] || die "no 'k8s.io/kubernetes vX.Y.Z' requirement found in $KUBE_MODULE_DIR/go.mod"
}

go_command() {
  if [[ -n "${GO:-}" ]]; then
    echo "$GO"
  elif command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    return 1
  fi
}

# go build of k8s.io/kubernetes/cmd/kube-apiserver and go.etcd.io/etcd/server/v3 (etcd's main package) with the
# versions pinned in scripts/kube/go.mod and go.sum, into $KUBE_HOME/bin. Modules stay in $CACHE_DIR/go/mod;
# the build cache (about 3 GB) is removed after a successful build, as the binaries are what is reused.
kube_build() {
  [[ -f "$KUBE_HOME/.complete" && -x "$KUBE_APISERVER_BIN" && -x "$ETCD_BIN" ]] && return 0
  local go
  go=$(go_command) || die "building kube-apiserver needs Go 1.26 or newer (set GO=/path/to/go)"
  mkdir -p "$CACHE_DIR"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-kube.lock"
      flock 9
    fi
    [[ -f "$KUBE_HOME/.complete" ]] && exit 0
    local tmp="$KUBE_HOME.partial.$$" started minor ldflags rc=0
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp/src" "$tmp/bin"
    # Build in a copy of the module, so nothing is written inside the clone.
    cp "$KUBE_MODULE_DIR/go.mod" "$KUBE_MODULE_DIR/go.sum" "$tmp/src/"
    minor=${KUBE_VERSION#*.}
    minor=${minor%%.*}
    # What the release build stamps (hack/lib/version.sh), so /version reports the real version.
    ldflags="-s -w"
    local pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%FT%TZ)"
    done
    log "building kube-apiserver v$KUBE_VERSION and etcd v$(etcd_version) with $("$go" version | cut -d' ' -f3) (first time only; several minutes) ..."
    (
      export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build-cache" CGO_ENABLED=0
      export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false"
      cd "$tmp/src" &&
        "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
        "$go" build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3
    ) >"$tmp/build.log" 2>&1 || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building kube-apiserver/etcd with go failed (see above)"
    fi
    if ! { "$tmp/bin/kube-apiserver" --version && "$tmp/bin/etcd" --version; } >"$tmp/versions.txt" 2>&1; then
      cat "$tmp/versions.txt" >&2
      rm -rf "$tmp"
      die "the built kube-apiserver/etcd do not run (see above)"
    fi
    rm -rf "$tmp/src" "$CACHE_DIR/go/build-cache"
    rm -rf "$KUBE_HOME"
    mv "$tmp" "$KUBE_HOME"
    printf 'kube %s built %s in %s s: %s\n' "$KUBE_VERSION" "$(date -u +%FT%TZ)" "$(($(now) - started))" \
      "$(tr '\n' ' ' <"$KUBE_HOME/versions.txt")" >"$KUBE_HOME/.complete"
    log "built kube-apiserver and etcd in $(($(now) - started)) s into $KUBE_HOME/bin"
  )
}

kube_token() { cat "$KUBE_RUN/admin.token" 2>/dev/null; }

kube_curl() { # curl args... (against the apiserver, as admin)
  curl -sS --cacert "$KUBE_RUN/pki/ca.crt" -H "Authorization: Bearer $(kube_token)" "$@"
}

kube_url() { echo "https://127.0.0.1:$KUBE_APISERVER_PORT$1"; }

etcd_answers() {
  [[ $(curl -sS --max-time 5 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null) == *'"health":"true"'* ]]
}

kube_answers() {
  [[ -f "$KUBE_RUN/pki/ca.crt" ]] || return 1
  [[ $(kube_curl --max-time 5 "$(kube_url /readyz)" 2>/dev/null) == ok ]]
}

# A throwaway CA and a serving certificate it signs (127.0.0.1, localhost and the in-cluster names), the service
# account signing key, a random admin token (group system:masters) and a kubeconfig that uses them.
kube_make_credentials() {
  local pki="$KUBE_RUN/pki" token first_ip
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=tekton-graph-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
    # The first address of the service range is the in-cluster "kubernetes" service.
    first_ip=$(echo "${KUBE_SERVICE_CIDR%/*}" | awk -F. '{ printf "%d.%d.%d.%d", $1, $2, $3, $4 + 1 }')
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$first_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
      >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile apiserver.ext -out apiserver.crt
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
    openssl pkey -in sa.key -pubout -out sa.pub
  ) >"$KUBE_RUN/logs/openssl.log" 2>&1 ||
    fail_with_log kube "making the kube-apiserver certificates with openssl failed" "$KUBE_RUN/logs/openssl.log"
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (
    umask 077
    echo "$token" >"$KUBE_RUN/admin.token"
    printf '%s,admin,admin,system:masters\n' "$token" >"$KUBE_RUN/tokens.csv"
    cat >"$KUBECONFIG_FILE" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: tekton-graph
    cluster:
      server: https://127.0.0.1:$KUBE_APISERVER_PORT
      certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: tekton-graph
    context:
      cluster: tekton-graph
      user: admin
      namespace: default
current-context: tekton-graph
KUBECONFIG
  )
}

etcd_launch() {
  launch_native etcd "$ETCD_PID_FILE" "$KUBE_RUN/logs/etcd.log" "$ETCD_BIN" \
    --name tekton-graph --data-dir "$KUBE_RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tekton-graph=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn
}

kube_apiserver_launch() {
  # --endpoint-reconciler-type none: the reconciler of the "kubernetes" service's endpoints refuses a loopback
  # --advertise-address. Admission: ServiceAccount is off (no controller manager creates the default service accounts); everything
  # else is the default set. No kubelet: logs/exec/port-forward of pods cannot work, nor can anything that needs
  # controllers (namespace deletion finishing, garbage collection, service account tokens for pods).
  launch_native kube-apiserver "$KUBE_APISERVER_PID_FILE" "$KUBE_RUN/logs/kube-apiserver.log" "$KUBE_APISERVER_BIN" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$KUBE_APISERVER_PORT" \
    --tls-cert-file "$KUBE_RUN/pki/apiserver.crt" --tls-private-key-file "$KUBE_RUN/pki/apiserver.key" \
    --cert-dir "$KUBE_RUN/pki" \
    --token-auth-file "$KUBE_RUN/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer "https://kubernetes.default.svc" \
    --service-account-key-file "$KUBE_RUN/pki/sa.pub" \
    --service-account-signing-key-file "$KUBE_RUN/pki/sa.key" \
    --service-cluster-ip-range "$KUBE_SERVICE_CIDR" \
    --endpoint-reconciler-type none \
    --disable-admission-plugins ServiceAccount \
    --profiling=false --v 1
}

kube_start_fresh() {
  triggers_stop # first: its watches hold kube-apiserver up (scripts/services/triggers.sh)
  stop_service kube-apiserver "$KUBE_APISERVER_PID_FILE"
  stop_service etcd "$ETCD_PID_FILE"
  claim_port "$KUBE_APISERVER_PORT" kube-apiserver
  claim_port "$ETCD_PORT" etcd
  claim_port "$ETCD_PEER_PORT" "etcd peer"
  rm -rf "$KUBE_RUN"
  mkdir -p "$KUBE_RUN/logs" "$KUBE_RUN/etcd-data"
  chmod 700 "$KUBE_RUN"
  kube_make_credentials
  log "starting etcd $(etcd_version) on 127.0.0.1:$ETCD_PORT (peer :$ETCD_PEER_PORT)"
  etcd_launch
  local deadline pid
  deadline=$(($(now) + SERVICES_TIMEOUT))
  until etcd_answers; do
    pid=$(live_pid "$ETCD_PID_FILE" etcd) || fail_with_log etcd "etcd exited during start-up" "$KUBE_RUN/logs/etcd.log"
    if (($(now) >= deadline)); then
      stop_service etcd "$ETCD_PID_FILE" --hard
      fail_with_log etcd "etcd did not answer on 127.0.0.1:$ETCD_PORT within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$KUBE_RUN/logs/etcd.log"
    fi
    sleep 0.2
  done
  log "starting kube-apiserver v$KUBE_VERSION on https://127.0.0.1:$KUBE_APISERVER_PORT"
  kube_apiserver_launch
}

kube_restart_apiserver() { # [--hard]
  [[ -f "$KUBE_RUN/tokens.csv" && -d "$KUBE_RUN/etcd-data" ]] || die "no kube state in $KUBE_RUN to restart; run: $0 up kube"
  live_pid "$ETCD_PID_FILE" etcd >/dev/null || die "etcd is not running; run: $0 up kube"
  stop_service kube-apiserver "$KUBE_APISERVER_PID_FILE" "${1:-}"
  claim_port "$KUBE_APISERVER_PORT" kube-apiserver
  log "restarting kube-apiserver on https://127.0.0.1:$KUBE_APISERVER_PORT (etcd data kept)"
  kube_apiserver_launch
}

kube_wait_apiserver() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    live_pid "$ETCD_PID_FILE" etcd >/dev/null || fail_with_log etcd "etcd exited" "$KUBE_RUN/logs/etcd.log"
    pid=$(live_pid "$KUBE_APISERVER_PID_FILE" kube-apiserver) ||
      fail_with_log kube-apiserver "kube-apiserver exited during start-up" "$KUBE_RUN/logs/kube-apiserver.log"
    if kube_answers; then
      log "kube-apiserver ready (/readyz ok) on https://127.0.0.1:$KUBE_APISERVER_PORT after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service kube-apiserver "$KUBE_APISERVER_PID_FILE" --hard
      fail_with_log kube-apiserver "kube-apiserver was not ready on https://127.0.0.1:$KUBE_APISERVER_PORT within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$KUBE_RUN/logs/kube-apiserver.log"
    fi
    sleep 0.5
  done
}

# POST each CRD of testdata/kubernetes/tekton-crds.json, then wait until each is Established and its resources
# are served.
kube_apply_crds() {
  local crds="$KUBE_TESTDATA_DIR/tekton-crds.json" crd name code
  [[ -f "$crds" ]] || die "missing $crds"
  while IFS= read -r crd; do
    name=$(jq -r '.metadata.name' <<<"$crd")
    code=$(kube_curl --max-time 30 -o "$KUBE_RUN/logs/crd-$name.json" -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' --data-binary @- \
      "$(kube_url /apis/apiextensions.k8s.io/v1/customresourcedefinitions)" <<<"$crd") || code=000
    [[ "$code" == 201 || "$code" == 409 ]] ||
      fail_with_log kube-apiserver "creating CRD $name answered HTTP $code" "$KUBE_RUN/logs/crd-$name.json"
  done < <(jq -c '.items[]' "$crds")
  kube_wait_crds
}

# Waits until each CRD of tekton-crds.json is Established and a list of its v1 resources answers 200 (right after
# a start, /readyz is ok a moment before custom resources are: they answer 429 "storage is (re)initializing").
kube_wait_crds() {
  local name names=() plural started deadline
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  mapfile -t names < <(jq -r '.items[].metadata.name' "$KUBE_TESTDATA_DIR/tekton-crds.json")
  for name in "${names[@]}"; do
    plural=${name%%.*}
    until [[ $(kube_curl --max-time 5 "$(kube_url "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name")" 2>/dev/null |
      jq -r '.status.conditions[]? | select(.type == "Established") | .status' 2>/dev/null) == True ]] &&
      [[ $(kube_curl --max-time 5 -o /dev/null -w '%{http_code}' \
        "$(kube_url "/apis/tekton.dev/v1/namespaces/default/$plural")" 2>/dev/null) == 200 ]]; do
      (($(now) < deadline)) ||
        fail_with_log kube-apiserver "CRD $name not established and served within ${SERVICES_TIMEOUT}s" "$KUBE_RUN/logs/kube-apiserver.log"
      sleep 0.2
    done
  done
  log "Tekton CRDs established and served (${names[*]}) after $(($(now) - started)) s"
}

kube_wait() {
  kube_wait_apiserver
  kube_apply_crds
  # Tekton Triggers' CRDs and its core interceptors server come with kube (scripts/services/triggers.sh).
  triggers_up
}

# A PipelineRun through the real API: create (tekton.dev/v1), set status through the /status subresource, read it
# back, and watch from before the create (ADDED then MODIFIED), then delete it.
kube_smoke() {
  kube_answers || die "kube-apiserver does not answer; run: $0 up kube"
  local base rv name body events
  base=$(kube_url /apis/tekton.dev/v1/namespaces/default/pipelineruns)
  rv=$(kube_curl --max-time 10 "$base" | jq -r '.metadata.resourceVersion')
  body=$(kube_curl --max-time 10 -X POST -H 'Content-Type: application/json' "$base" --data-binary \
    '{"apiVersion":"tekton.dev/v1","kind":"PipelineRun","metadata":{"generateName":"smoke-","labels":{"app.kubernetes.io/part-of":"tekton-graph-tests"}},"spec":{"pipelineRef":{"name":"build-and-scan"},"params":[{"name":"revision","value":"main"}]}}')
  name=$(jq -r '.metadata.name' <<<"$body")
  [[ "$name" == smoke-* ]] || die "creating a PipelineRun failed: $body"
  echo "created: $(jq -c '{name: .metadata.name, uid: .metadata.uid, resourceVersion: .metadata.resourceVersion, generation: .metadata.generation, spec}' <<<"$body")"
  body=$(kube_curl --max-time 10 -X PATCH -H 'Content-Type: application/merge-patch+json' "$base/$name/status" --data-binary \
    "{\"status\":{\"startTime\":\"$(date -u +%FT%TZ)\",\"completionTime\":\"$(date -u +%FT%TZ)\",\"conditions\":[{\"type\":\"Succeeded\",\"status\":\"True\",\"reason\":\"Succeeded\",\"message\":\"Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0\",\"lastTransitionTime\":\"$(date -u +%FT%TZ)\"}]}}")
  [[ $(jq -r '.status.conditions[0].status' <<<"$body") == True ]] || die "patching the PipelineRun status failed: $body"
  body=$(kube_curl --max-time 10 "$base/$name")
  echo "read back: $(jq -c '{name: .metadata.name, resourceVersion: .metadata.resourceVersion, generation: .metadata.generation, status}' <<<"$body")"
  echo "as v1beta1: $(kube_curl --max-time 10 "$(kube_url "/apis/tekton.dev/v1beta1/namespaces/default/pipelineruns/$name")" | jq -c '{apiVersion, name: .metadata.name}')"
  echo "table: $(kube_curl --max-time 10 -H 'Accept: application/json;as=Table;g=meta.k8s.io;v=v1' "$base/$name" | jq -c '[.columnDefinitions[].name, .rows[0].cells]')"
  events=$(kube_curl --max-time 3 "$base?watch=1&allowWatchBookmarks=true&resourceVersion=$rv" 2>/dev/null || true)
  echo "watch from resourceVersion $rv:"
  jq -c '{type, name: .object.metadata.name, resourceVersion: .object.metadata.resourceVersion, succeeded: (.object.status.conditions // [] | map(select(.type == "Succeeded") | .status) | first)}' <<<"$events"
  kube_curl --max-time 10 -o /dev/null -X DELETE "$base/$name"
  [[ $(jq -r 'select(.object.metadata.name == "'"$name"'") | .type' <<<"$events" | tr '\n' ' ') == "ADDED MODIFIED " ]] ||
    die "the watch did not show ADDED then MODIFIED for $name"
  echo "kube smoke: ok (deleted $name)"
}

# ---------------------------------------------------------------------------------------------------------------
# Dex: an OpenID Connect provider, built from the Go module in scripts/dex/, configured from
# scripts/services/dex.yaml.in (in-memory storage, static client and users).
dex_version() { # the Dex release that scripts/dex/go.mod pins (the comment on its require line), without the v
  sed -n 's|^[[:space:]]*\(require[[:space:]]\{1,\}\)\{0,1\}github\.com/dexidp/dex v[^[:space:]]* //.*; v\([0-9][0-9.]*\).*|\2|p' \
    "$DEX_MODULE_DIR/go.mod" | head -n 1
}

DEX_VERSION=$(dex_version)
DEX_HOME="$CACHE_DIR/dex-${DEX_VERSION:-unknown}"
DEX_BIN="$DEX_HOME/bin/dex"

# curl, jq and perl (bcrypt password hashes through the C library's crypt) are on the machine image; installed from
# Debian if not.
ensure_dex_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v perl >/dev/null 2>&1 || missing+=(perl)
  install_missing "${missing[@]}"
  [[ -n "$DEX_VERSION" ]] ||
    die "no 'github.com/dexidp/dex v0.0.0-… // indirect; vX.Y.Z' requirement found in $DEX_MODULE_DIR/go.mod"
}

# go build of github.com/dexidp/dex/cmd/dex with the versions pinned in scripts/dex/go.mod and go.sum, into
# $DEX_HOME/bin. Modules stay in $CACHE_DIR/go/mod (shared with kube); the build cache is Dex's own (a kube build
# may run beside it and removes its cache when done) and is removed after a successful build.
dex_build() {
  [[ -f "$DEX_HOME/.complete" && -x "$DEX_BIN" ]] && return 0
  local go
  go=$(go_command) || die "building dex needs Go 1.26 or newer (set GO=/path/to/go)"
  mkdir -p "$CACHE_DIR"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-dex.lock"
      flock 9
    fi
    [[ -f "$DEX_HOME/.complete" ]] && exit 0
    local tmp="$DEX_HOME.partial.$$" started rc=0
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp/src" "$tmp/bin"
    # Build in a copy of the module, so nothing is written inside the clone.
    cp "$DEX_MODULE_DIR/go.mod" "$DEX_MODULE_DIR/go.sum" "$tmp/src/"
    log "building dex v$DEX_VERSION with $("$go" version | cut -d' ' -f3) (first time only; a few minutes) ..."
    (
      cd "$tmp/src" &&
        GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build-cache-dex" CGO_ENABLED=0 \
          GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" \
          "$go" build -trimpath -ldflags "-s -w -X main.version=v$DEX_VERSION" -o "$tmp/bin/dex" \
          github.com/dexidp/dex/cmd/dex
    ) >"$tmp/build.log" 2>&1 || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building dex with go failed (see above)"
    fi
    if ! "$tmp/bin/dex" version >"$tmp/versions.txt" 2>&1 || ! grep -q "v$DEX_VERSION" "$tmp/versions.txt"; then
      cat "$tmp/versions.txt" >&2
      rm -rf "$tmp"
      die "the built dex does not run or does not report v$DEX_VERSION (see above)"
    fi
    rm -rf "$tmp/src" "$CACHE_DIR/go/build-cache-dex"
    rm -rf "$DEX_HOME"
    mv "$tmp" "$DEX_HOME"
    printf 'dex %s built %s in %s s: %s\n' "$DEX_VERSION" "$(date -u +%FT%TZ)" "$(($(now) - started))" \
      "$(tr '\n' ' ' <"$DEX_HOME/versions.txt")" >"$DEX_HOME/.complete"
    log "built dex in $(($(now) - started)) s into $DEX_HOME/bin"
  )
}

# A bcrypt hash (cost 10, the least Dex accepts) of $1, made by the C library's crypt(3) (libxcrypt) through perl.
dex_password_hash() { # password
  local salt hash
  # 21 random characters of bcrypt's alphabet, then one whose unused low bits are zero.
  salt=$(head -c 16 /dev/urandom | base64 | tr '+' '.' | tr -d '=\n' | cut -c1-21)e
  hash=$(DEX_HASH_PASSWORD=$1 DEX_HASH_SALT="\$2b\$10\$$salt" \
    perl -e 'print crypt($ENV{DEX_HASH_PASSWORD}, $ENV{DEX_HASH_SALT}) // ""')
  [[ "$hash" =~ ^\$2b\$10\$[./A-Za-z0-9]{53}$ ]] ||
    die "the C library's crypt(3) made no bcrypt hash (got '${hash:0:8}…'); Debian's libcrypt1 (libxcrypt) can"
  echo "$hash"
}

dex_curl() { # curl args... (against the issuer's endpoints)
  curl -sS --max-time 5 "$@"
}

# The key ids of the signing keys Dex publishes (its JWKS), space-separated.
dex_kids() {
  dex_curl "$DEX_ISSUER/keys" 2>/dev/null | jq -r '[.keys[].kid] | join(" ")' 2>/dev/null
}

# Dex answers: /healthz (a storage round trip), the discovery document names our issuer, and the JWKS has a key.
dex_answers() {
  [[ $(dex_curl -o /dev/null -w '%{http_code}' "$DEX_ISSUER/healthz" 2>/dev/null) == 200 ]] || return 1
  [[ $(dex_curl "$DEX_ISSUER/.well-known/openid-configuration" 2>/dev/null | jq -r '.issuer' 2>/dev/null) == "$DEX_ISSUER" ]] ||
    return 1
  [[ -n "$(dex_kids)" ]]
}

dex_launch() {
  # Only the web listener (127.0.0.1:$DEX_PORT, from the config): the telemetry and gRPC listeners stay off, as
  # neither has an address in the config.
  launch_native dex "$DEX_PID_FILE" "$DEX_RUN/logs/dex.log" "$DEX_BIN" serve "$DEX_RUN/dex.yaml"
}

dex_start_fresh() {
  stop_service dex "$DEX_PID_FILE"
  claim_port "$DEX_PORT" dex
  rm -rf "$DEX_RUN"
  mkdir -p "$DEX_RUN/logs"
  chmod 700 "$DEX_RUN"
  local secret hash
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  hash=$(dex_password_hash "$DEX_PASSWORD")
  (
    umask 077
    echo "$secret" >"$DEX_CLIENT_SECRET_FILE"
    render "$SUPPORT_DIR/dex.yaml.in" "$DEX_RUN/dex.yaml" \
      "DEX_ISSUER=$DEX_ISSUER" "DEX_PORT=$DEX_PORT" "DEX_CLIENT_ID=$DEX_CLIENT_ID" "DEX_CLIENT_SECRET=$secret" \
      "GRAPH_TEST_UI_PORT=$GRAPH_TEST_UI_PORT" "DEX_PASSWORD_HASH=$hash"
  )
  log "starting dex v$DEX_VERSION: issuer $DEX_ISSUER (in-memory storage, client $DEX_CLIENT_ID)"
  dex_launch
}

# The same config (client secret, users); in-memory storage means new signing keys: a key rotation.
dex_restart() { # [--hard]
  [[ -f "$DEX_RUN/dex.yaml" && -f "$DEX_CLIENT_SECRET_FILE" ]] || die "no Dex config in $DEX_RUN to restart; run: $0 up dex"
  stop_service dex "$DEX_PID_FILE" "${1:-}"
  claim_port "$DEX_PORT" dex
  log "restarting dex on $DEX_ISSUER (same clients and users, new signing keys)"
  dex_launch
}

dex_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$DEX_PID_FILE" dex) || fail_with_log dex "Dex exited during start-up" "$DEX_RUN/logs/dex.log"
    if dex_answers; then
      log "dex answers on $DEX_ISSUER after $(($(now) - started)) s (pid $pid, signing key $(dex_kids))"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service dex "$DEX_PID_FILE" --hard
      fail_with_log dex "Dex did not answer on $DEX_ISSUER within ${SERVICES_TIMEOUT}s (stopped it)" "$DEX_RUN/logs/dex.log"
    fi
    sleep 0.2
  done
}

dex_client_secret() { cat "$DEX_CLIENT_SECRET_FILE" 2>/dev/null; }

# An ID token from a password grant (RFC 6749 4.3) of the confidential client: Dex lets any client with its
# secret use the password grant (oauth2.passwordConnector: local); the audience is the client id.
dex_token() { # user (alice or alice@example.com)
  local user=$1 secret answer token
  [[ "$user" == *@* ]] || user="$user@example.com"
  secret=$(dex_client_secret) || die "no Dex client secret in $DEX_RUN; run: $0 up dex"
  answer=$(curl -sS --max-time 10 -u "$DEX_CLIENT_ID:$secret" --data-urlencode grant_type=password \
    --data-urlencode "username=$user" --data-urlencode "password=$DEX_PASSWORD" \
    --data-urlencode "scope=openid email groups profile" "$DEX_ISSUER/token") ||
    die "Dex does not answer on $DEX_ISSUER; run: $0 up dex"
  token=$(jq -r '.id_token // empty' <<<"$answer" 2>/dev/null) || true
  [[ -n "$token" ]] || die "the password grant for $user failed: $answer"
  echo "$token"
}

# ---------------------------------------------------------------------------------------------------------------
# Mailpit, in a file of its own (the first engine split out of this script).
# shellcheck source-path=SCRIPTDIR source=services/mailpit.sh
source "$SUPPORT_DIR/mailpit.sh"

# ---------------------------------------------------------------------------------------------------------------
# Tekton Triggers (EventListener sink, core interceptors), part of the kube engine, in a file of its own.
# shellcheck source-path=SCRIPTDIR source=services/triggers.sh
source "$SUPPORT_DIR/triggers.sh"

# ---------------------------------------------------------------------------------------------------------------
# Commands.
engines_from_args() { # [kafka|neo4j|kube|dex|mailpit|all]
  case "${1:-all}" in
    all) echo "kafka neo4j kube dex mailpit" ;;
    kafka | neo4j | kube | dex | mailpit) echo "$1" ;;
    *) die "unknown engine '$1' (kafka, neo4j, kube, dex, mailpit or nothing for all five)" ;;
  esac
}

# Runs the named functions (fetch_all, kube_build, dex_build, mailpit_build) as background jobs and waits for all of
# them; fails if any failed. Cold Go builds take minutes each: side by side, one compiles while another downloads
# modules.
side_by_side() { # function...
  local pids=() names=() failed=() i
  for i in "$@"; do
    "$i" &
    pids+=($!)
    names+=("$i")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
  done
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]} (see above)"
}

cmd_up() {
  local engines
  engines=$(engines_from_args "${1:-}")
  local prepare=()
  if [[ " $engines " == *" kafka "* || " $engines " == *" neo4j "* ]]; then
    ensure_tools
    prepare+=(fetch_all)
  fi
  if [[ " $engines " == *" kube "* ]]; then
    ensure_kube_tools
    ensure_triggers_tools
    prepare+=(kube_build triggers_build)
  fi
  if [[ " $engines " == *" dex "* ]]; then
    ensure_dex_tools
    prepare+=(dex_build)
  fi
  if [[ " $engines " == *" mailpit "* ]]; then
    ensure_mailpit_tools
    prepare+=(mailpit_build)
  fi
  # Downloads and builds side by side (each returns at once when its engine is in the cache).
  side_by_side "${prepare[@]}"
  mkdir -p "$RUN_DIR"
  # Start all, then wait for all: the JVMs, kube-apiserver, Dex and Mailpit boot side by side (Neo4j first: it takes
  # longer).
  [[ " $engines " == *" neo4j "* ]] && neo4j_start_fresh
  [[ " $engines " == *" kafka "* ]] && kafka_start_fresh
  [[ " $engines " == *" kube "* ]] && kube_start_fresh
  [[ " $engines " == *" dex "* ]] && dex_start_fresh
  [[ " $engines " == *" mailpit "* ]] && mailpit_start_fresh
  [[ " $engines " == *" kafka "* ]] && kafka_wait
  [[ " $engines " == *" neo4j "* ]] && neo4j_wait
  [[ " $engines " == *" kube "* ]] && kube_wait
  [[ " $engines " == *" dex "* ]] && dex_wait
  [[ " $engines " == *" mailpit "* ]] && mailpit_wait
  log "up: $engines (state in $RUN_DIR)"
}

cmd_down() {
  local engines
  engines=$(engines_from_args "${1:-}")
  [[ " $engines " == *" kafka "* ]] && stop_service kafka "$KAFKA_PID_FILE"
  [[ " $engines " == *" neo4j "* ]] && stop_service neo4j "$NEO4J_PID_FILE"
  if [[ " $engines " == *" kube "* ]]; then
    triggers_stop
    stop_service kube-apiserver "$KUBE_APISERVER_PID_FILE"
    stop_service etcd "$ETCD_PID_FILE"
  fi
  [[ " $engines " == *" dex "* ]] && stop_service dex "$DEX_PID_FILE"
  [[ " $engines " == *" mailpit "* ]] && stop_service mailpit "$MAILPIT_PID_FILE"
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
  local etcd_pid=""
  pid=""
  etcd_pid=$(live_pid "$ETCD_PID_FILE" etcd) || true
  if pid=$(live_pid "$KUBE_APISERVER_PID_FILE" kube-apiserver) && [[ -n "$etcd_pid" ]] && kube_answers; then
    echo "kube: up, kube-apiserver ready on https://127.0.0.1:$KUBE_APISERVER_PORT (pid $pid, version $KUBE_VERSION), etcd on http://127.0.0.1:$ETCD_PORT (pid $etcd_pid, version $(etcd_version)), KUBECONFIG=$KUBECONFIG_FILE"
  elif [[ -n "$pid" || -n "$etcd_pid" ]]; then
    echo "kube: running (kube-apiserver pid ${pid:-none}, etcd pid ${etcd_pid:-none}) but kube-apiserver not ready on https://127.0.0.1:$KUBE_APISERVER_PORT"
    ok=1
  else
    echo "kube: down"
    ok=1
  fi
  pid=""
  if pid=$(live_pid "$DEX_PID_FILE" dex) && dex_answers; then
    echo "dex: up, issuer $DEX_ISSUER (pid $pid, version $DEX_VERSION, signing key $(dex_kids)), client $DEX_CLIENT_ID"
  elif [[ -n "$pid" ]]; then
    echo "dex: running (pid $pid) but not answering on $DEX_ISSUER"
    ok=1
  else
    echo "dex: down"
    ok=1
  fi
  mailpit_status || ok=1
  return "$ok"
}

cmd_env() {
  printf 'export KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$KAFKA_PORT"
  printf 'export KAFKA_SASL_BOOTSTRAP=%q\n' "127.0.0.1:$KAFKA_SASL_PORT"
  printf 'export KAFKA_SASL_USER=%q\n' "$KAFKA_SASL_USER"
  printf 'export KAFKA_SASL_PASSWORD_FILE=%q\n' "$KAFKA_RUN/sasl-password"
  printf 'export KAFKA_CA_FILE=%q\n' "$KAFKA_RUN/tls/ca.crt"
  printf 'export NEO4J_URI=%q\n' "bolt://127.0.0.1:$NEO4J_BOLT_PORT"
  printf 'export NEO4J_TLS_URI=%q\n' "neo4j+s://127.0.0.1:$NEO4J_BOLT_PORT"
  printf 'export NEO4J_CA_FILE=%q\n' "$NEO4J_RUN/tls/ca.crt"
  printf 'export NEO4J_HTTP_URL=%q\n' "http://127.0.0.1:$NEO4J_HTTP_PORT"
  printf 'export NEO4J_USER=%q\n' "$NEO4J_USER"
  printf 'export NEO4J_PASSWORD=%q\n' "$NEO4J_PASSWORD"
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export DEX_ISSUER=%q\n' "$DEX_ISSUER"
  printf 'export DEX_CLIENT_ID=%q\n' "$DEX_CLIENT_ID"
  printf 'export DEX_CLIENT_SECRET=%q\n' "$(dex_client_secret || true)"
  printf 'export DEX_PASSWORD=%q\n' "$DEX_PASSWORD"
  printf 'export GRAPH_TEST_UI_PORT=%q\n' "$GRAPH_TEST_UI_PORT"
  mailpit_env
  triggers_env
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    fetch)
      ensure_tools
      ensure_kube_tools
      ensure_dex_tools
      ensure_mailpit_tools
      ensure_triggers_tools
      side_by_side fetch_all kube_build dex_build mailpit_build triggers_build
      ;;
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
    restart-kube-apiserver)
      ensure_kube_tools
      triggers_stop
      kube_restart_apiserver "${1:-}"
      kube_wait_apiserver
      kube_wait_crds
      triggers_restart
      ;;
    restart-dex)
      ensure_dex_tools
      dex_restart "${1:-}"
      dex_wait
      ;;
    kube-smoke)
      ensure_kube_tools
      kube_smoke
      ;;
    triggers-smoke)
      ensure_kube_tools
      ensure_triggers_tools
      triggers_smoke
      ;;
    dex-token)
      [[ $# -eq 1 ]] || die "usage: $0 dex-token USER (alice, bob, harvester, admin, nobody or a full e-mail address)"
      ensure_dex_tools
      dex_token "$1"
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
