#!/usr/bin/env bash
# Make this checkout runnable: Dovecot + Postfix from Debian packages (if missing) and a
# virtual environment with boundary-mail. Safe to run again; fast when done.
#
#   scripts/bootstrap.sh --for demo    # what scripts/demo.sh needs: the mail servers, .venv
#   scripts/bootstrap.sh --for tests   # also the dev tools, systemd-analyze (the unit's tests)
#                                      # and Chromium (the digest render test); the default
#
# Another apt or dpkg run (unattended-upgrades on a fresh server) holds the dpkg lock: wait
# for it, up to $BM_APT_WAIT_SECONDS (300), saying so, instead of failing.
set -euo pipefail

APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock
           /var/cache/apt/archives/lock)

# True while a process holds one of the locks. dpkg and apt lock with fcntl(), which flock(1)
# cannot see: ask fcntl (F_GETLK, which takes no lock) through python3, else whether any
# process has the file open (fuser).
apt_busy() {
  local lock
  for lock in ${BM_APT_LOCKS:-"${APT_LOCKS[@]}"}; do
    [ -e "$lock" ] || continue
    if command -v python3 >/dev/null; then
      python3 - "$lock" <<'EOF' || return 0
import fcntl, struct, sys
query = struct.pack("@hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)  # struct flock: the whole file
with open(sys.argv[1], "rb") as f:
    held = struct.unpack("@hhqqi", fcntl.fcntl(f, fcntl.F_GETLK, query))[0]
sys.exit(0 if held == fcntl.F_UNLCK else 1)
EOF
    elif command -v fuser >/dev/null && fuser "$lock" >/dev/null 2>&1; then
      return 0
    fi
  done
  return 1
}

wait_for_apt() {
  local limit="${BM_APT_WAIT_SECONDS:-300}" waited=0
  while apt_busy; do
    if [ "$waited" -ge "$limit" ]; then
      echo "bootstrap: another apt/dpkg process still holds its lock after ${limit} s;" \
           "wait for it to finish (ps aux | grep -e apt -e dpkg), then run this again" >&2
      return 1
    fi
    if [ $((waited % 30)) -eq 0 ]; then
      echo "bootstrap: another apt/dpkg process holds its lock; waiting (at most ${limit} s)" >&2
    fi
    sleep 2
    waited=$((waited + 2))
  done
}

apt_install() {
  wait_for_apt
  apt-get update -q
  wait_for_apt
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

main() {
  local purpose=tests
  while [ $# -gt 0 ]; do
    case "$1" in
      --for) purpose="${2:-}"; shift ;;
      --for=*) purpose="${1#--for=}" ;;
      *) echo "bootstrap: unknown argument $1; use --for demo or --for tests" >&2; return 2 ;;
    esac
    shift
  done
  case "$purpose" in demo|tests) ;; *)
    echo "bootstrap: --for takes demo or tests, not '$purpose'" >&2; return 2 ;;
  esac
  cd "$(dirname "${BASH_SOURCE[0]}")/.."

  # apt itself waits for the dpkg lock too, should another run take it between our checks.
  APT_CONFIG="$(mktemp)"
  export APT_CONFIG
  trap 'rm -f "$APT_CONFIG"' EXIT
  echo "DPkg::Lock::Timeout \"${BM_APT_WAIT_SECONDS:-300}\";" > "$APT_CONFIG"

  if ! command -v dovecot >/dev/null || ! command -v postfix >/dev/null; then
    wait_for_apt
    scripts/mailserver.sh install
  fi
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    apt_install python3-venv
  fi
  if [ "$purpose" = tests ]; then
    local missing=()
    command -v systemd-analyze >/dev/null || missing+=(systemd)  # verifies the unit
    command -v chromium >/dev/null || missing+=(chromium)  # screenshots the HTML digest
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  fi

  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # .venv/.installed: with the dev tools (tests); .venv/.installed-demo: the package alone.
  local marker=.venv/.installed spec='.[dev]' imports="boundary_mail, pytest, hypothesis, build"
  if [ "$purpose" = demo ] && [ ! .venv/.installed -nt pyproject.toml ]; then
    marker=.venv/.installed-demo spec=. imports=boundary_mail
  fi
  if ! .venv/bin/python -c "import $imports" 2>/dev/null || [ ! "$marker" -nt pyproject.toml ]; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e "$spec"
    touch "$marker"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
