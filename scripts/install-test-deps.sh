#!/usr/bin/env bash
# Installs the system packages the test-suite needs on Debian/Ubuntu, and only those missing:
#   postgresql      - tests of the store against a real PostgreSQL (they start their own cluster)
#   prosody         - XMPP component tests (they start their own server on loopback)
#   libtoxcore-dev  - interop tests load libtoxcore.so.2 through koffi
#   toxcore-utils   - tox-bootstrapd, a real c-toxcore DHT node for interop tests
#   build-essential - native npm modules
#   iproute2        - `ss`, used to diagnose ports in network tests
# Idempotent: a second run installs nothing. Services are not started (nor left running):
# every test starts its own instance on loopback.
set -euo pipefail

PACKAGES=(postgresql prosody libtoxcore-dev toxcore-utils build-essential iproute2)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null; then
    echo "install-test-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
    exit 1
  fi
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-test-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  echo "install-test-deps: installing ${missing[*]}"
  # Debian starts daemons from package scripts; a temporary policy-rc.d (the standard way to
  # say "no service starts") keeps postgresql and prosody from running system-wide.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    added_policy=1
  fi
  cleanup() { if ((added_policy)); then "${SUDO[@]}" rm -f "$policy"; fi; }
  trap cleanup EXIT
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-test-deps: system packages already present (${PACKAGES[*]})"
fi

# Node.js 20+ is needed; Debian's own package may be older, so only check and explain.
if ! command -v node >/dev/null; then
  echo "install-test-deps: Node.js 20 or newer is required (https://nodejs.org or NodeSource packages)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "install-test-deps: Node.js $(node --version) is too old; 20 or newer is required" >&2
  exit 1
fi

# Interop tests open many sockets at once; a low descriptor limit makes them flaky.
if (($(ulimit -n) < 4096)); then
  echo "install-test-deps: note: 'ulimit -n' is $(ulimit -n); raise it to 4096 or more if network tests fail with EMFILE" >&2
fi
