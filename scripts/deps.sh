#!/bin/sh
# Install the Debian/Ubuntu packages dsvmops needs, when any are missing.
# Uses apt-get as root, sudo when available; otherwise prints the command.
# usage: scripts/deps.sh [build|test]
set -eu
mode=${1:-build}
pkgs="build-essential cmake pkg-config git clang-format libyaml-dev libjansson-dev
libsqlite3-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev libgit2-dev libcmocka-dev
curl python3"
if [ "$mode" = test ]; then
    # the armsim conformance test drives the official Azure SDK for Python;
    # the armsim benchmark uses wrk; the Git source tests use the HTTPS test CA
    # (openssl), known_hosts (ssh-keygen) and a loopback sshd; the daemon's
    # /metrics test runs promtool (prometheus); the clock-jump campaign runs
    # under faketime; the fuzz targets link clang's libFuzzer runtime
    pkgs="$pkgs clang python3 python3-azure wrk openssl openssh-client openssh-server
prometheus faketime libclang-rt-14-dev"
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: these packages are missing and this user cannot install them:" >&2
    echo "  apt-get install -y$missing" >&2
    echo "deps: run that as root, then run this command again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
