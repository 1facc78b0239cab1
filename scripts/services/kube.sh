# shellcheck shell=bash
# Kubernetes: etcd + kube-apiserver, built from the Go module in scripts/kube/, with Tekton's CRDs applied (from
# testdata/kubernetes/tekton-crds.json), and with them Tekton Triggers (scripts/services/triggers.sh). Sourced by
# scripts/services.sh, whose settings and helpers (scripts/services/common.sh) it uses.

ETCD_PORT=${ETCD_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-12380}
KUBE_APISERVER_PORT=${KUBE_APISERVER_PORT:-16443}
KUBE_SERVICE_CIDR=${KUBE_SERVICE_CIDR:-10.96.0.0/16}
KUBE_MODULE_DIR="$SCRIPT_DIR/kube"
KUBE_TESTDATA_DIR="$SCRIPT_DIR/../testdata/kubernetes"
KUBE_RUN="$RUN_DIR/kube"
ETCD_PID_FILE="$KUBE_RUN/etcd.pid"
KUBE_APISERVER_PID_FILE="$KUBE_RUN/kube-apiserver.pid"
KUBECONFIG_FILE="$KUBE_RUN/kubeconfig"

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

# kube's tools and Tekton Triggers' (scripts/services/triggers.sh); the two builds run side by side.
kube_prepare() {
  ensure_kube_tools
  ensure_triggers_tools
  prepare_jobs kube_build triggers_build
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

kube_start() {
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

# restart-kube-apiserver: etcd and its data stay up; the Triggers interceptors server is stopped first and started
# again afterwards (triggers_stop says why).
kube_restart() { # [--hard]
  ensure_kube_tools
  triggers_stop
  kube_restart_apiserver "${1:-}"
  kube_wait_apiserver
  kube_wait_crds
  triggers_restart
}

kube_stop() {
  triggers_stop
  stop_service kube-apiserver "$KUBE_APISERVER_PID_FILE"
  stop_service etcd "$ETCD_PID_FILE"
}

kube_status() { # one line; fails unless kube-apiserver (and etcd under it) answers
  local etcd_pid="" pid=""
  etcd_pid=$(live_pid "$ETCD_PID_FILE" etcd) || true
  if pid=$(live_pid "$KUBE_APISERVER_PID_FILE" kube-apiserver) && [[ -n "$etcd_pid" ]] && kube_answers; then
    echo "kube: up, kube-apiserver ready on https://127.0.0.1:$KUBE_APISERVER_PORT (pid $pid, version $KUBE_VERSION), etcd on http://127.0.0.1:$ETCD_PORT (pid $etcd_pid, version $(etcd_version)), KUBECONFIG=$KUBECONFIG_FILE"
  elif [[ -n "$pid" || -n "$etcd_pid" ]]; then
    echo "kube: running (kube-apiserver pid ${pid:-none}, etcd pid ${etcd_pid:-none}) but kube-apiserver not ready on https://127.0.0.1:$KUBE_APISERVER_PORT"
    return 1
  else
    echo "kube: down"
    return 1
  fi
}

# KUBECONFIG; the Tekton Triggers lines (triggers_env) come after every engine's own.
kube_env() {
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
}
