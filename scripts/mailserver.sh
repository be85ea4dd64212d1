#!/usr/bin/env bash
# Real Dovecot + Postfix for tests and the demo, on 127.0.0.1 only, non-standard ports, with
# every config, socket, queue, Maildir and log under one private data dir ($BM_MAIL_DIR,
# default /tmp/bm-mail). Nothing can leave the machine: Postfix has no outbound transport.
#
#   scripts/mailserver.sh install   # apt-get the packages (idempotent; never starts services)
#   scripts/mailserver.sh up        # create config once, start both, wait until they answer
#   scripts/mailserver.sh down      # stop both
#   scripts/mailserver.sh status    # is each running?
#   scripts/mailserver.sh env       # export lines: eval "$(scripts/mailserver.sh env)"
#   scripts/mailserver.sh oauth2 URL  # Dovecot checks OAuth2 tokens at this introspection URL
#
# The logic lives in scripts/mailserver.py (stdlib only); install is plain apt here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

packages=(dovecot-imapd dovecot-lmtpd postfix openssl)

installed() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

install() {
  if installed && command -v dovecot >/dev/null && command -v postfix >/dev/null; then
    echo "mailserver: packages already installed"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "mailserver: installing packages needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting the system-wide services.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    created_policy=1
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}"
  if [ "$created_policy" = 1 ]; then
    rm -f "$policy"
  fi
  # Belt and braces: if a system instance was started anyway, it would hold ports 25/143/993.
  if [ -r /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    dovecot stop 2>/dev/null || true
  fi
  if postfix status >/dev/null 2>&1; then
    postfix stop 2>/dev/null || true
  fi
  installed
}

cmd="${1:-}"
case "$cmd" in
  install) install ;;
  up|down|status|env|paths|oauth2) exec python3 "$here/mailserver.py" "$@" ;;
  *)
    echo "usage: $0 install|up|down|status|env" >&2
    exit 2
    ;;
esac
