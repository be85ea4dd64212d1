"""The README's install path, end to end: scripts/install-service.sh lays out the package, the
config, the credentials and the unit (here under --root, exactly as under /), and the unit's
ExecStart, run as an unprivileged uid with $CREDENTIALS_DIRECTORY laid out the way systemd
lays it out, checks the config and runs a check window against the real local servers."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agency import TEAM, Agency, agency_config, client_mail, render_toml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-service.sh"
NOBODY = 65534  # the uid and gid the service's ExecStart runs as here (systemd: DynamicUser)
NAMES = ["smtp", *(f"imap-{user}" for user in TEAM)]


@dataclass
class Installed:
    """An installation under `root`, made by the README's four steps."""

    root: Path
    wheel: Path
    first: subprocess.CompletedProcess[str]  # 1. on a fresh machine, the example config
    edited: subprocess.CompletedProcess[str]  # 2-3. after editing the config, no passwords yet
    last: subprocess.CompletedProcess[str]  # 4. with every password: checked, ready

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "boundary-mail"

    @property
    def unit(self) -> Path:
        return self.root / "etc" / "systemd" / "system" / "boundary-mail.service"

    def script(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return install_service("--root", str(self.root), "--wheel", str(self.wheel), *args,
                               stdin=stdin)


def install_service(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOUNDARY_MAIL_", "VIRTUAL_ENV", "PYTHON", "CREDENTIALS_"))}
    return subprocess.run([str(SCRIPT), *args], input=stdin, capture_output=True, text=True,
                          timeout=300, env=env)


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment: systemd allows a key many times."""
    entries, section = [], ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key, value))
    return entries


def service(path: Path, key: str) -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == "Service" and k == key]


def the_config(mailserver: Any, etc: Path) -> str:
    """The agency's configuration as an operator would write it for this server: every
    password a credential, the private CA installed beside the config."""
    data = agency_config(mailserver, Path("/var/lib/boundary-mail"))
    ca_file = str(etc / "ca.pem")
    data["smtp"] = {**data["smtp"], "ca_file": ca_file, "password_file": "smtp"}
    del data["smtp"]["password_env"]
    for mailbox in data["mailboxes"]:
        del mailbox["password_env"]
        mailbox.update(ca_file=ca_file, password_file=f"imap-{mailbox['name']}")
    return render_toml(data)


@pytest.fixture(scope="module")
def installed(mailserver: Any, wheel: Path) -> Iterator[Installed]:
    # Not under pytest's 0700 temporary directory: the unprivileged uid must reach the files.
    root = Path(tempfile.mkdtemp(prefix="bm-install-root-", dir="/tmp"))
    root.chmod(0o755)
    try:
        first = install_service("--root", str(root), "--wheel", str(wheel))
        etc = root / "etc" / "boundary-mail"
        shutil.copyfile(mailserver.ca_file, etc / "ca.pem")
        (etc / "boundary-mail.toml").write_text(the_config(mailserver, etc))  # "edit it"
        edited = install_service("--root", str(root), "--wheel", str(wheel))
        for name in NAMES:
            user = name.removeprefix("imap-").replace("smtp", "assistant")
            done = install_service("--root", str(root), "--password", name,
                                   stdin=mailserver.users[user] + "\n")
            assert done.returncode == 0, done.stdout + done.stderr
        last = install_service("--root", str(root), "--wheel", str(wheel))
        yield Installed(root, wheel, first, edited, last)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_each_step_says_what_is_missing_until_it_is_ready(installed: Installed) -> None:
    """A fresh install writes the example config and names its credentials (exit 3, not
    started); after the edit it names the edited config's; with all of them it checks every
    login (check-config --connect) and exits 0."""
    assert installed.first.returncode == 3, installed.first.stderr
    assert "wrote the example configuration" in installed.first.stdout
    for name in ("smtp", "imap-ann", "imap-bob"):
        assert f"--password {name}\n" in installed.first.stdout
    assert installed.edited.returncode == 3, installed.edited.stderr
    assert re.findall(r"--password (\S+)", installed.edited.stdout) == NAMES
    assert installed.last.returncode == 0, installed.last.stdout + installed.last.stderr
    assert "not started (--root)" in installed.last.stdout


def test_config_is_readable_by_the_service_and_passwords_by_root_only(
    installed: Installed,
) -> None:
    """/etc/boundary-mail 0755 and its config 0644 (the dynamic user reads them), never a
    password in it; credentials/ 0700 and each file 0600, root's."""
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(installed.etc) == 0o755
    config = installed.etc / "boundary-mail.toml"
    assert mode(config) == 0o644
    assert "password =" not in config.read_text()
    credentials = installed.etc / "credentials"
    assert mode(credentials) == 0o700 and credentials.stat().st_uid == 0
    assert sorted(p.name for p in credentials.iterdir()) == sorted(NAMES)
    for path in credentials.iterdir():
        assert mode(path) == 0o600 and path.stat().st_uid == 0


def test_the_unit_loads_one_credential_per_account(installed: Installed) -> None:
    """One LoadCredential= per password_file name, from /etc/boundary-mail/credentials/."""
    assert service(installed.unit, "LoadCredential") == [
        f"{name}:/etc/boundary-mail/credentials/{name}" for name in NAMES
    ]
    assert service(installed.unit, "DynamicUser") == ["yes"]


def as_systemd_would_run(installed: Installed, *command: str) -> subprocess.CompletedProcess[str]:
    """The unit's ExecStart with its last word (`run`) replaced by `command`, as uid 65534,
    with the unit's Environment=, UMask=, a StateDirectory= owned by that uid and a
    $CREDENTIALS_DIRECTORY holding a copy of each LoadCredential= source it may read. Paths
    are those of the unit, under the installation's root."""
    root = installed.root

    def under_root(word: str) -> str:
        return str(root / word.lstrip("/")) if word.startswith("/") else word

    state = root / "var" / "lib" / "boundary-mail"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    credentials = root / "run" / "credentials" / "boundary-mail.service"
    shutil.rmtree(credentials, ignore_errors=True)
    credentials.mkdir(parents=True)
    for entry in service(installed.unit, "LoadCredential"):
        name, _, source = entry.partition(":")
        shutil.copyfile(under_root(source), credentials / name)
        os.chown(credentials / name, NOBODY, NOBODY)
        (credentials / name).chmod(0o400)
    os.chown(credentials, NOBODY, NOBODY)
    credentials.chmod(0o500)

    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "CREDENTIALS_DIRECTORY": str(credentials)}
    for assignment in service(installed.unit, "Environment"):
        key, _, value = assignment.partition("=")
        env[key] = under_root(value)
    (exec_start,) = service(installed.unit, "ExecStart")
    argv = [under_root(word) for word in shlex.split(exec_start)]
    assert argv[-1] == "run"
    umask = int(service(installed.unit, "UMask")[0], 8)
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
         *argv[:-1], *command],
        capture_output=True, text=True, timeout=120, env=env, cwd="/", umask=umask,
    )


def test_exec_start_as_an_unprivileged_user_checks_the_config(installed: Installed) -> None:
    """The dynamic user reads the config; check-config --connect logs in with the credentials
    systemd handed over."""
    done = as_systemd_would_run(installed, "check-config", "--connect")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout


def test_exec_start_as_an_unprivileged_user_answers_a_client(
    installed: Installed, agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """A check window run by the installed service's command line, as the dynamic user:
    reads Ann's mailbox, sends the auto-reply through SMTP, keeps its state in the state
    directory (0600 files)."""
    baseline = as_systemd_would_run(installed, "poll", "--now", "2026-11-12T18:00")
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    deliver("ann", client_mail(sender="maria@acme.test", subject="Installed?",
                               message_id="<installed-1@acme.test>"),
            datetime(2026, 11, 13, 9, 0, tzinfo=agency.config.tz))
    done = as_systemd_would_run(installed, "poll", "--now", "2026-11-13T10:00")
    assert done.returncode == 0, done.stdout + done.stderr
    mailserver.wait_for("catchall", 1)
    (reply,) = [m for m in mailserver.messages("catchall") if "maria@acme.test" in str(m["To"])]
    assert reply["In-Reply-To"] == "<installed-1@acme.test>"
    state = installed.root / "var" / "lib" / "boundary-mail"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files and all(p.stat().st_uid == NOBODY for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in files)


def analyzable(installed: Installed, tmp_path: Path) -> Path:
    """The installed unit with ExecStart under the root (systemd-analyze checks it exists)."""
    text = installed.unit.read_text().replace(
        "ExecStart=/opt/boundary-mail/", f"ExecStart={installed.root}/opt/boundary-mail/"
    )
    path = tmp_path / "boundary-mail.service"
    path.write_text(text)
    return path


def test_systemd_analyze_verifies_the_installed_unit_and_rates_it_ok(
    installed: Installed, tmp_path: Path
) -> None:
    """`systemd-analyze verify` is silent; `security` rates the exposure 2.0 or lower
    (the README states the figure)."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing; scripts/bootstrap.sh --for tests installs it")
    unit = analyzable(installed, tmp_path)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True, text=True,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= 2.0


def test_running_it_again_changes_nothing(installed: Installed) -> None:
    """Idempotent: the same unit, config and credentials, exit 0."""
    before = {p: p.read_bytes() for p in (installed.unit, installed.etc / "boundary-mail.toml")}
    again = installed.script()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "wrote" not in again.stdout
    assert {p: p.read_bytes() for p in before} == before


def test_uninstall_removes_the_program_and_keeps_config_and_passwords(
    installed: Installed,
) -> None:
    """--uninstall removes the unit and /opt/boundary-mail; the config and credentials stay
    for a reinstall (--purge removes them). Last in this module: it undoes the install."""
    done = installed.script("--uninstall")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not installed.unit.exists()
    assert not (installed.root / "opt" / "boundary-mail").exists()
    assert (installed.etc / "boundary-mail.toml").exists()
    assert sorted(p.name for p in (installed.etc / "credentials").iterdir()) == sorted(NAMES)
