"""`boundary-mail restore-state`: put a backup of the state file back."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    restore = sub.add_parser(
        "restore-state", help="put a backup of the state file back (the newest by default)",
        description="Restore a backup of the state file while boundary-mail is stopped. The"
        " backup is checked first; the file it replaces is moved aside, never deleted.",
    )
    restore.add_argument("--list", action="store_true", help="list the backups and exit")
    restore.add_argument("backup", metavar="BACKUP", nargs="?",
                         help="a backup's file or name, as --list shows it (default: the newest)")
    restore.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    """List the state backups, or put one back in place of the state file."""
    from pathlib import Path

    from boundary_mail.store.backup import (
        backup_dir,
        list_backups,
        restore_backup,
        schema_version_of,
    )

    backups = list_backups(config.state_dir)
    if args.list:
        if not backups:
            print(f"no backups in {backup_dir(config.state_dir)}")
        for b in backups:
            version = schema_version_of(b.path)
            print(f"{b.day:%Y-%m-%d}  {b.size / 1024:8.0f} KiB  schema"
                  f" {version if version is not None else '?'}  {b.path}")
        return 0
    if args.backup is None:
        if not backups:
            raise UserError(f"there is no backup in {backup_dir(config.state_dir)} to restore")
        chosen = backups[0].path
    else:
        chosen = Path(args.backup)
        if not chosen.exists() and (backup_dir(config.state_dir) / args.backup).exists():
            chosen = backup_dir(config.state_dir) / args.backup
        if not chosen.is_file():
            raise UserError(
                f"{args.backup}: no such backup; `boundary-mail restore-state --list` shows them"
            )
    done = restore_backup(chosen, config.state_file, datetime.now(UTC))  # noqa: TID251
    for source, target in done.moved_aside:
        print(f"moved {source} aside to {target}")
    for path in done.removed:
        print(f"removed {path} (the old file's shared-memory index)")
    print(f"restored {config.state_file} from {done.backup}")
    return 0
