"""What `imap` assumes about imapclient beyond its public API, checked against the installed one.

The fast FETCH path (`imap._uid_fetch`, `imap._connect_once`, `imap_parse`) reaches past
`IMAPClient.fetch` to the imaplib connection underneath, the private `IMAPClient._imap`.
imapclient is pinned to one major version in pyproject.toml; these tests make an upgrade that
changes any of this fail here, by name, rather than as a slow or broken sync.

No mail server: a scripted peer in a thread on loopback answers the few commands with canned
lines, so the bytes imaplib reads are known exactly.
"""

from __future__ import annotations

import imaplib
import inspect
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import imapclient
import imapclient.tls
import pytest
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import IMAPClientError
from imapclient.fixed_offset import FixedOffset
from imapclient.response_parser import parse_fetch_response
from imapclient.util import to_unicode

from boundary_mail.imap import _uid_fetch
from boundary_mail.imap_parse import read_fetch_fast

Answer = Callable[[bytes], bytes]  # a command's tag -> every byte the peer sends back


def answer(*untagged: bytes, status: bytes = b"OK done") -> Answer:
    """Untagged lines (each may hold a literal), then the tagged status line."""
    return lambda tag: b"".join(line + b"\r\n" for line in untagged) + tag + b" " + status + b"\r\n"


class ScriptedPeer:
    """Just enough of an IMAP server for one connection: a greeting (PREAUTH: no login
    needed), then the scripted answer to each command, by its name ("UID FETCH" for UID
    commands)."""

    def __init__(self, script: dict[str, Answer]) -> None:
        self.script = {
            "CAPABILITY": answer(b"* CAPABILITY IMAP4rev1"),
            "EXAMINE": answer(b"* 2 EXISTS", b"* OK [UIDVALIDITY 7] ok", status=b"OK [READ-ONLY]"),
            "LOGOUT": answer(b"* BYE logging out"),
            **script,
        }
        self.commands: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"* PREAUTH scripted peer, logged in\r\n")
            for line in lines:
                tag, _, command = line.rstrip(b"\r\n").partition(b" ")
                self.commands.append(command)
                words = command.decode().upper().split()
                name = " ".join(words[:2]) if words[0] == "UID" else words[0]
                connection.sendall(self.script[name](tag))
                if name == "LOGOUT":
                    break

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.listener.close()


@contextmanager
def connected(script: dict[str, Answer] | None = None) -> Iterator[imapclient.IMAPClient]:
    """An IMAPClient on a plain connection to a scripted peer, with INBOX selected read-only
    (as `imap.select` does; imaplib allows FETCH only then); logged out afterwards."""
    peer = ScriptedPeer(script or {})
    try:
        client = imapclient.IMAPClient("127.0.0.1", port=peer.port, ssl=False, timeout=5)
        try:
            client.select_folder("INBOX", readonly=True)
            yield client
        finally:
            client.logout()
    finally:
        peer.close()


HEADER = b"Subject: hi\r\n\r\n"
TWO_RESPONSES = answer(
    b"* 1 FETCH (UID 4 BODY[HEADER] {%d}\r\n%s FLAGS (\\Seen))" % (len(HEADER), HEADER),
    b"* 2 FETCH (UID 5 FLAGS ())",
)


def test_every_imapclient_connection_has_an_imaplib_imap4_underneath() -> None:
    """`client._imap` exists and is an imaplib.IMAP4: on a plain connection (STARTTLS
    upgrades that same object) and, by its class, on implicit TLS (a TLS peer would need a
    certificate)."""
    with connected() as client:
        assert isinstance(client._imap, imaplib.IMAP4)
    assert issubclass(imapclient.tls.IMAP4_TLS, imaplib.IMAP4)


def test_uid_fetch_on_imaplib_hands_over_the_raw_records_the_fast_parser_reads() -> None:
    """`_imap.uid("FETCH", …)` sends `UID FETCH <set> <items>` and returns ("OK", records):
    a response with a literal as a (text, literal) tuple followed by the rest of its line,
    one without as a single bytes; the FETCH answers leave `untagged_responses`."""
    with connected({"UID FETCH": TWO_RESPONSES}) as client:
        typ, data = client._imap.uid("FETCH", "4:5", "(BODY.PEEK[HEADER] FLAGS)")
        assert typ == "OK"
        assert data == [
            (b"1 (UID 4 BODY[HEADER] {%d}" % len(HEADER), HEADER),
            b" FLAGS (\\Seen))",
            b"2 (UID 5 FLAGS ())",
        ]
        assert "FETCH" not in client._imap.untagged_responses
    assert read_fetch_fast(data) == {
        4: {b"BODY[HEADER]": HEADER, b"FLAGS": ("\\Seen",)},
        5: {b"FLAGS": ()},
    }


def test_a_fetch_that_finds_nothing_answers_imaplibs_none() -> None:
    """No FETCH response at all comes back as [None], which the fast parser reads as empty."""
    with connected({"UID FETCH": answer()}) as client:
        assert client._imap.uid("FETCH", "9:10", "(FLAGS)") == ("OK", [None])


def test_a_refused_fetch_leaves_its_partial_answers_behind_and_uid_fetch_drops_them() -> None:
    """On NO imaplib returns the status text and keeps the FETCH answers that came before it
    in `untagged_responses` (where the next command would find them); `_uid_fetch` raises
    IMAPClientError, as `IMAPClient.fetch` does, and drops them."""
    refused = answer(b"* 1 FETCH (UID 4 FLAGS ())", status=b"NO some messages are gone")
    with connected({"UID FETCH": refused}) as client:
        typ, data = client._imap.uid("FETCH", "4:5", "(FLAGS)")
        assert (typ, data) == ("NO", [b"some messages are gone"])
        assert client._imap.untagged_responses["FETCH"] == [b"1 (UID 4 FLAGS ())"]
        client._imap.untagged_responses.pop("FETCH")
        with pytest.raises(IMAPClientError, match=r"^fetch failed: some messages are gone$"):
            _uid_fetch(client, "4:5", "(FLAGS)")
        assert "FETCH" not in client._imap.untagged_responses


def test_a_bad_fetch_raises_imapclients_error_which_is_imaplibs() -> None:
    """On BAD imaplib raises IMAP4.error, the very class imapclient calls IMAPClientError,
    so callers of `_uid_fetch` catch one exception whichever layer raised it."""
    assert IMAPClientError is imaplib.IMAP4.error
    with (
        connected({"UID FETCH": answer(status=b"BAD syntax")}) as client,
        pytest.raises(IMAPClientError, match="syntax"),
    ):
        client._imap.uid("FETCH", "4:5", "(FLAGS)")


def test_debug_zero_switches_the_wire_trace_off(caplog: pytest.LogCaptureFixture) -> None:
    """imapclient sets imaplib's `debug` to 5, sending every line (subjects, bodies) to the
    "imapclient.imaplib" logger; `debug = 0`, as `_connect_once` sets it, stops that."""
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    with connected({"UID FETCH": TWO_RESPONSES}) as client:
        assert client._imap.debug == 5
        client._imap.uid("FETCH", "4:5", "(FLAGS)")
        assert any(r.name == "imapclient.imaplib" for r in caplog.records), (
            "imapclient no longer traces imaplib: this test cannot see the trace"
        )
        caplog.clear()
        client._imap.debug = 0
        client._imap.uid("FETCH", "4:5", "(FLAGS)")
        assert not [r for r in caplog.records if r.name == "imapclient.imaplib"]


def test_imapclients_parsing_helpers_take_the_arguments_imap_parse_passes() -> None:
    """The fallback and the date reader call imapclient's helpers with these keywords."""
    assert {"normalise_times", "uid_is_key"} <= set(
        inspect.signature(parse_fetch_response).parameters
    )
    assert "normalise" in inspect.signature(parse_to_datetime).parameters
    assert FixedOffset(-90).utcoffset(None) == timedelta(minutes=-90)
    assert to_unicode(b"fetch failed") == "fetch failed"
