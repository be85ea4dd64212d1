"""What the command line says when something nobody foresaw goes wrong: one line that names
the problem, exit 1, and the Python traceback only with --verbose."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from boundary_mail.cli import main
from tests.integration.agency import render_toml
from tests.unit.test_config import valid


@pytest.mark.parametrize("error", [sqlite3.OperationalError("disk I/O error"),
                                   ConnectionResetError(104, "Connection reset by peer")])
def test_an_unforeseen_error_is_one_line_not_a_traceback(
    error: Exception, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`status` meets a state or network error nothing foresaw: it says what in one line
    and exits 1; the traceback is there with --verbose."""
    data = valid()
    data["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "bm.toml"
    path.write_text(render_toml(data))

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("boundary_mail.store.Store.open_items", fail)
    assert main(["--config", str(path), "status"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert f"error: {type(error).__name__}:" in captured.err
    assert "--verbose" in captured.err
