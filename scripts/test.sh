#!/usr/bin/env bash
# The full test suite: unit, property and real-server integration tests.
# Installs what is missing first (Dovecot + Postfix from Debian, .venv with boundary-mail);
# the integration tests start the servers themselves (scripts/mailserver.sh up).
# Extra arguments go to pytest, e.g. ./scripts/test.sh tests/unit -q
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --for tests
exec .venv/bin/python -m pytest "$@"
