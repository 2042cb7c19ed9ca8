#!/usr/bin/env bash
# All tests: installs what they need, then type-checks, lints and runs unit and integration
# tests (integration tests build real labs: namespaces, bridges, etcd, strongSwan).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm test
