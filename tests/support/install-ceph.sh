#!/bin/sh
# Installs what tests/test_e2e_rbd.py and tests/test_e2e_s3.py need:
# Debian's Ceph (mon, mgr, OSD, the RADOS Gateway, the ceph/rbd/rados
# tools) and its Python bindings (python3-rados, python3-rbd, built for
# Debian's CPython only; tests/support/ceph.py links them into the venv).
# Idempotent: with everything installed it only checks dpkg and exits.
# Run as root (or with sudo available).
set -eu

PACKAGES="ceph-mon ceph-mgr ceph-osd ceph-common radosgw python3-rados
    python3-rbd"

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
echo "install-ceph.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be empty (fresh container) or stale.
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y --no-install-recommends $missing
fi
