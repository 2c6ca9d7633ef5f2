#!/bin/sh
# Build the Debian package in a scratch copy of this checkout (which stays clean) and
# check it with lintian. Usage: tools/build-deb.sh [OUTDIR]   (default: dist)
# The .deb lands in OUTDIR as python3-certbot-dns-hostinger_<version>-1_all.deb.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$repo/dist}
# Debian's own tools and Python, whatever virtual environment or pyenv comes first.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset PYTHONPATH VIRTUAL_ENV PYENV_VERSION

upstream=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/certbot_dns_hostinger/__init__.py")
debian=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
if [ "${debian%-*}" != "$upstream" ]; then
    echo "error: debian/changelog is at $debian but __version__ is $upstream;" \
        "add a changelog entry ($upstream-1)" >&2
    exit 1
fi

scratch=$(mktemp -d /tmp/build-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
src="$scratch/certbot-dns-hostinger-$upstream"
mkdir "$src"
# Everything of the checkout but version control, caches, local environments and build output.
tar -C "$repo" -c --exclude-vcs --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude='*.py[cod]' \
    --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache \
    --exclude=./docs/_build --exclude=./sandbox-run . | tar -C "$src" -x

(cd "$src" && dpkg-buildpackage -b -us -uc) >"$scratch/build.log" 2>&1 || {
    tail -n 60 "$scratch/build.log" >&2
    echo "error: dpkg-buildpackage failed (last lines above)" >&2
    exit 1
}
deb="python3-certbot-dns-hostinger_${debian}_all.deb"
lintian --fail-on error,warning --info "$scratch/$deb"
mkdir -p "$outdir"
rm -f "$outdir"/python3-certbot-dns-hostinger_*_all.deb  # one package for `apt install ./dist/...*.deb`
mv "$scratch/$deb" "$outdir/"
echo "$outdir/$deb"
