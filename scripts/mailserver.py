"""Real Dovecot + Postfix on 127.0.0.1 for the tests and the demo (stdlib only; run as root).

Everything lives under one short private data directory ($BM_MAIL_DIR, default /tmp/bm-mail):

    tls/        throwaway CA and server certificate (SANs 127.0.0.1, localhost)
    passwords   one "user:password" line per test user (0600, generated once)
    dovecot/    dovecot.conf, the passwd-file, Dovecot's state
    dr/         Dovecot's base_dir: master.pid, the LMTP and auth sockets
    mail/       the Maildirs, owned by the unprivileged user bmvmail
    postfix/    main.cf, master.cf and the lookup tables
    pq/ pd/     Postfix's queue and data directories
    log/        dovecot.log, postfix.log, start.log

Users ann, bob, lead, assistant, catchall, carol and dave, all @agency.test, plus box001 to
boxNNN when $BM_EXTRA_USERS=NNN (default 0; for benchmarks with many mailboxes; once created,
extra users stay until the data directory is removed). Postfix delivers
agency.test over LMTP to Dovecot and rewrites every other recipient to
catchall+LOCAL=DOMAIN@agency.test (the original recipient stays visible in the address
extension and in Delivered-To). Postfix has no smtp client service and every outbound
transport is `error:`, so nothing can leave the machine. Mail from the envelope sender
refused-at-data@agency.test is refused at the DATA command.

    python3 scripts/mailserver.py up [imap|smtp]     create once, start, wait until answering
    python3 scripts/mailserver.py down [imap|smtp]
    python3 scripts/mailserver.py status
    python3 scripts/mailserver.py env                export lines for `eval`
    python3 scripts/mailserver.py oauth2 URL         validate OAuth2 tokens at this RFC 7662
                                                     introspection URL (client:secret@ in it)

Dovecot also accepts OAuth2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER, for IMAP and, through
Dovecot SASL, for Postfix): its `oauth2` passdb asks the introspection URL set by the `oauth2`
command (the tests' local authorization server; until then a closed port, so every token is
refused). Passwords keep working through the passwd-file passdb.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

DOMAIN = "agency.test"
USERS = ("ann", "bob", "lead", "assistant", "catchall", "carol", "dave")
MAX_EXTRA_USERS = 999
SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Archive": "\\Archive"}
DEFAULT_PORTS = {"imaps": 10993, "imap": 10143, "smtps": 10465, "smtp": 10587}
HOST = "127.0.0.1"
VMAIL_USER = "bmvmail"
START_TIMEOUT = 30.0


class MailServerError(Exception):
    pass


class PortBusy(MailServerError):
    pass


# --------------------------------------------------------------------------------- layout


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tls = root / "tls"
        self.ca_key = self.tls / "ca.key"
        self.ca_cert = self.tls / "ca.pem"
        self.server_key = self.tls / "server.key"
        self.server_cert = self.tls / "server.pem"
        self.passwords = root / "passwords"
        self.ports_file = root / "ports.json"
        self.dovecot = root / "dovecot"
        self.dovecot_conf = self.dovecot / "dovecot.conf"
        self.dovecot_users = self.dovecot / "users"
        self.dovecot_oauth2 = self.dovecot / "oauth2.conf.ext"
        self.dovecot_state = self.dovecot / "state"
        self.dovecot_run = root / "dr"
        self.lmtp_socket = self.dovecot_run / "lmtp"
        self.auth_socket = self.dovecot_run / "auth-postfix"
        self.mail = root / "mail"
        self.postfix = root / "postfix"
        self.queue = root / "pq"
        self.postfix_data = root / "pd"
        self.log = root / "log"
        self.dovecot_log = self.log / "dovecot.log"
        self.postfix_log = self.log / "postfix.log"
        self.start_log = self.log / "start.log"


def data_dir() -> Path:
    root = Path(os.environ.get("BM_MAIL_DIR") or "/tmp/bm-mail").absolute()  # noqa: S108
    # Unix-socket paths are limited to ~107 bytes; Dovecot fails obscurely beyond that.
    if len(str(root)) > 60:
        raise MailServerError(f"BM_MAIL_DIR is too long ({len(str(root))} > 60 characters): {root}")
    return root


def wanted_ports() -> dict[str, int]:
    ports = {}
    for name, default in DEFAULT_PORTS.items():
        value = os.environ.get(f"BM_{name.upper()}_PORT") or str(default)
        try:
            ports[name] = int(value)
        except ValueError:
            raise MailServerError(f"BM_{name.upper()}_PORT={value!r} is not a port") from None
    if len(set(ports.values())) != len(ports):
        raise MailServerError(f"the four ports must differ: {ports}")
    return ports


def saved_ports(lay: Layout) -> dict[str, int] | None:
    try:
        data = json.loads(lay.ports_file.read_text())
    except (OSError, ValueError):
        return None
    return {name: int(data[name]) for name in DEFAULT_PORTS}


# --------------------------------------------------------------------------------- helpers


def run(
    args: list[str], *, check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise MailServerError(
            f"{shlex.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}".rstrip()
        )
    if not quiet and result.stderr.strip() and result.returncode == 0:
        log(result.stderr.strip())
    return result


def log(message: str) -> None:
    print(f"mailserver: {message}", file=sys.stderr, flush=True)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    try:
        if path.read_text() == text:
            os.chmod(path, mode)
            return False
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path}: no log)"
    return "\n".join([f"--- {path} (last {lines} lines) ---", *text[-lines:]])


def pid_alive(pid_file: Path, comm: str) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        actual = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    # PID 1 here may be slow to reap orphans: a zombie master is a stopped server.
    return pid if actual == comm and not _zombie(pid) else None


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (or on 0.0.0.0:port, which covers it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def holder(port: int) -> str:
    ss = shutil.which("ss")
    if not ss:
        return ""
    out = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    return out.stdout.strip()


def ssl_context(lay: Layout) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lay.ca_cert))


def greeting(port: int, *, tls: bool, lay: Layout, expect: bytes) -> None:
    with socket.create_connection((HOST, port), timeout=5) as raw:
        if tls:
            with ssl_context(lay).wrap_socket(raw, server_hostname=HOST) as sock:
                data = sock.recv(512)
        else:
            data = raw.recv(512)
    if not data.startswith(expect):
        raise MailServerError(f"port {port}: unexpected greeting {data[:80]!r}")


# --------------------------------------------------------------------------------- creation


def ensure_vmail_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(VMAIL_USER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise MailServerError("the mail servers need root (to create user bmvmail and start them)")
    run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--user-group", VMAIL_USER])
    return pwd.getpwnam(VMAIL_USER)


def ensure_tls(lay: Layout) -> None:
    lay.tls.mkdir(mode=0o755, exist_ok=True)
    if lay.ca_cert.exists() and lay.server_cert.exists() and lay.server_key.exists():
        return
    log("creating a throwaway CA and server certificate")
    ca_ext = lay.tls / "ca.ext"
    srv_ext = lay.tls / "server.ext"
    ca_ext.write_text(
        "basicConstraints = critical, CA:TRUE, pathlen:0\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    srv_ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *key_args, "-keyout", str(lay.ca_key),
         "-out", str(lay.ca_cert), "-days", "3650", "-subj", "/CN=boundary-mail test CA",
         "-extensions", "v3_ca_bm", "-config", str(_openssl_cnf(lay, ca_ext))], quiet=True)
    csr = lay.tls / "server.csr"
    run(["openssl", "req", "-new", *key_args, "-keyout", str(lay.server_key), "-out", str(csr),
         "-subj", "/CN=localhost"], quiet=True)
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(lay.ca_cert),
         "-CAkey", str(lay.ca_key), "-CAcreateserial", "-out", str(lay.server_cert),
         "-days", "3650", "-sha256", "-extfile", str(srv_ext)], quiet=True)
    for path in (lay.ca_key, lay.server_key):
        os.chmod(path, 0o600)
    for path in (lay.ca_cert, lay.server_cert):
        os.chmod(path, 0o644)
    csr.unlink()


def _openssl_cnf(lay: Layout, ext: Path) -> Path:
    cnf = lay.tls / "ca.cnf"
    cnf.write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = boundary-mail test CA\n"
        "[v3_ca_bm]\n" + ext.read_text()
    )
    return cnf


def extra_users() -> tuple[str, ...]:
    """box001 … boxNNN for $BM_EXTRA_USERS=NNN (benchmarks with many mailboxes); default none."""
    value = os.environ.get("BM_EXTRA_USERS") or "0"
    try:
        count = int(value)
    except ValueError:
        raise MailServerError(f"BM_EXTRA_USERS={value!r} is not a whole number") from None
    if not 0 <= count <= MAX_EXTRA_USERS:
        raise MailServerError(f"BM_EXTRA_USERS={count} is not between 0 and {MAX_EXTRA_USERS}")
    return tuple(f"box{n:03d}" for n in range(1, count + 1))


def ensure_passwords(lay: Layout) -> dict[str, str]:
    users = read_passwords(lay)
    missing = [u for u in (*USERS, *extra_users()) if u not in users]
    if missing:
        for user in missing:
            users[user] = secrets.token_urlsafe(18)
        write_if_changed(lay.passwords, "".join(f"{u}:{p}\n" for u, p in users.items()), 0o600)
    return users


def read_passwords(lay: Layout) -> dict[str, str]:
    users: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in lay.passwords.read_text().splitlines():
            user, sep, password = line.partition(":")
            if sep:
                users[user] = password
    return users


def ssha256(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha256(password.encode() + salt).digest()
    return "{SSHA256}" + base64.b64encode(digest + salt).decode()


def dovecot_users_file(lay: Layout, users: dict[str, str]) -> None:
    """The passwd-file; rewritten only when a user or password is new (salts are random)."""
    stamp = hashlib.sha256(json.dumps(users, sort_keys=True).encode()).hexdigest()
    marker = f"# {stamp}\n"
    with contextlib.suppress(OSError):
        if lay.dovecot_users.read_text().startswith(marker):
            return
    body = marker + "".join(f"{u}:{ssha256(p)}\n" for u, p in users.items())
    write_if_changed(lay.dovecot_users, body, 0o640)
    os.chown(lay.dovecot_users, 0, _gid("dovecot"))


def oauth2_settings(introspection_url: str) -> str:
    """The oauth2 passdb's settings: every token is asked about at the RFC 7662 introspection
    URL (POST token=…), whose `username` must be the login user (without the domain)."""
    return f"""\
# Written by scripts/mailserver.py (command oauth2): the tests' authorization server.
introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
username_format = %Ln
active_attribute = active
active_value = true
"""


def set_oauth2(url: str) -> None:
    """Point the oauth2 passdb at `url` and make a running Dovecot read it (SIGHUP restarts
    its auth processes; open sessions go on), and Postfix too (its smtpd processes would
    keep talking to the old auth process)."""
    lay = Layout(data_dir())
    if write_if_changed(lay.dovecot_oauth2, oauth2_settings(url), 0o640):
        os.chown(lay.dovecot_oauth2, 0, _gid("dovecot"))
        pid = dovecot_pid(lay)
        if pid:
            os.kill(pid, signal.SIGHUP)
            log(f"dovecot: OAuth2 tokens are now introspected at {url.rpartition('@')[2]}")
        if postfix_pid(lay):
            run(["postfix", "-c", str(lay.postfix), "reload"], quiet=True)


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid


def dovecot_config(lay: Layout, ports: dict[str, int], vmail: pwd.struct_passwd) -> str:
    mailboxes = "\n".join(
        f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}"
        for name, flag in SPECIAL_USE.items()
    )
    dh = Path("/usr/share/dovecot/dh.pem")
    return f"""\
# Generated by scripts/mailserver.py: a private test Dovecot on 127.0.0.1 only.
instance_name = bm-mail
base_dir = {lay.dovecot_run}
state_dir = {lay.dovecot_state}
protocols = imap lmtp
listen = {HOST}
log_path = {lay.dovecot_log}
info_log_path = {lay.dovecot_log}
verbose_proctitle = yes

ssl = yes
ssl_cert = <{lay.server_cert}
ssl_key = <{lay.server_key}
{f"ssl_dh = <{dh}" if dh.exists() else ""}
ssl_min_protocol = TLSv1.2
# Note: Dovecot treats a connection whose remote and local IP are equal (loopback) as secured,
# so it accepts a password on the plain IMAP port even without STARTTLS; check TLS client-side.
disable_plaintext_auth = yes

auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Ln
auth_failure_delay = 0
auth_verbose = yes
recipient_delimiter = +
default_internal_user = dovecot
default_login_user = dovenull

mail_location = maildir:{lay.mail}/%n/Maildir
mail_uid = {vmail.pw_uid}
mail_gid = {vmail.pw_gid}
first_valid_uid = {vmail.pw_uid}
last_valid_uid = {vmail.pw_uid}
first_valid_gid = {vmail.pw_gid}
last_valid_gid = {vmail.pw_gid}
mail_max_userip_connections = 200
postmaster_address = postmaster@{DOMAIN}
lmtp_hdr_delivery_address = final

# Passwords for PLAIN and LOGIN, and for lookups without a login ("none": LMTP delivery
# asks whether a user exists); bearer tokens for XOAUTH2 and OAUTHBEARER only.
passdb {{
  driver = passwd-file
  mechanisms = plain login none
  args = scheme=SSHA256 username_format=%n {lay.dovecot_users}
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {lay.dovecot_oauth2}
}}
userdb {{
  driver = static
  args = uid={vmail.pw_uid} gid={vmail.pw_gid} home={lay.mail}/%n
}}

namespace inbox {{
  inbox = yes
  separator = .
{mailboxes}
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
# No growing per-IP penalty after failed logins (a later good login would wait seconds).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def postfix_main_cf(lay: Layout) -> str:
    nowhere = "error:this test server never sends mail off the machine"
    return f"""\
# Generated by scripts/mailserver.py: a private test Postfix on 127.0.0.1 only.
compatibility_level = 3.6
queue_directory = {lay.queue}
data_directory = {lay.postfix_data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {lay.postfix_log}
maillog_file_prefixes = {lay.log}

myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
recipient_delimiter = +

# Nothing leaves the machine: no smtp client service in master.cf, every other transport is
# an error, and every recipient outside {DOMAIN} is rewritten to the catch-all mailbox.
default_transport = {nowhere}
relay_transport = {nowhere}
local_transport = {nowhere}
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{lay.postfix}/vmailbox
virtual_alias_maps = regexp:{lay.postfix}/virtual_alias
virtual_transport = lmtp:unix:{lay.lmtp_socket}

smtpd_banner = $myhostname ESMTP boundary-mail test server
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0s
smtpd_tls_cert_file = {lay.server_cert}
smtpd_tls_key_file = {lay.server_key}
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {lay.auth_socket}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_client_restrictions = permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
# One envelope sender is refused at the DATA command (not at MAIL or RCPT), for the tests of
# a client that must reset the transaction after such a refusal.
smtpd_data_restrictions = check_sender_access regexp:{lay.postfix}/refused_at_data

# Retry soon after a Dovecot outage instead of in minutes.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
delay_warning_time = 0
"""


def postfix_master_cf(ports: dict[str, int]) -> str:
    return f"""\
# Generated by scripts/mailserver.py. Deliberately no smtp/relay/local/virtual services.
{HOST}:{ports["smtps"]} inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
{HOST}:{ports["smtp"]} inet n - n - - smtpd
  -o syslog_name=postfix/submission
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_tables(lay: Layout, users: Iterable[str]) -> dict[Path, str]:
    domain_re = DOMAIN.replace(".", r"\.")
    return {
        lay.postfix / "vmailbox": "".join(f"{u}@{DOMAIN} OK\n" for u in users),
        lay.postfix / "virtual_alias": (
            f"/^(postmaster|abuse|mailer-daemon)@{domain_re}$/ catchall@{DOMAIN}\n"
            f"if !/@{domain_re}$/\n"
            f"/^(.*)@([^@]*)$/ catchall+${{1}}=${{2}}@{DOMAIN}\n"
            "endif\n"
        ),
        lay.postfix / "refused_at_data": (
            f"/^refused-at-data@{domain_re}$/ REJECT 5.7.1 this sender is refused at DATA\n"
        ),
    }


def prepare(lay: Layout, ports: dict[str, int]) -> dict[str, bool]:
    """Create what is missing and (re)write the configs; report which configs changed."""
    if os.geteuid() != 0:
        raise MailServerError("the mail servers need root (run as root)")
    for tool in ("dovecot", "postfix", "openssl"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            raise MailServerError(f"{tool} is not installed: run scripts/mailserver.sh install")
    vmail = ensure_vmail_user()
    lay.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(lay.root, 0o755)  # noqa: S103 - postfix and dovecot users traverse it
    for path in (lay.log, lay.dovecot, lay.postfix):
        path.mkdir(mode=0o755, exist_ok=True)
    lay.dovecot_state.mkdir(mode=0o750, exist_ok=True)
    lay.mail.mkdir(mode=0o700, exist_ok=True)
    os.chown(lay.mail, vmail.pw_uid, vmail.pw_gid)
    lay.queue.mkdir(mode=0o755, exist_ok=True)  # `postfix check` creates what is inside
    lay.postfix_data.mkdir(mode=0o700, exist_ok=True)
    postfix = pwd.getpwnam("postfix")
    os.chown(lay.postfix_data, postfix.pw_uid, postfix.pw_gid)
    ensure_tls(lay)
    users = ensure_passwords(lay)
    dovecot_users_file(lay, users)
    if not lay.dovecot_oauth2.exists():  # port 9 (discard) is closed: no token is accepted
        write_if_changed(lay.dovecot_oauth2, oauth2_settings(f"http://{HOST}:9/introspect"), 0o640)
        os.chown(lay.dovecot_oauth2, 0, _gid("dovecot"))

    changed_dovecot = write_if_changed(lay.dovecot_conf, dovecot_config(lay, ports, vmail))
    changed_postfix = write_if_changed(lay.postfix / "main.cf", postfix_main_cf(lay))
    changed_postfix |= write_if_changed(lay.postfix / "master.cf", postfix_master_cf(ports))
    for path, text in postfix_tables(lay, users).items():
        changed_postfix |= write_if_changed(path, text)
    write_if_changed(lay.ports_file, json.dumps(ports, indent=2) + "\n")
    return {"imap": changed_dovecot, "smtp": changed_postfix}


# --------------------------------------------------------------------------------- processes


def dovecot_pid(lay: Layout) -> int | None:
    return pid_alive(lay.dovecot_run / "master.pid", "dovecot")


def postfix_pid(lay: Layout) -> int | None:
    return pid_alive(lay.queue / "pid" / "master.pid", "master")


def running(lay: Layout, what: str) -> int | None:
    return dovecot_pid(lay) if what == "imap" else postfix_pid(lay)


def check_ports_free(lay: Layout, what: str, ports: dict[str, int]) -> None:
    names = ("imaps", "imap") if what == "imap" else ("smtps", "smtp")
    for name in names:
        if not port_is_free(ports[name]):
            detail = holder(ports[name])
            raise PortBusy(
                f"port {ports[name]} ({name}) on {HOST} is held by another program, not by our "
                f"{'Dovecot' if what == 'imap' else 'Postfix'}; stop it or choose another port "
                f"with BM_{name.upper()}_PORT\n{detail}".rstrip()
            )


def start_daemon(lay: Layout, args: list[str]) -> None:
    with open(lay.start_log, "a") as out:
        out.write(f"\n$ {shlex.join(args)}  ({time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        out.flush()
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    if result.returncode != 0:
        raise MailServerError(f"{shlex.join(args)} failed (exit {result.returncode})")


def start(lay: Layout, what: str, ports: dict[str, int]) -> None:
    if running(lay, what):
        return
    check_ports_free(lay, what, ports)
    if what == "imap":
        start_daemon(lay, ["dovecot", "-c", str(lay.dovecot_conf)])
    else:
        if not lay.auth_socket.exists():
            log("warning: Dovecot's auth socket is missing; SMTP AUTH fails until Dovecot runs")
        start_daemon(lay, ["postfix", "-c", str(lay.postfix), "check"])
        start_daemon(lay, ["postfix", "-c", str(lay.postfix), "start"])


def stop(lay: Layout, what: str) -> None:
    pid = running(lay, what)
    if not pid:
        return
    if what == "imap":
        # `dovecot stop` polls in whole seconds, and an auth process that Postfix is still
        # connected to outlives the master (SMTP AUTH would keep working): signal them all.
        family = [pid, *children(pid)]
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGTERM)
    else:
        family = [pid]
        subprocess.run(["postfix", "-c", str(lay.postfix), "stop"],
                       stdin=subprocess.DEVNULL, capture_output=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(m) for m in family):
        time.sleep(0.02)
    for member in family:
        if alive(member):
            log(f"{what}: process {member} did not stop; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
    # Wait until the listeners are gone so that a following start can bind again.
    names = ("imaps", "imap") if what == "imap" else ("smtps", "smtp")
    ports = saved_ports(lay) or wanted_ports()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(port_is_free(ports[n]) for n in names):
        time.sleep(0.02)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_ready(lay: Layout, what: str, ports: dict[str, int]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if not running(lay, what):
                raise MailServerError(f"{what} server is not running")
            if what == "imap":
                greeting(ports["imap"], tls=False, lay=lay, expect=b"* OK")
                greeting(ports["imaps"], tls=True, lay=lay, expect=b"* OK")
                for sock in (lay.lmtp_socket, lay.auth_socket):
                    if not sock.is_socket():
                        raise MailServerError(f"{sock} is missing")
            else:
                greeting(ports["smtp"], tls=False, lay=lay, expect=b"220 ")
                greeting(ports["smtps"], tls=True, lay=lay, expect=b"220 ")
            return
        except (OSError, MailServerError) as exc:
            last = exc
            time.sleep(0.05)
    raise MailServerError(f"{what} server did not become ready in {START_TIMEOUT:.0f} s: {last}")


def logs_tail(lay: Layout) -> str:
    return "\n".join(tail(p) for p in (lay.start_log, lay.dovecot_log, lay.postfix_log))


# --------------------------------------------------------------------------------- commands


def cmd_up(which: tuple[str, ...]) -> None:
    lay = Layout(data_dir())
    ports = wanted_ports()
    old_ports = saved_ports(lay)
    changed = prepare(lay, ports)
    if old_ports and old_ports != ports:
        changed = {"imap": True, "smtp": True}
    for what in ("imap", "smtp"):
        # A config that changed since the server started (new ports, new script) means restart.
        if changed[what] and running(lay, what):
            log(f"configuration changed: restarting {'Dovecot' if what == 'imap' else 'Postfix'}")
            stop(lay, what)
    try:
        for what in which:  # Dovecot first: Postfix needs its auth and LMTP sockets.
            start(lay, what, ports)
            wait_ready(lay, what, ports)
    except PortBusy:
        raise
    except MailServerError as exc:
        raise MailServerError(f"{exc}\n{logs_tail(lay)}") from None


def cmd_down(which: tuple[str, ...]) -> None:
    lay = Layout(data_dir())
    for what in reversed(which):
        stop(lay, what)


def cmd_status() -> int:
    lay = Layout(data_dir())
    ports = saved_ports(lay) or wanted_ports()
    ok = True
    for what, name, port_names in (("imap", "dovecot", ("imaps", "imap")),
                                   ("smtp", "postfix", ("smtps", "smtp"))):
        pid = running(lay, what)
        where = ", ".join(f"{n} {HOST}:{ports[n]}" for n in port_names)
        if pid:
            print(f"{name}: running (pid {pid}; {where})")
        else:
            print(f"{name}: stopped")
            ok = False
    return 0 if ok else 3


def cmd_env() -> None:
    lay = Layout(data_dir())
    users = read_passwords(lay)
    if not users or not lay.ca_cert.exists():
        raise MailServerError(f"no test servers under {lay.root} yet: run scripts/mailserver.sh up")
    ports = saved_ports(lay) or wanted_ports()
    values = {
        "BM_MAIL_DIR": str(lay.root),
        "BM_HOST": HOST,
        "BM_CA_FILE": str(lay.ca_cert),
        **{f"BM_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **{f"BM_PW_{user.upper()}": password for user, password in users.items()},
    }
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    which = tuple(rest) if rest else ("imap", "smtp")
    if command != "oauth2" and any(w not in ("imap", "smtp") for w in which):
        print(f"unknown server {rest}: expected imap or smtp", file=sys.stderr)
        return 2
    which = tuple(w for w in ("imap", "smtp") if w in which)
    try:
        if command in ("up", "down"):
            with locked(data_dir()):  # two test sessions starting at once take turns
                if command == "up":
                    cmd_up(which)
                else:
                    cmd_down(which)
        elif command == "status":
            return cmd_status()
        elif command == "oauth2" and len(rest) == 1:
            with locked(data_dir()):
                set_oauth2(rest[0])
        elif command == "env":
            cmd_env()
        elif command == "paths":
            lay = Layout(data_dir())
            print(f"dovecot_log={lay.dovecot_log}\npostfix_log={lay.postfix_log}")
        else:
            print(f"unknown command {command!r}", file=sys.stderr)
            return 2
    except MailServerError as exc:
        print(f"mailserver: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
