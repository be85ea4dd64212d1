"""Why this process cannot use the state file: which file, which permission, which fix.

SQLite reports only "attempt to write a readonly database" or "unable to open database file".
The operator needs the file (the database, its `-wal`, its `-shm` or the directory they live
in), the permission missing for which uid, and the command that fixes it. SQLite creates the
`-shm` with the database's mode, so a `-shm` made while the database was 0400 stays 0400 after
a `chmod 600` of the database alone: that is said too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def access_problems(path: Path) -> list[str]:
    """What stops this process from using the state file, one line per file: the directory
    (SQLite creates and removes `-wal` and `-shm` in it), the database, its `-wal`, its `-shm`.
    """
    uid = os.geteuid()
    effective = os.access in os.supports_effective_ids
    checks = [(path.parent, "the state directory", os.W_OK | os.X_OK)]
    checks += [
        (file, role, os.R_OK | os.W_OK)
        for file, role in (
            (path, "the state file"),
            (_beside(path, "-wal"), "its write-ahead log"),
            (_beside(path, "-shm"), "its shared-memory index"),
        )
    ]
    problems = []
    for file, role, need in checks:
        try:
            st = file.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{file} ({role}): cannot be looked at ({exc.strerror})")
            continue
        missing = [
            flag for flag in (os.R_OK, os.W_OK, os.X_OK)
            if flag & need and not os.access(file, flag, effective_ids=effective)
        ]
        if missing:
            problems.append(denied(file, role, st, uid, missing))
    if any(p.split(" ", 1)[0].endswith(("-wal", "-shm")) for p in problems):
        problems.append(SIDE_FILES_NOTE)
    return problems


SIDE_FILES_NOTE = (
    "SQLite creates the -wal and -shm files with the database's mode: ones made while the"
    " database was 0400 stay 0400 after a `chmod 600` of the database alone."
)


_WORDS = {os.R_OK: "readable", os.W_OK: "writable", os.X_OK: "searchable"}


def denied(file: Path, role: str, st: os.stat_result, uid: int, missing: list[int]) -> str:
    """One permission problem as the operator fixes it: the file, what it is, the permission
    missing for which uid, its mode and owner, the command that fixes it."""
    is_dir = stat.S_ISDIR(st.st_mode)
    mode = 0o700 if is_dir else 0o600
    what = " and ".join(_WORDS[flag] for flag in missing)
    chmod = f"chmod {mode:o} {file}"
    fix = chmod if st.st_uid == uid else f"chown {uid} {file} && {chmod}"
    text = (
        f"{file} ({role}) is not {what} by uid {uid} (mode {stat.S_IMODE(st.st_mode):04o},"
        f" owner uid {st.st_uid}); make it {what}: {fix}"
    )
    if file.name.endswith("-shm"):
        text += " — or remove it while boundary-mail is stopped (it holds no data)."
    elif file.name.endswith("-wal"):
        text += " — do not remove it: it may hold the latest recorded changes."
    elif is_dir:
        text += " (SQLite creates its -wal and -shm files beside the database)."
    return text
