"""What one check window did (or, in a dry run, would do): the plans, and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from boundary_mail.actions import MessagePlan
from boundary_mail.ladder import LadderStep
from boundary_mail.outgoing import Outgoing
from boundary_mail.tracking import Acknowledgment


@dataclass(slots=True)
class WindowReport:
    now: datetime
    fetched: int = 0
    baseline: int = 0
    already_known: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # mailbox, uid, why
    plans: list[MessagePlan] = field(default_factory=list)
    acknowledged: list[Acknowledgment] = field(default_factory=list)
    ladder: list[LadderStep] = field(default_factory=list)
    held: list[LadderStep] = field(default_factory=list)  # waiting for an unread mailbox
    queued: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0  # handed over, no answer: not resent in this window
    errors: list[str] = field(default_factory=list)
    failed_mailboxes: dict[str, str] = field(default_factory=dict)  # name → why
    retry_soon: bool = False  # a server was down or hung up: running again soon may help
    would_send: list[Outgoing] = field(default_factory=list)  # a dry run's mail, to show
    waiting: list[str] = field(default_factory=list)  # waits on clients: started, ended, nudged

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def fail_mailbox(self, name: str, why: str, *, retry_soon: bool) -> None:
        self.errors.append(why)
        self.failed_mailboxes[name] = why
        self.retry_soon |= retry_soon
