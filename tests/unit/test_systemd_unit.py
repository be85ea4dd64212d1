"""The shipped systemd unit is valid and hardened (checked with systemd's own analyzer)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "systemd" / "boundary-mail.service"


@pytest.fixture
def unit_file(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's installed console script."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing; install the systemd package")
    script = Path(sys.executable).with_name("boundary-mail")
    assert script.exists(), "boundary-mail is not installed in this environment"
    text = UNIT.read_text().replace("/opt/boundary-mail/bin/boundary-mail", str(script))
    path = tmp_path / "boundary-mail.service"
    path.write_text(text)
    return path


def test_unit_verifies_cleanly(unit_file: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit_file)], capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_unit_exposure_is_low(unit_file: Path) -> None:
    """systemd's own security score: 'OK' or better (≤ 2.0 of 10)."""
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_file)],
        capture_output=True, text=True,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0


def test_unit_is_a_notify_service_with_watchdog_and_credentials() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "LoadCredential=", "DynamicUser=yes",
                 "StateDirectory=boundary-mail", "ProtectSystem=strict", "ProtectHome=yes",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text
