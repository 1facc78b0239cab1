#!/usr/bin/env bash
# System packages the web UI's browser tests need: Debian's Chromium (headless) and chromedriver built from
# the same source (it refuses a Chromium of another major version), plus a font so that screenshots show
# text. Installs what is missing, or both browser packages when their versions differ (Debian/Ubuntu, as root
# or with sudo); does nothing, quietly, when everything is there.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  browser=$(chromium --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+){3}' | head -n1 || true)
  driver=$(chromedriver --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+){3}' | head -n1 || true)
  [ -n "$browser" ] && [ "$browser" = "$driver" ] || missing+=(chromium chromium-driver)
fi
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "[browser-deps] installing: ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
# `env` so that DEBIAN_FRONTEND survives sudo's environment reset.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
