"""`check-config`: every kind of mistake is named with its file, its key and the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from boundary_mail.cli import main
from boundary_mail.config import load_config
from tests.integration.agency import render_toml

EXAMPLE = Path(__file__).parents[2] / "config" / "boundary-mail.example.toml"


def valid() -> dict[str, Any]:
    return {
        "timezone": "Europe/Berlin",
        "state_dir": "/tmp/bm-state",
        "schedule": {"check_windows": ["10:00", "15:00"], "holidays_country": "DE"},
        "smtp": {"host": "127.0.0.1", "port": 465, "username": "assistant",
                 "password_env": "BM_PW", "from_address": "assistant@agency.test"},
        "mailboxes": [{"name": "ann", "host": "127.0.0.1", "username": "ann",
                       "password_env": "BM_PW", "owner": "ann@agency.test"}],
        "team": {"lead": "lead@agency.test", "members": [
            {"name": "Ann", "address": "ann@agency.test", "backup": "lead@agency.test"},
            {"name": "Lee", "address": "lead@agency.test"},
        ]},
        "clients": [{"name": "Acme", "domains": ["acme.test"],
                     "account_manager": "ann@agency.test"}],
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


def _all(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change

# (mutation, the key it must name, words of the explanation or fix)
BAD_CONFIGS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "account manager is not a team member": (
        _set("clients.0.account_manager", "zoe@agency.test"),
        "clients[0].account_manager", "'zoe@agency.test' is not a team member"),
    "misspelt key": (
        _set("schedule.check_window", ["10:00"]),
        "schedule.check_window", "unknown key; remove it or check its spelling"),
    "starttls on the implicit-TLS IMAP port": (
        _all(_set("mailboxes.0.port", 993), _set("mailboxes.0.security", "starttls")),
        "mailboxes[0]", "never offers STARTTLS; use security = \"tls\" for port 993"),
    "missing smtp section": (
        _set("smtp", _DELETE), "smtp", "required key is missing; add this key"),
    "impossible time of day": (
        _set("schedule.check_windows", ["10:00", "25:00"]),
        "schedule.check_windows", "'25:00' is not a time of day; write it as \"HH:MM\""),
    "unknown time zone": (
        _set("timezone", "Europe/Atlantis"),
        "timezone", "is not a known time zone; use an IANA name"),
    "plaintext without allow_insecure": (
        _set("mailboxes.0.security", "plain"),
        "mailboxes[0]", "set allow_insecure = true"),
    "two password sources": (
        _set("mailboxes.0.password_file", "/run/pw"),
        "mailboxes[0]", "several password sources set (password_env, password_file)"),
    "not an email address": (
        _set("mailboxes.0.owner", "ann at agency"),
        "mailboxes[0].owner", "is not an email address; write it as name@example.com"),
    "unknown weekday": (
        _set("schedule.workdays", ["mon", "funday"]),
        "schedule.workdays", "unknown weekday(s) ['funday']"),
    "port out of range": (
        _set("smtp.port", 70000), "smtp.port", "lower the value"),
    "port not a number": (
        _set("smtp.port", "smtps"), "smtp.port", "write a whole number"),
    "unknown holiday country": (
        _set("schedule.holidays_country", "XX"),
        "schedule", "'XX' is not known to the holidays package"),
    "business hours reversed": (
        _set("schedule.business_hours", ["17:00", "09:00"]),
        "schedule", "start before end"),
    "client matches nothing": (
        _set("clients.0.domains", []),
        "clients[0]", "at least one entry in addresses or domains"),
    "duplicate mailbox name": (
        lambda d: d["mailboxes"].append(copy.deepcopy(d["mailboxes"][0])),
        "mailboxes[1].name", "is already used by mailboxes[0]"),
    "backup is not on the team": (
        _set("team.members.0.backup", "ghost@agency.test"),
        "team.members[0].backup", "is not a team member or the lead"),
    "domain claimed by two clients": (
        lambda d: d["clients"].append(
            {"name": "Other", "domains": ["acme.test"], "account_manager": "ann@agency.test"}),
        "clients[1]", "can belong to one client only"),
    "escalation steps out of order": (
        _set("escalation", {"steps": [
            {"after_business_hours": 8, "notify": "lead"},
            {"after_business_hours": 0, "notify": "account_manager"}]}),
        "escalation.steps", "in order of after_business_hours"),
    "unknown escalation target": (
        _set("escalation", {"steps": [{"after_business_hours": 0, "notify": "boss"}]}),
        "escalation.steps[0].notify", "use one of the listed values"),
    "auto-reply period beyond RFC 5230 maximum": (
        _set("response", {"auto_reply_days": 90}),
        "response.auto_reply_days", "lower the value"),
    "password without username": (
        _set("mailboxes.0.username", _DELETE),
        "mailboxes[0]", "no username; add username"),
    "no mailboxes": (
        _set("mailboxes", []), "mailboxes", "add at least one entry"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_bad_config_is_refused_with_key_and_fix(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config exits 2 and names the file, the key and what to do about it."""
    change, key, explanation = BAD_CONFIGS[case]
    data = valid()
    change(data)
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert f"  - {key}:" in err, err
    assert explanation in err, err


def test_the_valid_base_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(valid()))
    assert main(["--config", str(path), "check-config"]) == 0
    assert "OK" in capsys.readouterr().out


def test_the_shipped_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """config/boundary-mail.example.toml documents every key and must itself be valid."""
    assert main(["--config", str(EXAMPLE), "check-config"]) == 0


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = valid()
    data["timezone"] = "Mars/Olympus"
    data["schedule"]["workdays"] = ["funday"]
    data["smtp"]["port"] = "x"
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    for key in ("timezone:", "schedule.workdays:", "smtp.port:"):
        assert key in err


def test_toml_syntax_error_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bm.toml"
    path.write_text('timezone = "Europe/Berlin"\n[smtp\nhost = 1\n')
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "TOML syntax error" in err and "line 2" in err


def test_missing_file_says_where_the_example_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "check-config"]) == 2
    assert "boundary-mail example-config >" in capsys.readouterr().err


def test_environment_overrides_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BOUNDARY_MAIL_SMTP__PORT overrides smtp.port; other smtp keys stay from the file."""
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(valid()))
    monkeypatch.setenv("BOUNDARY_MAIL_SMTP__PORT", "2465")
    monkeypatch.setenv("BOUNDARY_MAIL_TIMEZONE", "Europe/Vienna")
    config = load_config(path)
    assert config.smtp.port == 2465
    assert config.smtp.host == "127.0.0.1"
    assert config.timezone == "Europe/Vienna"


def test_a_bad_environment_override_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(valid()))
    monkeypatch.setenv("BOUNDARY_MAIL_SMTP__PORT", "not-a-port")
    assert main(["--config", str(path), "check-config"]) == 2
    assert "smtp.port:" in capsys.readouterr().err


def test_a_broken_user_template_is_found_by_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "auto_reply.txt.j2").write_text("Hello {{ name }\n")
    data = valid()
    data["templates_dir"] = str(templates)
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "auto_reply.txt.j2" in err and "line 1" in err


def test_a_password_in_an_error_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password set through the environment never appears in check-config's output."""
    path = tmp_path / "bm.toml"
    data = valid()
    del data["smtp"]["password_env"]
    data["smtp"]["port"] = "bad"
    path.write_text(render_toml(data))
    monkeypatch.setenv("BOUNDARY_MAIL_SMTP__PASSWORD", "s3cret-Hunter2")
    assert main(["--config", str(path), "check-config"]) == 2
    captured = capsys.readouterr()
    assert "s3cret-Hunter2" not in captured.err + captured.out


def test_a_user_template_with_an_unknown_variable_is_found_by_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every template is rendered once with the variables its real message passes: a typo
    in a variable name is a config error, not a broken reply in front of a client."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "contact_note.txt.j2").write_text("Your contact: {{ contact_nmae }}\n")
    data = valid()
    data["templates_dir"] = str(templates)
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "rendering contact_note.txt.j2 failed: 'contact_nmae' is undefined" in err


def test_every_shipped_template_renders_its_sample(capsys: pytest.CaptureFixture[str]) -> None:
    from boundary_mail.compose import sample_messages
    from boundary_mail.templates import environment

    config = load_config(EXAMPLE)
    samples = sample_messages(config, environment(None, "en"), datetime(2026, 1, 5, tzinfo=UTC))
    assert len(samples) == 9  # with the client report, a nudge and a waiting report
    for _templates, compose in samples:
        assert compose().as_bytes()
