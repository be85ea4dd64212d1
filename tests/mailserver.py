"""The real test mail servers as seen from the tests: Dovecot + Postfix on 127.0.0.1.

`scripts/mailserver.sh up` starts them (once; later calls are quick) and `env` says where they
are; this class wraps both and offers the IMAP helpers the integration tests need.
"""

from __future__ import annotations

import email
import shlex
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import imapclient

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "mailserver.sh"
DEFAULT_FOLDERS = frozenset({"INBOX", "Sent", "Drafts", "Trash", "Archive"})


class MailServerError(Exception):
    """The servers could not be started or stopped; the message carries the log tail."""


def _script(*args: str, timeout: float = 120) -> str:
    try:
        result = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MailServerError(f"scripts/mailserver.sh {' '.join(args)}: {exc}") from exc
    if result.returncode != 0:
        raise MailServerError(
            f"scripts/mailserver.sh {' '.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}".rstrip()
        )
    return result.stdout


def parse_env(text: str) -> dict[str, str]:
    """The `export NAME=value` lines printed by `scripts/mailserver.sh env`."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


@dataclass
class MailServer:
    host: str
    imaps_port: int
    imap_port: int
    smtps_port: int
    smtp_port: int
    ca_file: Path
    users: dict[str, str]
    data_dir: Path
    stopped: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls) -> MailServer:
        """Start both servers (idempotent) and describe them."""
        _script("up")
        env = parse_env(_script("env"))
        users = {
            name.removeprefix("BM_PW_").lower(): value
            for name, value in env.items() if name.startswith("BM_PW_")
        }
        return cls(
            host=env["BM_HOST"],
            imaps_port=int(env["BM_IMAPS_PORT"]),
            imap_port=int(env["BM_IMAP_PORT"]),
            smtps_port=int(env["BM_SMTPS_PORT"]),
            smtp_port=int(env["BM_SMTP_PORT"]),
            ca_file=Path(env["BM_CA_FILE"]),
            users=users,
            data_dir=Path(env["BM_MAIL_DIR"]),
        )

    def stop_imap(self) -> None:
        """Stop Dovecot only (IMAP, LMTP delivery, and the SASL auth Postfix relies on)."""
        self.stopped.add("imap")
        _script("down", "imap")

    def start_imap(self) -> None:
        _script("up", "imap")
        self.stopped.discard("imap")

    def stop_smtp(self) -> None:
        """Stop Postfix only."""
        self.stopped.add("smtp")
        _script("down", "smtp")

    def start_smtp(self) -> None:
        _script("up", "smtp")
        self.stopped.discard("smtp")

    def ensure_running(self) -> None:
        """Restart whatever a test stopped and did not start again."""
        if self.stopped:
            _script("up")
            self.stopped.clear()

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name in ("dovecot.log", "postfix.log"):
            path = self.data_dir / "log" / name
            with suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(out)

    # ------------------------------------------------------------------ IMAP

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @contextmanager
    def imap(self, user: str) -> Iterator[imapclient.IMAPClient]:
        """A logged-in IMAPS connection for `user`, the certificate verified against the CA."""
        client = imapclient.IMAPClient(
            self.host, port=self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=30
        )
        try:
            client.login(user, self.users[user])
            yield client
        finally:
            with suppress(Exception):
                client.logout()

    def append(
        self, user: str, folder: str, raw: bytes, date: datetime | None = None,
        flags: Sequence[str | bytes] = (),
    ) -> None:
        """IMAP APPEND; `date` becomes the message's INTERNALDATE (its arrival time)."""
        with self.imap(user) as client:
            client.append(folder, raw, flags=tuple(flags), msg_time=date)

    def reset(self, user: str) -> None:
        """Empty every folder of `user` and delete the folders tests created."""
        with self.imap(user) as client:
            folders = [
                (flags, name) for flags, _sep, name in client.list_folders()
            ]
            # Children before parents, so a parent is empty of subfolders when deleted.
            for flags, name in sorted(folders, key=lambda f: len(f[1]), reverse=True):
                selectable = b"\\Noselect" not in flags and b"\\NonExistent" not in flags
                if selectable:
                    client.select_folder(name)
                    uids = client.search(["ALL"])
                    if uids:
                        client.delete_messages(uids)
                        client.expunge()
                    client.close_folder()
                if name not in DEFAULT_FOLDERS:
                    try:
                        client.delete_folder(name)
                    except imapclient.exceptions.IMAPClientError:
                        # A \Noselect parent vanishes with its last child.
                        if client.folder_exists(name):
                            raise
                    with suppress(imapclient.exceptions.IMAPClientError):
                        client.unsubscribe_folder(name)

    def folders(self, user: str) -> list[str]:
        with self.imap(user) as client:
            return sorted(name for _flags, _sep, name in client.list_folders())

    def messages(self, user: str, folder: str = "INBOX") -> list[EmailMessage]:
        """Every message in the folder, parsed, in UID order."""
        return [msg for _uid, msg, _date in self.fetch(user, folder)]

    def fetch(self, user: str, folder: str = "INBOX") -> list[tuple[int, EmailMessage, datetime]]:
        """(UID, message, INTERNALDATE) for every message in the folder, in UID order."""
        with self.imap(user) as client:
            client.normalise_times = False  # INTERNALDATE with its offset, comparable
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        result = []
        for uid in sorted(data):
            msg = email.message_from_bytes(data[uid][b"BODY[]"], policy=policy.default)
            assert isinstance(msg, EmailMessage)
            result.append((uid, msg, data[uid][b"INTERNALDATE"]))
        return result

    def wait_for(
        self, user: str, count: int, folder: str = "INBOX", timeout: float = 10
    ) -> list[EmailMessage]:
        """Poll until at least `count` messages are in the folder: SMTP's "250 queued" comes
        before the LMTP delivery."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(user, folder)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{user}/{folder}: {len(found)} message(s) after {timeout} s, expected at "
                    f"least {count}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # ------------------------------------------------------------------ SMTP

    @contextmanager
    def smtp(self, user: str | None = "assistant", *, starttls: bool = False
             ) -> Iterator[smtplib.SMTP]:
        """A connection to the submission service (implicit TLS by default, or STARTTLS),
        logged in as `user` unless None."""
        client: smtplib.SMTP
        if starttls:
            client = smtplib.SMTP(self.host, self.smtp_port, timeout=30)
            client.starttls(context=self.ssl_context())
        else:
            client = smtplib.SMTP_SSL(
                self.host, self.smtps_port, context=self.ssl_context(), timeout=30
            )
        try:
            if user is not None:
                client.login(user, self.users[user])
            yield client
        finally:
            with suppress(smtplib.SMTPException, OSError):
                client.quit()

    def send(
        self, message: EmailMessage | bytes, *, sender: str | None = None,
        to: Iterable[str] | None = None, user: str = "assistant",
    ) -> None:
        """Submit a message over SMTPS as `user`; envelope from the headers unless given."""
        with self.smtp(user) as client:
            if isinstance(message, bytes):
                if sender is None or to is None:
                    raise ValueError("raw bytes need sender= and to=")
                client.sendmail(sender, list(to), message)
            else:
                client.send_message(
                    message, from_addr=sender, to_addrs=None if to is None else list(to)
                )
