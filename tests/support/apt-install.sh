#!/bin/sh
# Installs the Debian packages named as arguments that are not installed
# yet (apt, no recommends). Idempotent: with everything installed it only
# checks dpkg and exits. Run as root (or with sudo available). Used by
# install-ceph.sh and install-swift.sh.
set -eu

missing=""
for p in "$@"; do
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
echo "apt-install.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be empty (fresh container) or stale.
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y --no-install-recommends $missing
fi
