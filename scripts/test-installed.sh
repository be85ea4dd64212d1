#!/usr/bin/env bash
# The integration tests against the installed package, not the source tree: build the wheel,
# install it with its test dependencies into a fresh .venv-installed, and run pytest with that
# interpreter. The tests import boundary_mail from its site-packages (src/ is never on sys.path:
# pytest puts the checkout's root there, for tests.*) and use that same wheel ($BM_WHEEL).
# Extra arguments go to pytest. CI runs it after ./scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --for tests
out=build/installed-wheel
rm -rf "$out" .venv-installed
.venv/bin/python -m build --wheel --outdir "$out" . >/dev/null
wheel="$(echo "$PWD/$out"/boundary_mail-*.whl)"
python3 -m venv .venv-installed
.venv-installed/bin/pip install --quiet --disable-pip-version-check "$wheel[dev]"
echo "test-installed: $(.venv-installed/bin/boundary-mail --version) from $wheel"
BM_WHEEL="$wheel" exec .venv-installed/bin/python -m pytest tests/integration "$@"
