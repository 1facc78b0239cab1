#!/usr/bin/env bash
# Tools the tests call besides the engines: Prometheus' promtool (`promtool check metrics` parses and lints what
# every `/metrics` serves), from Debian's `prometheus` package (the server it also installs is not started: no
# systemd here, and the tests never need it). Installs what is missing (Debian/Ubuntu, as root or with sudo); does
# nothing when everything is there.
set -euo pipefail

command -v promtool >/dev/null 2>&1 && exit 0

echo "[test-tools] installing: prometheus (for promtool)" >&2
if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
# On a machine with an init system the package would start a Prometheus server: a policy-rc.d that refuses every
# service start (exit 101, Debian's convention) keeps it stopped, and is removed again afterwards.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  added_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null || status=$?
[ "$added_policy" = 1 ] && "${sudo[@]}" rm -f "$policy"
[ "$status" = 0 ] || exit "$status"
command -v promtool >/dev/null 2>&1 || { echo "[test-tools] promtool is still missing" >&2; exit 1; }
