# shellcheck shell=bash
# Apache Kafka (KRaft, a single node that is broker and controller), from Maven Central through `mvn`
# (scripts/services/kafka-pom.xml) into $CACHE_DIR/kafka-<version>/lib: a plaintext listener and a SASL_SSL one
# (SCRAM-SHA-512, a throwaway CA). Sourced by scripts/services.sh, whose settings and helpers
# (scripts/services/common.sh) it uses.

KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-19094}
KAFKA_SASL_USER=tekton-graph
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_RUN="$RUN_DIR/kafka"
KAFKA_PID_FILE="$KAFKA_RUN/kafka.pid"

# A JDK and Maven (common.sh); the fetch runs in fetch_all, with Neo4j's.
kafka_prepare() {
  ensure_tools
  prepare_jobs fetch_all
}

kafka_fetch() {
  fetch_engine kafka "$KAFKA_VERSION" kafka-pom.xml kafka.version
}

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

kafka_start() {
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

kafka_restart() { # [--hard]
  ensure_tools
  kafka_restart_keep_data "${1:-}"
  kafka_wait
}

kafka_stop() {
  stop_service kafka "$KAFKA_PID_FILE"
}

kafka_status() { # one line; fails unless Kafka answers
  local pid=""
  if pid=$(live_pid "$KAFKA_PID_FILE" kafka) && kafka_answers; then
    echo "kafka: up, answers on 127.0.0.1:$KAFKA_PORT (pid $pid, version $KAFKA_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "kafka: running (pid $pid) but not answering on 127.0.0.1:$KAFKA_PORT"
    return 1
  else
    echo "kafka: down"
    return 1
  fi
}

kafka_env() {
  printf 'export KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$KAFKA_PORT"
  printf 'export KAFKA_SASL_BOOTSTRAP=%q\n' "127.0.0.1:$KAFKA_SASL_PORT"
  printf 'export KAFKA_SASL_USER=%q\n' "$KAFKA_SASL_USER"
  printf 'export KAFKA_SASL_PASSWORD_FILE=%q\n' "$KAFKA_RUN/sasl-password"
  printf 'export KAFKA_CA_FILE=%q\n' "$KAFKA_RUN/tls/ca.crt"
}
