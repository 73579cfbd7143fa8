#!/bin/sh
# Installs the Debian packages tests/e2e/test_e2e_swift.py needs besides the
# swift Python package (in requirements-test.txt, so in .venv): memcached,
# which the proxy's cache middleware talks to (tests/support/swift.py).
exec "$(dirname "$0")/apt-install.sh" memcached
