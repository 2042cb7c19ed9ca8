#!/usr/bin/env bash
# The main job: brings up a lab cluster on this machine and shows it working.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node dist/demo/main.js "$@"
