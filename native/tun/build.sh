#!/bin/sh
# Builds the TUN addon (native/tun/build/Release/pavise_tun.node) with the node-gyp that comes
# with npm, against the headers of the running Node (no header download). Run by `npm install` /
# `npm ci` (the root package's install script) and by scripts/setup.sh; by hand:
#   npm run build:native
# With --if-possible (the install script), a failed build only warns: Pavise still installs and
# the TUN driver reports TUN_ADDON_MISSING when it is used.
set -u
cd "$(dirname "$0")"
optional=0
[ "${1:-}" = "--if-possible" ] && optional=1

# Headers: npm's nodedir setting if there is one, else the prefix of the running node when it has
# include/node/node_api.h (Debian, NodeSource, nvm and the nodejs.org tarballs all do).
nodedir="${npm_config_nodedir:-}"
if [ -z "$nodedir" ]; then
  prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
  [ -f "$prefix/include/node/node_api.h" ] && nodedir="$prefix"
fi

gyp=node-gyp
command -v node-gyp >/dev/null 2>&1 || {
  # Outside npm scripts: npm's bundled node-gyp.
  npm_root=$(npm root -g 2>/dev/null)
  gyp="node $npm_root/npm/node_modules/node-gyp/bin/node-gyp.js"
}

if $gyp rebuild ${nodedir:+--nodedir="$nodedir"} --loglevel=warn >build.log 2>&1; then
  rm -f build.log
  echo "pavise: built the TUN addon (native/tun/build/Release/pavise_tun.node)"
  exit 0
fi
if [ "$optional" = 1 ]; then
  echo "pavise: warning: the TUN addon did not build (log: native/tun/build.log)" >&2
  echo "  the ESP datapath needs it; fix: apt-get install build-essential python3, then npm run build:native" >&2
  exit 0
fi
cat build.log >&2
echo "error: the TUN addon did not build (log above: native/tun/build.log)" >&2
exit 1
