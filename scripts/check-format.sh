#!/bin/sh
# Fail when a tracked C file differs from what .clang-format asks for.
# usage: scripts/check-format.sh [clang-format]
cf=${1:-clang-format}
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find controller model providers include tests -name '*.[ch]')
bad=0
for f in $files; do
    [ -f "$f" ] || continue
    if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "format: $f differs from .clang-format; run: $cf -i $f"
        bad=1
    fi
done
[ $bad = 0 ] && echo "format: all C files match .clang-format"
exit $bad
