"""Print what arrived in a test mailbox: one line per message, then the first one in full."""

from __future__ import annotations

import email
import os
import ssl
import sys
from email import policy

import imapclient


def main() -> None:
    user = sys.argv[1]
    marker = sys.argv[2] if len(sys.argv) > 2 else ""  # only boundary-mail's mail of this kind
    context = ssl.create_default_context(cafile=os.environ["BM_CA_FILE"])
    with imapclient.IMAPClient(
        "127.0.0.1", port=int(os.environ["BM_IMAPS_PORT"]), ssl_context=context
    ) as client:
        client.login(user, os.environ[f"BM_PW_{user.upper()}"])
        client.select_folder("INBOX", readonly=True)
        data = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    messages = [email.message_from_bytes(d[b"BODY[]"], policy=policy.default) for d in
                data.values()]
    if marker:
        messages = [m for m in messages if str(m["X-Boundary-Mail"] or "").startswith(marker)]
    print(f"{len(messages)} {marker or 'message'}(s) in {user}'s INBOX")
    for msg in messages:
        print(f"  to {msg['To']}: {msg['Subject']}  [{msg['Auto-Submitted']}]")
    if messages:
        first = messages[0]
        print("\n--- the first one, as its recipient sees it ---")
        for name in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted"):
            print(f"{name}: {first[name]}")
        body = first.get_body(("plain",))
        print()
        print(body.get_content() if body is not None else "(no text part)")


if __name__ == "__main__":
    main()
