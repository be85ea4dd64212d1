"""The floor for a window: a bare imapclient fetch of given UIDs, connecting the way
boundary-mail does (TLS + LOGIN, read-only SELECT, one UID FETCH of the same items).

Run as a subprocess by bench/sync.py so that it pays interpreter start-up like
`boundary-mail poll` does; prints the in-process seconds (connect to fetched) on its last line.

    .venv/bin/python bench/bare_fetch.py --folder bench100000 --uids 100001,100002
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_USER, imapclient_login, server_env

# The item list of boundary_mail.imap.fetch_new, spelled out so that this floor does not
# import boundary-mail (and its dependencies) at all; bench/sync.py passes the current one
# with --item, since the list of fetched header fields may change.
HEADERS = (
    "From", "Sender", "Return-Path", "To", "Cc", "Resent-To", "Resent-Cc", "Reply-To",
    "Message-ID", "In-Reply-To", "References", "Subject", "Date", "Auto-Submitted",
    "Precedence", "List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post",
    "List-Owner", "List-Archive", "X-Auto-Response-Suppress", "X-Loop", "Content-Type",
    "X-Boundary-Mail", "Delivered-To",
)
HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(h.upper() for h in HEADERS))
ITEMS = [HEADER_ITEM, "INTERNALDATE", "FLAGS", "RFC822.SIZE"]


def bare_fetch(
    env: dict[str, str], folder: str, uids: list[int], user: str = BENCH_USER,
    header_item: str = HEADER_ITEM,
) -> int:
    client = imapclient_login(env, user)
    try:
        client.normalise_times = False
        client.select_folder(folder, readonly=True)
        return len(client.fetch(uids, [header_item, *ITEMS[1:]]))
    finally:
        client.logout()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--uids", required=True, help="comma-separated UIDs")
    parser.add_argument("--user", default=BENCH_USER)
    parser.add_argument("--item", default=HEADER_ITEM, help="the BODY.PEEK[...] item to fetch")
    parser.add_argument("--expect", type=int, default=0, help="fail unless this many came back")
    args = parser.parse_args()
    env = server_env()
    uids = [int(u) for u in args.uids.split(",")]
    start = time.perf_counter()
    got = bare_fetch(env, args.folder, uids, args.user, args.item)
    elapsed = time.perf_counter() - start
    if args.expect and got != args.expect:
        print(f"fetched {got}, expected {args.expect}", file=sys.stderr)
        return 1
    print(f"fetched {got} in {elapsed:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
