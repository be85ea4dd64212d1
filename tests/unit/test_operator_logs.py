"""What an operator reads in the log and from `check-config`: timestamps unless the journal
stamps the lines itself, outgoing mail named by kind and recipient, and warnings about a
valid configuration that probably does not do what was meant."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boundary_mail.cli import main
from boundary_mail.config_warnings import config_warnings
from boundary_mail.logs import log_format
from boundary_mail.outbox import _describe
from boundary_mail.store import SendEffects, StoredAction
from tests.unit.factories import agency

STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO boundary_mail: hello$")
PLAIN = "INFO boundary_mail: hello"


def test_without_journal_stream_log_lines_carry_a_timestamp() -> None:
    """$JOURNAL_STREAM unset (a terminal, a file, a container log): every line is stamped."""
    assert log_format(None, sys.stdout).startswith("%(asctime)s ")
    assert log_format("", sys.stdout).startswith("%(asctime)s ")


def test_on_the_journals_stream_log_lines_carry_no_timestamp(tmp_path: Path) -> None:
    """$JOURNAL_STREAM names this very stream (device:inode): journald stamps the lines."""
    with (tmp_path / "out").open("w") as stream:
        st = os.fstat(stream.fileno())
        assert log_format(f"{st.st_dev}:{st.st_ino}", stream) == "%(levelname)s %(name)s:" \
            " %(message)s"
        assert log_format("1:2", stream).startswith("%(asctime)s ")  # another stream


def test_a_stream_without_a_descriptor_takes_journal_stream_at_its_word() -> None:
    assert "%(asctime)s" not in log_format("1:2", io.StringIO())


def _logged_line(tmp_path: Path, journal: bool) -> str:
    """Run `main` in a fresh interpreter with stdout on a file, then log one line."""
    config = tmp_path / "bm.toml"
    config.write_text('[smtp]\nhost = "h"\nport = 465\nfrom_address = "a@b.test"\n'
                      '[[mailboxes]]\nname = "ann"\nhost = "h"\nowner = "ann@b.test"\n'
                      '[team]\nlead = "ann@b.test"\n'
                      'members = [{ name = "Ann", address = "ann@b.test" }]\n')
    out = tmp_path / "out.log"
    code = (f"from boundary_mail.cli import main; import logging; main(['--config',"
            f" {str(config)!r}, 'check-config']); logging.getLogger('boundary_mail').info('hello')")
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    with out.open("w") as stream:
        if journal:
            st = os.fstat(stream.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", code], stdout=stream, env=env, check=True,
                       stderr=subprocess.DEVNULL)
    return out.read_text().splitlines()[-1]


def test_main_stamps_log_lines_unless_stdout_is_the_journal(tmp_path: Path) -> None:
    """The same program: a timestamp on a plain file, none on the journal's stream."""
    assert STAMPED.match(_logged_line(tmp_path, journal=False))
    assert _logged_line(tmp_path, journal=True) == PLAIN


def _action(kind: str, source: str) -> StoredAction:
    return StoredAction(
        id=7, kind=kind, dedupe_key=f"{kind}:x", source_message_id=source,
        envelope_from="assistant@agency.test", recipients=("lead@agency.test",),
        outgoing_message_id="<bm.1@agency.test>", raw=b"", effects=SendEffects(),
        status="pending", attempts=0, last_error="", created_at=datetime(2026, 1, 5, tzinfo=UTC),
    )


def test_a_log_line_about_a_digest_names_kind_and_recipient_and_no_empty_message_key() -> None:
    """A digest answers no message: its line has kind and recipient, and no msg= of the
    hash of an empty Message-ID (e3b0c44298fc)."""
    line = _describe(_action("digest", ""))
    assert line == "action=7 kind=digest to=lead@agency.test"
    assert "msg=" in _describe(_action("auto_reply", "<m1@acme.test>"))


def test_a_sound_configuration_has_no_warnings() -> None:
    assert config_warnings(agency()) == []


def test_windows_outside_business_hours_a_lead_outside_the_team_and_empty_passwords_warn() -> None:
    """Valid, but probably not meant: each warning names its key and the fix."""
    config = agency(
        schedule={"check_windows": ["08:00", "15:00"], "digest_time": "12:00"},
        team={"lead": "boss@agency.test",
              "members": [{"name": "Ann", "address": "ann@agency.test"},
                          {"name": "Bob", "address": "bob@agency.test"}]},
        smtp={"host": "127.0.0.1", "port": 465, "from_address": "assistant@agency.test",
              "username": "assistant"},
    )
    warnings = config_warnings(config)
    text = "\n".join(warnings)
    assert "schedule.check_windows: 08:00 is outside business_hours 09:00–17:00" in text
    assert "schedule.digest_time: 12:00 is before the last check window (15:00)" in text
    assert "team.lead: 'boss@agency.test' is not in team.members" in text
    assert "mailboxes[2].owner: 'lead@agency.test' is not a team member or the lead" in text
    assert "smtp: username 'assistant' has no password source" in text
    assert len(warnings) == 5


def test_check_config_prints_warnings_on_stderr_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bm.toml"
    config.write_text('[schedule]\ncheck_windows = ["07:00"]\n'
                      '[smtp]\nhost = "h"\nport = 465\nfrom_address = "a@b.test"\n'
                      '[[mailboxes]]\nname = "ann"\nhost = "h"\nowner = "ann@b.test"\n'
                      '[team]\nlead = "ann@b.test"\n'
                      'members = [{ name = "Ann", address = "ann@b.test" }]\n')
    assert main(["--config", str(config), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "warning" not in out
    assert err.startswith("warning: schedule.check_windows: 07:00 is outside business_hours")
