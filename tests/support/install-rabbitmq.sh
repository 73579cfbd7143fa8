#!/bin/sh
# Installs the Debian package tests/e2e/test_e2e_notifications.py needs:
# rabbitmq-server (and Erlang), the broker glance-api sends its
# notifications to. The tests run their own private node
# (tests/support/rabbitmq.py), not the one the package's service starts.
exec "$(dirname "$0")/apt-install.sh" rabbitmq-server
