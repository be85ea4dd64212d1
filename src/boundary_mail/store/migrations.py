"""The state file's schema: ordered migrations, each applied once, in one transaction.

Append a migration to change the schema; never edit one that has shipped. A state file with a
newer version than SCHEMA_VERSION is refused (see `schema`).
"""

from __future__ import annotations

SCHEMA_VERSION = 7

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE folders (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL,
        synced_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder)
    );
    CREATE TABLE messages (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        message_id TEXT NOT NULL,
        uid INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        sender TEXT,
        subject TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,          -- baseline | decided | skipped
        rule TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder, message_id)
    );
    CREATE INDEX messages_by_id ON messages (message_id);
    CREATE TABLE skipped (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        reason TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder, uid)
    );
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,            -- auto_reply | first_contact | contact_note | ...
        source_message_id TEXT NOT NULL,
        envelope_from TEXT NOT NULL,
        recipients TEXT NOT NULL,      -- JSON list
        outgoing_message_id TEXT NOT NULL UNIQUE,
        raw BLOB NOT NULL,
        on_sent TEXT NOT NULL DEFAULT '{}',  -- JSON: bookkeeping done once the send succeeded
        status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX actions_pending ON actions (status) WHERE status = 'pending';
    CREATE TABLE replies (
        sender TEXT NOT NULL,
        kind TEXT NOT NULL,
        last_sent_at TEXT NOT NULL,
        PRIMARY KEY (sender, kind)
    );
    CREATE TABLE contacts (
        address TEXT PRIMARY KEY,
        first_seen_at TEXT NOT NULL,
        welcomed_at TEXT
    );
    """,
    2: """
    CREATE TABLE items (
        message_id TEXT PRIMARY KEY,   -- the client message being tracked
        mailbox TEXT NOT NULL,         -- where it was first seen
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        sender TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',   -- client name, or '' for an unassigned sender (triage)
        owner TEXT NOT NULL,           -- the account manager or triage owner
        subject TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        read_at TEXT NOT NULL,
        deadline TEXT NOT NULL,        -- the answer-by time the auto-reply promised
        urgent INTEGER NOT NULL DEFAULT 0,
        after_hours INTEGER NOT NULL DEFAULT 0,
        routed_from TEXT NOT NULL DEFAULT '',  -- the mailbox owner it reached, if redirected
        ladder_step INTEGER NOT NULL DEFAULT 0,  -- escalation steps queued so far
        status TEXT NOT NULL DEFAULT 'open',     -- open | acknowledged
        acknowledged_at TEXT,
        acknowledged_how TEXT NOT NULL DEFAULT '',  -- reply | answered-flag | manual
        created_at TEXT NOT NULL
    );
    CREATE INDEX items_open ON items (owner) WHERE status = 'open';
    CREATE INDEX items_by_received ON items (received_at);
    CREATE TABLE followups (
        message_id TEXT PRIMARY KEY,   -- the follow-up ("did you get my email?")
        root_id TEXT NOT NULL REFERENCES items (message_id),
        received_at TEXT NOT NULL
    );
    CREATE INDEX followups_by_root ON followups (root_id);
    """,
    # The JSON `on_sent` bookkeeping becomes columns, so the rate limit is an indexed lookup;
    # and each mailbox's last read (or why it failed) is kept for status and the digest.
    3: """
    ALTER TABLE actions ADD COLUMN reply_to TEXT;       -- an auto-reply to this address ...
    ALTER TABLE actions ADD COLUMN reply_kind TEXT;     -- ... of this kind: counts once sent
    ALTER TABLE actions ADD COLUMN note_to TEXT;        -- a contact note to this address
    ALTER TABLE actions ADD COLUMN welcomed TEXT;       -- carries "How we work together"
    ALTER TABLE actions ADD COLUMN ladder_step INTEGER NOT NULL DEFAULT 0;
    UPDATE actions SET
        reply_to = json_extract(on_sent, '$.reply.sender'),
        reply_kind = json_extract(on_sent, '$.reply.kind'),
        note_to = json_extract(on_sent, '$.note.sender'),
        welcomed = json_extract(on_sent, '$.welcomed'),
        ladder_step = coalesce(json_extract(on_sent, '$.ladder.step'), 0);
    ALTER TABLE actions DROP COLUMN on_sent;
    CREATE INDEX actions_pending_replies ON actions (reply_to, reply_kind)
        WHERE status = 'pending' AND reply_to IS NOT NULL;
    CREATE INDEX actions_pending_notes ON actions (note_to)
        WHERE status = 'pending' AND note_to IS NOT NULL;
    CREATE INDEX followups_by_id_root ON followups (message_id, root_id);
    CREATE TABLE mailbox_health (
        mailbox TEXT PRIMARY KEY,
        last_ok_at TEXT,
        failed_at TEXT,                -- set while the last window could not read it
        error TEXT NOT NULL DEFAULT ''
    );
    """,
    # Claims: a queued message is claimed (status 'sending', the drain's token) in its own
    # committed transaction before it is sent, so no other drain can send it; 'uncertain' is
    # "the server may have it" (a timeout after the final dot, a claim its drain never
    # finished), resent at most once (`resends`).
    4: """
    ALTER TABLE actions ADD COLUMN claim TEXT;
    ALTER TABLE actions ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
    DROP INDEX actions_pending;
    DROP INDEX actions_pending_replies;
    DROP INDEX actions_pending_notes;
    CREATE INDEX actions_unsent ON actions (status)
        WHERE status IN ('pending', 'sending', 'uncertain');
    CREATE INDEX actions_unsent_replies ON actions (reply_to, reply_kind)
        WHERE status IN ('pending', 'sending', 'uncertain') AND reply_to IS NOT NULL;
    CREATE INDEX actions_unsent_notes ON actions (note_to)
        WHERE status IN ('pending', 'sending', 'uncertain') AND note_to IS NOT NULL;
    """,
    # Waiting on clients (see `waiting`): a team message the client is to answer, its
    # nudges so far and how the wait ended. The nudges themselves are queued actions (kinds
    # 'nudge', sent by SMTP, and 'nudge_draft', appended to the member's Drafts folder) whose
    # source_message_id is the waiting message. A nudge still pending when its wait ends is
    # 'cancelled' (a new action status: never sent, never counted as unsent).
    5: """
    CREATE TABLE waiting (
        message_id TEXT PRIMARY KEY,   -- the team message (its header Message-ID)
        mailbox TEXT NOT NULL,         -- where the copy was found
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        member TEXT NOT NULL,          -- who wrote it: nudges go out from this address
        client TEXT NOT NULL,
        recipients TEXT NOT NULL,      -- JSON list: the client's addresses it went to
        subject TEXT NOT NULL DEFAULT '',
        refs TEXT NOT NULL DEFAULT '', -- its References, space-separated (for the nudges)
        sent_at TEXT NOT NULL,
        after_days INTEGER NOT NULL,   -- first nudge after this many business days
        how TEXT NOT NULL,             -- bcc | keyword | all | manual
        nudges INTEGER NOT NULL DEFAULT 0,
        last_nudge_at TEXT,
        reported_at TEXT,              -- the account manager was told (nudges used up)
        status TEXT NOT NULL DEFAULT 'open',   -- open | answered | done
        ended_at TEXT,
        ended_by TEXT NOT NULL DEFAULT '',     -- the client's answer, if it ended that way
        created_at TEXT NOT NULL
    );
    CREATE INDEX waiting_open ON waiting (member) WHERE status = 'open';
    CREATE INDEX waiting_by_sent ON waiting (sent_at);
    CREATE INDEX actions_by_source ON actions (source_message_id);
    ALTER TABLE actions ADD COLUMN filed_at TEXT;  -- a sent nudge's copy is in the Sent folder
    """,
    # The cost report (issue 17): what the team wrote to people outside it (from the Sent
    # folders; one row per message, whichever Sent folder it was found in), and hours
    # imported from a time tracker per client and month (a decimal string), which replace
    # the model for that month.
    6: """
    CREATE TABLE team_replies (
        message_id TEXT PRIMARY KEY,
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        author TEXT NOT NULL,
        recipients TEXT NOT NULL,      -- JSON list of the recipients outside the team
        sent_at TEXT NOT NULL
    );
    CREATE INDEX team_replies_by_sent ON team_replies (sent_at);
    CREATE TABLE imported_hours (
        client TEXT NOT NULL,
        month TEXT NOT NULL,           -- YYYY-MM
        hours TEXT NOT NULL,           -- decimal, e.g. '12.75'
        source TEXT NOT NULL,          -- the file's name
        imported_at TEXT NOT NULL,
        PRIMARY KEY (client, month)
    );
    """,
    # A queued message's bytes in a table of their own: claiming a message and marking it
    # sent rewrote its whole row, bytes included (about 250 µs and 8 KB of write-ahead log
    # per message sent). Reads that need the bytes go through the view.
    7: """
    CREATE TABLE action_bodies (
        id INTEGER PRIMARY KEY REFERENCES actions (id),
        raw BLOB NOT NULL
    );
    INSERT INTO action_bodies (id, raw) SELECT id, raw FROM actions;
    ALTER TABLE actions DROP COLUMN raw;
    CREATE VIEW actions_with_bytes AS
        SELECT actions.*, action_bodies.raw FROM actions JOIN action_bodies USING (id);
    """,
}
