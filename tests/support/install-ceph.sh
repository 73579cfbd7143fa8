#!/bin/sh
# Installs what tests/e2e/test_e2e_rbd.py and tests/e2e/test_e2e_s3.py need:
# Debian's Ceph (mon, mgr, OSD, the RADOS Gateway, the ceph/rbd/rados
# tools) and its Python bindings (python3-rados, python3-rbd, built for
# Debian's CPython only; tests/support/ceph.py links them into the venv).
exec "$(dirname "$0")/apt-install.sh" ceph-mon ceph-mgr ceph-osd \
    ceph-common radosgw python3-rados python3-rbd
