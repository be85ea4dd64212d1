"""A corpus of malformed and hostile messages, built as bytes, for the bad-input tests.

Each `Specimen` names what is special about it. The messages look as a delivering server
would have stored them: the first field is the Return-Path it recorded (unless the specimen
is about a missing one). Every subject that carries text holds a unique marker (`marker`) so
a test can prove that no log line repeats a subject. A few valid client messages are mixed
in: the corpus must not make the assistant forget its day job.

    from tests.corpus import corpus
    for specimen in corpus():
        deliver("ann", specimen.raw, at)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

OWNER = "ann@agency.test"
CLIENT_DOMAIN = "acme.test"
BIG_ATTACHMENT = 5 * 1024 * 1024
MANY_RECIPIENTS = 500
LONG_SUBJECT = 5000
LONG_LINE = 10_000
NESTING = 50
# Addresses that only appear where an attacker controls the header (From, Reply-To, Sender,
# Bcc, an injected line): no mail may ever reach them.
VICTIMS = (
    "victim@evil.test", "bcc-victim@evil.test", "replyto-victim@evil.test",
    "sender-victim@evil.test", "from-victim@evil.test", "name-victim@evil.test",
)

# Undeclared 8-bit bytes in a From field reach the facts as lone surrogates (\udcfc); composing
# the reply ("Hello J\udcfcrgen") or storing the sender then raises UnicodeEncodeError, the
# window crashes before its commit, and every later window crashes on the same message.


@dataclass(frozen=True, slots=True)
class Specimen:
    name: str
    special: str  # what is wrong or hostile about it, one line
    raw: bytes
    return_path: str | None  # the envelope sender the delivering server recorded; "" is <>
    valid: bool = False  # a well-formed client message that must get its normal treatment
    skip: str = ""  # the expected skip reason; "" means the message must be decided
    marker: str = ""  # text only in its subject: must never appear in a log line

    @property
    def sender(self) -> str:
        return self.return_path or ""


def _marker(index: int) -> str:
    return f"SUBJTXT{index:02d}Q"


class _Builder:
    """Collects specimens; `add` numbers them and gives each a subject marker."""

    def __init__(self) -> None:
        self.items: list[Specimen] = []

    @property
    def marker(self) -> str:
        return _marker(len(self.items))

    def add(
        self, name: str, special: str, raw: bytes, *, return_path: str | None = None,
        valid: bool = False, skip: str = "", marked: bool = True,
    ) -> None:
        if return_path is None and raw.startswith(b"Return-Path: <"):
            return_path = raw.split(b"<", 1)[1].split(b">", 1)[0].decode().lower()
        if any(s.name == name for s in self.items):
            raise ValueError(f"duplicate specimen name {name}")
        self.items.append(
            Specimen(name, special, raw, return_path, valid=valid, skip=skip,
                     marker=self.marker if marked else "")
        )


def _crlf(*lines: str | bytes) -> bytes:
    return b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\r\n" for ln in lines)


def _addr(name: str) -> str:
    return f"{name.replace('_', '-')}@{CLIENT_DOMAIN}"


def _simple(
    name: str, marker: str, *, headers: tuple[str | bytes, ...] = (), body: bytes = b"Hello.",
    return_path: bool = True, from_: str | bytes | None = None, to: str | None = OWNER,
    subject: str | bytes | None = None, message_id: str | None = "auto",
    date: str | None = "Fri, 20 Nov 2026 16:05:00 +0100",
) -> bytes:
    """A plain message whose parts each test can replace or leave out."""
    sender = _addr(name)
    lines: list[str | bytes] = []
    if return_path:
        lines.append(f"Return-Path: <{sender}>")
    lines.append(b"From: " + (from_.encode() if isinstance(from_, str) else from_)
                 if from_ is not None else f"From: Client <{sender}>")
    if to is not None:
        lines.append(f"To: {to}")
    if subject is None:
        subject = f"Question {marker}"
    lines.append(b"Subject: " + (subject.encode() if isinstance(subject, str) else subject))
    if message_id == "auto":
        message_id = f"<{name}@{CLIENT_DOMAIN}>"
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    if date is not None:
        lines.append(f"Date: {date}")
    lines.extend(headers)
    return _crlf(*lines) + b"\r\n" + body + b"\r\n"


def _nested_multipart(depth: int) -> bytes:
    """`depth` levels of multipart/mixed, each holding the next; a text part at the bottom."""
    out = b"Content-Type: text/plain\r\n\r\ndeep inside\r\n"
    for level in range(depth, 0, -1):
        boundary = f"b{level:03d}".encode()
        out = (
            b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n"
            + b"--" + boundary + b"\r\n" + out + b"--" + boundary + b"--\r\n"
        )
    return out


def corpus() -> list[Specimen]:
    """Every specimen, in the order they are delivered."""
    c = _Builder()

    # -- valid client mail, mixed in ------------------------------------------------------
    c.add("valid_plain", "an ordinary client question",
          _simple("valid_plain", c.marker), valid=True)
    c.add("valid_encoded_subject", "RFC 2047 subject and display name, as real clients send",
          _simple("valid_encoded_subject", c.marker,
                  from_=f"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <{_addr('valid_encoded_subject')}>",
                  subject=f"=?utf-8?q?Angebot_f=C3=BCr_Q4_{c.marker}?="), valid=True)
    c.add("valid_multipart", "multipart/mixed with a text part and a small PDF",
          _simple("valid_multipart", c.marker,
                  headers=("MIME-Version: 1.0",
                           'Content-Type: multipart/mixed; boundary="XYZ"'),
                  body=b"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached."
                       b"\r\n--XYZ\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n"
                       + base64.encodebytes(b"%PDF-1.4 tiny") + b"--XYZ--"), valid=True)
    c.add("valid_reply_to_elsewhere",
          "Reply-To names a third party; the reply must still go to the Return-Path only",
          _simple("valid_reply_to_elsewhere", c.marker,
                  headers=("Reply-To: replyto-victim@evil.test",)), valid=True)
    c.add("valid_minimal", "only Return-Path, From, To, Subject and Message-ID",
          _simple("valid_minimal", c.marker, date=None), valid=True)

    # -- broken MIME ---------------------------------------------------------------------
    c.add("mime_unterminated_boundary", "multipart whose closing boundary never comes",
          _simple("mime_unterminated_boundary", c.marker,
                  headers=('Content-Type: multipart/mixed; boundary="never-closed"',),
                  body=b"--never-closed\r\nContent-Type: text/plain\r\n\r\nno end in sight"))
    c.add("mime_no_boundary_param", "multipart/mixed without a boundary parameter",
          _simple("mime_no_boundary_param", c.marker,
                  headers=("Content-Type: multipart/mixed",),
                  body=b"--x\r\n\r\npart\r\n--x--"))
    c.add("mime_wrong_nesting", "an inner part closes the outer boundary, parts interleave",
          _simple("mime_wrong_nesting", c.marker,
                  headers=('Content-Type: multipart/mixed; boundary="outer"',),
                  body=b"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n"
                       b"\r\n--inner\r\nContent-Type: text/plain\r\n\r\na\r\n--outer--\r\n"
                       b"--inner\r\n\r\nb\r\n--inner--\r\n--outer\r\n"))
    c.add("mime_bogus_params", "Content-Type with empty, repeated and broken RFC 2231 params",
          _simple("mime_bogus_params", c.marker,
                  headers=("Content-Type: text/plain; charset=\"; ;;; name*=bad''%ZZ%;"
                           " boundary=; charset=; report-type*0*=x'y'%FF; =\"\"",)))
    c.add("mime_garbage_content_type", "Content-Type that is no type at all",
          _simple("mime_garbage_content_type", c.marker,
                  headers=(b"Content-Type: ///;;;\x01\x02 ===",)))
    nested_type, nested_body = _nested_multipart(NESTING).split(b"\r\n\r\n", 1)
    c.add("mime_deep_nesting", f"{NESTING} levels of nested multipart",
          _simple("mime_deep_nesting", c.marker, headers=("MIME-Version: 1.0", nested_type),
                  body=nested_body))
    c.add("mime_bad_transfer_encoding",
          "unknown Content-Transfer-Encoding and a base64 body that is not base64",
          _simple("mime_bad_transfer_encoding", c.marker,
                  headers=("Content-Transfer-Encoding: x-evil-7bit",
                           "Content-Type: text/plain; charset=x-klingon"),
                  body=b"!!!! not ~~ base64 \x80\x81"))
    c.add("mime_report_from_a_person",
          "claims multipart/report (a bounce) though a person sent it: never answered",
          _simple("mime_report_from_a_person", c.marker,
                  headers=('Content-Type: multipart/report; report-type=delivery-status;'
                           ' boundary="r"',),
                  body=b"--r\r\n\r\ntext\r\n--r--"))

    # -- garbage and 8-bit headers -------------------------------------------------------
    c.add("raw_ff_in_from", "raw \\xff\\xfe bytes in the From display name",
          _simple("raw_ff_in_from", c.marker,
                  from_=b"\xff\xfe\xfd <" + _addr("raw_ff_in_from").encode() + b">"))
    c.add("raw_ff_in_subject", "raw \\xff\\xfe bytes in the Subject",
          _simple("raw_ff_in_subject", c.marker,
                  subject=c.marker.encode() + b" \xff\xfe\xff broken"))
    c.add("invalid_utf8_subject",
          "invalid UTF-8: a lone continuation byte, an overlong '/', an encoded surrogate",
          _simple("invalid_utf8_subject", c.marker,
                  subject=b"caf\xc3 \xa9 \xc0\xaf \xed\xa0\x80 " + c.marker.encode()))
    c.add("latin1_display_name", "undeclared ISO-8859-1 in the From display name",
          _simple("latin1_display_name", c.marker,
                  from_=b"J\xfcrgen M\xfcller <" + _addr("latin1_display_name").encode() + b">"))
    c.add("nul_in_subject", "NUL bytes inside the Subject",
          _simple("nul_in_subject", c.marker,
                  subject=b"before\x00\x00after " + c.marker.encode()))
    c.add("nul_in_from", "a NUL byte inside the From address",
          _simple("nul_in_from", c.marker,
                  from_=b"Nul <nul-in-from\x00@acme.test>"))
    c.add("control_chars_everywhere", "escape, bell and backspace in Subject and To",
          _simple("control_chars_everywhere", c.marker,
                  to=f"\x1b[31mAnn\x07 <{OWNER}>\x08",
                  subject=f"\x1b]0;{c.marker}\x07\x08\x7f"))
    c.add("header_without_colon", "a header line without a colon among the fields",
          _simple("header_without_colon", c.marker,
                  headers=("This line is not a header field at all",
                           "X-After: still here")))
    c.add("header_name_with_space", "field names with spaces and non-ASCII",
          _simple("header_name_with_space", c.marker,
                  headers=("Sub ject: fake", b"X-\xc3\xa9t\xc3\xa9: value", " : nameless")))
    c.add("continuation_first", "the first line is a folded continuation",
          b"\t continuation without a field\r\n" + _simple("continuation_first", c.marker),
          return_path=_addr("continuation_first"))

    # -- Message-ID ----------------------------------------------------------------------
    c.add("no_message_id", "no Message-ID at all: a stable synthetic id stands in",
          _simple("no_message_id", c.marker, message_id=None))
    c.add("duplicate_id_first", "first of two different messages sharing one Message-ID",
          _simple("duplicate_id_first", c.marker, message_id="<shared@acme.test>"))
    c.add("duplicate_id_second", "second, different message with the same Message-ID",
          _simple("duplicate_id_second", c.marker, message_id="<shared@acme.test>",
                  body=b"Completely different content."))
    c.add("two_message_id_headers", "two Message-ID fields with different values",
          _simple("two_message_id_headers", c.marker, message_id="<two-a@acme.test>",
                  headers=("Message-ID: <two-b@acme.test>",)))
    c.add("garbage_message_id", "a Message-ID without angle brackets or an @",
          _simple("garbage_message_id", c.marker, message_id="not an id; at all"))
    c.add("huge_message_id", "a 5,000-character Message-ID",
          _simple("huge_message_id", c.marker, message_id="<" + "i" * 5000 + "@acme.test>"))

    # -- dates -------------------------------------------------------------------------------
    c.add("date_year_0", "Date in year 0",
          _simple("date_year_0", c.marker, date="Mon, 1 Jan 0000 00:00:00 +0000"))
    c.add("date_year_99999", "Date in year 99999",
          _simple("date_year_99999", c.marker, date="Fri, 31 Dec 99999 23:59:59 +0000"))
    c.add("date_garbage", "a Date that is no date",
          _simple("date_garbage", c.marker, date="yesterday-ish, around teatime"))
    c.add("date_absurd_zone", "a Date with zone +9999 and hour 25",
          _simple("date_absurd_zone", c.marker, date="Fri, 20 Nov 2026 25:61:61 +9999"))
    c.add("date_empty", "an empty Date field",
          _simple("date_empty", c.marker, date=""))

    # -- senders -----------------------------------------------------------------------------
    c.add("no_from_with_return_path", "no From; the Return-Path alone names the sender",
          _simple("no_from_with_return_path", c.marker).replace(
              b"From: Client <no-from-with-return-path@acme.test>\r\n", b""))
    c.add("no_from_no_return_path", "neither From nor Return-Path",
          _simple("no_from_no_return_path", c.marker, return_path=False).replace(
              b"From: Client <no-from-no-return-path@acme.test>\r\n", b""),
          skip="neither From nor Return-Path holds a usable address")
    c.add("from_display_name_only", "From holds only a display name, no Return-Path",
          _simple("from_display_name_only", c.marker, return_path=False,
                  from_="Just A Name"),
          skip="neither From nor Return-Path holds a usable address")
    c.add("from_empty_group", "From is an empty group, no Return-Path",
          _simple("from_empty_group", c.marker, return_path=False,
                  from_="undisclosed-recipients:;"),
          skip="neither From nor Return-Path holds a usable address")
    c.add("return_path_garbage", "Return-Path that is not an address, From is fine",
          b"Return-Path: <not an address>\r\n" + _simple(
              "return_path_garbage", c.marker, return_path=False),
          return_path="")
    c.add("null_return_path", "a bounce-like null Return-Path <> with a human From",
          b"Return-Path: <>\r\n" + _simple("null_return_path", c.marker, return_path=False),
          return_path="")
    c.add("spoofed_from_reply_to_sender",
          "From, Reply-To and Sender name victims; only the Return-Path is real",
          _simple("spoofed_from_reply_to_sender", c.marker,
                  from_="Boss <from-victim@evil.test>",
                  headers=("Reply-To: replyto-victim@evil.test",
                           "Sender: sender-victim@evil.test")))
    c.add("not_addressed_to_owner",
          "Return-Path of an outside victim, addressed to someone else: no reply",
          b"Return-Path: <victim@evil.test>\r\n" + _simple(
              "not_addressed_to_owner", c.marker, return_path=False,
              from_="victim@evil.test", to="someone@elsewhere.test"),
          return_path="victim@evil.test")
    c.add("bcc_header", "a Bcc field listing a victim (Bcc is never a reply target)",
          _simple("bcc_header", c.marker, headers=("Bcc: bcc-victim@evil.test",)))

    # -- size ------------------------------------------------------------------------------
    c.add("attachment_5mb", "a 5 MB base64 attachment",
          _simple("attachment_5mb", c.marker,
                  headers=("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="B"'),
                  body=b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
                       b"Content-Type: application/octet-stream; name=\"big.bin\"\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n"
                       + base64.encodebytes(bytes(range(256)) * (BIG_ATTACHMENT // 256))
                       .replace(b"\n", b"\r\n") + b"--B--"))
    c.add("recipients_500", f"{MANY_RECIPIENTS} addresses in To, the owner among them",
          _simple("recipients_500", c.marker,
                  to=",\r\n ".join([f"r{i}@many.test" for i in range(MANY_RECIPIENTS - 1)]
                                   + [OWNER])))
    c.add("subject_5000", f"a {LONG_SUBJECT}-character subject, folded",
          _simple("subject_5000", c.marker,
                  subject=c.marker + "".join(
                      f" w{i:04d}" if i % 12 else f"\r\n w{i:04d}" for i in range(LONG_SUBJECT // 6)
                  )))
    c.add("overlong_unfolded_line", f"{LONG_LINE}-character header lines without folding",
          _simple("overlong_unfolded_line", c.marker,
                  subject=c.marker + " " + "x" * LONG_LINE,
                  headers=("References: " + " ".join(f"<r{i}@acme.test>"
                                                     for i in range(LONG_LINE // 14)),
                           "X-Long: " + "y" * LONG_LINE)))
    c.add("one_huge_header", "the whole message is one 1 MB header field, nothing else",
          b"X-Huge: " + b"z" * 1_000_000, return_path=None, marked=False,
          skip="empty header block")
    c.add("empty_message", "zero bytes", b"", return_path=None, marked=False,
          skip="empty header block")

    # -- encoded words and injection --------------------------------------------------------
    c.add("encoded_crlf_subject", "encoded CR/LF in the Subject trying to add a Bcc line",
          _simple("encoded_crlf_subject", c.marker,
                  subject=f"=?utf-8?q?{c.marker}=0D=0ABcc:_bcc-victim@evil.test=0D=0A=0D=0A?="))
    c.add("encoded_crlf_display_name", "encoded CR/LF in the From display name",
          _simple("encoded_crlf_display_name", c.marker,
                  from_="=?utf-8?q?Evil=0D=0ABcc:_name-victim@evil.test=0D=0A?= <"
                        + _addr("encoded_crlf_display_name") + ">"))
    c.add("rfc2047_unknown_charset", "RFC 2047 encoded words in an unknown charset",
          _simple("rfc2047_unknown_charset", c.marker,
                  subject=f"=?x-klingon?q?{c.marker}_=FF=FE?= =?unknown-8bit?b?//79?="))
    c.add("rfc2047_broken_base64", "RFC 2047 B-encoding that is not base64, unterminated word",
          _simple("rfc2047_broken_base64", c.marker,
                  subject=f"{c.marker} =?utf-8?b?!!!=?= =?utf-8?q?unterminated"))

    # -- line ends and structure ----------------------------------------------------------------
    c.add("bare_lf", "bare LF line ends throughout",
          _simple("bare_lf", c.marker).replace(b"\r\n", b"\n"))
    c.add("cr_only", "CR-only line ends (old Mac)",
          _simple("cr_only", c.marker).replace(b"\r\n", b"\r"))
    c.add("mixed_line_ends", "CRLF, LF and CR mixed within the header",
          _simple("mixed_line_ends", c.marker).replace(b"\r\nTo:", b"\nTo:")
          .replace(b"\r\nSubject:", b"\rSubject:"))
    c.add("body_only", "no header at all: a blank line, then a body",
          b"\r\nJust a body, no header.\r\n", return_path=None, marked=False,
          skip="empty header block")
    c.add("headers_without_body", "header fields and no blank line, no body",
          _simple("headers_without_body", c.marker).split(b"\r\n\r\n")[0])
    return c.items


def corpus_by_name() -> dict[str, Specimen]:
    return {s.name: s for s in corpus()}
