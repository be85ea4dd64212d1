"""How log lines look: one line per event on stdout, stamped unless journald stamps them.

Its own module so that the rule (and its test) reads apart from the command line that calls it.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from typing import TextIO


def log_format(journal_stream: str | None, stream: TextIO) -> str:
    """The log line format: with a timestamp, unless `stream` is the journal, which stamps
    every line itself. systemd sets $JOURNAL_STREAM to the device and inode of the stream it
    connected (``dev:ino``); a stream that is not that one (redirected by a child) is no
    journal. A stream without a file descriptor is taken at its word."""
    plain = "%(levelname)s %(name)s: %(message)s"
    if not journal_stream:
        return f"%(asctime)s {plain}"
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return plain
    return plain if journal_stream == f"{st.st_dev}:{st.st_ino}" else f"%(asctime)s {plain}"


def configure_logging(*, verbose: bool) -> None:
    """Log to stdout (journald reads it under systemd), DEBUG with --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=log_format(os.environ.get("JOURNAL_STREAM"), sys.stdout),
        stream=sys.stdout,
    )
    # imapclient's DEBUG trace echoes whole FETCH responses (subjects, bodies): never log them.
    logging.getLogger("imapclient").setLevel(logging.INFO)
    # The OAuth2 libraries' DEBUG lines carry tokens, codes and request bodies
    # (requests-oauthlib's "Obtained token {…}", MSAL's cache events with the device code).
    for name in OAUTH_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


OAUTH_LIBRARY_LOGGERS = ("authlib", "msal", "oauthlib", "requests_oauthlib",
                         "google_auth_oauthlib", "google.auth", "google.oauth2")
