#!/usr/bin/env bash
# Installs what Pavise needs on a Debian 12 machine and builds it. Safe to run again:
# it installs only what is missing and rebuilds only when the sources changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (the lab makes network namespaces, bridges and TUN devices)" >&2
  echo "  fix: sudo $0" >&2
  exit 1
fi

# Debian packages: real peers for the lab and the tests (DESIGN.md "The lab and the test network").
packages=(
  iproute2 nftables iputils-ping iputils-arping procps util-linux openssl # namespaces, faults, probes
  etcd-server etcd-client                                               # cluster state (etcd 3.4)
  strongswan-charon strongswan-swanctl libcharon-extra-plugins          # IPsec reference peer (kernel-libipsec)
  iperf3                                                                # throughput references
  keepalived                                                            # failover reference (VRRP, bench:failover)
  tcpdump                                                               # ESP packets the injection tests replay
  gcc make python3 libc6-dev                                            # the TUN addon (native/tun, node-gyp)
  chromium fonts-dejavu-core                                            # console browser tests (playwright-core drives it)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Packages like etcd-server would start a system service at install; the lab runs its own
  # members, so forbid service starts during this install (the Debian policy-rc.d mechanism).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The console's browser tests run this binary (test/support/console-browser.ts); PAVISE_CHROMIUM
# points them at another one.
chromium_bin=${PAVISE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
  echo "error: no Chromium at $chromium_bin (the console browser tests need one)" >&2
  echo "  fix: apt-get install --no-install-recommends chromium, or set PAVISE_CHROMIUM to a Chromium binary" >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "error: Pavise needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  echo "  fix: install Node.js 20 from nodejs.org or NodeSource, then run $0 again" >&2
  exit 1
fi

# npm packages, exactly as locked; reinstalled only when package-lock.json changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The TUN addon: npm ci builds it (install script); build it here too when it is missing or older
# than its sources (a checkout that brought native/ changes without a package-lock.json change).
addon=native/tun/build/Release/pavise_tun.node
if [ ! -f "$addon" ] || [ native/tun/tun.c -nt "$addon" ] || [ native/tun/binding.gyp -nt "$addon" ]; then
  echo "setup: building the TUN addon"
  npm run --silent build:native
fi

echo "setup: building"
npm run --silent build
