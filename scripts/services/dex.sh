# shellcheck shell=bash
# Dex: an OpenID Connect provider, built from the Go module in scripts/dex/, configured from
# scripts/services/dex.yaml.in (in-memory storage, static client and users). Sourced by scripts/services.sh, whose
# settings and helpers (scripts/services/common.sh) it uses.

DEX_PORT=${DEX_PORT:-15556}
GRAPH_TEST_UI_PORT=${GRAPH_TEST_UI_PORT:-18080}
DEX_PASSWORD=${DEX_PASSWORD:-tekton-graph-test}
DEX_MODULE_DIR="$SCRIPT_DIR/dex"
DEX_RUN="$RUN_DIR/dex"
DEX_PID_FILE="$DEX_RUN/dex.pid"
DEX_CLIENT_SECRET_FILE="$DEX_RUN/client-secret"
DEX_ISSUER="http://127.0.0.1:$DEX_PORT/dex"
DEX_CLIENT_ID=tekton-graph

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

dex_prepare() {
  ensure_dex_tools
  prepare_jobs dex_build
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

dex_start() {
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
dex_restart_keep_config() { # [--hard]
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

dex_restart() { # [--hard]
  ensure_dex_tools
  dex_restart_keep_config "${1:-}"
  dex_wait
}

dex_stop() {
  stop_service dex "$DEX_PID_FILE"
}

dex_status() { # one line; fails unless Dex answers
  local pid=""
  if pid=$(live_pid "$DEX_PID_FILE" dex) && dex_answers; then
    echo "dex: up, issuer $DEX_ISSUER (pid $pid, version $DEX_VERSION, signing key $(dex_kids)), client $DEX_CLIENT_ID"
  elif [[ -n "$pid" ]]; then
    echo "dex: running (pid $pid) but not answering on $DEX_ISSUER"
    return 1
  else
    echo "dex: down"
    return 1
  fi
}

dex_env() {
  printf 'export DEX_ISSUER=%q\n' "$DEX_ISSUER"
  printf 'export DEX_CLIENT_ID=%q\n' "$DEX_CLIENT_ID"
  printf 'export DEX_CLIENT_SECRET=%q\n' "$(dex_client_secret || true)"
  printf 'export DEX_PASSWORD=%q\n' "$DEX_PASSWORD"
  printf 'export GRAPH_TEST_UI_PORT=%q\n' "$GRAPH_TEST_UI_PORT"
}
