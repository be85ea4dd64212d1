#!/usr/bin/env bash
# Install boundary-mail as a systemd service on a Debian/Ubuntu server, as root. Idempotent: run
# it again after editing the config or adding a password, and it checks and (re)starts.
#
#   scripts/install-service.sh                      # 1. the package, the example config, the unit;
#                                                   #    lists the credentials still missing
#   editor /etc/boundary-mail/boundary-mail.toml    # 2. your servers, mailboxes, team, clients
#   scripts/install-service.sh --password imap-ann  # 3. once per credential (password on stdin)
#   scripts/install-service.sh                      # 4. check-config --connect, then start
#
# What goes where (the same layout under --root DIR, which the tests use):
#   /opt/boundary-mail                      a virtual environment with the package (--prefix)
#   /etc/boundary-mail/                     0755 root: the service's dynamic user reads it
#   /etc/boundary-mail/boundary-mail.toml   0644 root: never a password
#   /etc/boundary-mail/credentials/NAME     0700 dir, 0600 files, root only: one password each;
#                                           systemd hands them over with LoadCredential=
#   /etc/systemd/system/boundary-mail.service  systemd/boundary-mail.service with one
#                                           LoadCredential= per credential the config names
#
# Options:
#   --wheel FILE     install this wheel (default: build one from this checkout)
#   --config FILE    install this configuration (default: keep the installed one, or the example)
#   --password NAME  read one line from stdin into credentials/NAME (0600) and stop
#   --no-connect     check the config without logging in to the servers
#   --root DIR       install into DIR as if it were / (no systemctl); for tests and images
#   --prefix DIR     where the virtual environment goes (default /opt/boundary-mail)
#   --python FILE    the interpreter for it (default /usr/bin/python3)
#   --uninstall      stop and remove the service and /opt/boundary-mail; keep config and state
#   --purge          with --uninstall: also remove /etc/boundary-mail and the state
# Exit: 0 installed (and started where systemd runs), 2 usage or config error, 3 installed but
# credentials are missing, 1 anything else.
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
root="" prefix=/opt/boundary-mail wheel="" config="" password="" connect=1
uninstall=0 purge=0
python=/usr/bin/python3
[ -x "$python" ] || python=python3

die() { echo "install-service: $*" >&2; exit "${code:-1}"; }
usage() { code=2 die "$*; see the comment at the top of $0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$(realpath "${2:?}")"; shift ;;
    --config) config="$(realpath "${2:?}")"; shift ;;
    --password) password="${2:?}"; shift ;;
    --no-connect) connect=0 ;;
    --root) root="$(realpath -m "${2:?}")"; shift ;;
    --prefix) prefix="${2:?}"; shift ;;
    --python) python="${2:?}"; shift ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    *) usage "unknown argument $1" ;;
  esac
  shift
done
[ "$root" = / ] && root=""
[ "$(id -u)" -eq 0 ] || usage "run it as root (it writes /etc and /opt)"
case "$prefix" in /*) ;; *) usage "--prefix must be an absolute path" ;; esac

venv="$root$prefix"
etc="$root/etc/boundary-mail"
creds="$etc/credentials"
unit="$root/etc/systemd/system/boundary-mail.service"
conf="$etc/boundary-mail.toml"
say() { echo "install-service: $*"; }
# systemctl only for the real root, and only where systemd runs (PID 1).
systemd_runs() { [ -z "$root" ] && [ -d /run/systemd/system ]; }
bm() { "$venv/bin/boundary-mail" --config "$conf" "$@"; }

if [ -n "$password" ]; then
  case "$password" in ''|*/*|.|..) usage "--password takes a credential name such as imap-ann" ;; esac
  install -d -m 0700 -o root -g root "$etc" "$creds"
  chmod 0755 "$etc"
  if [ -t 0 ]; then
    IFS= read -r -s -p "password for credential $password: " secret; echo
  else
    IFS= read -r secret || [ -n "${secret:-}" ] || true
  fi
  [ -n "${secret:-}" ] || code=2 die "no password read from stdin; nothing written"
  (umask 077 && printf '%s' "$secret" > "$creds/.$password.new")
  chown root:root "$creds/.$password.new"
  mv -f "$creds/.$password.new" "$creds/$password"
  say "wrote $creds/$password (0600 root); run $0 again to check and start"
  exit 0
fi

if [ "$uninstall" = 1 ]; then
  if systemd_runs; then
    systemctl disable --now boundary-mail.service 2>/dev/null || true
  fi
  rm -f "$unit"
  systemd_runs && systemctl daemon-reload
  rm -rf "$venv"
  say "removed the unit and $venv"
  if [ "$purge" = 1 ]; then
    rm -rf "$etc" "$root/var/lib/private/boundary-mail" "$root/var/lib/boundary-mail"
    say "removed $etc and the state in $root/var/lib/private/boundary-mail"
  else
    say "kept $etc (config, credentials) and the state; --uninstall --purge removes them"
  fi
  exit 0
fi

# 1. The package, in a virtual environment of its own.
if ! "$python" -c "import venv, ensurepip" 2>/dev/null; then
  command -v apt-get >/dev/null || die "$python cannot make a virtual environment (no ensurepip)"
  say "installing python3-venv"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
built=""
trap '[ -z "$built" ] || rm -rf "$built"' EXIT
if [ -z "$wheel" ]; then
  built="$(mktemp -d)"
  say "building the wheel from $checkout"
  "${pip[@]}" wheel --no-deps --wheel-dir "$built" "$checkout"
  wheel="$(echo "$built"/boundary_mail-*.whl)"
fi
[ -f "$wheel" ] || usage "--wheel $wheel: no such file"
"${pip[@]}" install "$wheel"
# The same version number may be a newer build: always put this one in place.
"${pip[@]}" install --no-deps --force-reinstall "$wheel"
say "installed $("$venv/bin/boundary-mail" --version) into $venv"

# 2. Config and credentials: readable by the service's dynamic user, secrets root only.
install -d -m 0755 -o root -g root "$etc"
install -d -m 0700 -o root -g root "$creds"
if [ -n "$config" ]; then
  install -m 0644 -o root -g root "$config" "$conf"
elif [ ! -e "$conf" ]; then
  "$venv/bin/boundary-mail" example-config > "$conf.new"
  install -m 0644 -o root -g root "$conf.new" "$conf" && rm -f "$conf.new"
  say "wrote the example configuration to $conf: edit it"
fi
chown root:root "$conf" && chmod 0644 "$conf"
find "$creds" -maxdepth 1 -type f -exec chown root:root {} + -exec chmod 0600 {} +
if command -v setpriv >/dev/null \
   && ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$conf"; then
  die "$conf is not readable by an unprivileged user: check the directories above it"
fi

if ! names="$(bm credentials --names)"; then
  code=2 die "fix $conf (the errors above), then run $0 again"
fi

# 3. The unit, with one LoadCredential= per credential the config names.
install -d -m 0755 "$(dirname "$unit")"
BM_LINES="$(bm credentials)" BM_PREFIX="$prefix" awk '
  /^LoadCredential=/ { if (!done && ENVIRON["BM_LINES"] != "") print ENVIRON["BM_LINES"]
                       done = 1; next }
  /^ExecStart=/ { sub("/opt/boundary-mail/", ENVIRON["BM_PREFIX"] "/") }
  { print }
' "$checkout/systemd/boundary-mail.service" > "$unit.new"
if cmp -s "$unit.new" "$unit"; then
  rm -f "$unit.new"
else
  chmod 0644 "$unit.new" && mv -f "$unit.new" "$unit"
  say "wrote $unit"
fi

missing=()
for name in $names; do
  [ -s "$creds/$name" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "not started: the config names credentials that are not in $creds yet:"
  for name in "${missing[@]}"; do
    echo "    $0 --password $name"
  done
  say "run those (each reads one password from stdin), then run $0 again"
  exit 3
fi

# 4. Check it as the service will run it, then start.
check=(check-config)
[ "$connect" = 1 ] && check+=(--connect)
if ! CREDENTIALS_DIRECTORY="$creds" bm "${check[@]}"; then
  code=2 die "not started: fix what check-config said, then run $0 again"
fi
if systemd_runs; then
  systemctl daemon-reload
  if systemctl is-active --quiet boundary-mail.service; then
    systemctl restart boundary-mail.service
  else
    systemctl enable --now boundary-mail.service
  fi
  systemctl --no-pager --lines=0 status boundary-mail.service || true
  say "running; logs: journalctl -u boundary-mail"
elif [ -n "$root" ]; then
  say "installed under $root; not started (--root)"
else
  say "systemd is not running here (PID 1 is $(ps -o comm= 1 2>/dev/null || echo unknown));" \
      "not started. On a systemd host: systemctl daemon-reload && systemctl enable --now boundary-mail"
fi
