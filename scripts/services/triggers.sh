# shellcheck shell=bash
# Tekton Triggers beside the test kube-apiserver: the real EventListener sink (cmd/eventlistenersink) and the real
# core interceptors server (cmd/interceptors: cel with compareSecret, github, gitlab, bitbucket, slack), built from
# the Go module in scripts/triggers/, and Triggers' own CRDs. Sourced by scripts/services.sh, whose settings and
# helpers (go_command, kube_curl, make_tls, launch_native, stop_service, claim_port, ...) it uses.
#
# Nothing here starts a sink: a sink serves one EventListener, so a test starts its own after it has created that
# EventListener (and its TriggerTemplate and TriggerBinding), as the Triggers controller would start a pod:
#
#   NAMESPACE=<ns> NAME=<el> $TEKTON_TRIGGERS_SINK_BIN -kubeconfig "$KUBECONFIG" -el-name <el> -el-namespace <ns> \
#     -port <port>
#
# and stops it with SIGKILL (the sink ignores the first SIGTERM: its HTTP server does not watch the signal context;
# a second SIGTERM exits). It listens on :<port>, every interface (it has no flag for the address), answers GET /live
# with 200 "ok" once it serves, and acts with the kubeconfig's admin token (no RBAC objects needed). A POST with a
# JSON body is answered 202 {"eventListener","namespace","eventListenerUID","eventID"} at once; the triggers run
# after the answer, and each object a TriggerTemplate creates carries the label
# triggers.tekton.dev/triggers-eventid=<eventID>. An event an interceptor refuses (a wrong secret) is answered 202
# all the same and makes nothing: the sink only logs it, at debug level (K_LOGGING_CONFIG='{"loglevel.eventlistener":
# "debug"}'). A body that is not JSON is answered 400 with "errorMessage", an EventListener that does not exist 500
# with no body. The sink reads the EventListener and its objects through informers: created after the sink started,
# they are seen within about a second.
#
# What `up kube` sets up for it (triggers_up): the seven Triggers CRDs, read from the module of the pinned version
# (kept beside the binaries at build time); the namespace $TRIGGERS_SYSTEM_NAMESPACE; and the interceptors server,
# with a certificate of a throwaway CA (new per `up`) for 127.0.0.1 in the Secret it reads, and the five core
# ClusterInterceptors pointing at https://127.0.0.1:8443/<name> with that CA as caBundle. The sink needs those
# ClusterInterceptors even for triggers without interceptors: it refuses to start ("empty caBundle in
# clusterInterceptor spec") unless at least one ClusterInterceptor labelled server/type=https exists and every such
# one has a caBundle. There is no Triggers webhook, so nothing defaults or validates Triggers objects: an interceptor
# ref must name its kind (ref: {name: cel, kind: ClusterInterceptor}), else the sink posts to an empty URL.

TRIGGERS_MODULE_DIR="$SCRIPT_DIR/triggers"
TRIGGERS_RUN="$RUN_DIR/triggers"
# The namespace the interceptors server reads its certificate Secret from (SYSTEM_NAMESPACE), as in a release.
TRIGGERS_SYSTEM_NAMESPACE=tekton-pipelines
TRIGGERS_INTERCEPTORS_SECRET=tekton-triggers-core-interceptors-certs
# Fixed in cmd/interceptors (HTTPSPort), on every interface: it cannot be moved, so one server per machine.
TRIGGERS_INTERCEPTORS_PORT=8443
TRIGGERS_INTERCEPTORS_URL="https://127.0.0.1:$TRIGGERS_INTERCEPTORS_PORT"
TRIGGERS_INTERCEPTORS_PID_FILE="$TRIGGERS_RUN/interceptors.pid"
# The interceptors the server serves (pkg/interceptors/server), each a ClusterInterceptor of that name and path.
TRIGGERS_CORE_INTERCEPTORS=(bitbucket cel github gitlab slack)
TRIGGERS_SMOKE_PORT=${TRIGGERS_SMOKE_PORT:-18091}
TRIGGERS_SMOKE_NAMESPACE=${TRIGGERS_SMOKE_NAMESPACE:-triggers-smoke}

triggers_version() { # the github.com/tektoncd/triggers version that scripts/triggers/go.mod requires, without the v
  sed -n 's|^[[:space:]]*\(require[[:space:]]\{1,\}\)\{0,1\}github\.com/tektoncd/triggers v\([0-9][0-9.]*\).*|\2|p' \
    "$TRIGGERS_MODULE_DIR/go.mod" | head -n 1
}

TRIGGERS_VERSION=$(triggers_version)
TRIGGERS_HOME="$CACHE_DIR/triggers-${TRIGGERS_VERSION:-unknown}"
TRIGGERS_SINK_BIN="$TRIGGERS_HOME/bin/eventlistenersink"
TRIGGERS_INTERCEPTORS_BIN="$TRIGGERS_HOME/bin/interceptors"

# curl, jq and openssl (the interceptors' certificate) are on the machine image; installed from Debian if not.
ensure_triggers_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  install_missing "${missing[@]}"
  [[ -n "$TRIGGERS_VERSION" ]] || die "no 'github.com/tektoncd/triggers vX.Y.Z' requirement found in $TRIGGERS_MODULE_DIR/go.mod"
}

# go build of the sink and the interceptors server (tools of the wrapper module) as for Mailpit: modules in
# $CACHE_DIR/go/mod, a build cache of its own (about 1.2 GB) that is removed after a successful build. The CRDs
# (config/300-*.yaml of the same module version) are kept beside the binaries, so a start reads them from the cache
# even if the module cache is cleaned. Needs no kube: it runs side by side with kube_build.
triggers_build() {
  [[ -f "$TRIGGERS_HOME/.complete" && -x "$TRIGGERS_SINK_BIN" && -x "$TRIGGERS_INTERCEPTORS_BIN" ]] && return 0
  local go
  go=$(go_command) || die "building Tekton Triggers needs Go 1.26.4 or newer (set GO=/path/to/go)"
  mkdir -p "$CACHE_DIR"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-triggers.lock"
      flock 9
    fi
    [[ -f "$TRIGGERS_HOME/.complete" ]] && exit 0
    local tmp="$TRIGGERS_HOME.partial.$$" started rc=0
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp/src" "$tmp/bin" "$tmp/config"
    cp "$TRIGGERS_MODULE_DIR/go.mod" "$TRIGGERS_MODULE_DIR/go.sum" "$tmp/src/"
    log "building Tekton Triggers v$TRIGGERS_VERSION (eventlistenersink, interceptors) with $("$go" version | cut -d' ' -f3) (first time only; about 2 minutes) ..."
    (
      export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build-cache-triggers" CGO_ENABLED=0
      export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false"
      cd "$tmp/src" &&
        "$go" build -trimpath -ldflags "-s -w" -o "$tmp/bin/eventlistenersink" github.com/tektoncd/triggers/cmd/eventlistenersink &&
        "$go" build -trimpath -ldflags "-s -w" -o "$tmp/bin/interceptors" github.com/tektoncd/triggers/cmd/interceptors &&
        module_dir=$("$go" list -m -f '{{.Dir}}' github.com/tektoncd/triggers) &&
        cp "$module_dir"/config/300-*.yaml "$tmp/config/" && chmod u+w "$tmp"/config/*.yaml
    ) >"$tmp/build.log" 2>&1 || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building Tekton Triggers with go failed (see above)"
    fi
    # Neither binary has a version flag; -h (exit 0) shows that each runs and has the flags used here.
    if ! { "$tmp/bin/eventlistenersink" -h && "$tmp/bin/interceptors" -h; } >"$tmp/flags.txt" 2>&1 ||
      ! grep -q -- -el-namespace "$tmp/flags.txt" || ! grep -q -- -kubeconfig "$tmp/flags.txt" ||
      (($(find "$tmp/config" -name '300-*.yaml' | wc -l) != 7)); then
      tail -n 20 "$tmp/flags.txt" >&2
      rm -rf "$tmp"
      die "the built Tekton Triggers binaries do not run, or the module has not the 7 CRDs in config/300-*.yaml"
    fi
    rm -rf "$tmp/src" "$CACHE_DIR/go/build-cache-triggers"
    rm -rf "$TRIGGERS_HOME"
    mv "$tmp" "$TRIGGERS_HOME"
    printf 'triggers %s built %s in %s s\n' "$TRIGGERS_VERSION" "$(date -u +%FT%TZ)" "$(($(now) - started))" \
      >"$TRIGGERS_HOME/.complete"
    log "built Tekton Triggers in $(($(now) - started)) s into $TRIGGERS_HOME/bin"
  )
}

# POST each Triggers CRD (kube-apiserver takes the release's YAML as it is: Content-Type application/yaml), then
# wait until each is Established and a list of its storage version answers 200.
triggers_apply_crds() {
  local file code out name names=() started deadline version plural
  started=$(now)
  for file in "$TRIGGERS_HOME"/config/300-*.yaml; do
    [[ -f "$file" ]] || die "no Triggers CRDs in $TRIGGERS_HOME/config (rebuild: rm -rf $TRIGGERS_HOME)"
    out="$KUBE_RUN/logs/triggers-crd-$(basename "$file" .yaml).json"
    code=$(kube_curl --max-time 30 -o "$out" -w '%{http_code}' -X POST -H 'Content-Type: application/yaml' \
      --data-binary "@$file" "$(kube_url /apis/apiextensions.k8s.io/v1/customresourcedefinitions)") || code=000
    [[ "$code" == 201 || "$code" == 409 ]] ||
      fail_with_log kube-apiserver "creating the Triggers CRD in $(basename "$file") answered HTTP $code" "$out"
    names+=("$(jq -r '.metadata.name // .details.name' "$out")")
  done
  deadline=$((started + SERVICES_TIMEOUT))
  for name in "${names[@]}"; do
    plural=${name%%.*}
    until out=$(kube_curl --max-time 5 "$(kube_url "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name")" 2>/dev/null) &&
      [[ $(jq -r '.status.conditions[]? | select(.type == "Established") | .status' <<<"$out" 2>/dev/null) == True ]] &&
      version=$(jq -r '.spec.versions[] | select(.storage) | .name' <<<"$out") &&
      [[ $(kube_curl --max-time 5 -o /dev/null -w '%{http_code}' \
        "$(kube_url "/apis/triggers.tekton.dev/$version/$plural")" 2>/dev/null) == 200 ]]; do
      (($(now) < deadline)) ||
        fail_with_log kube-apiserver "Triggers CRD $name not established and served within ${SERVICES_TIMEOUT}s" "$KUBE_RUN/logs/kube-apiserver.log"
      sleep 0.2
    done
  done
  log "Tekton Triggers v$TRIGGERS_VERSION CRDs established and served (${names[*]%%.*}) after $(($(now) - started)) s"
}

# Create or replace an object by server-side apply (JSON is YAML).
triggers_apply() { # api-path json
  local code
  code=$(kube_curl --max-time 30 -o "$TRIGGERS_RUN/logs/apply.json" -w '%{http_code}' -X PATCH \
    -H 'Content-Type: application/apply-patch+yaml' --data-binary @- \
    "$(kube_url "$1?fieldManager=tekton-graph-services&force=true")" <<<"$2") || code=000
  [[ "$code" == 200 || "$code" == 201 ]] ||
    fail_with_log triggers "applying $1 answered HTTP $code" "$TRIGGERS_RUN/logs/apply.json"
}

# The namespace, the interceptors' certificate Secret, the core ClusterInterceptors, then the interceptors server.
# The server keeps the certificate it finds in the Secret (it makes its own only for an empty one, for the
# in-cluster service name, which 127.0.0.1 would not match), and every minute sets the ClusterInterceptors' caBundle
# to the Secret's CA: the same one as here.
triggers_start_fresh() {
  stop_service triggers-interceptors "$TRIGGERS_INTERCEPTORS_PID_FILE"
  claim_port "$TRIGGERS_INTERCEPTORS_PORT" "triggers interceptors"
  rm -rf "$TRIGGERS_RUN"
  mkdir -p "$TRIGGERS_RUN/logs"
  chmod 700 "$TRIGGERS_RUN"
  make_tls "$TRIGGERS_RUN/tls" "$TRIGGERS_RUN/logs/tls.log"
  local ca name
  ca=$(base64 -w0 <"$TRIGGERS_RUN/tls/ca.crt")
  triggers_apply "/api/v1/namespaces/$TRIGGERS_SYSTEM_NAMESPACE" \
    "$(jq -nc --arg n "$TRIGGERS_SYSTEM_NAMESPACE" '{apiVersion: "v1", kind: "Namespace", metadata: {name: $n}}')"
  triggers_apply "/api/v1/namespaces/$TRIGGERS_SYSTEM_NAMESPACE/secrets/$TRIGGERS_INTERCEPTORS_SECRET" "$(
    jq -nc --arg n "$TRIGGERS_INTERCEPTORS_SECRET" --arg ca "$ca" --arg crt "$(base64 -w0 <"$TRIGGERS_RUN/tls/server.crt")" \
      --arg key "$(base64 -w0 <"$TRIGGERS_RUN/tls/server.key")" \
      '{apiVersion: "v1", kind: "Secret", metadata: {name: $n},
        data: {"ca-cert.pem": $ca, "server-cert.pem": $crt, "server-key.pem": $key}}'
  )"
  for name in "${TRIGGERS_CORE_INTERCEPTORS[@]}"; do
    triggers_apply "/apis/triggers.tekton.dev/v1alpha1/clusterinterceptors/$name" "$(
      jq -nc --arg n "$name" --arg url "$TRIGGERS_INTERCEPTORS_URL/$name" --arg ca "$ca" \
        '{apiVersion: "triggers.tekton.dev/v1alpha1", kind: "ClusterInterceptor",
          metadata: {name: $n, labels: {"server/type": "https"}}, spec: {clientConfig: {url: $url, caBundle: $ca}}}'
    )"
  done
  triggers_launch_interceptors
}

triggers_launch_interceptors() {
  log "starting Tekton Triggers interceptors v$TRIGGERS_VERSION on $TRIGGERS_INTERCEPTORS_URL (${TRIGGERS_CORE_INTERCEPTORS[*]})"
  launch_native triggers-interceptors "$TRIGGERS_INTERCEPTORS_PID_FILE" "$TRIGGERS_RUN/logs/interceptors.log" \
    env SYSTEM_NAMESPACE="$TRIGGERS_SYSTEM_NAMESPACE" INTERCEPTOR_TLS_SECRET_NAME="$TRIGGERS_INTERCEPTORS_SECRET" \
    INTERCEPTOR_TLS_SVC_NAME=tekton-triggers-core-interceptors \
    "$TRIGGERS_INTERCEPTORS_BIN" -kubeconfig "$KUBECONFIG_FILE"
}

triggers_interceptors_answer() {
  [[ $(curl -sS --max-time 5 --cacert "$TRIGGERS_RUN/tls/ca.crt" -o /dev/null -w '%{http_code}' \
    "$TRIGGERS_INTERCEPTORS_URL/ready" 2>/dev/null) == 200 ]]
}

triggers_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$TRIGGERS_INTERCEPTORS_PID_FILE" triggers-interceptors) ||
      fail_with_log triggers "the interceptors server exited during start-up" "$TRIGGERS_RUN/logs/interceptors.log"
    if triggers_interceptors_answer; then
      log "Tekton Triggers interceptors ready on $TRIGGERS_INTERCEPTORS_URL after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service triggers-interceptors "$TRIGGERS_INTERCEPTORS_PID_FILE" --hard
      fail_with_log triggers "the interceptors server did not answer on $TRIGGERS_INTERCEPTORS_URL/ready within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$TRIGGERS_RUN/logs/interceptors.log"
    fi
    sleep 0.2
  done
}

# In the kube wait path, once kube-apiserver and Tekton's CRDs are up.
triggers_up() {
  triggers_apply_crds
  triggers_start_fresh
  triggers_wait
}

# Before kube-apiserver stops: while the interceptors server holds its watches open, kube-apiserver does not stop
# on SIGTERM within $SERVICES_STOP_TIMEOUT (seen: 60 s, then SIGKILL; 4 s without it).
triggers_stop() {
  stop_service triggers-interceptors "$TRIGGERS_INTERCEPTORS_PID_FILE"
}

# After restart-kube-apiserver (etcd kept): the same server again, with the certificate and objects of this `up`.
triggers_restart() {
  [[ -f "$TRIGGERS_RUN/tls/ca.crt" ]] || return 0
  claim_port "$TRIGGERS_INTERCEPTORS_PORT" "triggers interceptors"
  triggers_launch_interceptors
  triggers_wait
}

triggers_env() {
  printf 'export TEKTON_TRIGGERS_VERSION=%q\n' "$TRIGGERS_VERSION"
  printf 'export TEKTON_TRIGGERS_SINK_BIN=%q\n' "$TRIGGERS_SINK_BIN"
  printf 'export TEKTON_TRIGGERS_INTERCEPTORS_BIN=%q\n' "$TRIGGERS_INTERCEPTORS_BIN"
  printf 'export TEKTON_TRIGGERS_INTERCEPTORS_URL=%q\n' "$TRIGGERS_INTERCEPTORS_URL"
  printf 'export TEKTON_TRIGGERS_INTERCEPTORS_CA_FILE=%q\n' "$TRIGGERS_RUN/tls/ca.crt"
  printf 'export TEKTON_TRIGGERS_SYSTEM_NAMESPACE=%q\n' "$TRIGGERS_SYSTEM_NAMESPACE"
}

# ---------------------------------------------------------------------------------------------------------------
# Smoke: what a test does, end to end, in namespace $TRIGGERS_SMOKE_NAMESPACE (not default, where other tests list
# PipelineRuns; it stays, as no controller finishes a namespace deletion). A TriggerTemplate making a tekton.dev/v1
# PipelineRun from $(tt.params.image), a TriggerBinding of $(body.image), and two EventListeners, each served by a
# sink of its own: "open" (no interceptor) and "guarded" (the cel ClusterInterceptor, compareSecret against a
# Secret). Each accepted POST must show up as exactly one PipelineRun labelled with the eventID of the answer; a POST
# with a wrong secret is answered 202 too, and must make none (the sink logs at debug level that the interceptor
# stopped it). Everything it made is deleted at the end.
TRIGGERS_SMOKE_PIDS=()

triggers_smoke_cleanup() {
  local pid ns_api="/apis/triggers.tekton.dev/v1beta1/namespaces/$TRIGGERS_SMOKE_NAMESPACE" n=$1
  for pid in "${TRIGGERS_SMOKE_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  kube_curl --max-time 10 -o /dev/null -X DELETE \
    "$(kube_url "/apis/tekton.dev/v1/namespaces/$TRIGGERS_SMOKE_NAMESPACE/pipelineruns?labelSelector=triggers.tekton.dev/eventlistener+in+($n-open,$n-guarded)")" || true
  kube_curl --max-time 10 -o /dev/null -X DELETE "$(kube_url "$ns_api/eventlisteners/$n-open")" || true
  kube_curl --max-time 10 -o /dev/null -X DELETE "$(kube_url "$ns_api/eventlisteners/$n-guarded")" || true
  kube_curl --max-time 10 -o /dev/null -X DELETE "$(kube_url "$ns_api/triggertemplates/$n")" || true
  kube_curl --max-time 10 -o /dev/null -X DELETE "$(kube_url "$ns_api/triggerbindings/$n")" || true
  kube_curl --max-time 10 -o /dev/null -X DELETE "$(kube_url "/api/v1/namespaces/$TRIGGERS_SMOKE_NAMESPACE/secrets/$n")" || true
}

# Starts a sink for EventListener $1 on port $2 (debug logging: the interceptor's refusals are logged at debug).
triggers_smoke_sink() { # el port log
  # Not claim_port: that would stop a service of ours that holds the port.
  ! port_open "$2" || die "port $2 (for the smoke sink of $1) is in use; set TRIGGERS_SMOKE_PORT (it uses that one and the next)"
  NAMESPACE=$TRIGGERS_SMOKE_NAMESPACE NAME=$1 \
    K_LOGGING_CONFIG='{"loglevel.eventlistener":"debug"}' \
    setsid "$TRIGGERS_SINK_BIN" -kubeconfig "$KUBECONFIG_FILE" -el-name "$1" -el-namespace "$TRIGGERS_SMOKE_NAMESPACE" \
    -port "$2" </dev/null >"$3" 2>&1 &
  TRIGGERS_SMOKE_PIDS+=($!)
  disown # no "Killed" job notices at the cleanup
}

triggers_smoke_wait_live() { # port log
  local deadline=$(($(now) + 60))
  until [[ $(curl -sS --max-time 2 "http://127.0.0.1:$1/live" 2>/dev/null) == ok ]]; do
    (($(now) < deadline)) || fail_with_log triggers "the sink on port $1 did not answer GET /live within 60 s" "$2"
    sleep 0.2
  done
}

triggers_smoke_post() { # port json [header] -> prints the eventID of a 202 answer
  local answer code
  answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    ${3:+-H "$3"} --data-binary "$2" "http://127.0.0.1:$1/") || die "POST to the sink on port $1 failed"
  code=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  echo "POST :$1 ${3:+($3) }$2 -> $code $(jq -c . <<<"$answer" 2>/dev/null || echo "$answer")" >&2
  [[ "$code" == 202 ]] || die "the sink on port $1 answered HTTP $code: $answer"
  jq -er '.eventID' <<<"$answer" || die "no eventID in the sink's answer: $answer"
}

triggers_smoke_runs() { # eventID -> the PipelineRuns labelled with it
  kube_curl --max-time 10 \
    "$(kube_url "/apis/tekton.dev/v1/namespaces/$TRIGGERS_SMOKE_NAMESPACE/pipelineruns?labelSelector=triggers.tekton.dev/triggers-eventid%3D$1")"
}

triggers_smoke_expect_run() { # eventID image
  local deadline=$(($(now) + 30)) runs
  until runs=$(triggers_smoke_runs "$1") && [[ $(jq '.items | length' <<<"$runs") -ge 1 ]]; do
    (($(now) < deadline)) || die "no PipelineRun labelled triggers.tekton.dev/triggers-eventid=$1 within 30 s"
    sleep 0.2
  done
  sleep 0.5 # a second one would be a bug: look again
  runs=$(triggers_smoke_runs "$1")
  echo "PipelineRun: $(jq -c '.items[] | {apiVersion, name: .metadata.name, generateName: .metadata.generateName, labels: .metadata.labels, params: .spec.params}' <<<"$runs")"
  [[ $(jq '.items | length' <<<"$runs") == 1 ]] || die "more than one PipelineRun for event $1"
  [[ $(jq -r '.items[0].spec.params[] | select(.name == "image") | .value' <<<"$runs") == "$2" ]] ||
    die "the PipelineRun of event $1 has not image=$2"
}

triggers_smoke() {
  kube_answers || die "kube-apiserver does not answer; run: $0 up kube"
  triggers_interceptors_answer || die "the Triggers interceptors server does not answer on $TRIGGERS_INTERCEPTORS_URL; run: $0 up kube"
  local n secret ns_api open_port guarded_port id wrong logs="$TRIGGERS_RUN/logs" deadline
  n="smoke-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  secret=$(random_secret)
  ns_api="/apis/triggers.tekton.dev/v1beta1/namespaces/$TRIGGERS_SMOKE_NAMESPACE"
  open_port=$TRIGGERS_SMOKE_PORT
  guarded_port=$((TRIGGERS_SMOKE_PORT + 1))
  # shellcheck disable=SC2064 # $n now
  trap "triggers_smoke_cleanup $n" EXIT
  triggers_apply "/api/v1/namespaces/$TRIGGERS_SMOKE_NAMESPACE" \
    "$(jq -nc --arg n "$TRIGGERS_SMOKE_NAMESPACE" '{apiVersion: "v1", kind: "Namespace", metadata: {name: $n}}')"
  triggers_apply "/api/v1/namespaces/$TRIGGERS_SMOKE_NAMESPACE/secrets/$n" \
    "$(jq -nc --arg n "$n" --arg s "$secret" '{apiVersion: "v1", kind: "Secret", metadata: {name: $n}, stringData: {token: $s}}')"
  # shellcheck disable=SC2016 # $(tt.params.image) and $(body.image) are Triggers' own syntax
  triggers_apply "$ns_api/triggertemplates/$n" "$(jq -nc --arg n "$n" '{apiVersion: "triggers.tekton.dev/v1beta1",
    kind: "TriggerTemplate", metadata: {name: $n}, spec: {params: [{name: "image"}], resourcetemplates: [{
      apiVersion: "tekton.dev/v1", kind: "PipelineRun", metadata: {generateName: ($n + "-")},
      spec: {pipelineRef: {name: "build-and-scan"}, params: [{name: "image", value: "$(tt.params.image)"}]}}]}}')"
  # shellcheck disable=SC2016
  triggers_apply "$ns_api/triggerbindings/$n" "$(jq -nc --arg n "$n" '{apiVersion: "triggers.tekton.dev/v1beta1",
    kind: "TriggerBinding", metadata: {name: $n}, spec: {params: [{name: "image", value: "$(body.image)"}]}}')"
  triggers_apply "$ns_api/eventlisteners/$n-open" "$(jq -nc --arg n "$n" '{apiVersion: "triggers.tekton.dev/v1beta1",
    kind: "EventListener", metadata: {name: ($n + "-open")},
    spec: {triggers: [{name: "build", bindings: [{ref: $n}], template: {ref: $n}}]}}')"
  triggers_apply "$ns_api/eventlisteners/$n-guarded" "$(jq -nc --arg n "$n" '{apiVersion: "triggers.tekton.dev/v1beta1",
    kind: "EventListener", metadata: {name: ($n + "-guarded")},
    spec: {triggers: [{name: "build", bindings: [{ref: $n}], template: {ref: $n},
      interceptors: [{ref: {name: "cel", kind: "ClusterInterceptor"}, params: [{name: "filter",
        value: ("header.canonical(\u0027X-Tekton-Graph-Secret\u0027).compareSecret(\u0027token\u0027, \u0027" + $n + "\u0027)")}]}]}]}}')"
  triggers_smoke_sink "$n-open" "$open_port" "$logs/$n-open.log"
  triggers_smoke_sink "$n-guarded" "$guarded_port" "$logs/$n-guarded.log"
  triggers_smoke_wait_live "$open_port" "$logs/$n-open.log"
  triggers_smoke_wait_live "$guarded_port" "$logs/$n-guarded.log"
  echo "sinks for $TRIGGERS_SMOKE_NAMESPACE/$n-open on :$open_port and $n-guarded on :$guarded_port answer /live"

  id=$(triggers_smoke_post "$open_port" '{"image":"registry.example/open:1"}')
  triggers_smoke_expect_run "$id" registry.example/open:1

  wrong=$(triggers_smoke_post "$guarded_port" '{"image":"registry.example/wrong:1"}' "X-Tekton-Graph-Secret: not-$secret")
  id=$(triggers_smoke_post "$guarded_port" '{"image":"registry.example/guarded:1"}' "X-Tekton-Graph-Secret: $secret")
  triggers_smoke_expect_run "$id" registry.example/guarded:1
  deadline=$(($(now) + 30))
  until grep -q "interceptor stopped trigger processing.*$wrong\|$wrong.*interceptor stopped trigger processing" \
    "$logs/$n-guarded.log"; do
    (($(now) < deadline)) || fail_with_log triggers "the guarded sink did not log that the interceptor stopped event $wrong" "$logs/$n-guarded.log"
    sleep 0.2
  done
  [[ $(triggers_smoke_runs "$wrong" | jq '.items | length') == 0 ]] || die "a PipelineRun was made for event $wrong, whose secret was wrong"
  echo "wrong secret: event $wrong stopped by the cel interceptor (compareSecret), no PipelineRun"
  echo "triggers smoke: ok"
}
