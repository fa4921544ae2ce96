#!/bin/sh
# The README's second command: install what is missing, build with
# AddressSanitizer and UBSan, and run every test through ctest.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
cmake -S . -B build -DDSVM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build -j "$(nproc)"
# the same sources must also build warning-free with clang
CC=clang cmake -S . -B build-clang -DDSVM_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-clang -j "$(nproc)" >/dev/null
echo "test: clang build is warning-free"
# a short libFuzzer run of every fuzz target (docs/fuzzing.md); a crash fails the suite
scripts/fuzz.sh all 12
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 300
