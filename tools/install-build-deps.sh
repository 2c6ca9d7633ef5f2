#!/bin/sh
# Install what `make deb` needs, only when something is missing: the Build-Depends of
# debian/control (read by apt itself) and lintian. Needs root (or sudo) only then.
set -eu
cd "$(dirname "$0")/.."
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

if command -v dpkg-checkbuilddeps >/dev/null 2>&1 && dpkg-checkbuilddeps >/dev/null 2>&1 \
        && command -v lintian >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "error: missing build dependencies of debian/control (run as root or install sudo)" >&2
    exit 1
fi
echo "Installing the build dependencies of debian/control, dpkg-dev and lintian"
apt="$sudo apt-get -o DPkg::Lock::Timeout=300"
export DEBIAN_FRONTEND=noninteractive
$apt update -q
$apt install -y -q --no-install-recommends dpkg-dev fakeroot lintian
$apt build-dep -y -q --no-install-recommends ./
