#!/usr/bin/env bash
# Make this checkout runnable: Dovecot + Postfix from Debian packages (if missing) and a
# virtual environment with boundary-mail and its dev tools. Safe to run again; fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dovecot >/dev/null || ! command -v postfix >/dev/null; then
  scripts/mailserver.sh install
fi
if ! command -v systemd-analyze >/dev/null; then  # the unit file's tests verify it with this
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd
fi
if ! command -v chromium >/dev/null; then  # the digest render test screenshots the HTML with it
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import boundary_mail, pytest, hypothesis" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[dev]'
  touch .venv/.installed
fi
