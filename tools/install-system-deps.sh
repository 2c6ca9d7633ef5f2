#!/bin/sh
# Install the Debian packages the demo and the tests need, only those missing.
# Needs root (or sudo) only when something is missing.
set -eu

missing=""
want() { missing="$missing $1"; }

command -v pebble >/dev/null 2>&1 || want pebble
command -v openssl >/dev/null 2>&1 || want openssl
[ -x /usr/sbin/dovecot ] || want dovecot-imapd
[ -x /usr/lib/dovecot/pop3-login ] || want dovecot-pop3d
[ -x /usr/sbin/postfix ] || want postfix
# A real PostgreSQL and psql, to check the stand-in psql against (tests/test_billionmail.py).
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || want postgresql
command -v psql >/dev/null 2>&1 || want postgresql-client
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || want python3-venv
# Debian 12 and 13 roots for the package tests (tests/test_debian.py).
command -v mmdebstrap >/dev/null 2>&1 || want mmdebstrap

[ -z "$missing" ] && exit 0

. "$(dirname "$0")/as-root.sh"
as_root "missing Debian packages:$missing"
echo "Installing Debian packages:$missing"
# Postfix must not configure itself as a live mail system; the tests run their own.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
$sudo apt-get update -q
# Packages must not start their system services here (the tests run their own instances).
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
