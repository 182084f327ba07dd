#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs the default test suite (everything but the
# `long` label): configure, build and ctest through the `default` workflow preset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --workflow --preset default
