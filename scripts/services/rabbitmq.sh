# shellcheck shell=bash
# RabbitMQ: Debian's rabbitmq-server (3.10 on bookworm, on Debian's Erlang), installed with apt-get when missing,
# run as a broker of our own on loopback: AMQP, AMQPS (a throwaway CA) and the management plugin's HTTP API (tests
# inspect queues with it), a user with a password random per `up`, and no guest. Sourced by scripts/services.sh,
# whose settings and helpers (scripts/services/common.sh) it uses.
#
# Nothing of the system install is used but its programs: not /usr/sbin/rabbitmq-server (it switches to the
# rabbitmq user), nor /etc/rabbitmq, /var/lib/rabbitmq or the system's epmd. The broker runs as the caller with its
# config, data (mnesia, quorum queues), logs, Erlang cookie (in a HOME of its own) and plugin expansion in
# $RUN_DIR/rabbitmq, registered with an epmd of ours on 127.0.0.1:$RABBITMQ_EPMD_PORT, its distribution listener on
# 127.0.0.1:$RABBITMQ_DIST_PORT. Tests reach the node with $RABBITMQCTL (a wrapper in the run folder that sets the
# same HOME and epmd port and names the node), e.g. "$RABBITMQCTL" list_queues name messages.

RABBITMQ_PORT=${RABBITMQ_PORT:-15682}
RABBITMQ_TLS_PORT=${RABBITMQ_TLS_PORT:-15681}
RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:-15683}
RABBITMQ_EPMD_PORT=${RABBITMQ_EPMD_PORT:-14369}
RABBITMQ_MANAGEMENT_PORT=${RABBITMQ_MANAGEMENT_PORT:-15684}
RABBITMQ_USER=tekton-graph
# Short names: the host part is localhost, which the distribution listener's interface (127.0.0.1) serves.
RABBITMQ_NODE=tekton-graph@localhost
# The package's own scripts, below the /usr/sbin wrappers that switch user.
RABBITMQ_SCRIPTS=/usr/lib/rabbitmq/bin
RABBITMQ_RUN="$RUN_DIR/rabbitmq"
RABBITMQ_VM_PID_FILE="$RABBITMQ_RUN/rabbitmq.pid"
RABBITMQ_EPMD_PID_FILE="$RABBITMQ_RUN/epmd.pid"
RABBITMQ_PASSWORD_FILE="$RABBITMQ_RUN/password"
RABBITMQ_CTL_WRAPPER="$RABBITMQ_RUN/rabbitmqctl"
RABBITMQ_MANAGEMENT_URL="http://127.0.0.1:$RABBITMQ_MANAGEMENT_PORT"

# curl and jq (the management API), openssl (the AMQPS certificate); RabbitMQ itself is rabbitmq_install's job.
rabbitmq_prepare() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  install_missing "${missing[@]}"
  prepare_jobs rabbitmq_install
}

rabbitmq_installed() {
  [[ -x "$RABBITMQ_SCRIPTS/rabbitmq-server" && -x "$RABBITMQ_SCRIPTS/rabbitmqctl" ]] && command -v epmd >/dev/null 2>&1
}

# apt-get install rabbitmq-server (and Debian's Erlang), without the system broker the package would start: a
# policy-rc.d that forbids every start (invoke-rc.d and deb-systemd-invoke ask it) is in place during the install,
# unless the machine has one of its own. If a system broker runs afterwards all the same, it is stopped (with the
# epmd it started), as it is the install's doing; it would not hold our ports, but would keep a broker on
# 0.0.0.0:5672 and an epmd on every interface.
rabbitmq_install() {
  rabbitmq_installed && return 0
  mkdir -p "$CACHE_DIR"
  (
    # One install at a time (two shells); apt-get would fail on its lock.
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-rabbitmq.lock"
      flock 9
    fi
    rabbitmq_installed && exit 0
    local started policy=/usr/sbin/policy-rc.d ours="" pid
    started=$(now)
    if [[ $(id -u) -eq 0 && ! -e "$policy" ]]; then
      printf '#!/bin/sh\n# scripts/services.sh: no service starts while it installs rabbitmq-server\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      ours=1
      # shellcheck disable=SC2064 # $policy now
      trap "rm -f $policy" EXIT
    fi
    log "installing rabbitmq-server from Debian (first time only) ..."
    install_missing rabbitmq-server
    if [[ -n "$ours" ]]; then
      rm -f "$policy"
      trap - EXIT
    fi
    rabbitmq_installed || die "rabbitmq-server is installed, but $RABBITMQ_SCRIPTS/rabbitmq-server, rabbitmqctl or epmd is missing"
    for pid in $(pgrep -u rabbitmq -x beam.smp || true); do
      log "the package started a system broker (pid $pid); stopping it"
      /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $(pgrep -u rabbitmq -x epmd || true); do
      log "stopping the epmd the system broker started (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    done
    log "installed rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null) in $(($(now) - started)) s"
  )
}

# rabbitmqctl against our node (the wrapper written at `up`, which tests run as $RABBITMQCTL).
rabbitmq_ctl() { # rabbitmqctl args...
  "$RABBITMQ_CTL_WRAPPER" "$@"
}

rabbitmq_password() { cat "$RABBITMQ_PASSWORD_FILE" 2>/dev/null; }

rabbitmq_api() { # path (below /api) -> the management API's JSON answer, as our user
  curl -sS --max-time 5 -u "$RABBITMQ_USER:$(rabbitmq_password)" "$RABBITMQ_MANAGEMENT_URL/api$1"
}

# A real AMQP 0-9-1 greeting: after the protocol header the server sends connection.start (a method frame on
# channel 0: type 1, channel 0, a 4-byte size, then class 10 method 10).
rabbitmq_amqp_handshake() {
  local reply
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 11 <&3 | od -An -tx1' _ "$RABBITMQ_PORT" 2>/dev/null) || return 1
  reply=${reply//[[:space:]]/}
  [[ "$reply" == 010000????????000a000a ]]
}

# AMQP answers, the management API knows our node (our user's password works), and the AMQPS listener is up.
rabbitmq_answers() {
  [[ -f "$RABBITMQ_PASSWORD_FILE" ]] || return 1
  rabbitmq_amqp_handshake || return 1
  [[ $(rabbitmq_api /overview 2>/dev/null | jq -r '.node' 2>/dev/null) == "$RABBITMQ_NODE" ]] || return 1
  [[ $(rabbitmq_api "/health/checks/port-listener/$RABBITMQ_TLS_PORT" 2>/dev/null | jq -r '.status' 2>/dev/null) == ok ]]
}

rabbitmq_version() {
  rabbitmq_api /overview 2>/dev/null | jq -r '.rabbitmq_version // empty' 2>/dev/null
}

# The broker's environment: only our RABBITMQ_* settings reach it (none of the caller's, e.g. the RABBITMQ_URL of
# an earlier `env`), and none of the system's files (rabbitmq-env.conf, advanced.config in /etc/rabbitmq) are read.
rabbitmq_environment() {
  local name
  for name in $(compgen -e); do
    [[ "$name" == RABBITMQ_* ]] && printf '%s\0' -u "$name"
  done
  printf '%s\0' \
    "HOME=$RABBITMQ_RUN/home" "ERL_EPMD_PORT=$RABBITMQ_EPMD_PORT" "ERL_CRASH_DUMP=$RABBITMQ_RUN/logs/erl_crash.dump" \
    "RABBITMQ_CONF_ENV_FILE=$RABBITMQ_RUN/rabbitmq-env.conf" \
    "RABBITMQ_ADVANCED_CONFIG_FILE=$RABBITMQ_RUN/advanced.config"
}

# The wrapper tests run as $RABBITMQCTL: rabbitmqctl -n our node, with the broker's HOME (the Erlang cookie) and epmd
# port, its own Erlang node on loopback too.
rabbitmq_write_ctl_wrapper() {
  # shellcheck disable=SC2016 # the wrapper's own expansions
  {
    echo '#!/usr/bin/env bash'
    echo "# rabbitmqctl against the test broker of scripts/services.sh (node $RABBITMQ_NODE); arguments are rabbitmqctl's."
    echo '# Written at each `up` of rabbitmq.'
    echo 'unset "${!RABBITMQ_@}"'
    printf 'export HOME=%q ERL_EPMD_PORT=%q ERL_CRASH_DUMP=%q\n' "$RABBITMQ_RUN/home" "$RABBITMQ_EPMD_PORT" \
      "$RABBITMQ_RUN/logs/rabbitmqctl-erl_crash.dump"
    printf 'export RABBITMQ_CONF_ENV_FILE=%q\n' "$RABBITMQ_RUN/rabbitmq-env.conf"
    printf 'export RABBITMQ_CTL_ERL_ARGS=%q\n' '-kernel inet_dist_use_interface {127,0,0,1}'
    printf 'exec %q -n %q "$@"\n' "$RABBITMQ_SCRIPTS/rabbitmqctl" "$RABBITMQ_NODE"
  } >"$RABBITMQ_CTL_WRAPPER"
  chmod 700 "$RABBITMQ_CTL_WRAPPER"
}

rabbitmq_launch_epmd() {
  claim_port "$RABBITMQ_EPMD_PORT" "rabbitmq epmd"
  # In the foreground (no -daemon), so that its pid is the one we stop.
  launch_native rabbitmq-epmd "$RABBITMQ_EPMD_PID_FILE" "$RABBITMQ_RUN/logs/epmd.log" \
    env ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$RABBITMQ_EPMD_PORT" epmd -address 127.0.0.1 -port "$RABBITMQ_EPMD_PORT"
  local deadline=$(($(now) + 10))
  until port_open "$RABBITMQ_EPMD_PORT"; do
    live_pid "$RABBITMQ_EPMD_PID_FILE" rabbitmq-epmd >/dev/null ||
      fail_with_log rabbitmq "epmd exited during start-up" "$RABBITMQ_RUN/logs/epmd.log"
    (($(now) < deadline)) || fail_with_log rabbitmq "epmd did not listen on 127.0.0.1:$RABBITMQ_EPMD_PORT within 10 s" \
      "$RABBITMQ_RUN/logs/epmd.log"
    sleep 0.1
  done
}

rabbitmq_launch() {
  local environment=()
  mapfile -d '' environment < <(rabbitmq_environment)
  # RUNNING_UNDER_SYSTEMD: the script execs the Erlang VM (erl, erlexec, beam.smp: one pid) instead of waiting on it
  # in a shell that turns signals into `rabbitmqctl stop`, so the pid we keep is the VM's: SIGTERM stops the broker
  # cleanly (the VM's signal handler), SIGKILL (--hard) kills it and nothing is left.
  launch_native rabbitmq "$RABBITMQ_VM_PID_FILE" "$RABBITMQ_RUN/logs/console.log" env "${environment[@]}" \
    RUNNING_UNDER_SYSTEMD=true \
    RABBITMQ_NODENAME="$RABBITMQ_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
    RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CONFIG_FILE="$RABBITMQ_RUN/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$RABBITMQ_RUN/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$RABBITMQ_RUN/mnesia" RABBITMQ_LOG_BASE="$RABBITMQ_RUN/logs" \
    RABBITMQ_PID_FILE="$RABBITMQ_RUN/broker.pid" RABBITMQ_PLUGINS_EXPAND_DIR="$RABBITMQ_RUN/plugins-expand" \
    "$RABBITMQ_SCRIPTS/rabbitmq-server"
  rabbitmq_await_vm
}

# The launch execs env, the package's script, erl, erlexec and beam.smp in that one pid; while an exec is under way
# /proc/<pid>/environ can read empty, and live_pid would take the booting broker for gone. So first wait until the
# pid is the VM's.
rabbitmq_await_vm() {
  local pid deadline=$(($(now) + 30))
  pid=$(cat "$RABBITMQ_VM_PID_FILE")
  until [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */beam.smp ]]; do
    kill -0 "$pid" 2>/dev/null ||
      fail_with_log rabbitmq "RabbitMQ exited during start-up" "$RABBITMQ_RUN/logs/console.log"
    (($(now) < deadline)) || return 0 # rabbitmq_wait reports it
    sleep 0.05
  done
}

rabbitmq_claim_ports() {
  claim_port "$RABBITMQ_PORT" "rabbitmq amqp"
  claim_port "$RABBITMQ_TLS_PORT" "rabbitmq amqps"
  claim_port "$RABBITMQ_DIST_PORT" "rabbitmq distribution"
  claim_port "$RABBITMQ_MANAGEMENT_PORT" "rabbitmq management"
}

rabbitmq_start() {
  rabbitmq_stop
  rabbitmq_claim_ports
  rm -rf "$RABBITMQ_RUN"
  mkdir -p "$RABBITMQ_RUN/logs" "$RABBITMQ_RUN/home" "$RABBITMQ_RUN/mnesia"
  chmod 700 "$RABBITMQ_RUN"
  make_tls "$RABBITMQ_RUN/tls" "$RABBITMQ_RUN/logs/tls.log"
  local password
  password=$(random_secret)
  (
    umask 077
    echo "$password" >"$RABBITMQ_PASSWORD_FILE"
    # The Erlang cookie of the node and of rabbitmqctl (both with this HOME); Erlang wants it readable by us only.
    random_secret >"$RABBITMQ_RUN/home/.erlang.cookie"
    chmod 400 "$RABBITMQ_RUN/home/.erlang.cookie"
    echo '# scripts/services.sh: RabbitMQ reads this instead of /etc/rabbitmq/rabbitmq-env.conf.' \
      >"$RABBITMQ_RUN/rabbitmq-env.conf"
    echo '[rabbitmq_management].' >"$RABBITMQ_RUN/enabled_plugins"
    # The default user is made when the database is new (at each `up`), instead of guest; it keeps its password
    # across restart-rabbitmq. AMQPS with the throwaway CA: clients verify the server, the server asks for no
    # client certificate. The management listener on loopback, like the others.
    cat >"$RABBITMQ_RUN/rabbitmq.conf" <<CONF
# Written by scripts/services.sh at \`up\` (new per \`up\`); AMQP on 127.0.0.1:$RABBITMQ_PORT from the environment.
listeners.ssl.default = 127.0.0.1:$RABBITMQ_TLS_PORT
ssl_options.cacertfile = $RABBITMQ_RUN/tls/ca.crt
ssl_options.certfile = $RABBITMQ_RUN/tls/server.crt
ssl_options.keyfile = $RABBITMQ_RUN/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
default_vhost = /
default_user = $RABBITMQ_USER
default_pass = $password
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBITMQ_MANAGEMENT_PORT
CONF
  )
  rabbitmq_write_ctl_wrapper
  log "starting epmd for rabbitmq on 127.0.0.1:$RABBITMQ_EPMD_PORT"
  rabbitmq_launch_epmd
  log "starting rabbitmq $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null): amqp 127.0.0.1:$RABBITMQ_PORT, amqps :$RABBITMQ_TLS_PORT, management $RABBITMQ_MANAGEMENT_URL, node $RABBITMQ_NODE (distribution :$RABBITMQ_DIST_PORT)"
  rabbitmq_launch
}

# The same node, config and data (queues and their messages, users); epmd stays up (started again if it is not).
rabbitmq_restart_keep_data() { # [--hard]
  [[ -f "$RABBITMQ_RUN/rabbitmq.conf" && -d "$RABBITMQ_RUN/mnesia" ]] ||
    die "no RabbitMQ state in $RABBITMQ_RUN to restart; run: $0 up rabbitmq"
  stop_service rabbitmq "$RABBITMQ_VM_PID_FILE" "${1:-}"
  rabbitmq_claim_ports
  live_pid "$RABBITMQ_EPMD_PID_FILE" rabbitmq-epmd >/dev/null || rabbitmq_launch_epmd
  log "restarting rabbitmq on 127.0.0.1:$RABBITMQ_PORT (data kept)"
  rabbitmq_launch
}

rabbitmq_wait() {
  local started deadline pid users logs=("$RABBITMQ_RUN/logs/console.log" "$RABBITMQ_RUN/logs/$RABBITMQ_NODE.log")
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    # The pid file was written by this launch (and rabbitmq_await_vm saw the pid become the VM): whether that pid
    # still runs is the question. live_pid's marker check reads /proc/<pid>/environ, which a booting VM can fail to
    # show for a moment: a restart once failed here with the broker alive and nothing in its console.
    pid=$(cat "$RABBITMQ_VM_PID_FILE" 2>/dev/null) && kill -0 "$pid" 2>/dev/null ||
      fail_with_log rabbitmq "RabbitMQ (pid ${pid:-?}) exited during start-up" "${logs[@]}"
    # await_startup returns once the node has booted (plugins and listeners included); before the node is
    # registered with epmd it fails at once.
    if rabbitmq_ctl -q await_startup --timeout 10 >/dev/null 2>&1 && rabbitmq_answers; then
      users=$(rabbitmq_api /users 2>/dev/null | jq -r '[.[] | .name + " [" + (.tags | join(",")) + "]"] | join(", ")' 2>/dev/null) || true
      [[ "$users" == "$RABBITMQ_USER [administrator]" ]] ||
        fail_with_log rabbitmq "RabbitMQ's users are '$users', not only $RABBITMQ_USER [administrator]" "${logs[@]}"
      log "rabbitmq answers on amqp 127.0.0.1:$RABBITMQ_PORT, amqps :$RABBITMQ_TLS_PORT and $RABBITMQ_MANAGEMENT_URL after $(($(now) - started)) s (pid $pid, user $users)"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service rabbitmq "$RABBITMQ_VM_PID_FILE" --hard
      fail_with_log rabbitmq "RabbitMQ did not answer (amqp :$RABBITMQ_PORT, $RABBITMQ_MANAGEMENT_URL) within ${SERVICES_TIMEOUT}s (stopped it)" \
        "${logs[@]}"
    fi
    sleep 0.5
  done
}

rabbitmq_restart() { # [--hard]
  rabbitmq_installed || die "RabbitMQ is not installed; run: $0 up rabbitmq"
  rabbitmq_restart_keep_data "${1:-}"
  rabbitmq_wait
}

# The VM (its children, erl_child_setup and inet_gethost, end with it), then our epmd.
rabbitmq_stop() {
  stop_service rabbitmq "$RABBITMQ_VM_PID_FILE"
  stop_service rabbitmq-epmd "$RABBITMQ_EPMD_PID_FILE"
}

rabbitmq_status() { # one line; fails unless RabbitMQ answers
  local pid=""
  if pid=$(live_pid "$RABBITMQ_VM_PID_FILE" rabbitmq) && rabbitmq_answers; then
    echo "rabbitmq: up, amqp 127.0.0.1:$RABBITMQ_PORT and amqps :$RABBITMQ_TLS_PORT (user $RABBITMQ_USER), management $RABBITMQ_MANAGEMENT_URL, node $RABBITMQ_NODE (pid $pid, version $(rabbitmq_version))"
  elif [[ -n "$pid" ]]; then
    echo "rabbitmq: running (pid $pid) but not answering on amqp :$RABBITMQ_PORT / $RABBITMQ_MANAGEMENT_URL"
    return 1
  else
    echo "rabbitmq: down"
    return 1
  fi
}

rabbitmq_env() {
  local password
  password=$(rabbitmq_password || true)
  printf 'export RABBITMQ_URL=%q\n' "amqp://$RABBITMQ_USER:$password@127.0.0.1:$RABBITMQ_PORT/%2f"
  printf 'export RABBITMQ_TLS_URL=%q\n' "amqps://$RABBITMQ_USER:$password@127.0.0.1:$RABBITMQ_TLS_PORT/%2f"
  printf 'export RABBITMQ_USER=%q\n' "$RABBITMQ_USER"
  printf 'export RABBITMQ_PASSWORD_FILE=%q\n' "$RABBITMQ_PASSWORD_FILE"
  printf 'export RABBITMQ_CA_FILE=%q\n' "$RABBITMQ_RUN/tls/ca.crt"
  printf 'export RABBITMQ_MANAGEMENT_URL=%q\n' "$RABBITMQ_MANAGEMENT_URL"
  printf 'export RABBITMQ_NODE=%q\n' "$RABBITMQ_NODE"
  printf 'export RABBITMQCTL=%q\n' "$RABBITMQ_CTL_WRAPPER"
}
