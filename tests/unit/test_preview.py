"""`boundary-mail preview`: what a sender would read, decided and composed as a window would,
without any mailbox or state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boundary_mail.cli import main
from tests.integration.agency import render_toml
from tests.unit.test_config import valid


def test_a_new_client_sees_the_reply_and_the_working_agreement_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Maria of Acme writes on Friday at 16:05: she reads that Monday's 10:00 window reads
    it, the answer-by time after it, and "How we work together" in full; nothing is
    quoted-printable or base64, and no state file is created."""
    data = valid()
    data["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))

    assert main(["--config", str(path), "preview", "maria@acme.test",
                 "--at", "2026-11-27T16:05"]) == 0

    out = capsys.readouterr().out
    assert "--- auto_reply to maria@acme.test ---" in out
    read_line = next(line for line in out.splitlines() if "It will be read:" in line)
    assert "Monday, November 30, 2026" in read_line and "10:00" in read_line
    assert "--- attached: How we work together.txt ---" in out
    assert not re.search(r"[^=\s]=\n|=[0-9A-F]{2}", out), "quoted-printable in the preview"
    assert "Content-Transfer-Encoding" not in out
    assert not (tmp_path / "state").exists()


def test_an_unknown_mailbox_is_named_with_the_ones_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--mailbox must be one of the configured mailboxes; the error lists them."""
    data = valid()
    data["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "preview", "maria@acme.test", "--mailbox", "zoe"]) == 1
    assert "--mailbox 'zoe' is not configured; the mailboxes are" in capsys.readouterr().err
