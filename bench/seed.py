"""Seed a big mailbox fast: write N Maildir files straight into a folder of the private
benchmark Dovecot, then let Dovecot index them (first SELECT) and warm its header cache.

    export BM_MAIL_DIR=/tmp/bm-bench BM_IMAPS_PORT=22993 BM_IMAP_PORT=22143 \
           BM_SMTPS_PORT=22465 BM_SMTP_PORT=22587
    scripts/mailserver.sh up
    .venv/bin/python bench/seed.py --folder bench10000 --count 10000
    .venv/bin/python bench/seed.py --folder bench100000 --count 100000

IMAP APPEND of 100,000 messages takes many minutes; writing the files takes seconds. Each
message has a realistic ~1 KB header block (Received chain, DKIM signature, threading and
list headers on some) and a small body, an INTERNALDATE (file mtime) between 2 and 730 days
ago (so boundary-mail's first sync records all of it as baseline), and the size fields that
Dovecot's own deliveries put into the file name (S=, W=). Run as root (files belong to the
Dovecot mail user). The folder is a separate Maildir++ folder of user carol, so nothing else
sees it; --replace deletes and recreates it (new UIDVALIDITY).
"""

from __future__ import annotations

import argparse
import base64
import os
import pwd
import random
import shutil
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_USER, imapclient_login, maildir, say, server_env

VMAIL_USER = "bmvmail"
FIRST_NAMES = ("maria", "tom", "anna", "li", "omar", "sofia", "jan", "emma", "noah", "yuki",
               "lucas", "mia", "ivan", "zoe", "ravi", "ines", "paul", "nora", "leo", "ada")
LAST_NAMES = ("keller", "smith", "nguyen", "garcia", "rossi", "novak", "berg", "tanaka",
              "okafor", "dubois", "silva", "khan", "meyer", "jones", "costa", "lind")
DOMAINS = ("acme.test", "globex.test", "initech.test", "umbrella.test", "example.org",
           "mail.example.com", "hooli.test", "stark.test", "wayne.test", "cyberdyne.test")
TOPICS = ("invoice", "project update", "meeting notes", "contract draft", "website copy",
          "logo feedback", "Q3 report", "timeline", "budget", "launch plan", "photos",
          "newsletter", "access request", "bug in checkout", "proposal", "final files")
MAILERS = ("Apple Mail (2.3774)", "Microsoft Outlook 16.0", "Mozilla Thunderbird 128.3",
           "Roundcube Webmail/1.6.9", "K-9 Mail for Android")


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


def make_message(rng: random.Random, n: int, when: datetime, user: str) -> bytes:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = rng.choice(DOMAINS)
    sender = f"{first}.{last}{rng.randrange(100)}@{domain}"
    to = f"{user.title()} <{user}@agency.test>"
    date = format_datetime(when.astimezone(UTC))
    msgid = f"<{when:%Y%m%d%H%M%S}.{n}.{rng.getrandbits(40):x}@{domain}>"
    topic = rng.choice(TOPICS)
    reply = rng.random() < 0.35
    subject = f"{'Re: ' if reply else ''}{topic.capitalize()} #{rng.randrange(1000)}"
    if rng.random() < 0.05:
        subject = "=?utf-8?q?" + subject.replace(" ", "_") + "_=E2=80=93_gr=C3=BC=C3=9Fe?="
    ip = f"203.0.113.{rng.randrange(1, 255)}"
    lines = [
        f"Return-Path: <{sender}>",
        f"Delivered-To: {user}@agency.test",
        f"Received: from mail.{domain} (mail.{domain} [{ip}])",
        f"\tby mail.agency.test (Postfix) with ESMTPS id {rng.getrandbits(48):X}",
        f"\tfor <{user}@agency.test>; {date}",
        f"Received: from [192.168.{rng.randrange(255)}.{rng.randrange(255)}] "
        f"(unknown [198.51.100.{rng.randrange(255)}])",
        f"\tby mail.{domain} (Postfix) with ESMTPSA id {rng.getrandbits(48):X};",
        f"\t{date}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;",
        f"\tt={int(when.timestamp())}; bh={_b64(rng, 32)};",
        "\th=From:To:Subject:Date:Message-ID:In-Reply-To:References;",
        f"\tb={_b64(rng, 60)}",
        f"\t {_b64(rng, 60)}",
        f"\t {_b64(rng, 45)}",
        f"Message-ID: {msgid}",
        f"Date: {date}",
        f'From: "{first.title()} {last.title()}" <{sender}>',
        f"To: {to}",
    ]
    if rng.random() < 0.3:
        other = f"{rng.choice(FIRST_NAMES)}@{domain}"
        lines.append(f"Cc: {other}, lead@agency.test")
    lines.append(f"Subject: {subject}")
    if reply:
        parent = f"<{rng.getrandbits(64):x}@{domain}>"
        root = f"<{rng.getrandbits(64):x}@agency.test>"
        lines += [f"In-Reply-To: {parent}", f"References: {root}", f"\t{parent}"]
    if rng.random() < 0.15:
        lines += [
            f"List-Id: News from {domain} <news.{domain}>",
            f"List-Unsubscribe: <mailto:unsubscribe@{domain}>, <https://{domain}/u/{n}>",
            "Precedence: bulk",
        ]
    lines += [
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 7bit",
        f"X-Mailer: {rng.choice(MAILERS)}",
        f"X-Spam-Status: No, score=-{rng.randrange(10)}.{rng.randrange(10)} required=5.0",
        "",
        f"Hello {user.title()},",
        "",
        f"about the {topic}: could you have a look when you get a chance? The details are",
        "in the shared folder. Thanks a lot, and have a good day.",
        "",
        f"{first.title()}",
        "",
    ]
    return "\n".join(lines).encode()


def seed(folder_dir: Path, count: int, user: str, seed_value: int) -> None:
    vmail = pwd.getpwnam(VMAIL_USER)
    uid, gid = vmail.pw_uid, vmail.pw_gid
    for sub in ("", "cur", "new", "tmp"):
        path = folder_dir / sub
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, uid, gid)
    marker = folder_dir / "maildirfolder"
    marker.touch()
    os.chown(marker, uid, gid)
    rng = random.Random(seed_value)
    now = datetime.now(UTC)  # noqa: TID251
    span = int(timedelta(days=728).total_seconds())
    oldest = now - timedelta(days=730)
    stamps = sorted(oldest.timestamp() + rng.randrange(span) for _ in range(count))
    host = socket.gethostname().replace("/", "_").replace(":", "_")
    cur = folder_dir / "cur"
    pid = os.getpid()
    for n, stamp in enumerate(stamps):
        when = datetime.fromtimestamp(stamp, UTC)
        data = make_message(rng, n, when, user)
        roll = rng.random()
        flags = "S" if roll < 0.75 else ("RS" if roll < 0.85 else "")
        vsize = len(data) + data.count(b"\n")  # with CRLF line ends, as IMAP counts
        name = f"{int(stamp)}.M{n % 1000000}P{pid}Q{n}.{host},S={len(data)},W={vsize}:2,{flags}"
        path = cur / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.utime(path, (stamp, stamp))


def warm(env: dict[str, str], user: str, folder: str) -> None:
    """Let Dovecot index the folder (first SELECT) and cache the fetched header fields."""
    from boundary_mail.imap import _HEADER_ITEM

    client = imapclient_login(env, user)
    try:
        start = time.perf_counter()
        info = client.select_folder(folder, readonly=True)
        say(f"  first SELECT (Dovecot indexes the Maildir): {time.perf_counter() - start:.1f} s,"
            f" EXISTS={info[b'EXISTS']} UIDNEXT={info.get(b'UIDNEXT')}")
        client.unselect_folder()
    finally:
        client.logout()
    import imaplib

    for attempt in (1, 2):
        conn = imaplib.IMAP4_SSL(env["BM_HOST"], int(env["BM_IMAPS_PORT"]),
                                 ssl_context=_ctx(env))
        conn.login(user, env[f"BM_PW_{user.upper()}"])
        conn.select(f'"{folder}"', readonly=True)
        start = time.perf_counter()
        _typ, data = conn.uid("FETCH", "1:*",
                              f"({_HEADER_ITEM} INTERNALDATE FLAGS RFC822.SIZE)")
        say(f"  header FETCH 1:* #{attempt} (fills Dovecot's cache):"
            f" {time.perf_counter() - start:.1f} s, {len(data)} response parts")
        conn.logout()


def _ctx(env: dict[str, str]):
    from common import tls_context

    return tls_context(env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="Maildir++ folder name, e.g. bench100000")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--user", default=BENCH_USER)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--replace", action="store_true", help="delete the folder first")
    parser.add_argument("--no-warm", action="store_true", help="skip SELECT and cache warm-up")
    args = parser.parse_args()
    if args.folder.upper() == "INBOX" or "." in args.folder or "/" in args.folder:
        parser.error("use a plain separate folder name such as bench100000, not INBOX")
    env = server_env()
    root = maildir(env, args.user, "INBOX")
    if not root.is_dir():
        # Dovecot creates the Maildir when a folder is first opened, not at login.
        client = imapclient_login(env, args.user)
        client.select_folder("INBOX", readonly=True)
        client.logout()
    folder_dir = maildir(env, args.user, args.folder)
    if folder_dir.exists():
        if not args.replace:
            say(f"{folder_dir} exists; use --replace to recreate it")
            return 1
        shutil.rmtree(folder_dir)
    say(f"seeding {args.count} messages into {args.user}/{args.folder} ({folder_dir})")
    start = time.perf_counter()
    seed(folder_dir, args.count, args.user, args.seed)
    say(f"  wrote {args.count} files in {time.perf_counter() - start:.1f} s")
    if not args.no_warm:
        warm(env, args.user, args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
