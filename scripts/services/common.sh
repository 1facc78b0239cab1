# shellcheck shell=bash
# The helpers every engine file uses (logging, the Debian fallback, Maven fetches, Go, starting, finding and stopping
# the processes this script started, test certificates and secrets). Sourced first by scripts/services.sh, whose
# settings (CACHE_DIR, RUN_DIR, SUPPORT_DIR, SERVICES_TIMEOUT, SERVICES_STOP_TIMEOUT) it uses.

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
# The JVM engines (Kafka, Neo4j): Java from JAVA_HOME if set.
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

# ---------------------------------------------------------------------------------------------------------------
# Prerequisites: a JDK (17+), Maven, curl, openssl (the test certificates). Installed from Debian when missing and
# we are root (the machine image normally has them all). Checked once, however many of the JVM engines ask.
ENSURE_TOOLS_DONE=
ensure_tools() {
  [[ -z "$ENSURE_TOOLS_DONE" ]] || return 0
  local missing=()
  command -v "$JAVA" >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  install_missing "${missing[@]}"
  local major
  major=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ -n "$major" && "$major" -ge 17 ]] || die "Java 17 or newer is needed (found '${major:-unknown}' at $JAVA)"
  ENSURE_TOOLS_DONE=1
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

# Kafka and Neo4j in one job, one after the other, whichever of the two is started (kafka_fetch and neo4j_fetch are
# in their engine files).
fetch_all() {
  kafka_fetch
  neo4j_fetch
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
  await_exec "$pid_file" "$service"
}

# Until the program started in the background has replaced the forked shell (its marker is visible): before that,
# /proc shows the shell's command line and environment, and a wait would take the service for dead.
await_exec() { # pid-file service
  local pid tries=0
  pid=$(cat "$1")
  while kill -0 "$pid" 2>/dev/null && ! live_pid "$1" "$2" >/dev/null && ((tries < 100)); do
    sleep 0.05
    tries=$((tries + 1))
  done
}

# The same for a native program (etcd, kube-apiserver, dex), marked through its environment.
launch_native() { # service pid-file console-log program args...
  local service=$1 pid_file=$2 console=$3
  shift 3
  TEKTON_GRAPH_SERVICE=$service TEKTON_GRAPH_RUN=$RUN_DIR nohup setsid "$@" </dev/null >"$console" 2>&1 &
  echo $! >"$pid_file"
  disown
  await_exec "$pid_file" "$service"
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
# Secrets and certificates.

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

# ---------------------------------------------------------------------------------------------------------------
# Go (the kube, Dex, Mailpit and Tekton Triggers builds).
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

# ---------------------------------------------------------------------------------------------------------------
# The fetches, builds and installs that the engines' <engine>_prepare name for `up` and `fetch`, each once (Kafka and
# Neo4j share fetch_all).
PREPARE_JOBS=()
prepare_jobs() { # function...
  local job
  for job in "$@"; do
    [[ " ${PREPARE_JOBS[*]} " == *" $job "* ]] || PREPARE_JOBS+=("$job")
  done
}

# Runs the named functions (the engines' fetches, builds and installs: fetch_all, kube_build, triggers_build,
# dex_build, mailpit_build, rabbitmq_install) as background jobs and waits for all of them; fails if any failed. Cold
# Go builds take minutes each: side by side, one compiles while another downloads modules.
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
