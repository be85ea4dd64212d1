"""Empty the named test mailboxes (every folder), so a demo run starts from a known state."""

from __future__ import annotations

import os
import ssl
import sys

import imapclient


def main() -> None:
    context = ssl.create_default_context(cafile=os.environ["BM_CA_FILE"])
    for user in sys.argv[1:]:
        with imapclient.IMAPClient(
            "127.0.0.1", port=int(os.environ["BM_IMAPS_PORT"]), ssl_context=context
        ) as client:
            client.login(user, os.environ[f"BM_PW_{user.upper()}"])
            for _flags, _sep, folder in client.list_folders():
                client.select_folder(folder)
                uids = client.search(["ALL"])
                if uids:
                    client.delete_messages(uids)
                    client.expunge()


if __name__ == "__main__":
    main()
