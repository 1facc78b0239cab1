#!/usr/bin/env bash
# System packages the build needs beyond Rust: cmake and a C/C++ toolchain build the bundled librdkafka, and
# librdkafka 2.12's config code includes curl/curl.h even when built without curl; its TLS and SASL/SCRAM link
# the system OpenSSL, and SASL/GSSAPI (Kerberos) the system Cyrus SASL (both found with pkg-config). Installs what is missing
# (Debian/Ubuntu, as root or with sudo); does nothing when everything is there.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
[ -f /usr/include/curl/curl.h ] || [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ -f /usr/include/sasl/sasl.h ] || missing+=(libsasl2-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "[build-deps] installing: ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
