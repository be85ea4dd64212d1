"""`boundary-mail report` and `costs import` say what is wrong and how to fix it, and an
import stores what the report then uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from boundary_mail.cli import main
from tests.integration.agency import render_toml
from tests.unit.test_config import valid


def write_config(tmp_path: Path, **costs: Any) -> Path:
    data = valid()
    data["state_dir"] = str(tmp_path / "state")
    data["clients"][0]["monthly_fee"] = 500
    if costs:
        data["costs"] = costs
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    return path


def test_a_report_without_an_hourly_rate_says_what_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_config(tmp_path)), "report", "--month", "2026-11"]) == 1
    err = capsys.readouterr().err
    assert "costs.hourly_rate is not set" in err and "[costs]\nhourly_rate = 80" in err


def test_a_month_that_is_no_month_is_refused_with_the_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, hourly_rate=80)
    assert main(["--config", str(path), "report", "--month", "11/2026"]) == 1
    assert "--month: '11/2026' is not a month; write it as YYYY-MM" in capsys.readouterr().err


def test_imported_hours_are_what_the_report_uses_and_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, hourly_rate=80)
    export = tmp_path / "hours.csv"
    export.write_text("client,date,hours\nacme,2026-11-03,2.5\nAcme,2026-11-20,3.5\n")
    assert main(["--config", str(path), "costs", "import", str(export)]) == 0
    out = capsys.readouterr().out
    assert "read 2 row(s) as a CSV export (columns 'client', 'date', 'hours')" in out
    assert "Acme 2026-11: 6 h; the report uses these instead of the model" in out
    assert main(["--config", str(path), "report", "--month", "2026-11"]) == 0
    text = capsys.readouterr().out
    acme = next(line for line in text.splitlines() if line.startswith("Acme"))
    assert "6.00*" in acme and "€480.00" in acme and "€500.00" in acme
    assert "* hours imported from a time tracker for Acme (hours.csv); the others are" in text


def test_an_export_with_no_configured_client_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, hourly_rate=80)
    export = tmp_path / "hours.csv"
    export.write_text("Client,Date,Hours\nInternal,2026-11-03,2\n")
    assert main(["--config", str(path), "costs", "import", str(export)]) == 1
    captured = capsys.readouterr()
    assert "left out 1 row(s) of 'Internal'" in captured.out
    assert "no row is for a configured client (Acme)" in captured.err


def test_a_user_report_template_with_an_unknown_variable_is_found_by_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not on the first business day of the month, in the daemon's log."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "cost_report.html.j2").write_text("<p>{{ report.totl }}</p>\n")
    data = valid()
    data["templates_dir"] = str(templates)
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "check-config"]) == 2
    assert "rendering cost_report.txt.j2, cost_report.html.j2 failed:" in capsys.readouterr().err
