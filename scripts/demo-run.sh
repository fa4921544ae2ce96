#!/bin/sh
# The demo itself, run by scripts/demo.sh after the build.
set -eu
cd "$(dirname "$0")/.."
bin=build/bin/dsvmops
echo "== dsvmops version"
$bin version
