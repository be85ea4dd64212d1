"""Whether to auto-reply to a message, and to whom, under which subject.

An auto-reply that goes where it must not (to a list, a robot, a bounce, another responder)
is worse than no auto-reply: it leaks, it loops, it annoys. So `decide_reply` runs a fixed
series of checks, each a small function, and the first that objects wins and names its
reason. The order follows Dovecot Pigeonhole's ``cmd-vacation.c``; the rules come from
RFC 3834 ("Recommendations for Automatic Responses to Electronic Mail") and RFC 5230
(Sieve vacation):

1. Our own mail (our X-Boundary-Mail header, or an X-Loop value we write) is never answered:
   that is how loops between two of our own mailboxes are cut.
2. No Return-Path, or the null path ``<>``: RFC 3834 §4 sends a reply to the Return-Path only,
   never to Reply-To/From/Sender, "even if the Return-Path field is missing". ``<>`` marks a
   bounce or another automatic message (RFC 5230 §5.1).
3. The sender (Return-Path or From) is one of the team's own addresses (RFC 5230 §4.5 "the
   user's addresses"; Pigeonhole's "no reply to own address").
4. Any List-* header of RFC 2369/2919 (RFC 3834 §2 MAY, RFC 5230 §4.6 SHOULD NOT).
5. Auto-Submitted with any value other than ``no`` (RFC 3834 §2, RFC 5230 §4.6); comments and
   parameters are ignored, every instance of the header is checked.
6. Precedence bulk, list or junk (not standard, RFC 3834 §2 mentions it; universal practice).
7. X-Auto-Response-Suppress naming All, OOF or AutoReply (Microsoft; Pigeonhole honours it).
8. System senders (RFC 5230 §4.6 "MUST" keep such a list): local part MAILER-DAEMON, LISTSERV,
   majordomo, ``*-request``, ``owner-*``, plus the configured ``system_senders``. Postmaster is
   deliberately not on it: humans read postmaster.
9. Delivery status notifications, MDNs and feedback reports (multipart/report, RFC 6522).
10. Not explicitly addressed: none of the mailbox's own addresses is in To/Cc/Resent-To/
    Resent-Cc (RFC 3834 §2, RFC 5230 §4.5). Bcc cannot be seen over IMAP; users declare aliases.
11. Rate limit: one reply per sender per period (RFC 3834 §2 recommends 7 days; RFC 5230 §4.1
    clamps :days; the period here is clamped to 1-60 days like Pigeonhole's defaults).

Pure: no I/O, no clock. `now` and the last reply time are arguments.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from boundary_mail.facts import MessageFacts

MIN_PERIOD_DAYS = 1  # RFC 5230 §4.1: :days minimum 1
MAX_PERIOD_DAYS = 60  # Pigeonhole sieve_vacation_max_period default
MAX_SUBJECT = 200  # characters of the reply subject, prefix and "…" included
SUBJECT_PREFIX = "Auto: "  # RFC 3834 §3.1.5, RFC 5230 §5
EMPTY_SUBJECT = "Automatic reply"

LIST_HEADERS = frozenset(
    h.lower()
    for h in ("List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post",
              "List-Owner", "List-Archive")
)
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply"})
SYSTEM_LOCAL_PARTS = frozenset({"mailer-daemon", "listserv", "majordomo"})
REPORT_TYPES = frozenset({
    "multipart/report",  # RFC 6522: DSNs, MDNs, ARF feedback reports, whatever report-type
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "message/global-disposition-notification",
    "message/feedback-report",
})

_COMMENT = re.compile(r"\([^()]*\)")
_TOKEN = re.compile(r"[a-z0-9_-]+")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})  # controls, surrogates, line breaks


@dataclass(frozen=True, slots=True)
class ReplyDecision:
    """Whether to reply; `rule` is a stable slug, `reason` one sentence for status and logs."""

    reply: bool
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Context:
    """Everything besides the message that a check may consult, normalised once."""

    own_addresses: frozenset[str]
    recipient_addresses: frozenset[str]
    system_senders: tuple[str, ...]
    loop_markers: frozenset[str]
    last_reply_at: datetime | None
    now: datetime
    period: timedelta


_Check = Callable[[MessageFacts, _Context], ReplyDecision | None]


def _skip(rule: str, reason: str) -> ReplyDecision:
    return ReplyDecision(False, rule, reason)


def _shown(value: str, limit: int = 60) -> str:
    """A header value quoted for a reason sentence: one line, bounded length."""
    text = " ".join(_clean(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def _senders(facts: MessageFacts) -> list[str]:
    """The sender addresses a robot can be recognised by: Return-Path, then From."""
    found = []
    for address in (facts.return_path, facts.sender.email if facts.sender else ""):
        address = (address or "").strip().lower()
        if address and address not in found:
            found.append(address)
    return found


def _check_our_own_mail(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    if facts.our_marker:
        return _skip("our-own-mail", f"The message carries our X-Boundary-Mail header "
                     f"({_shown(facts.our_marker)}), so it was written by boundary-mail itself "
                     "and answering it would start a loop.")
    for value in facts.x_loop:
        if value.strip().strip("<>").strip().lower() in ctx.loop_markers:
            return _skip("loop", f"X-Loop is {_shown(value)}, a marker boundary-mail writes, "
                         "so answering would start a mail loop.")
    return None


def _check_return_path(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    if facts.return_path is None:
        return _skip("no-return-path", "The message has no Return-Path header; RFC 3834 §4 "
                     "sends automatic responses to the Return-Path only, never to another "
                     "address, even if it is missing.")
    if not facts.return_path.strip().strip("<>").strip():
        return _skip("null-return-path", "Return-Path is <>, the null reverse path of a "
                     "bounce or other automatic message; RFC 3834 §4 and RFC 5230 §5.1 "
                     "never answer it.")
    if reply_recipient(facts) is None:
        return _skip("null-return-path", f"Return-Path {_shown(facts.return_path)} is not a "
                     "usable address, and RFC 3834 §4 allows no other recipient.")
    return None


def _check_own_address(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    for address in _senders(facts):
        if address in ctx.own_addresses:
            return _skip("own-address", f"The sender {address} is one of the team's own "
                         "addresses; nobody auto-replies to themselves (RFC 5230 §4.5 user's "
                         "addresses, Pigeonhole's own-address check).")
    return None


def _check_list_headers(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    present = [h for h in facts.list_headers if h.lower() in LIST_HEADERS]
    if present:
        return _skip("list-header", f"The message has a {present[0]} header, so it came "
                     "through a mailing list (RFC 2369; RFC 3834 §2, RFC 5230 §4.6).")
    return None


def _auto_submitted_token(value: str) -> str:
    """The keyword of one Auto-Submitted value, without comments or parameters."""
    previous = None
    while previous != value:  # nested comments, innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value.split(";", 1)[0].strip().lower()


def _check_auto_submitted(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    for value in facts.auto_submitted:
        if _auto_submitted_token(value) != "no":
            return _skip("auto-submitted", f"Auto-Submitted is {_shown(value)}, not \"no\"; "
                         "RFC 3834 §2 and RFC 5230 §4.6 never answer automatic mail.")
    return None


def _check_precedence(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    tokens = _TOKEN.findall(facts.precedence.lower())
    for token in tokens:
        if token in BULK_PRECEDENCE:
            return _skip("precedence", f"Precedence is {_shown(facts.precedence)}: bulk, list "
                         "and junk mail is not answered (RFC 3834 §2, Pigeonhole practice).")
    return None


def _check_auto_response_suppress(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    for value in facts.auto_response_suppress:
        names = {part.strip().lower() for part in value.split(",")}
        if names & SUPPRESS_VALUES:
            return _skip("x-auto-response-suppress", f"X-Auto-Response-Suppress is "
                         f"{_shown(value)}: the sender asked for no automatic replies "
                         "(Microsoft extension, honoured like Pigeonhole does).")
    return None


def _is_default_system_sender(local: str) -> bool:
    # Exact parts and anchored affixes only: "requests", "jo-request-info" and "postmaster"
    # are people, RFC 5230 §4.6 warns about postmaster explicitly.
    return (
        local in SYSTEM_LOCAL_PARTS
        or (local.endswith("-request") and local != "-request")
        or (local.startswith("owner-") and local != "owner-")
    )


def _matches_configured(address: str, entry: str) -> bool:
    """A configured entry is a local part ("noreply"), an address, or "@domain"."""
    local, _, domain = address.rpartition("@")
    if entry.startswith("@"):
        return len(entry) > 1 and domain == entry[1:]
    if "@" in entry:
        return address == entry
    return local == entry


def _check_system_sender(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    for address in _senders(facts):
        local = address.rpartition("@")[0]
        if _is_default_system_sender(local):
            return _skip("system-sender", f"The sender {address} is a system address "
                         "(MAILER-DAEMON, LISTSERV, majordomo, *-request or owner-*) that "
                         "RFC 5230 §4.6 never answers.")
        for entry in ctx.system_senders:
            if _matches_configured(address, entry):
                return _skip("system-sender", f"The sender {address} matches the configured "
                             f"system sender {_shown(entry)} (response.system_senders, "
                             "RFC 5230 §4.6).")
    return None


def _check_delivery_report(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    ctype = facts.content_type.strip().lower()
    if ctype in REPORT_TYPES:
        kind = f"; report-type={facts.report_type}" if facts.report_type else ""
        return _skip("delivery-report", f"The message is a {_shown(ctype + kind)} report "
                     "(delivery status, read receipt or feedback), written by a machine "
                     "(RFC 6522, RFC 3834 §2).")
    return None


def _check_addressed(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    if any(a.email.strip().lower() in ctx.recipient_addresses for a in facts.recipients):
        return None
    return _skip("not-addressed", "None of the mailbox's own addresses is in To, Cc, "
                 "Resent-To or Resent-Cc; RFC 3834 §2 and RFC 5230 §4.5 answer only mail "
                 "addressed explicitly (declare aliases in the mailbox config).")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_rate_limit(facts: MessageFacts, ctx: _Context) -> ReplyDecision | None:
    if ctx.last_reply_at is None:
        return None
    last, now = _aware(ctx.last_reply_at), _aware(ctx.now)
    if now - last < ctx.period:  # a last reply "in the future" (clock skew) also waits
        return _skip("rate-limited", f"An auto-reply went to {reply_recipient(facts)} at "
                     f"{last.isoformat(timespec='seconds')}, within the {ctx.period.days}-day "
                     "period (RFC 3834 §2, RFC 5230 §4.1).")
    return None


# The documented order (module docstring); the first check that objects decides.
CHECKS: tuple[_Check, ...] = (
    _check_our_own_mail,
    _check_return_path,
    _check_own_address,
    _check_list_headers,
    _check_auto_submitted,
    _check_precedence,
    _check_auto_response_suppress,
    _check_system_sender,
    _check_delivery_report,
    _check_addressed,
    _check_rate_limit,
)


def clamp_period_days(period_days: int) -> int:
    """The reply period in days, clamped to 1-60 (RFC 5230 §4.1, Pigeonhole's limits)."""
    return max(MIN_PERIOD_DAYS, min(MAX_PERIOD_DAYS, period_days))


def decide_reply(
    facts: MessageFacts,
    *,
    own_addresses: frozenset[str],
    recipient_addresses: frozenset[str],
    system_senders: Sequence[str],
    loop_markers: frozenset[str],
    last_reply_at: datetime | None,
    now: datetime,
    period_days: int,
) -> ReplyDecision:
    """Decide whether `facts` may get an auto-reply, with the rule and reason either way.

    `own_addresses` are every team address (mail from them is ours); `recipient_addresses`
    are the monitored mailbox's owner and aliases (one must be addressed explicitly);
    `system_senders` are extra local parts, addresses or "@domain" entries never answered.
    """
    ctx = _Context(
        own_addresses=_lowered(own_addresses),
        recipient_addresses=_lowered(recipient_addresses),
        system_senders=_entries(tuple(system_senders)),
        loop_markers=_markers(loop_markers),
        last_reply_at=last_reply_at,
        now=now,
        period=timedelta(days=clamp_period_days(period_days)),
    )
    for check in CHECKS:
        decision = check(facts, ctx)
        if decision is not None:
            return decision
    return ReplyDecision(True, "reply", f"A person wrote to this mailbox from "
                         f"{reply_recipient(facts)}; no RFC 3834 / RFC 5230 rule forbids an "
                         "auto-reply to the Return-Path.")


# The same sets come with every message of a window (the team's addresses: hundreds at an
# agency with many mailboxes); each is normalized once. A frozenset keeps its hash, and the
# cache finds the very same object first, so a hit costs no pass over it.
@functools.lru_cache(maxsize=32)
def _lowered(addresses: frozenset[str]) -> frozenset[str]:
    return frozenset(a.strip().lower() for a in addresses)


@functools.lru_cache(maxsize=8)
def _entries(system_senders: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(e for e in (s.strip().lower() for s in system_senders) if e)


@functools.lru_cache(maxsize=8)
def _markers(loop_markers: frozenset[str]) -> frozenset[str]:
    return frozenset(m.strip().strip("<>").lower() for m in loop_markers)


def reply_recipient(facts: MessageFacts) -> str | None:
    """The Return-Path address, lower-cased; None if missing, null or unusable.

    Never Reply-To, From or Sender: RFC 3834 §4 answers the envelope sender only.
    """
    address = (facts.return_path or "").strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in _clean(address)):
        return None
    return address


def _clean(text: str) -> str:
    """Replace control characters, surrogates and line/paragraph separators by spaces."""
    return "".join(" " if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text)


def _strip_auto_prefixes(subject: str) -> str:
    while subject[:5].lower() == "auto:":
        subject = subject[5:].lstrip()
    return subject


def _truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters at a word boundary, ending with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a word boundary not too far back; else (CJK, one long word) hard cut
        cut = cut[:space]
    return cut.rstrip() + "…"


def reply_subject(subject: str) -> str:
    """``Auto: <subject>`` (RFC 3834 §3.1.5): one line, one prefix, at most MAX_SUBJECT chars.

    Control characters and line breaks become spaces, even ones an encoded word smuggled in,
    so the value cannot inject a header. An empty subject gives "Automatic reply".
    """
    text = _strip_auto_prefixes(" ".join(_clean(subject).split()))
    if not text:
        return EMPTY_SUBJECT
    return SUBJECT_PREFIX + _truncate(text, MAX_SUBJECT - len(SUBJECT_PREFIX))
