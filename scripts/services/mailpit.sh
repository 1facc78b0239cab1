# shellcheck shell=bash
# Mailpit: a real SMTP server with an HTTP API (tests read mail back with GET /api/v1/messages and make the SMTP
# server fail with PUT /api/v1/chaos), built from the Go module in scripts/mailpit/. Sourced by scripts/services.sh,
# whose settings and helpers (scripts/services/common.sh: go_command, make_tls, random_secret, launch_native,
# stop_service, ...) it uses.

MAILPIT_SMTP_PORT=${MAILPIT_SMTP_PORT:-11025}
MAILPIT_HTTP_PORT=${MAILPIT_HTTP_PORT:-18025}
MAILPIT_USER=tekton-graph
MAILPIT_MODULE_DIR="$SCRIPT_DIR/mailpit"
MAILPIT_RUN="$RUN_DIR/mailpit"
MAILPIT_PID_FILE="$MAILPIT_RUN/mailpit.pid"
MAILPIT_PASSWORD_FILE="$MAILPIT_RUN/smtp-password"
MAILPIT_API="http://127.0.0.1:$MAILPIT_HTTP_PORT"

mailpit_version() { # the github.com/axllent/mailpit version that scripts/mailpit/go.mod requires, without the v
  sed -n 's|^[[:space:]]*\(require[[:space:]]\{1,\}\)\{0,1\}github\.com/axllent/mailpit v\([0-9][0-9.]*\).*|\2|p' \
    "$MAILPIT_MODULE_DIR/go.mod" | head -n 1
}

MAILPIT_VERSION=$(mailpit_version)
MAILPIT_HOME="$CACHE_DIR/mailpit-${MAILPIT_VERSION:-unknown}"
MAILPIT_BIN="$MAILPIT_HOME/bin/mailpit"

# curl, jq and openssl (the STARTTLS certificate) are on the machine image; installed from Debian if not.
ensure_mailpit_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  install_missing "${missing[@]}"
  [[ -n "$MAILPIT_VERSION" ]] || die "no 'github.com/axllent/mailpit vX.Y.Z' requirement found in $MAILPIT_MODULE_DIR/go.mod"
}

mailpit_prepare() {
  ensure_mailpit_tools
  prepare_jobs mailpit_build
}

# go build of github.com/axllent/mailpit (a tool of the wrapper module) as for Dex: modules in $CACHE_DIR/go/mod,
# a build cache of its own that is removed after a successful build. CGO_ENABLED=0: its SQLite is pure Go.
mailpit_build() {
  [[ -f "$MAILPIT_HOME/.complete" && -x "$MAILPIT_BIN" ]] && return 0
  local go
  go=$(go_command) || die "building mailpit needs Go 1.26 or newer (set GO=/path/to/go)"
  mkdir -p "$CACHE_DIR"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$CACHE_DIR/.fetch-mailpit.lock"
      flock 9
    fi
    [[ -f "$MAILPIT_HOME/.complete" ]] && exit 0
    local tmp="$MAILPIT_HOME.partial.$$" started rc=0
    started=$(now)
    rm -rf "$tmp"
    mkdir -p "$tmp/src" "$tmp/bin"
    cp "$MAILPIT_MODULE_DIR/go.mod" "$MAILPIT_MODULE_DIR/go.sum" "$tmp/src/"
    log "building mailpit v$MAILPIT_VERSION with $("$go" version | cut -d' ' -f3) (first time only; a few minutes) ..."
    (
      cd "$tmp/src" &&
        GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build-cache-mailpit" CGO_ENABLED=0 \
          GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" \
          "$go" build -trimpath -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=v$MAILPIT_VERSION" \
          -o "$tmp/bin/mailpit" github.com/axllent/mailpit
    ) >"$tmp/build.log" 2>&1 || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "building mailpit with go failed (see above)"
    fi
    # --no-release-check: `version` would otherwise ask GitHub for the latest release.
    if ! (cd "$tmp/bin" && ./mailpit version --no-release-check) >"$tmp/versions.txt" 2>&1 ||
      ! grep -q "v$MAILPIT_VERSION" "$tmp/versions.txt"; then
      cat "$tmp/versions.txt" >&2
      rm -rf "$tmp"
      die "the built mailpit does not run or does not report v$MAILPIT_VERSION (see above)"
    fi
    rm -rf "$tmp/src" "$CACHE_DIR/go/build-cache-mailpit"
    rm -rf "$MAILPIT_HOME"
    mv "$tmp" "$MAILPIT_HOME"
    printf 'mailpit %s built %s in %s s: %s\n' "$MAILPIT_VERSION" "$(date -u +%FT%TZ)" "$(($(now) - started))" \
      "$(tr '\n' ' ' <"$MAILPIT_HOME/versions.txt")" >"$MAILPIT_HOME/.complete"
    log "built mailpit in $(($(now) - started)) s into $MAILPIT_HOME/bin"
  )
}

# The SMTP greeting (220), then Mailpit's own view of itself from the API (a database read).
mailpit_answers() {
  local banner
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  banner=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r line <&3; printf "QUIT\r\n" >&3; printf "%s" "$line"' _ "$MAILPIT_SMTP_PORT" 2>/dev/null) || return 1
  [[ "$banner" == 220* ]] || return 1
  [[ $(curl -sS --max-time 5 "$MAILPIT_API/api/v1/info" 2>/dev/null | jq -r '.Version' 2>/dev/null) == "v$MAILPIT_VERSION" ]]
}

mailpit_start() {
  stop_service mailpit "$MAILPIT_PID_FILE"
  claim_port "$MAILPIT_SMTP_PORT" "mailpit smtp"
  claim_port "$MAILPIT_HTTP_PORT" "mailpit http"
  rm -rf "$MAILPIT_RUN"
  mkdir -p "$MAILPIT_RUN/logs"
  chmod 700 "$MAILPIT_RUN"
  make_tls "$MAILPIT_RUN/tls" "$MAILPIT_RUN/logs/tls.log"
  (
    umask 077
    random_secret >"$MAILPIT_PASSWORD_FILE"
    # Mailpit's password file is htpasswd; a plain "user:password" line is one of the forms it reads.
    printf '%s:%s\n' "$MAILPIT_USER" "$(cat "$MAILPIT_PASSWORD_FILE")" >"$MAILPIT_RUN/smtp-auth"
  )
  log "starting mailpit v$MAILPIT_VERSION: smtp 127.0.0.1:$MAILPIT_SMTP_PORT (STARTTLS and auth required), api $MAILPIT_API"
  # Both listeners on loopback (Mailpit's default is every interface). STARTTLS is required, as on a real relay:
  # before it only EHLO, NOOP, STARTTLS and QUIT are accepted, so no password crosses in the clear. The database
  # is a file in the run folder (Mailpit has no in-memory store), new per `up`. No look-ups off the machine: no
  # release check, no reverse DNS of SMTP clients. Mailpit also reads MP_* settings from its environment: none of
  # the caller's reach it.
  unset "${!MP_@}"
  launch_native mailpit "$MAILPIT_PID_FILE" "$MAILPIT_RUN/logs/mailpit.log" "$MAILPIT_BIN" \
    --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" \
    --database "$MAILPIT_RUN/mailpit.db" \
    --smtp-auth-file "$MAILPIT_RUN/smtp-auth" --smtp-require-starttls \
    --smtp-tls-cert "$MAILPIT_RUN/tls/server.crt" --smtp-tls-key "$MAILPIT_RUN/tls/server.key" \
    --enable-chaos --disable-version-check --smtp-disable-rdns
}

mailpit_wait() {
  local started deadline pid
  started=$(now)
  deadline=$((started + SERVICES_TIMEOUT))
  while true; do
    pid=$(live_pid "$MAILPIT_PID_FILE" mailpit) ||
      fail_with_log mailpit "Mailpit exited during start-up" "$MAILPIT_RUN/logs/mailpit.log"
    if mailpit_answers; then
      log "mailpit answers on smtp 127.0.0.1:$MAILPIT_SMTP_PORT and $MAILPIT_API after $(($(now) - started)) s (pid $pid)"
      return 0
    fi
    if (($(now) >= deadline)); then
      stop_service mailpit "$MAILPIT_PID_FILE" --hard
      fail_with_log mailpit "Mailpit did not answer (smtp :$MAILPIT_SMTP_PORT, $MAILPIT_API) within ${SERVICES_TIMEOUT}s (stopped it)" \
        "$MAILPIT_RUN/logs/mailpit.log"
    fi
    sleep 0.2
  done
}

mailpit_stop() {
  stop_service mailpit "$MAILPIT_PID_FILE"
}

mailpit_status() { # one line; fails unless Mailpit answers
  local pid=""
  if pid=$(live_pid "$MAILPIT_PID_FILE" mailpit) && mailpit_answers; then
    echo "mailpit: up, smtp 127.0.0.1:$MAILPIT_SMTP_PORT (STARTTLS, user $MAILPIT_USER) and api $MAILPIT_API (pid $pid, version $MAILPIT_VERSION)"
  elif [[ -n "$pid" ]]; then
    echo "mailpit: running (pid $pid) but not answering on smtp :$MAILPIT_SMTP_PORT / $MAILPIT_API"
    return 1
  else
    echo "mailpit: down"
    return 1
  fi
}

mailpit_env() {
  printf 'export MAILPIT_SMTP=%q\n' "127.0.0.1:$MAILPIT_SMTP_PORT"
  printf 'export MAILPIT_API=%q\n' "$MAILPIT_API"
  printf 'export MAILPIT_USER=%q\n' "$MAILPIT_USER"
  printf 'export MAILPIT_PASSWORD_FILE=%q\n' "$MAILPIT_PASSWORD_FILE"
  printf 'export MAILPIT_CA_FILE=%q\n' "$MAILPIT_RUN/tls/ca.crt"
}
