"""The state file: one SQLite database (WAL); all SQL of the project lives in this package.

What the core decided and the mail it will send are written in one transaction together with
the folder's new high-water mark, before anything is sent. A crash therefore either loses the
whole batch (it is fetched and decided again) or keeps all of it (the sender drains it later).
One module per seam: `schema` (file, migrations, transactions), `messages` (folders, messages,
contacts, mailbox health), `queue` (outgoing mail), `items` (tracking), `snapshots` (what a
batch is decided against), `reports` (what the digest reads), `routes` (mail passed on) and
`costs` (what the cost report reads and keeps).
`waiting` (what we wait for from clients).
"""

from __future__ import annotations

from boundary_mail.plan import BaselineRow
from boundary_mail.store.costs import CostRecords
from boundary_mail.store.items import Items
from boundary_mail.store.messages import (
    FolderState,
    MailboxHealth,
    MessageRecord,
    MessageRecords,
    SkippedMessage,
)
from boundary_mail.store.migrations import SCHEMA_VERSION
from boundary_mail.store.queue import Queue, SendEffects, StoredAction
from boundary_mail.store.reports import Reports
from boundary_mail.store.routes import ROUTE_KINDS, Routes, SourceCopy
from boundary_mail.store.schema import StateError
from boundary_mail.store.snapshots import Snapshots
from boundary_mail.store.waiting import NUDGE_KINDS, Waits

__all__ = [
    "NUDGE_KINDS", "ROUTE_KINDS", "SCHEMA_VERSION", "BaselineRow", "FolderState", "MailboxHealth",
    "MessageRecord",
    "SendEffects", "SkippedMessage", "SourceCopy", "StateError", "Store", "StoredAction",
]


class Store(MessageRecords, Queue, Items, Snapshots, Reports, Routes, CostRecords, Waits):
    """All reads and writes of the state file."""
