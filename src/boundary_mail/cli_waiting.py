"""`boundary-mail wait` and `done`: start or end a wait on a client by hand.

`wait MESSAGE-ID` finds the team member's message in the monitored Sent folders (by its
Message-ID; nothing is changed there) and makes it a waiting item, as a Bcc tag would;
`--days N` sets when the first nudge is due. `done MESSAGE-ID` ends a wait: the client
answered another way (a call), or it is no longer needed. Both take the state lock.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config
    from boundary_mail.facts import MessageFacts


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wait = sub.add_parser(
        "wait", help="wait for a client's answer to a team member's message (nudge if none)",
        description="Make a message a team member sent to a client a waiting item: if the"
        " client does not answer in its thread, nudges follow as [waiting] says.",
    )
    wait.add_argument("message_id", metavar="MESSAGE-ID",
                      help="the Message-ID of the message in a monitored Sent folder")
    wait.add_argument("--days", type=int, metavar="N",
                      help="the first nudge after N business days (default: [waiting])")
    wait.add_argument("--now", metavar="ISO", help="record this time instead of the clock")
    wait.set_defaults(handler=run_wait)
    done = sub.add_parser("done", help="end a wait on a client by hand (no more nudges)")
    done.add_argument("message_id", metavar="MESSAGE-ID",
                      help="the Message-ID of the waiting message, as status shows it")
    done.add_argument("--now", metavar="ISO", help="record this time instead of the clock")
    done.set_defaults(handler=run_done)


def _wanted(message_id: str) -> str:
    wanted = message_id.strip()
    return wanted if wanted.startswith("<") else f"<{wanted}>"


def run_wait(config: Config, args: argparse.Namespace) -> int:
    from boundary_mail.cli import _now, _writing
    from boundary_mail.directory import Directory
    from boundary_mail.store import Store
    from boundary_mail.waiting import wait_start

    wanted = _wanted(args.message_id)
    if args.days is not None and not 1 <= args.days <= 60:
        raise UserError(f"--days {args.days}: write a number of business days from 1 to 60")
    now = _now(args.now, config)
    facts = find_sent(config, wanted)
    start = wait_start(facts, config=config, directory=Directory(config),
                       manual_days=args.days, manual=True)
    if start is None:
        raise UserError(
            f"{wanted} is not a message from a team member to a client (its From must be a"
            " team address and a recipient must match a configured client)")
    with _writing(config, "starting a wait by hand"):
        store = Store(config.state_file)
        try:
            known = store.wait(start.message_id)
            if known is not None and known.is_open:
                print(f"{wanted} is already a waiting item ({known.start.client})")
                return 0
            if known is not None:  # its nudges' keys are spent: a new wait needs a new message
                until = known.ended_at or known.start.sent_at
                raise UserError(
                    f"{wanted} was a waiting item until {until:%Y-%m-%d %H:%M} ({known.status});"
                    f" to wait again, write to {known.start.client} anew")
            with store.transaction():
                store.start_waits([start], now)
        finally:
            store.close()
    print(f"waiting on {start.client} for an answer to {wanted} from {start.member}; first"
          f" nudge after {start.after_days} business day(s) ({config.waiting.nudge} mode)")
    return 0


def find_sent(config: Config, wanted: str) -> MessageFacts:
    """The message's facts from the first monitored Sent folder that holds it."""
    from boundary_mail import imap
    from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
    from boundary_mail.headers import parse_facts
    from boundary_mail.secrets import resolve_password
    from boundary_mail.sync import logout

    problems = []
    for mailbox in config.mailboxes:
        if not mailbox.sent:
            continue
        try:
            client = imap.connect(mailbox, resolve_password(mailbox, where=f"mailbox"
                                                                           f" {mailbox.name!r}"))
        except (MailboxUnavailable, SecretUnavailable) as exc:
            problems.append(str(exc))
            continue
        try:
            client.normalise_times = False
            imap.select(client, mailbox.sent)
            uids = client.search(["HEADER", "Message-ID", wanted])
            if not uids:
                continue
            data = client.fetch(uids[:1], ["BODY.PEEK[HEADER]", "INTERNALDATE", "FLAGS"])
            item = data[uids[0]]
            return parse_facts(
                item[b"BODY[HEADER]"], mailbox=mailbox.name, folder=mailbox.sent, uid=uids[0],
                received_at=imap._aware(item[b"INTERNALDATE"]),
                flags=[f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]],
            )
        finally:
            logout(client)
    also = f" ({'; '.join(problems)})" if problems else ""
    raise UserError(f"{wanted} is in no monitored Sent folder{also}; check the Message-ID"
                    " (in the mail client: view the message source)")


def run_done(config: Config, args: argparse.Namespace) -> int:
    from boundary_mail.cli import _now, _writing
    from boundary_mail.store import Store
    from boundary_mail.waiting import WaitEnd

    wanted = _wanted(args.message_id)
    now = _now(args.now, config)
    with _writing(config, "ending a wait by hand"):
        store = Store(config.state_file)
        try:
            known = store.wait(wanted)
            if known is None:
                raise UserError(f"{wanted} is not a waiting item; `boundary-mail status` lists"
                                " the open ones")
            with store.transaction():
                closed = store.end_waits([WaitEnd(wanted, now, "manual")])
        finally:
            store.close()
    if closed:
        print(f"done: no longer waiting on {known.start.client} for {wanted}; no more nudges")
    else:
        print(f"{wanted} was no longer waiting ({known.status})")
    return 0
