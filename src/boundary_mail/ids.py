"""The Message-IDs of the mail we write, derived from what the mail is about.

Every message boundary-mail queues has a dedupe key (``auto_reply:<the client's Message-ID>``)
and a Message-ID derived from it under the sender's domain, so composing the same action twice
gives the same message. Because the id is a pure function of the decision, the core knows the
Message-ID of an auto-reply the moment it plans one, before anything is composed or sent: a
robot's answer to it can be recognised as an answer to our own automatic mail (RFC 3834 §2).

A message's own identity is its Message-ID and its sender: a later message that reuses a
known Message-ID from another sender is a different message (`reused_identity`), a true
re-delivery (the same id from the same sender) is the same one.

Pure.
"""

from __future__ import annotations

import hashlib


def stable_message_id(dedupe_key: str, domain: str) -> str:
    """``<bm.<hash of the dedupe key>@domain>``: the same key always gives the same id."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<bm.{digest}@{domain}>"


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def auto_reply_message_id(source_message_id: str, from_address: str) -> str:
    """The Message-ID of our auto-reply to `source_message_id`, sent from `from_address`
    (the dedupe key `compose.compose_auto_reply` uses)."""
    return stable_message_id(f"auto_reply:{source_message_id}", _domain(from_address))


def contact_note_message_id(source_message_id: str, from_address: str) -> str:
    """The Message-ID of the contact note about `source_message_id` (as
    `compose.compose_contact_note` derives it)."""
    return stable_message_id(f"contact_note:{source_message_id}", _domain(from_address))


def reused_identity(message_id: str, sender: str) -> str:
    """The identity of a message whose Message-ID `message_id` is known already from another
    sender than `sender`: stable (the same pair always gives the same id), valid-looking, and
    under ``boundary-mail.invalid`` so it is never written into a header."""
    digest = hashlib.sha256(f"{message_id}\0{sender}".encode("utf-8", "replace")).hexdigest()
    return f"<{digest[:24]}.reused@boundary-mail.invalid>"
