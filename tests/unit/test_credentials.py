"""The example config, the unit and `boundary-mail credentials` agree on the credentials."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boundary_mail.cli import main
from boundary_mail.config import load_config
from boundary_mail.credentials import load_credential_lines, needed_credentials
from boundary_mail.data import example_config
from tests.integration.agency import render_toml

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config" / "boundary-mail.example.toml"
UNIT = ROOT / "systemd" / "boundary-mail.service"


def test_the_documented_example_is_the_shipped_one() -> None:
    """config/boundary-mail.example.toml is the file inside the package, not a copy of it."""
    assert EXAMPLE.resolve() == (ROOT / "src/boundary_mail/data/boundary-mail.example.toml")
    assert EXAMPLE.read_text(encoding="utf-8") == example_config()


def test_example_config_prints_the_shipped_example(capsys: pytest.CaptureFixture[str]) -> None:
    """`boundary-mail example-config` needs no configuration file."""
    assert main(["--config", "/nonexistent/boundary-mail.toml", "example-config"]) == 0
    assert capsys.readouterr().out == example_config()


def test_the_shipped_unit_loads_exactly_the_examples_credentials() -> None:
    """Every password_file of the example is a LoadCredential= of the unit, and nothing else."""
    in_unit = re.findall(r"^LoadCredential=.*$", UNIT.read_text(), flags=re.MULTILINE)
    assert sorted(in_unit) == sorted(load_credential_lines(load_config(EXAMPLE)))
    assert len(in_unit) == 3  # smtp, imap-ann, imap-bob


def test_the_example_reads_every_password_from_a_credential() -> None:
    """No password_env or password_command: under systemd the only secrets are credentials."""
    config = load_config(EXAMPLE)
    wanted, direct = needed_credentials(config)
    assert direct == []
    assert [c.name for c in wanted] == ["smtp", "imap-ann", "imap-bob"]
    for account in (config.smtp, *config.mailboxes):
        assert account.password_env is None and account.password_command is None


def _config(tmp_path: Path, **passwords: dict[str, str]) -> Path:
    mailbox = {"host": "127.0.0.1", "owner": "ann@agency.test"}
    data = {
        "timezone": "Europe/Berlin",
        "smtp": {"host": "127.0.0.1", "username": "assistant",
                 "from_address": "assistant@agency.test", **passwords["smtp"]},
        "mailboxes": [
            {"name": "ann", "username": "ann", **mailbox, **passwords["ann"]},
            {"name": "info", "username": "info", **mailbox, **passwords["info"]},
        ],
        "team": {"lead": "ann@agency.test",
                 "members": [{"name": "Ann", "address": "ann@agency.test"}]},
    }
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    return path


def test_credentials_prints_one_line_per_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two accounts sharing a credential need it once; environment variables need none."""
    path = _config(tmp_path, smtp={"password_file": "shared"},
                   ann={"password_file": "shared"}, info={"password_env": "BM_PW"})
    assert main(["--config", str(path), "credentials", "--dir", "/srv/creds"]) == 0
    assert capsys.readouterr().out == "LoadCredential=shared:/srv/creds/shared\n"
    assert main(["--config", str(path), "credentials", "--names"]) == 0
    assert capsys.readouterr().out == "shared\n"


def test_a_password_file_path_is_named_not_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An absolute password_file is read by the service itself: said in a comment, the
    account named, no LoadCredential= for it."""
    path = _config(tmp_path, smtp={"password_file": "smtp"},
                   ann={"password_file": "/etc/secret/ann"}, info={})
    assert main(["--config", str(path), "credentials"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "LoadCredential=smtp:/etc/boundary-mail/credentials/smtp"
    assert out[1].startswith("# mailboxes.ann: password_file '/etc/secret/ann' is a path")
    assert len(out) == 2
