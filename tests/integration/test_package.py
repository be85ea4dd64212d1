"""boundary-mail is a real package: an sdist and a wheel that pass `twine check`, and a wheel
that `pipx` installs into a fresh environment with a working `boundary-mail`."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boundary_mail
from boundary_mail.data import example_config
from boundary_mail.languages import CLIENT_TEMPLATES

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = ("smtp", "imap-ann", "imap-bob")  # what the example config names


def _run(*argv: str | Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env,
        stdin=subprocess.DEVNULL,
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOUNDARY_MAIL_", "PYTHON", "VIRTUAL_ENV", "CREDENTIALS_"))}
    return {**env, **extra}


def test_sdist_and_wheel_build_without_warnings_and_pass_twine_check(tmp_path: Path) -> None:
    """`python -m build` makes both, setuptools says nothing is deprecated, and the metadata
    (SPDX license, README) passes `twine check --strict`."""
    done = _run(sys.executable, "-m", "build", "--outdir", tmp_path, REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deprecat" not in (done.stdout + done.stderr).lower()
    built = sorted(p.name for p in tmp_path.iterdir())
    version = boundary_mail.__version__
    assert built == [f"boundary_mail-{version}-py3-none-any.whl", f"boundary_mail-{version}.tar.gz"]
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", *tmp_path.iterdir())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every shipped language's templates are in the wheel, not only the English ones.
    with zipfile.ZipFile(tmp_path / built[0]) as whl:
        names = set(whl.namelist())
    for language in ("de", "da", "ru"):
        for template in CLIENT_TEMPLATES:
            assert f"boundary_mail/templates/{language}/{template}" in names


def test_pipx_installs_a_working_command_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    """In a fresh pipx environment: --version, the example config it ships, and check-config
    on that example as shipped (its credentials present as systemd would hand them over)."""
    env = _clean_env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"),
                     PIPX_MAN_DIR=str(tmp_path / "man"))
    done = _run(sys.executable, "-m", "pipx", "install", wheel, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    command = tmp_path / "bin" / "boundary-mail"

    version = _run(command, "--version", env=env)
    assert version.stdout.strip() == f"boundary-mail {wheel.name.split('-')[1]}"

    example = _run(command, "example-config", env=env)
    assert example.returncode == 0 and example.stdout == example_config()
    config = tmp_path / "x.toml"
    config.write_text(example.stdout)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in CREDENTIALS:
        (credentials / name).write_text("not-a-real-password")
    checked = _run(command, "--config", config, "check-config",
                   env={**env, "CREDENTIALS_DIRECTORY": str(credentials)})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout


def test_the_tests_run_the_package_they_mean_to() -> None:
    """The normal run tests the checkout (src/, installed editable); CI's second run sets
    BM_WHEEL and uses the interpreter the wheel was installed into: boundary_mail then comes
    from site-packages, never from src/."""
    location = Path(boundary_mail.__file__).resolve()
    if os.environ.get("BM_WHEEL"):
        assert "site-packages" in location.parts
        assert not location.is_relative_to(REPO / "src")
    else:
        assert location.is_relative_to(REPO / "src"), location
