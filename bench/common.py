"""Shared helpers for the benchmarks (run by hand, never in CI).

The benchmarks talk to a private test Dovecot/Postfix started with scripts/mailserver.sh under
$BM_MAIL_DIR (default here: /tmp/bm-bench, so they never disturb the test suite's servers).
Server ports and passwords come from `scripts/mailserver.py env`.
"""

from __future__ import annotations

import os
import shlex
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAIL_DIR = "/tmp/bm-bench"
BENCH_USER = "carol"
PYTHON = sys.executable


def server_env() -> dict[str, str]:
    """BM_* values of the running private servers (ports, CA file, BM_PW_<USER>)."""
    env = dict(os.environ)
    env.setdefault("BM_MAIL_DIR", DEFAULT_MAIL_DIR)
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mailserver.py"), "env"],
        env=env, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(
            f"no benchmark servers under {env['BM_MAIL_DIR']}: start them with\n"
            "  export BM_MAIL_DIR=/tmp/bm-bench BM_IMAPS_PORT=22993 BM_IMAP_PORT=22143"
            " BM_SMTPS_PORT=22465 BM_SMTP_PORT=22587\n  scripts/mailserver.sh up\n"
            + out.stderr
        )
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return values


def maildir(env: dict[str, str], user: str, folder: str) -> Path:
    """The Maildir++ directory of `folder` (INBOX is the Maildir itself)."""
    base = Path(env["BM_MAIL_DIR"]) / "mail" / user / "Maildir"
    return base if folder.upper() == "INBOX" else base / f".{folder}"


def tls_context(env: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=env["BM_CA_FILE"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def imapclient_login(env: dict[str, str], user: str = BENCH_USER) -> Any:
    import imapclient

    client = imapclient.IMAPClient(
        env["BM_HOST"], port=int(env["BM_IMAPS_PORT"]), ssl=True,
        ssl_context=tls_context(env), timeout=600,
    )
    client.login(user, env[f"BM_PW_{user.upper()}"])
    return client


# ------------------------------------------------------------------------------ config


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def write_config(
    env: dict[str, str], workdir: Path, folder: str, *, user: str = BENCH_USER
) -> Path:
    """A boundary-mail config whose one mailbox is `user`'s `folder` (as its inbox).

    Auto-replies are off and SMTP points at the private Postfix: a window records and
    decides, and the benchmark windows queue nothing (checked by the callers)."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = {
        "host": env["BM_HOST"], "security": "tls", "ca_file": env["BM_CA_FILE"],
        "timeout_seconds": 600,
    }
    lines = [
        'timezone = "Europe/Berlin"',
        f"state_dir = {_toml(str(workdir / 'state'))}",
        "",
        "[schedule]",
        'check_windows = ["10:00", "15:00"]',
        'holidays_country = "DE"',
        'holidays_subdivision = "BE"',
        "",
        "[response]",
        "auto_reply = false",
        "",
        "[smtp]",
        *(f"{k} = {_toml(v)}" for k, v in server.items()),
        f"port = {env['BM_SMTPS_PORT']}",
        'username = "assistant"',
        'password_env = "BM_PW_ASSISTANT"',
        'from_address = "assistant@agency.test"',
        "",
        "[[mailboxes]]",
        f'name = "{user}"',
        *(f"{k} = {_toml(v)}" for k, v in server.items()),
        f"port = {env['BM_IMAPS_PORT']}",
        f'username = "{user}"',
        f'password_env = "BM_PW_{user.upper()}"',
        f'owner = "{user}@agency.test"',
        f"inbox = {_toml(folder)}",
        'sent = "Sent"',
        "",
        "[team]",
        'lead = "lead@agency.test"',
        "members = ["
        f'{{ name = "{user.title()}", address = "{user}@agency.test" }}, '
        '{ name = "Lee Lead", address = "lead@agency.test" }]',
        "",
        "[[clients]]",
        'name = "Acme"',
        'domains = ["acme.test"]',
        f'account_manager = "{user}@agency.test"',
        "",
    ]
    path = workdir / "boundary-mail.toml"
    path.write_text("\n".join(lines))
    return path


def child_env(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("BOUNDARY_MAIL_")}
    out.update(env)
    return out


# ------------------------------------------------------------------------------ timing


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a subprocess; return (wall seconds, peak RSS in KiB of that child, stdout).

    The child runs under bench/rusage_exec.py, which reports getrusage(RUSAGE_CHILDREN)
    .ru_maxrss and the wall time of the command alone: measured from this (big) process, a
    child's ru_maxrss would include this process's own memory, copied at fork."""
    with tempfile.NamedTemporaryFile("r", prefix="bm-bench-rusage-", suffix=".txt") as report:
        middle = [sys.executable, str(Path(__file__).with_name("rusage_exec.py")), report.name]
        proc = subprocess.run([*middle, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        text = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(args)} exited {proc.returncode}:\n{text[-3000:]}")
        maxrss, elapsed = report.read().split()
    return float(elapsed), int(maxrss), text


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_runs(values: list[float], unit: str = "s") -> str:
    runs = ", ".join(f"{v:.3f}" for v in values)
    return f"{median(values):8.3f} {unit}  (runs: {runs})"


def say(text: str = "") -> None:
    print(text, flush=True)
