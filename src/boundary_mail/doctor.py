"""Check every account before the first window: `check-config --connect` and the daemon's
check at start and on reload.

Per account, in order, as a window would do it: resolve the password from its reference, log
in to IMAP and EXAMINE the inbox, the Sent and the Drafts folder (where nudges to clients go);
for SMTP connect (EHLO, implicit TLS or STARTTLS) and authenticate, sending nothing. The
wording of what failed is that of `secrets`, `imap` and `smtp` (the errors a window would
log); this module adds only what a check can say that a window cannot: which folders exist,
and which `security` a port probably wants. Each account gives one line; nothing here ever
prints a password.

Accounts are checked at the same time, at most `concurrent_mailboxes` at once, each with its
configured timeout and a single connection attempt (a check reports what it finds, at once).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import imapclient
from imapclient.exceptions import IMAPClientError

from boundary_mail import imap, smtp
from boundary_mail.config import Config, MailboxConfig, Server, SmtpConfig
from boundary_mail.errors import UserError
from boundary_mail.secrets import resolve_password
from boundary_mail.sync import logout

log = logging.getLogger(__name__)

__all__ = ["AccountCheck", "check_accounts", "check_and_print", "check_mailbox", "check_smtp"]


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """What worked for one account and, if something did not, the problem with its fix."""

    account: str  # "mailbox 'ann'" or "smtp"
    worked: tuple[str, ...]
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        """One line for the operator: `ok` and what was checked, or `FAILED`, the problem
        and its fix, and what worked before it."""
        worked = ", ".join(self.worked)
        if self.problem is None:
            return f"{self.account}: ok — {worked}"
        return f"{self.account}: FAILED — {self.problem}" + (
            f" (worked: {worked})" if worked else ""
        )


async def check_accounts(config: Config) -> list[AccountCheck]:
    """Check every mailbox and the SMTP account, concurrently and bounded; mailboxes in the
    order of the configuration, then SMTP. Never raises for what an account does wrong."""
    limit = asyncio.Semaphore(config.concurrent_mailboxes)

    async def mailbox(index: int, box: MailboxConfig) -> AccountCheck:
        async with limit:
            return await asyncio.to_thread(check_mailbox, box, index)

    async def sending() -> AccountCheck:
        async with limit:
            return await check_smtp(config.smtp)

    return list(await asyncio.gather(
        *(mailbox(i, box) for i, box in enumerate(config.mailboxes)), sending()
    ))


def check_and_print(config: Config) -> int:
    """`check-config --connect`: one line per account on stdout; 1 if any failed."""
    checks = asyncio.run(check_accounts(config))
    for check in checks:
        print(check.line())
    failed = [c.account for c in checks if not c.ok]
    if failed:
        print(f"error: {len(failed)} of {len(checks)} account(s) failed: {', '.join(failed)};"
              " fix what is said above and run check-config --connect again", file=sys.stderr)
        return 1
    print(f"all {len(checks)} account(s) connect and log in")
    return 0


def check_mailbox(mailbox: MailboxConfig, index: int) -> AccountCheck:
    """Blocking (imapclient): the password, the login, EXAMINE of the inbox, Sent and Drafts."""
    name = f"mailbox {mailbox.name!r}"
    worked: list[str] = []
    try:
        password = resolve_password(mailbox, where=name)
        worked.extend(_password(mailbox))
        client = imap.connect(mailbox, password, attempts=1)
    except UserError as exc:
        return AccountCheck(name, tuple(worked), _with_hint(str(exc), exc, mailbox))
    try:
        worked.append(f"login as {mailbox.username!r}" if mailbox.username
                      else "connected (no login)")
        for key, folder in (("inbox", mailbox.inbox), ("sent", mailbox.sent),
                            ("drafts", mailbox.drafts)):  # nudges to clients go there
            if folder is None:
                continue
            try:
                imap.select(client, folder)  # read-only: EXAMINE
            except IMAPClientError:
                return AccountCheck(
                    name, tuple(worked), _missing_folder(client, mailbox, index, key, folder)
                )
            worked.append(f"{key} {folder!r} exists")
    except OSError as exc:
        return AccountCheck(name, tuple(worked), (
            f"{name} ({mailbox.host}:{mailbox.port}): the connection was lost while examining"
            f" the folders ({type(exc).__name__}); check that the server is up"
        ))
    finally:
        logout(client)
    return AccountCheck(name, tuple(worked))


async def check_smtp(config: SmtpConfig) -> AccountCheck:
    """The password, then connect (EHLO, TLS or STARTTLS) and AUTH; no mail is sent."""
    name = "smtp"
    worked: list[str] = []
    try:
        password = await asyncio.to_thread(resolve_password, config, where=name)
        worked.extend(_password(config))
        async with smtp.session(config, password):
            worked.append(f"connected ({config.security})")
            worked.append(f"AUTH as {config.username!r}" if config.username
                          else "no AUTH (no username)")
    except UserError as exc:
        # A check tries once; the window's "will try again" is not what happens here.
        text = str(exc).removesuffix("; will try again")
        return AccountCheck(name, tuple(worked), _with_hint(text, exc, config))
    return AccountCheck(name, tuple(worked))


def _password(account: Server) -> list[str]:
    """What supplied the password (or the OAuth2 tokens), by reference only (never the
    value)."""
    if account.oauth2 is not None and account.oauth2.token_command is not None:
        return [f"OAuth2 tokens from command {account.oauth2.token_command[0]!r}"]
    if account.oauth2 is not None:
        return [f"OAuth2 sign-in with provider {account.oauth2.provider}"]
    if account.password_env is not None:
        return [f"password from ${account.password_env}"]
    if account.password_file is not None:
        return [f"password from file {str(account.password_file)!r}"]
    if account.password_command is not None:
        return [f"password from command {account.password_command[0]!r}"]
    if account.password is not None:
        return ["password from the environment override"]
    return []


def _missing_folder(
    client: imapclient.IMAPClient, mailbox: MailboxConfig, index: int, key: str, folder: str
) -> str:
    """The folder does not exist (or cannot be examined): say which ones do."""
    where = f"mailbox {mailbox.name!r} ({mailbox.host}:{mailbox.port})"
    try:
        listed = client.list_folders()
    except (IMAPClientError, OSError):
        listed = []
    names = sorted(str(name) for _flags, _sep, name in listed)
    use = {"sent": b"\\Sent", "drafts": b"\\Drafts"}.get(key)
    marked = [str(name) for flags, _sep, name in listed if use is not None and use in flags]
    text = f"{where}: the {key} folder {folder!r} does not exist; set mailboxes[{index}].{key}"
    if marked:
        text += f' = "{marked[0]}" (the server marks it as the {key.capitalize()} folder)'
    elif names:
        text += " to one of " + ", ".join(f'"{n}"' for n in names)
    else:
        text += " to the folder's name as the mail client shows it"
    return text


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised while handling (`raise … from None` hides the
    cause from tracebacks, not from `__context__`)."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _with_hint(text: str, exc: BaseException, server: Server) -> str:
    """`text`, plus which `security` the port probably wants when TLS met a plain-text
    server or a plain-text greeting never came from a TLS port."""
    causes = list(_causes(exc))
    tls_failed = any(
        isinstance(c, ssl.SSLError) and not isinstance(c, ssl.SSLCertVerificationError)
        for c in causes
    )
    timed_out = any(isinstance(c, TimeoutError) for c in causes) or "Timeout" in text
    if server.security == "tls" and tls_failed:
        return (f"{text}; port {server.port} does not speak TLS at once: if it starts"
                " unencrypted (submission 587, IMAP 143), use security = \"starttls\"")
    if server.security == "starttls" and timed_out:
        return (f"{text}; no greeting came: if port {server.port} is implicit TLS (SMTP 465,"
                " IMAP 993), use security = \"tls\"")
    return text
