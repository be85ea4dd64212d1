"""The state file: a lost one is refused with the way back, never silently started afresh;
permission problems are named; backups rotate by themselves and restore what was recorded."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from boundary_mail.cli import main
from boundary_mail.store import SCHEMA_VERSION, FolderState, StateError, Store
from boundary_mail.store.access import denied
from boundary_mail.store.backup import (
    KEEP_BACKUPS,
    daily,
    list_backups,
    make_backup,
    restore_backup,
)
from tests.integration.agency import render_toml
from tests.unit.factories import agency, agency_data, berlin

NOW = berlin(23, 10)
NOBODY = 65534


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.sqlite3"


def recorded(path: Path, last_uid: int = 42) -> None:
    """A state file that knows something: ann's INBOX read up to `last_uid`."""
    store = Store(path)
    with store.transaction():
        store.set_folder_state("ann", "INBOX", FolderState(7, last_uid), NOW)
    store.close()


def last_uid(path: Path) -> int | None:
    store = Store(path)
    try:
        folder = store.folder_state("ann", "INBOX")
    finally:
        store.close()
    return None if folder is None else folder.last_uid


# -- what is refused -----------------------------------------------------------------------------


def test_an_empty_state_file_is_refused_naming_the_file_and_the_newest_backup(
    state_file: Path,
) -> None:
    """A state file that existed and is now 0 bytes is not recreated: the error names the file,
    the newest backup and `boundary-mail restore-state`, and the file is left as it is."""
    recorded(state_file)
    make_backup(state_file, NOW - timedelta(days=1))
    newest = make_backup(state_file, NOW)
    state_file.write_bytes(b"")
    with pytest.raises(StateError) as refused:
        Store(state_file)
    message = str(refused.value)
    assert str(state_file) in message
    assert "empty (0 bytes)" in message
    assert str(newest) in message
    assert "boundary-mail restore-state" in message
    assert "afresh over it" in message and "move it aside" not in message
    assert state_file.stat().st_size == 0


def test_garbage_in_the_state_file_is_refused(state_file: Path) -> None:
    """Bytes SQLite cannot read as a database are refused with the file and the way back; the
    file is not touched."""
    recorded(state_file)
    make_backup(state_file, NOW)
    garbage = b"\x00not a database\xff" * 512
    state_file.write_bytes(garbage)
    with pytest.raises(StateError, match="not a readable SQLite database") as refused:
        Store(state_file)
    assert str(state_file) in str(refused.value)
    assert "boundary-mail restore-state" in str(refused.value)
    assert state_file.read_bytes() == garbage


def test_a_state_file_cut_short_is_refused_as_malformed(state_file: Path) -> None:
    """A state file that lost its second half (a partial copy, a full disk) is refused as
    unreadable, not opened with what is left."""
    recorded(state_file)
    whole = state_file.read_bytes()
    state_file.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(StateError, match="malformed") as refused:
        Store(state_file)
    assert "boundary-mail restore-state" in str(refused.value) or "no backup" in str(
        refused.value
    )


def test_tables_without_a_schema_version_are_refused(state_file: Path) -> None:
    """A state file whose schema_version table is gone while other tables remain is not
    migrated over as if it were new."""
    recorded(state_file)
    with sqlite3.connect(state_file) as db:
        db.execute("DROP TABLE schema_version")
    db.close()
    with pytest.raises(StateError, match="no schema version") as refused:
        Store(state_file)
    assert str(state_file) in str(refused.value)


def test_without_any_backup_the_refusal_says_what_starting_empty_costs(state_file: Path) -> None:
    """With no backup to restore, the error says so and that an empty start answers the last
    day's mail again."""
    recorded(state_file)
    state_file.write_bytes(b"")
    with pytest.raises(StateError, match="There is no backup in") as refused:
        Store(state_file)
    assert "answered again" in str(refused.value)


def test_only_a_missing_state_file_is_created(state_file: Path) -> None:
    """A state file that does not exist is created whole (0600, schema in place); nothing but
    the state file is left in the directory."""
    Store(state_file).close()
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["state.sqlite3"]
    assert last_uid(state_file) is None


# -- permissions ---------------------------------------------------------------------------------


def as_nobody(action: Callable[[], str]) -> str:
    """Run `action` in a forked child as uid/gid 65534 and return what it returned or raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = action()
        except BaseException as exc:
            out = f"{type(exc).__name__}: {exc}"
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    return data.decode()


@pytest.fixture
def nobodys_state() -> Iterator[Path]:
    """A state directory owned by nobody, where nobody can reach it (not under root's tmp)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="bm-state-perm-"))
    state_file = base / "state" / "state.sqlite3"
    recorded(state_file)
    for path in (base, state_file.parent, state_file):
        os.chown(path, NOBODY, NOBODY)
    yield state_file
    subprocess.run(["rm", "-rf", str(base)], check=True)


@pytest.mark.skipif(os.getuid() != 0, reason="switching to uid 65534 needs root")
def test_a_stale_0400_shm_is_named_with_the_permission(nobodys_state: Path) -> None:
    """SQLite made -wal and -shm 0400 while the database was 0400; after `chmod 600` of the
    database alone, opening fails. The error names the -shm, the permission missing for which
    uid, and says why the chmod of the database did not help."""
    state_file = nobodys_state
    os.chmod(state_file, 0o400)

    def read_then_crash() -> str:
        db = sqlite3.connect(state_file)
        db.execute("SELECT * FROM schema_version").fetchall()
        os._exit(0)  # a crash: SQLite's -wal and -shm stay behind, 0400 like the database

    as_nobody(read_then_crash)
    shm = state_file.with_name("state.sqlite3-shm")
    assert stat.S_IMODE(shm.stat().st_mode) == 0o400
    os.chmod(state_file, 0o600)  # what the operator tried

    def open_store() -> str:
        Store(state_file).close()
        return "opened"

    message = as_nobody(open_store)
    assert message.startswith("StateError: ")
    assert f"{shm} (its shared-memory index) is not writable by uid {NOBODY} (mode 0400" in message
    assert f"chmod 600 {shm}" in message
    assert "remove it while boundary-mail is stopped" in message
    assert "after a `chmod 600` of the database alone" in message


def test_the_permission_message_names_file_permission_uid_and_fix(tmp_path: Path) -> None:
    """The message of one permission problem, from a stat: the file, what is missing for which
    uid, the mode and owner, and the command (chown when another uid owns it)."""
    shm = tmp_path / "state.sqlite3-shm"
    shm.write_bytes(b"")
    os.chmod(shm, 0o400)
    st = shm.stat()
    mine = denied(shm, "its shared-memory index", st, st.st_uid, [os.W_OK])
    assert mine.startswith(f"{shm} (its shared-memory index) is not writable by uid {st.st_uid}"
                           " (mode 0400")
    assert f"make it writable: chmod 600 {shm}" in mine
    theirs = denied(shm, "its shared-memory index", st, st.st_uid + 1000, [os.R_OK, os.W_OK])
    assert "is not readable and writable by uid" in theirs
    assert f"chown {st.st_uid + 1000} {shm} && chmod 600 {shm}" in theirs


# -- backups -------------------------------------------------------------------------------------


def test_backups_rotate_one_per_day_the_last_seven(state_file: Path) -> None:
    """Eight days of backups leave the newest seven, one per day, 0600 in a 0700 directory; a
    second backup on the same day leaves the day's first alone."""
    recorded(state_file)
    for day in range(8):
        make_backup(state_file, NOW + timedelta(days=day))
    backups = list_backups(state_file.parent)
    assert KEEP_BACKUPS == 7
    assert [b.day for b in backups] == [(NOW + timedelta(days=d)).date() for d in range(7, 0, -1)]
    assert stat.S_IMODE(backups[0].path.parent.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(b.path.stat().st_mode) == 0o600 for b in backups)
    assert sorted(p.name for p in backups[0].path.parent.iterdir()) == sorted(
        b.path.name for b in backups
    )  # no temporary file left behind

    first = backups[0].path.read_bytes()
    recorded(state_file, last_uid=99)
    assert make_backup(state_file, NOW + timedelta(days=7, hours=3)) == backups[0].path
    assert backups[0].path.read_bytes() == first


def test_a_broken_state_file_is_never_backed_up(state_file: Path) -> None:
    """The daily backup of a state file that cannot be opened fails with a log line and does
    not push a good backup out."""
    recorded(state_file)
    good = make_backup(state_file, NOW)
    state_file.write_bytes(b"")
    config = agency(state_dir=str(state_file.parent))
    assert daily(config, NOW + timedelta(days=1)) is None
    assert [b.path for b in list_backups(state_file.parent)] == [good]


def test_restore_brings_the_data_back_and_keeps_the_broken_file(state_file: Path) -> None:
    """Restoring puts the backup's data in place (0600), moves the broken file aside under
    `.broken-<time>` with its -wal, removes its -shm, and leaves the backup as it was."""
    recorded(state_file, last_uid=42)
    backup = make_backup(state_file, NOW)
    state_file.write_bytes(b"")
    state_file.with_name("state.sqlite3-wal").write_bytes(b"stale wal")
    state_file.with_name("state.sqlite3-shm").write_bytes(b"stale shm")

    done = restore_backup(backup, state_file, NOW + timedelta(hours=1))

    aside = state_file.with_name("state.sqlite3.broken-20261123T100000Z")
    assert done.moved_aside == [
        (state_file, aside),
        (state_file.with_name("state.sqlite3-wal"), aside.with_name(aside.name + "-wal")),
    ]
    assert aside.read_bytes() == b""
    assert aside.with_name(aside.name + "-wal").read_bytes() == b"stale wal"
    assert done.removed == [state_file.with_name("state.sqlite3-shm")]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert last_uid(state_file) == 42
    assert backup.exists()


def test_a_backup_that_fails_its_check_is_not_restored(state_file: Path) -> None:
    """A damaged backup is refused before anything is moved: the state file stays as it is."""
    recorded(state_file)
    backup = make_backup(state_file, NOW)
    backup.write_bytes(backup.read_bytes()[:100] + b"\xff" * 4000)
    state_file.write_bytes(b"")
    with pytest.raises(StateError, match=str(backup)):
        restore_backup(backup, state_file, NOW)
    assert state_file.read_bytes() == b""
    left = [p.name for p in state_file.parent.iterdir()]
    assert not [name for name in left if ".broken-" in name or ".restore-" in name]


def test_restore_is_refused_while_boundary_mail_holds_the_lock(state_file: Path) -> None:
    """While another process holds `<state_dir>/boundary-mail.lock`, restoring is refused and
    nothing is moved; the holder it wrote into the lock file is named."""
    recorded(state_file)
    backup = make_backup(state_file, NOW)
    state_file.write_bytes(b"")
    lock = state_file.parent / "boundary-mail.lock"
    lock.write_text("4242\n2026-11-23 09:00:03 UTC\na check window\n")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX);"
         " print('held', flush=True); time.sleep(60)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StateError, match=r"a check window is running \(pid 4242"):
            restore_backup(backup, state_file, NOW)
        assert state_file.read_bytes() == b""
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with lock.open() as f:  # the restore let the lock go again
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    restore_backup(backup, state_file, NOW)
    assert last_uid(state_file) == 42


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path, state_file: Path) -> Path:
    path = tmp_path / "boundary-mail.toml"
    path.write_text(render_toml({**agency_data(), "state_dir": str(state_file.parent)}))
    return path


def test_restore_state_lists_the_backups(
    config_file: Path, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`restore-state --list` shows each backup, newest first, with its date, size and schema
    version."""
    recorded(state_file)
    make_backup(state_file, NOW - timedelta(days=1))
    make_backup(state_file, NOW)
    assert main(["--config", str(config_file), "restore-state", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["2026-11-23", "2026-11-22"]
    assert all(f"KiB  schema {SCHEMA_VERSION}  " in line for line in lines)


def test_restore_state_restores_the_newest_and_says_what_it_did(
    config_file: Path, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without BACKUP, `restore-state` restores the newest backup and prints where the broken
    file went."""
    recorded(state_file, last_uid=1)
    make_backup(state_file, NOW - timedelta(days=1))
    recorded(state_file, last_uid=2)
    make_backup(state_file, NOW)
    state_file.write_bytes(b"")
    assert main(["--config", str(config_file), "poll", "--dry-run"]) == 1
    assert "restore-state" in capsys.readouterr().err
    assert main(["--config", str(config_file), "restore-state"]) == 0
    out = capsys.readouterr().out
    assert f"moved {state_file} aside to {state_file}.broken-" in out
    assert "restored" in out and "state-20261123.sqlite3" in out
    assert last_uid(state_file) == 2
