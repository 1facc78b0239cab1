#!/usr/bin/env bash
# Real Apache Kafka (KRaft, single node), real Neo4j Community, a real Kubernetes API server (kube-apiserver on
# etcd, with Tekton's PipelineRun/TaskRun CRDs), a real OpenID Connect provider (Dex), a real SMTP server with an
# HTTP API (Mailpit), a real RabbitMQ broker and a real OpenTelemetry Collector on 127.0.0.1, for tests and CI,
# without Docker.
#
#   scripts/services.sh up [kafka|neo4j|kube|dex|mailpit|rabbitmq|otelcol]  fetch (first time), start from a clean state,
#                                             wait until each answers
#   scripts/services.sh down [kafka|neo4j|kube|dex|mailpit|rabbitmq|otelcol]  stop (SIGTERM, then SIGKILL after
#                                             $SERVICES_STOP_TIMEOUT s)
#   scripts/services.sh status                print whether each answers (exit 0 only if all six do)
#   scripts/services.sh env                   print export lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh restart-kafka [--hard]  stop and start Kafka, keeping its data (restart/crash tests;
#   scripts/services.sh restart-neo4j [--hard]  --hard kills with SIGKILL instead of a clean stop)
#   scripts/services.sh restart-rabbitmq [--hard]  the same for RabbitMQ (--hard: SIGKILL of the Erlang VM); restart-otelcol too
#   scripts/services.sh restart-kube-apiserver [--hard]  the same for kube-apiserver (etcd and its data stay up)
#   scripts/services.sh restart-dex [--hard]  stop and start Dex with the same config: new signing keys (key rotation)
#   scripts/services.sh fetch                 only download (Kafka, Neo4j), build (kube, dex, mailpit, Tekton
#                                             Triggers) and install (RabbitMQ, from Debian) the engines (the Go
#                                             builds run side by side)
#   scripts/services.sh kafka-cli CLASS ARGS  run a Kafka tool class (e.g. org.apache.kafka.tools.TopicCommand)
#   scripts/services.sh kube-smoke            create a tekton.dev/v1 PipelineRun, set its status, read it and watch it
#   scripts/services.sh triggers-smoke        run real Tekton Triggers EventListener sinks against kube: a POST makes a
#                                             PipelineRun labelled with the answer's eventID; a wrong secret, none
#   scripts/services.sh dex-token USER        print an ID token for USER (alice or alice@example.com) from a password
#                                             grant of client $DEX_CLIENT_ID (scopes openid email groups profile)
#
# Each engine's code is in scripts/services/<engine>.sh (the helpers they share in scripts/services/common.sh).
# Kafka and Neo4j come from Maven Central through `mvn` (poms in scripts/services/) into
# ${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}/{kafka,neo4j}-<version>/lib, reused once complete.
# kube-apiserver and etcd are built with `go` from the Go module proxy (the module in scripts/kube/ pins both) into
# $TEKTON_GRAPH_CACHE/kube-<version>/bin, reused once complete (a cold build takes minutes; modules are kept in
# $TEKTON_GRAPH_CACHE/go/mod). The Tekton CRDs come from testdata/kubernetes/tekton-crds.json.
# Dex is built the same way from the module in scripts/dex/ into $TEKTON_GRAPH_CACHE/dex-<version>/bin, and Mailpit
# from scripts/mailpit/ into $TEKTON_GRAPH_CACHE/mailpit-<version>/bin.
# With kube come Tekton Triggers' CRDs and its core interceptors server (cel, github, ...; on :8443, fixed by the
# binary), built with its EventListener sink from scripts/triggers/ into $TEKTON_GRAPH_CACHE/triggers-<version>/bin;
# tests start a sink per EventListener. `env` prints TEKTON_TRIGGERS_SINK_BIN and the rest: see
# scripts/services/triggers.sh.
# RabbitMQ is Debian's rabbitmq-server package (3.10 on bookworm), installed with apt-get when missing (as root).
# Runtime state (config, data, logs, pid files) lives in ${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}.
#
# Settings (environment, with defaults):
#   KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 KAFKA_SASL_PORT=19094 (SASL_SSL, SCRAM-SHA-512) NEO4J_BOLT_PORT=17687 NEO4J_HTTP_PORT=17474
#   ETCD_PORT=12379 ETCD_PEER_PORT=12380 KUBE_APISERVER_PORT=16443 KUBE_SERVICE_CIDR=10.96.0.0/16
#   DEX_PORT=15556 GRAPH_TEST_UI_PORT=18080 (where the UI tests serve graph-service: Dex's redirect URIs)
#   MAILPIT_SMTP_PORT=11025 MAILPIT_HTTP_PORT=18025
#   RABBITMQ_PORT=15682 (AMQP) RABBITMQ_TLS_PORT=15681 (AMQPS) RABBITMQ_MANAGEMENT_PORT=15684 (HTTP API)
#   RABBITMQ_DIST_PORT=15683 (Erlang distribution) RABBITMQ_EPMD_PORT=14369 (its own epmd)
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
# RabbitMQ takes AMQP on 127.0.0.1:$RABBITMQ_PORT and AMQPS on 127.0.0.1:$RABBITMQ_TLS_PORT (a throwaway CA per
# `up`), with one user, tekton-graph (administrator, all permissions on vhost /, password random per `up`; no guest),
# keeps its data (quorum queues too) in the run folder, new per `up` and kept by restart-rabbitmq, and serves the
# management API on http://127.0.0.1:$RABBITMQ_MANAGEMENT_PORT. The node (tekton-graph@localhost) runs with its own
# epmd and Erlang cookie, both in the run folder. `env` prints RABBITMQ_URL, RABBITMQ_TLS_URL, RABBITMQ_USER,
# RABBITMQ_PASSWORD_FILE, RABBITMQ_CA_FILE, RABBITMQ_MANAGEMENT_URL, RABBITMQ_NODE and RABBITMQCTL (rabbitmqctl for
# that node: "$RABBITMQCTL" list_queues).
# The OpenTelemetry Collector (a minimal build from scripts/otelcol/: OTLP receiver, file exporter) takes OTLP over
# HTTP on 127.0.0.1:$OTELCOL_PORT and writes every span as OTLP-JSON lines to one file. `env` prints
# OTELCOL_ENDPOINT and OTELCOL_TRACES_FILE.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUPPORT_DIR="$SCRIPT_DIR/services"

CACHE_DIR=${TEKTON_GRAPH_CACHE:-$HOME/.cache/tekton-graph}
RUN_DIR=${TEKTON_GRAPH_RUN:-/tmp/tekton-graph-services}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-120}
SERVICES_STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-60}

# The shared helpers, then one file per engine (its settings, fetch or build, start, wait, stop, status and env).
# Each engine file defines the same functions, which the commands below call for each engine they act on:
#   <engine>_prepare   check its tools (installed from Debian when missing) and name its fetch, build or install
#                      functions (prepare_jobs), which `up` and `fetch` run side by side
#   <engine>_start     start from a clean state (new data, passwords and certificates), without waiting
#   <engine>_wait      wait until it answers (or fail with its logs)
#   <engine>_stop      stop it (SIGTERM, then SIGKILL after $SERVICES_STOP_TIMEOUT s)
#   <engine>_status    print one line; fail unless it answers
#   <engine>_env       print its export lines
#   <engine>_restart   [--hard] stop and start it keeping its state, then wait (all but mailpit; kube's restarts
#                      kube-apiserver only)
# shellcheck source-path=SCRIPTDIR source=services/common.sh
source "$SUPPORT_DIR/common.sh"
# shellcheck source-path=SCRIPTDIR source=services/kafka.sh
source "$SUPPORT_DIR/kafka.sh"
# shellcheck source-path=SCRIPTDIR source=services/neo4j.sh
source "$SUPPORT_DIR/neo4j.sh"
# shellcheck source-path=SCRIPTDIR source=services/kube.sh
source "$SUPPORT_DIR/kube.sh"
# Tekton Triggers (EventListener sink, core interceptors), part of the kube engine, in a file of its own.
# shellcheck source-path=SCRIPTDIR source=services/triggers.sh
source "$SUPPORT_DIR/triggers.sh"
# shellcheck source-path=SCRIPTDIR source=services/dex.sh
source "$SUPPORT_DIR/dex.sh"
# shellcheck source-path=SCRIPTDIR source=services/mailpit.sh
source "$SUPPORT_DIR/mailpit.sh"
# shellcheck source-path=SCRIPTDIR source=services/rabbitmq.sh
source "$SUPPORT_DIR/rabbitmq.sh"
# shellcheck source-path=SCRIPTDIR source=services/otelcol.sh
source "$SUPPORT_DIR/otelcol.sh"

# Every engine, in the order of `status`, `env` and `down`, and of the waits of `up`.
ENGINES=(kafka neo4j kube dex mailpit rabbitmq otelcol)
# The order in which `up` starts them: all are started, then all are waited for, so that they boot side by side;
# the slowest to boot first.
START_ORDER=(neo4j rabbitmq kafka kube dex mailpit otelcol)

# ---------------------------------------------------------------------------------------------------------------
# Commands.
engines_from_args() { # [engine|all]
  local engine list
  if [[ "${1:-all}" == all ]]; then
    echo "${ENGINES[*]}"
    return 0
  fi
  for engine in "${ENGINES[@]}"; do
    if [[ "$1" == "$engine" ]]; then
      echo "$1"
      return 0
    fi
  done
  printf -v list '%s, ' "${ENGINES[@]}"
  die "unknown engine '$1' (${list%, } or nothing for all of them)"
}

cmd_up() {
  local engines engine
  engines=$(engines_from_args "${1:-}")
  for engine in $engines; do
    "${engine}_prepare"
  done
  # Downloads, builds and installs side by side (each returns at once when its engine is in the cache).
  side_by_side "${PREPARE_JOBS[@]}"
  mkdir -p "$RUN_DIR"
  # Start all, then wait for all: the JVMs, kube-apiserver, Dex, Mailpit and RabbitMQ boot side by side (Neo4j
  # first: it takes longer).
  for engine in "${START_ORDER[@]}"; do
    if [[ " $engines " == *" $engine "* ]]; then
      "${engine}_start"
    fi
  done
  for engine in $engines; do
    "${engine}_wait"
  done
  log "up: $engines (state in $RUN_DIR)"
}

cmd_down() {
  local engines engine
  engines=$(engines_from_args "${1:-}")
  for engine in $engines; do
    "${engine}_stop"
  done
  log "down: $engines"
}

cmd_status() {
  local ok=0 engine
  for engine in "${ENGINES[@]}"; do
    "${engine}_status" || ok=1
  done
  return "$ok"
}

cmd_env() {
  local engine
  for engine in "${ENGINES[@]}"; do
    "${engine}_env"
  done
  # Tekton Triggers' lines (the kube engine's) last, where they have always been.
  triggers_env
}

# Only the downloads (Kafka, Neo4j), builds (kube, Tekton Triggers, Dex, Mailpit) and installs (RabbitMQ).
cmd_fetch() {
  local engine
  for engine in "${ENGINES[@]}"; do
    "${engine}_prepare"
  done
  side_by_side "${PREPARE_JOBS[@]}"
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
    fetch) cmd_fetch ;;
    restart-kafka | restart-neo4j | restart-dex | restart-rabbitmq | restart-otelcol) "${cmd#restart-}_restart" "${1:-}" ;;
    restart-kube-apiserver) kube_restart "${1:-}" ;;
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
      kafka_fetch
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
