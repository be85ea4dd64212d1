"""A window's waiting decisions, batch by batch: what starts and what ends a wait. Pure.

Like `decide.Planner`, a `WaitingPlanner` lives for one window and remembers what it decided
in earlier batches (a dry run commits nothing, and the snapshots loaded before a batch do
not show it). It also remembers the client replies it saw: a Sent folder is read after its
inbox, so a client who answered between the team's message and the window is seen first,
and the wait starts already ended (it counts in the figures, and nobody is nudged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from boundary_mail.actions import MessagePlan
from boundary_mail.config import Config
from boundary_mail.directory import Directory
from boundary_mail.facts import MessageFacts
from boundary_mail.tracking import inbox_reply_doubt
from boundary_mail.waiting import (
    WaitChanges,
    WaitEnd,
    WaitStart,
    is_their_answer,
    tag_days,
    wait_end,
    wait_start,
)

# thread id (a waiting message's or a nudge's Message-ID) → (the waiting item, its client)
OpenThreads = Mapping[str, tuple[str, str]]


def lookup_keys(messages: Iterable[MessageFacts]) -> set[str]:
    """The ids the store is asked about for a batch: each message's own and its thread's.
    A message with no recipient and no thread (a first sync's old mail, read only for its
    identity) can neither start nor end a wait: a big first sync asks nothing."""
    keys: set[str] = set()
    for facts in messages:
        if facts.to or facts.cc or facts.thread_ids:
            keys.add(facts.thread_id)
            keys.update(facts.thread_ids)
    return keys


@dataclass(slots=True)
class _Reply:
    client: str
    message_id: str
    at: datetime


@dataclass(slots=True)
class WaitingPlanner:
    config: Config
    directory: Directory = field(init=False)
    started: dict[str, WaitStart] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    replies: dict[str, list[_Reply]] = field(default_factory=dict)  # thread id → replies

    def __post_init__(self) -> None:
        self.directory = Directory(self.config)

    def _threads(self, stored: OpenThreads) -> dict[str, tuple[str, str]]:
        known = {k: v for k, v in stored.items() if v[0] not in self.ended}
        known.update((mid, (mid, s.client)) for mid, s in self.started.items()
                     if mid not in self.ended)
        return known

    def in_inbox(self, decisions: Sequence[MessagePlan], stored: OpenThreads) -> WaitChanges:
        """Client answers end their waits; a proven Bcc copy to the assistant starts one."""
        threads = self._threads(stored)
        starts: list[WaitStart] = []
        ends: list[WaitEnd] = []
        for plan in decisions:
            end = wait_end(plan, threads)
            if end is not None and end.message_id not in self.ended:
                self.ended.add(end.message_id)
                ends.append(end)
            client = plan.match.client
            if client is not None and end is None and is_their_answer(plan):
                for mid in plan.facts.thread_ids:
                    self.replies.setdefault(mid, []).append(
                        _Reply(client.name, plan.facts.message_id, plan.facts.received_at))
            if plan.reply.rule == "own-address" and self._bcc_copy(plan.facts):
                start = self._start(plan.facts, threads)
                if start is not None:
                    starts.append(start)
        return WaitChanges(tuple(starts), tuple(ends))

    def _bcc_copy(self, facts: MessageFacts) -> bool:
        """The assistant's own copy of a tagged message, whose author our server vouches for
        (anyone can write "From: ann@…" and make us nudge a client in her name)."""
        if tag_days(facts.delivered_to, self.config.smtp.from_address, 1) is None:
            return False
        return not inbox_reply_doubt(
            facts, trusted_authserv_id=self.config.escalation.trusted_authserv_id)

    def in_sent(self, messages: Sequence[MessageFacts], stored: OpenThreads) -> WaitChanges:
        """Team messages to clients that start a wait (tagged, or the client's track = all)."""
        threads = self._threads(stored)
        starts: list[WaitStart] = []
        ends: list[WaitEnd] = []
        for facts in sorted(messages, key=lambda f: (f.received_at, f.uid)):
            start = self._start(facts, threads)
            if start is None:
                continue
            starts.append(start)
            threads[start.message_id] = (start.message_id, start.client)
            answer = next((r for r in self.replies.get(start.message_id, ())
                           if r.client == start.client), None)
            if answer is not None:  # they answered before this window read the Sent copy
                self.ended.add(start.message_id)
                ends.append(WaitEnd(start.message_id, answer.at, "reply", answer.message_id))
        return WaitChanges(tuple(starts), tuple(ends))

    def _start(self, facts: MessageFacts, threads: dict[str, tuple[str, str]]
               ) -> WaitStart | None:
        if facts.thread_id in threads or facts.thread_id in self.started:
            return None
        if any(mid in threads for mid in facts.thread_ids):
            return None  # the same wait goes on (a nudge sent from Drafts, a "one more thing")
        start = wait_start(facts, config=self.config, directory=self.directory)
        if start is not None:
            self.started[start.message_id] = start
        return start
