"""Reading Authentication-Results header fields (RFC 8601), and what they prove.

A receiving server that checks DKIM (RFC 6376), SPF (RFC 7208) and DMARC (RFC 7489) writes its
verdicts into an Authentication-Results field on top of the message::

    Authentication-Results: mx.agency.test (Postfix);
        dkim=pass (2048-bit key) header.d=agency.test header.i=@agency.test;
        spf=pass smtp.mailfrom=ann@agency.test; dmarc=pass header.from=agency.test

The grammar (RFC 8601 §2.2): an authserv-id naming the server, an optional version, then
``none`` or one or more result infos separated by ``;``, each ``method[/version]=result``, an
optional ``reason=value`` and ``ptype.property=value`` pairs. Comments in parentheses (which
nest and may hold ``\\)``) and quoted strings may appear between any two tokens.

Anyone can write such a field into the mail they send. Only the fields added by our own
receiving server count, and RFC 8601 §5 requires that server to delete fields that claim its
authserv-id from incoming mail; it prepends its own, so they are the topmost ones. So
`trusted_results` takes, from the top, the run of fields whose authserv-id is the configured
one and stops at the first field with any other authserv-id (or one that cannot be read):
whatever a sender added lies below that.

Pure, and total: junk gives no results, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MAX_FIELD = 8192  # characters of one field that are read; a longer one is cut there
_SPECIALS = frozenset('()";=/')  # end a token
_VALUE_STOP = frozenset('()";')  # end an unquoted property value (base64 holds "=" and "/")


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One result info: ``dkim=pass header.d=agency.test`` (names lower-cased)."""

    method: str
    result: str
    properties: Mapping[str, str] = field(default_factory=dict)  # "header.d" → value
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))

    def prop(self, name: str) -> str:
        return self.properties.get(name, "")


@dataclass(frozen=True, slots=True)
class AuthResults:
    """One Authentication-Results field: who wrote it and what it says."""

    authserv_id: str  # lower-cased
    results: tuple[MethodResult, ...] = ()


class _Scanner:
    """Tokens of a structured header value, skipping CFWS (RFC 5322 §3.2.2)."""

    def __init__(self, text: str) -> None:
        self.text = text[:MAX_FIELD]
        self.pos = 0
        self.broken = False  # a comment or quoted string never closed: the rest is lost

    def skip_cfws(self) -> bool:
        """Skip white space and comments; False if a comment never closes."""
        text, end = self.text, len(self.text)
        while self.pos < end:
            char = text[self.pos]
            if char.isspace():
                self.pos += 1
            elif char == "(":
                depth = 0
                while self.pos < end:
                    char = text[self.pos]
                    if char == "\\":
                        self.pos += 2
                        continue
                    self.pos += 1
                    if char == "(":
                        depth += 1
                    elif char == ")":
                        depth -= 1
                        if depth == 0:
                            break
                if depth:
                    self.pos, self.broken = end, True
                    return False
            else:
                break
        return True

    def peek(self) -> str:
        self.skip_cfws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def word(self, *, value: bool = False) -> str | None:
        """An atom-like token, or (with `value`) a quoted string or a run of anything but
        white space, ``;`` and ``(``: a property value such as ``header.b=ab/c+d=``."""
        if not self.skip_cfws():
            return None
        text, start = self.text, self.pos
        if value and text.startswith('"', start):
            return self.quoted()
        stop = _VALUE_STOP if value else _SPECIALS
        end = len(text)
        while self.pos < end and not text[self.pos].isspace() and text[self.pos] not in stop:
            self.pos += 1
        return text[start:self.pos] or None

    def quoted(self) -> str | None:
        """A quoted string (the scanner is at its opening quote), unescaped; None if it
        never closes."""
        text, out = self.text, []
        self.pos += 1
        while self.pos < len(text):
            char = text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(text):
                out.append(text[self.pos])
                self.pos += 1
            elif char == '"':
                return "".join(out)
            else:
                out.append(char)
        self.broken = True
        return None

    def skip_past_semicolon(self) -> None:
        """Resynchronise after a result info that could not be read."""
        while self.pos < len(self.text):
            if self.peek() == ";":
                return
            if not self.skip_cfws():
                return
            if self.text.startswith('"', self.pos):
                self.quoted()
            elif self.pos < len(self.text):
                self.pos += 1


def parse_auth_results(value: str) -> AuthResults | None:
    """One field's value; None if its authserv-id (and version) cannot be read. A result
    info that cannot be read, or that a never-closed comment or quoted string runs into, is
    left out; the others are kept."""
    scan = _Scanner(value)
    authserv_id = scan.quoted() if scan.peek() == '"' else scan.word()
    if not authserv_id or not authserv_id.strip():
        return None
    version = scan.word() if scan.peek() not in (";", "") else None
    if version is not None and not version.isdigit():
        return None  # two words where the authserv-id should be: not this grammar
    results: list[MethodResult] = []
    while scan.take(";"):
        found = _result_info(scan)
        if found is None:
            scan.skip_past_semicolon()
        elif found.method != "none":
            results.append(found)
    if scan.peek():  # trailing junk after the last result info: not one we wrote
        return None
    return AuthResults(authserv_id.strip().lower(), tuple(results))


def _result_info(scan: _Scanner) -> MethodResult | None:
    method = scan.word()
    if method is None:
        return None
    method = method.lower()
    if method == "none" and scan.peek() in (";", ""):
        return MethodResult("none", "none")
    if scan.take("/"):
        version = scan.word()
        if version is None or not version.isdigit():
            return None
    if not scan.take("="):
        return None
    result = scan.word()
    if result is None:
        return None
    reason = ""
    properties: dict[str, str] = {}
    while scan.peek() not in (";", ""):
        key = scan.word()
        if key is None or not scan.take("="):
            return None
        found = scan.word(value=True)
        if found is None:
            return None
        key = key.lower()
        if key == "reason":
            reason = found
        elif "." in key.strip("."):
            properties.setdefault(key, found)
        else:
            return None
    if scan.broken:
        return None
    return MethodResult(method, result.lower(), properties, reason)


def trusted_results(values: Iterable[str], authserv_id: str) -> tuple[MethodResult, ...]:
    """The results of the topmost fields (in header order) written by `authserv_id`; nothing
    if that id is empty or the topmost field is someone else's."""
    trusted = authserv_id.strip().lower()
    if not trusted:
        return ()
    found: list[MethodResult] = []
    for value in values:
        parsed = parse_auth_results(value)
        if parsed is None or parsed.authserv_id != trusted:
            break
        found.extend(parsed.results)
    return tuple(found)


def _aligned(domain: str, author_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1): the same domain, or the author's is below it."""
    domain, author_domain = domain.strip().strip(".").lower(), author_domain.lower()
    return bool(domain) and (author_domain == domain or author_domain.endswith("." + domain))


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2]


def authenticated(results: Iterable[MethodResult], author: str) -> str:
    """What proves that `author` (an address) sent the message: "dkim" for a passing DKIM
    signature of the author's domain (header.d, or header.i), "spf+dmarc" for passing SPF and
    DMARC of that domain; "" if neither."""
    author_domain = _domain_of(author.lower())
    if not author_domain:
        return ""
    dkim = spf = dmarc = False
    for r in results:
        if r.result != "pass":
            continue
        if r.method == "dkim":
            signer = r.prop("header.d") or _domain_of(r.prop("header.i"))
            dkim = dkim or _aligned(signer, author_domain)
        elif r.method == "spf":
            mailfrom = r.prop("smtp.mailfrom")
            spf = spf or not mailfrom or _aligned(_domain_of(mailfrom), author_domain)
        elif r.method == "dmarc":
            header_from = r.prop("header.from")
            dmarc = dmarc or not header_from or _aligned(_domain_of(header_from),
                                                         author_domain)
    if dkim:
        return "dkim"
    return "spf+dmarc" if spf and dmarc else ""
