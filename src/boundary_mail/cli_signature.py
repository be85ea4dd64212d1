"""`boundary-mail signature`: the email signature that states the schedule, per team member
and language, to paste into a mail program ("I read and answer email Mon–Fri at 10:00 and
15:00 CET and reply within 1 working day")."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "signature", help="print each team member's email signature (text and HTML) in each"
        " language in use",
        description="The signature block that states the schedule and the response promise,"
        " as the auto-replies do: for each team member (or --member), in the top-level"
        " language and each client's (or --language).",
    )
    parser.add_argument("--member", metavar="ADDRESS", help="only this team member")
    parser.add_argument("--language", metavar="CODE", help="only this language")
    parser.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from boundary_mail.compose_announce import languages_in_use, signatures
    from boundary_mail.languages import available_languages
    from boundary_mail.templates import environment

    member = args.member.strip().lower() if args.member else None
    if member and config.team.member(member) is None:
        raise UserError(f"--member {args.member!r} is not in team.members; the members are"
                        f" {', '.join(m.address for m in config.team.members)}")
    languages = available_languages(config.templates_dir)
    if args.language and args.language.split("_")[0] not in languages:
        raise UserError(f"--language {args.language!r} has no templates; use one of"
                        f" {', '.join(languages)} (in use: {', '.join(languages_in_use(config))})")
    env = environment(config.templates_dir, config.default_language)
    now = datetime.now(config.tz)  # noqa: TID251 - the shell reads the clock (the zone's name)
    for sig in signatures(config, env, now, member=member, language=args.language):
        print(f"=== {sig.member.name} <{sig.member.address}> ({sig.language}): text ===")
        print(sig.text.rstrip("\n"))
        print(f"=== {sig.member.name} <{sig.member.address}> ({sig.language}): HTML ===")
        print(sig.html.rstrip("\n"))
        print()
    return 0
