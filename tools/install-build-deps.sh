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

. tools/as-root.sh
as_root "missing build dependencies of debian/control"
echo "Installing the build dependencies of debian/control, dpkg-dev and lintian"
apt="$sudo apt-get -o DPkg::Lock::Timeout=300"
export DEBIAN_FRONTEND=noninteractive
$apt update -q
$apt install -y -q --no-install-recommends dpkg-dev fakeroot lintian
$apt build-dep -y -q --no-install-recommends ./
