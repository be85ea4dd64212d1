"""The layers stay honest: the pure core decides from plain data and never touches the world.

A core module does not import a shell module (the ones that talk to servers, the disk or the
user), nor a library that does I/O, and does not read the clock: time comes in as `now`.
The check reads the source with `ast`, without importing it, so an import inside a function
counts as much as one at the top, and so does one reached through a helper module (config,
templates) that the core imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "boundary_mail"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# The pure core, listed by hand (no discovery: a module that is missing fails, it is never
# skipped). A NEW CORE MODULE MUST BE ADDED HERE when it lands (snapshot, plan, …).
CORE = (
    "actions", "authresults", "calendar", "chart", "decide", "digest", "digest_data",
    "digest_render", "directory", "errors", "facts", "headers", "ids", "ladder", "plan",
    "memory", "policy", "snapshot", "tracking",
    "config_warnings", "upcoming", "export_select", "export_index",
    "config_costs", "costs", "cost_report", "time_import",
    "config_waiting", "waiting", "waiting_figures", "waiting_plan",
    "config_warnings", "upcoming", "announce",
)
# The shell: the core may not import these, nor anything inside them (the `store` package).
SHELL = frozenset({
    "cli", "compose", "compose_route", "daemon", "digest_job", "doctor", "execute", "export",
    "export_work", "imap", "cli_costs", "cost_data", "cost_job", "compose_nudge", "drafts",
    "waiting_status", "waiting_window",
    "imap_parse", "logs", "mailbox_window", "net", "outbox", "report", "routes", "secrets", "smtp",
    "store", "sync", "urgent", "views", "window",
})
IO_LIBRARIES = frozenset({
    "aiosmtplib", "apscheduler", "asyncio", "imapclient", "socket", "sqlite3", "ssl",
    "subprocess",
})
CLOCK = frozenset({
    "datetime.date.today", "datetime.datetime.now", "datetime.datetime.today",
    "datetime.datetime.utcnow", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
    "time.perf_counter_ns", "time.time", "time.time_ns",
})
DYNAMIC_IMPORTS = frozenset({"importlib.import_module", "__import__"})


# -- the checker ------------------------------------------------------------------------------


def imports(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import anywhere in the tree. `from a import b` gives
    both "a" and "a.b" (b may be a module); relative imports are resolved against `module`;
    `importlib.import_module("x")` and `__import__("x")` with a literal name count too."""
    names = bound_names(tree, module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = from_base(node, module)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (isinstance(node, ast.Call) and qualified(node.func, names) in DYNAMIC_IMPORTS
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def from_base(node: ast.ImportFrom, module: str) -> str:
    """The module a `from … import` reads from, relative dots resolved."""
    if not node.level:
        return node.module or ""
    package = f"{PACKAGE}.{module}".split(".")[: -node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


def bound_names(tree: ast.AST, module: str) -> dict[str, str]:
    """Local names bound by imports, with what they stand for: `import datetime as dt`
    binds "dt" to "datetime", `from time import monotonic` binds "monotonic" to
    "time.monotonic". Builtins stand for themselves."""
    names = {"__import__": "__import__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = from_base(node, module)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def qualified(node: ast.expr, names: dict[str, str]) -> str | None:
    """What a name or attribute chain stands for (`dt.datetime.now` -> "datetime.datetime.now"),
    or None if it does not start with an imported name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    return ".".join([names[node.id], *reversed(parts)])


def shell_module(name: str) -> str | None:
    """The shell module a dotted import name is in, if any."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == PACKAGE and parts[1] in SHELL:
        return parts[1]
    return None


def problems(source: str, module: str) -> list[str]:
    """Everything in `source` (the module `module` of the package) that a core module may
    not do, one line each: "<module>:<line>: <what>"."""
    tree = ast.parse(source)
    found: set[tuple[int, str]] = set()
    for line, name in imports(tree, module):
        shell = shell_module(name)
        if shell is not None:
            found.add((line, f"imports the shell module {shell}"))
        if name.partition(".")[0] in IO_LIBRARIES:
            found.add((line, f"imports the I/O library {name.partition('.')[0]}"))
        if name in CLOCK:
            found.add((line, f"reads the clock ({name})"))
    names = bound_names(tree, module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            name = qualified(node, names)
            if name in CLOCK:
                found.add((node.lineno, f"reads the clock ({name})"))
    return [f"{module}:{line}: {what}" for line, what in sorted(found)]


def source_path(module: str) -> Path | None:
    """The file of a package module ("config", "store.queue"), if there is one."""
    base = SRC.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_imports(module: str) -> set[str]:
    """The package's own modules that `module` imports, anywhere in its source."""
    path = source_path(module)
    assert path is not None, f"{module} has no source file"
    found = set()
    for _, name in imports(ast.parse(path.read_text()), module):
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        # `from boundary_mail.config import Config` names the module and a class in it.
        for end in range(len(parts), 1, -1):
            if source_path(".".join(parts[1:end])) is not None:
                found.add(".".join(parts[1:end]))
                break
    return found


def helpers_of(module: str) -> set[str]:
    """Non-core package modules that `module` reaches through imports (not through shell
    modules, which are reported themselves), e.g. config and templates."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in package_imports(todo.pop()):
            if name not in seen and name.partition(".")[0] not in SHELL:
                seen.add(name)
                todo.append(name)
    return seen - set(CORE)


def problems_of(module: str) -> list[str]:
    path = source_path(module)
    assert path is not None, f"{module} has no source file"
    return problems(path.read_text(), module)


# -- the core ---------------------------------------------------------------------------------


def test_every_listed_core_module_exists() -> None:
    """The list of core modules names only modules that exist: a renamed or split module
    must be listed under its new names, not silently dropped from the check."""
    assert [m for m in CORE if source_path(m) is None] == []


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_shell_module(module: str) -> None:
    """The core never imports imap, smtp, the store, the window, the CLI or any other shell
    module, not even inside a function: the shell calls the core, never the reverse."""
    assert [p for p in problems_of(module) if "shell module" in p] == []


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_io_library(module: str) -> None:
    """The core never imports a library that talks to the network, the database, other
    processes or the event loop (imapclient, aiosmtplib, sqlite3, socket, ssl, asyncio,
    subprocess, apscheduler)."""
    assert [p for p in problems_of(module) if "I/O library" in p] == []


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_never_reads_the_clock(module: str) -> None:
    """The core takes `now` as an argument: it never calls datetime.now/utcnow/today,
    date.today, time.time, time.monotonic or time.perf_counter."""
    assert [p for p in problems_of(module) if "clock" in p] == []


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_reaches_nothing_forbidden_through_its_helpers(module: str) -> None:
    """The modules the core imports that are not core themselves (config, templates, …)
    follow the same rules, so the core cannot do through them what it may not do itself."""
    assert [p for helper in sorted(helpers_of(module)) for p in problems_of(helper)] == []


# -- the checker itself -----------------------------------------------------------------------

SYNTHETIC = """\
from datetime import datetime, timedelta


def decide(now: datetime) -> datetime:
    import sqlite3

    sqlite3.connect(":memory:")
    return datetime.now() + timedelta(days=1)
"""


def test_the_guard_reports_a_forbidden_import_and_a_clock_read() -> None:
    """A module that imports sqlite3 inside a function and calls datetime.now() is reported
    for both, with their lines: the guard can fail."""
    assert problems(SYNTHETIC, "decide") == [
        "decide:5: imports the I/O library sqlite3",
        "decide:8: reads the clock (datetime.datetime.now)",
    ]


@pytest.mark.parametrize(("source", "reported"), [
    ("from boundary_mail import imap", "imports the shell module imap"),
    ("from boundary_mail.store.queue import Queue", "imports the shell module store"),
    ("from . import window", "imports the shell module window"),
    ("from .net import tls_context", "imports the shell module net"),
    ("import boundary_mail.cli", "imports the shell module cli"),
    ("import asyncio.subprocess", "imports the I/O library asyncio"),
    ("from ssl import create_default_context", "imports the I/O library ssl"),
    ("import importlib\nimportlib.import_module('socket')", "imports the I/O library socket"),
    ("from time import monotonic", "reads the clock (time.monotonic)"),
    ("import time\nstart = time.perf_counter", "reads the clock (time.perf_counter)"),
    ("import datetime as dt\ntoday = dt.date.today()", "reads the clock (datetime.date.today)"),
    ("from datetime import datetime as D\nD.utcnow()",
     "reads the clock (datetime.datetime.utcnow)"),
])
def test_the_guard_sees_every_spelling(source: str, reported: str) -> None:
    """Relative imports, submodules, aliases, dynamic imports and a clock function passed
    around without being called are all reported."""
    assert any(reported in p for p in problems(source, "policy")), problems(source, "policy")


def test_the_guard_passes_plain_core_code() -> None:
    """Date arithmetic on a given `now`, package modules that are not shell, and names that
    merely look like the clock are not reported."""
    source = (
        "from datetime import date, datetime, timedelta\n"
        "from boundary_mail.config import Config\n"
        "from boundary_mail.facts import MessageFacts\n"
        "def due(now: datetime, time: float) -> date:\n"
        "    return (now + timedelta(hours=time)).date()\n"
    )
    assert problems(source, "policy") == []
