#!/bin/sh
# Installs the Debian packages tests/test_e2e_swift.py needs besides the
# swift Python package (in requirements-test.txt, so in .venv): memcached,
# which the proxy's cache middleware talks to (tests/support/swift.py).
# Idempotent: with everything installed it only checks dpkg and exits. Run
# as root (or with sudo available).
set -eu

PACKAGES="memcached"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-swift.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be empty (fresh container) or stale.
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y --no-install-recommends $missing
fi
