"""The `boundary-mail` command line.

Parsing is separate from running, heavy imports happen inside the subcommands (so `--help`
and `check-config` are instant), and one place turns exceptions into a short paragraph that
ends in the fix. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from boundary_mail import __version__
from boundary_mail.config import default_config_path, load_config
from boundary_mail.config_warnings import config_warnings  # pure and light: no I/O
from boundary_mail.errors import ConfigError, UserError
from boundary_mail.logs import configure_logging

if TYPE_CHECKING:
    import jinja2

    from boundary_mail.config import Config
    from boundary_mail.store import Store

log = logging.getLogger("boundary_mail")

# Commands that live in their own module. Each module is light to import (argparse only) and
# has `add_parser(sub)`, which adds its subparser with `set_defaults(handler=run)`, where
# `run(config, args) -> int` does the work (heavy imports inside). main() turns their
# ConfigError/UserError into the usual one-paragraph message.
COMMAND_MODULES = (
    "boundary_mail.cli_restore",
    "boundary_mail.cli_export",
    "boundary_mail.cli_costs",
    "boundary_mail.cli_waiting",
    "boundary_mail.cli_announce",
    "boundary_mail.cli_signature",
    "boundary_mail.cli_auth",
)

# How long a command waits for another process writing the state (a window takes seconds).
LOCK_WAIT_SECONDS = 60.0


def _now(value: str | None, config: Config) -> datetime:
    """`--now` as an aware instant; a naive value is read in the configured time zone."""
    if value is None:
        return datetime.now(UTC)  # noqa: TID251 - the CLI is where the clock is read
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"--now {value!r} is not an ISO date-time; write e.g. 2026-11-23T10:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=config.tz)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boundary-mail",
        description="An email assistant that enforces communication boundaries.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help="configuration file (default: $BOUNDARY_MAIL_CONFIG, else "
        "/etc/boundary-mail/boundary-mail.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.set_defaults(handler=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check-config", help="validate the configuration and exit")
    check.add_argument(
        "--connect", action="store_true",
        help="also resolve every password, log in to every mailbox and to SMTP (nothing is"
        " sent), and say per account what worked and the fix for what did not",
    )
    check.add_argument("-v", "--verbose", dest="show_documents", action="store_true",
                       help="also print each client's \"How we work together\" as they read it")
    sub.add_parser("run", help="run the daemon: check windows, urgent scan and digest")
    poll = sub.add_parser("poll", help="run one check window now")
    poll.add_argument(
        "--now", metavar="ISO", help="pretend it is this time (e.g. 2026-11-23T10:00)"
    )
    poll.add_argument("--dry-run", action="store_true",
                      help="show every decision and reply text; send and record nothing")
    poll.add_argument("--urgent-only", action="store_true",
                      help="only the between-windows scan: alert on urgent/VIP mail, nothing else")
    status = sub.add_parser("status", help="show what is open and what is queued")
    status.add_argument("--now", metavar="ISO", help="judge ages and deadlines at this time")
    ack = sub.add_parser("ack", help="mark a tracked client message as acknowledged by hand")
    ack.add_argument("message_id", metavar="MESSAGE-ID",
                     help="the Message-ID, as shown by status (angle brackets optional)")
    ack.add_argument("--now", metavar="ISO", help="record this time instead of the clock")
    digest = sub.add_parser(
        "digest", help="build today's digests; print their text, write their HTML, or send them",
        description="Build the daily digest of each team member and of the lead. Without"
        " --send or --out, print the plain-text digests. A digest with nothing waiting and"
        " nothing that happened today is skipped unless digest.send_empty is set.",
    )
    digest.add_argument("--now", metavar="ISO", help="pretend it is this time")
    digest_to = digest.add_mutually_exclusive_group()
    digest_to.add_argument(
        "--send", action="store_true",
        help="queue one digest per recipient and send it; at most one per recipient and day",
    )
    digest_to.add_argument(
        "--out", metavar="FILE",
        help="write the HTML digests: FILE gets the lead's, and each member's goes beside it"
        " as FILE's name plus -ADDRESS (digest.html -> digest-ann@example.com.html); if FILE"
        " is a directory, each digest is written into it as ADDRESS.html",
    )
    sub.add_parser("example-config", help="print the example configuration, every key documented")
    creds = sub.add_parser(
        "credentials", help="print the LoadCredential= lines the systemd unit needs",
        description="One LoadCredential= line per credential the configuration names"
        " (password_file = \"imap-ann\"), for the unit's [Service] section.",
    )
    creds.add_argument("--dir", metavar="DIR", default=None,
                       help="where the files are (default: /etc/boundary-mail/credentials)")
    creds.add_argument("--names", action="store_true", help="print only the names")
    show = sub.add_parser(
        "preview", help="show what a sender would get, without touching any mailbox",
        description="Decide a message from SENDER as a window would (against an empty state:"
        " a client counts as new) and print the auto-reply and the documents it carries.",
    )
    show.add_argument("sender", metavar="SENDER", help="the address the message comes from")
    show.add_argument("--at", metavar="ISO", help="when it arrives (default: now)")
    show.add_argument("--mailbox", metavar="NAME",
                      help="the mailbox it reaches (default: the sender's account manager's)")
    show.add_argument("--subject", default="A question", help="its subject")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    if args.command == "example-config":  # needs no configuration
        from boundary_mail.data import example_config

        sys.stdout.write(example_config())
        return 0
    path = args.config or default_config_path()
    try:
        config = load_config(path)
        if args.command == "check-config":
            return _check_config(config, path, connect=args.connect,
                                 verbose=args.verbose or args.show_documents)
        if args.command == "poll":
            return asyncio.run(
                _poll(config, args.now, dry_run=args.dry_run, urgent_only=args.urgent_only)
            )
        if args.command == "status":
            return _status(config, args.now)
        if args.command == "ack":
            return _ack(config, args.message_id, args.now)
        if args.command == "digest":
            return _digest(config, args.now, send=args.send, out=args.out)
        if args.command == "credentials":
            from boundary_mail.credentials import print_credentials

            return print_credentials(config, args.dir, names_only=args.names)
        if args.command == "preview":
            from boundary_mail.preview import preview

            print(preview(config, args.sender, arrived=_now(args.at, config),
                          mailbox_name=args.mailbox, subject=args.subject), end="")
            return 0
        if args.handler is not None:
            return int(args.handler(config, args))
        if args.command == "run":
            from boundary_mail.daemon import run_daemon

            return run_daemon(path, config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except (sqlite3.Error, OSError) as exc:
        # Something we did not foresee about the state file or the network: one line, the
        # traceback only with --verbose.
        log.debug("details", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}; run again with --verbose for details",
              file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command}")


def _check_config(
    config: Config, path: str, *, connect: bool = False, verbose: bool = False
) -> int:
    import jinja2

    from boundary_mail.compose_agreement import first_contact_documents
    from boundary_mail.compose_announce import announcement_problems
    from boundary_mail.templates import TEMPLATE_NAMES, environment

    env = environment(config.templates_dir, config.default_language)
    problems = []
    for name in TEMPLATE_NAMES:
        try:
            env.get_template(name)  # syntax errors in a user's template surface here
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                f"templates_dir: {exc.filename or name} line {exc.lineno}: {exc.message};"
                " fix the template or remove it to use the shipped one"
            )
    if not problems:
        problems = _render_samples(config, env)
    sample_day = _SAMPLE_DAY.replace(tzinfo=config.tz)
    documents, failed = first_contact_documents(config, env, sample_day)
    problems += failed + announcement_problems(config, env, sample_day)
    if problems:
        raise ConfigError(path, problems)
    print(
        f"{path}: OK — {len(config.mailboxes)} mailbox(es), {len(config.team.members)} team"
        f" member(s), {len(config.clients)} client(s), time zone {config.timezone}"
    )
    for warning in config_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    for heading, document in documents if verbose else []:
        print(f"\n--- {heading} ---\n{document}", end="")
    if connect:
        from boundary_mail.doctor import check_and_print

        return check_and_print(config)
    return 0


_SAMPLE_DAY = datetime(2026, 1, 5, 10)  # a Monday in winter: what the samples are dated


def _render_samples(config: Config, env: jinja2.Environment) -> list[str]:
    """Compose one message of every kind: a template using a variable we do not pass fails
    here (StrictUndefined), named with the templates of that message."""
    import jinja2

    from boundary_mail.compose import sample_messages

    problems = []
    for templates, compose in sample_messages(config, env, _SAMPLE_DAY.replace(tzinfo=config.tz)):
        try:
            compose()
        except jinja2.TemplateError as exc:
            problems.append(
                f"templates_dir: rendering {templates} failed: {exc.message}; use only the"
                " variables the shipped template uses, or remove the file to use the shipped one"
            )
    return problems


def _writing(config: Config, doing: str) -> contextlib.AbstractContextManager[None]:
    """The state lock for a command that writes: one writer per state directory."""
    from boundary_mail.lock import holding

    return holding(config.state_dir, doing, wait_seconds=LOCK_WAIT_SECONDS)


async def _poll(
    config: Config, now_arg: str | None, *, dry_run: bool, urgent_only: bool = False
) -> int:
    now = _now(now_arg, config)
    doing = "the urgent scan" if urgent_only else "a check window"
    with contextlib.nullcontext() if dry_run else _writing(config, doing):
        return await _poll_locked(config, now, dry_run=dry_run, urgent_only=urgent_only)


async def _poll_locked(
    config: Config, now: datetime, *, dry_run: bool, urgent_only: bool
) -> int:
    from boundary_mail.store import Store
    from boundary_mail.store.backup import daily as daily_backup
    from boundary_mail.urgent import urgent_scan
    from boundary_mail.window import Window

    store = Store(config.state_file)
    try:
        if urgent_only:
            report = await urgent_scan(config, store, now)
            print(f"urgent scan at {now.astimezone(config.tz):%Y-%m-%d %H:%M %Z}: fetched"
                  f" {report.fetched}, alerts queued {report.queued}, sent {report.sent}")
            for error in report.errors:
                print(f"  error: {error}")
            return 0 if report.ok else 1
        if not dry_run:  # the day's backup of the state, before this window changes it
            daily_backup(config, now, store)
        report = await Window(config, store).run(now, dry_run=dry_run)
    finally:
        store.close()
    from boundary_mail.views import format_report

    print(format_report(report, config, dry_run=dry_run))
    return 0 if report.ok else 1


def _status(config: Config, now_arg: str | None) -> int:
    from boundary_mail.store import Store
    from boundary_mail.views import format_status

    store = Store(config.state_file)
    try:
        print(format_status(store, config, _now(now_arg, config)))
    finally:
        store.close()
    return 0


def _ack(config: Config, message_id: str, now_arg: str | None) -> int:
    from boundary_mail.store import Store

    wanted = message_id.strip()
    if not wanted.startswith("<"):
        wanted = f"<{wanted}>"
    now = _now(now_arg, config)
    with _writing(config, "an acknowledgment by hand"):
        store = Store(config.state_file)
        try:
            return _ack_locked(store, wanted, now)
        finally:
            store.close()


def _ack_locked(store: Store, wanted: str, now: datetime) -> int:
    item = store.item(wanted)
    if item is None:
        raise UserError(
            f"{wanted} is not a tracked message; `boundary-mail status` lists the open ones"
        )
    with store.transaction():
        closed = store.acknowledge(wanted, now, "manual")
    if closed:
        print(f"acknowledged {wanted} ({item.client or 'unassigned'}, {item.sender});"
              " no further reminders")
    else:
        print(f"{wanted} was already acknowledged ({item.acknowledged_how})")
    return 0


def _digest(config: Config, now_arg: str | None, *, send: bool, out: str | None) -> int:
    from boundary_mail import digest_job
    from boundary_mail.store import Store

    now = _now(now_arg, config)
    store = Store(config.state_file)
    try:
        if send:
            with _writing(config, "sending the digests"):
                report = asyncio.run(digest_job.send_digests(config, store, now))
            return digest_job.print_report(report)
        digests = digest_job.todays_digests(store, config, now)
    finally:
        store.close()
    return digest_job.show(config, digests, out)
