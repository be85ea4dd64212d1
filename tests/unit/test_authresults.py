"""Authentication-Results (RFC 8601): reading the field, trusting only our own server's, and
what passing means for the author of a message.

The tables are the specification: real fields as Postfix with OpenDKIM/OpenDMARC, Gmail,
Microsoft 365 and Fastmail write them, RFC 8601 Appendix B's examples, and hostile ones a
forger would write. Junk never raises (a hypothesis property).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.authresults import (
    AuthResults,
    MethodResult,
    authenticated,
    parse_auth_results,
    trusted_results,
)

MX = "mx.agency.test"
ANN = "ann@agency.test"


def r(method: str, result: str, reason: str = "", **props: str) -> MethodResult:
    return MethodResult(method, result, {k.replace("_", "."): v for k, v in props.items()},
                        reason)


# -- reading one field ------------------------------------------------------------------------

PARSED = [
    pytest.param(
        "mx.agency.test; dkim=pass header.d=agency.test",
        AuthResults(MX, (r("dkim", "pass", header_d="agency.test"),)), id="minimal"),
    pytest.param(
        "mx.agency.test 1; none", AuthResults(MX, ()), id="version-and-none"),
    pytest.param(
        "example.org; none", AuthResults("example.org", ()), id="rfc8601-b2-none"),
    pytest.param(
        "example.com; spf=pass smtp.mailfrom=example.net",
        AuthResults("example.com", (r("spf", "pass", smtp_mailfrom="example.net"),)),
        id="rfc8601-b3-spf"),
    pytest.param(
        "example.com;\r\n auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
        " spf=pass smtp.mailfrom=example.net",
        AuthResults("example.com", (r("auth", "pass", smtp_auth="sender@example.net"),
                                    r("spf", "pass", smtp_mailfrom="example.net"))),
        id="rfc8601-b4-folded-with-comment"),
    pytest.param(
        "example.com; sender-id=fail header.from=example.com;\n dkim=pass (good signature)"
        " header.d=example.com",
        AuthResults("example.com", (r("sender-id", "fail", header_from="example.com"),
                                    r("dkim", "pass", header_d="example.com"))),
        id="rfc8601-b5-two-methods"),
    pytest.param(
        "mx.agency.test (Postfix) (1.2 (nested) comment); dkim=pass (2048-bit key; unprotected)"
        " header.d=agency.test header.i=@agency.test header.b=\"Ab/cd+E=\"",
        AuthResults(MX, (r("dkim", "pass", header_d="agency.test", header_i="@agency.test",
                           header_b="Ab/cd+E="),)),
        id="nested-comments-with-semicolon-and-quoted-value"),
    pytest.param(
        "mx.google.com; dkim=pass header.i=@agency.test header.s=s1 header.b=AbC/d+e=;"
        " spf=pass (google.com: domain of ann@agency.test designates 192.0.2.1 as permitted"
        " sender) smtp.mailfrom=ann@agency.test; dmarc=pass (p=REJECT sp=REJECT dis=NONE)"
        " header.from=agency.test",
        AuthResults("mx.google.com", (
            r("dkim", "pass", header_i="@agency.test", header_s="s1", header_b="AbC/d+e="),
            r("spf", "pass", smtp_mailfrom="ann@agency.test"),
            r("dmarc", "pass", header_from="agency.test"))),
        id="gmail-unquoted-base64"),
    pytest.param(
        '"mx.agency.test"; DKIM=Pass Header.D=Agency.Test reason="signature ok; key 2048"',
        AuthResults(MX, (r("dkim", "pass", "signature ok; key 2048", header_d="Agency.Test"),)),
        id="quoted-id-case-and-quoted-reason-with-semicolon"),
    pytest.param(
        "mx.agency.test; dkim/1=pass header.d=agency.test; spf=none", AuthResults(MX, (
            r("dkim", "pass", header_d="agency.test"), r("spf", "none"))),
        id="method-version-and-bare-result"),
    pytest.param(
        "mx.agency.test; dkim=pass header.d; spf=pass smtp.mailfrom=ann@agency.test",
        AuthResults(MX, (r("spf", "pass", smtp_mailfrom="ann@agency.test"),)),
        id="a-broken-resinfo-is-dropped-the-rest-kept"),
    pytest.param(
        "mx.agency.test; spf=pass smtp.mailfrom=\"ann\\\"@x\"@agency.test",
        AuthResults(MX, ()), id="a-value-quoted-halfway-drops-its-resinfo"),
    pytest.param(
        "mx.agency.test; dkim=pass header.d=agency.test trailing", AuthResults(MX, ()),
        id="trailing-junk-drops-its-resinfo"),
    pytest.param(
        "mx.agency.test; spf=pass; dkim=pass header.d=agency.test (unclosed",
        AuthResults(MX, (r("spf", "pass"),)), id="an-unclosed-comment-drops-its-resinfo"),
    pytest.param(
        "mx.agency.test; dkim=pass header.d=\"agency.test; spf=pass",
        AuthResults(MX, ()), id="an-unclosed-quote-drops-its-resinfo"),
]


@pytest.mark.parametrize(("value", "expected"), PARSED)
def test_a_field_is_read_as_rfc_8601_writes_it(value: str, expected: AuthResults | None) -> None:
    """authserv-id, version, result infos with comments, quoted strings, reasons and
    properties; names lower-cased, values as written."""
    assert parse_auth_results(value) == expected


@pytest.mark.parametrize("value", [
    "", "   ", "(only a comment)", "(never closed; dkim=pass header.d=agency.test",
    "; dkim=pass header.d=agency.test", "mx.agency.test dkim=pass header.d=agency.test",
    "\"unclosed; dkim=pass", "=; dkim=pass",
    "mx.agency.test two; dkim=pass",
])
def test_a_field_that_cannot_be_read_is_nobodys(value: str) -> None:
    """A field without a readable authserv-id, or with junk where the grammar allows none,
    gives nothing at all (not a partial reading a forger could shape)."""
    assert parse_auth_results(value) is None


# -- which fields are trusted -----------------------------------------------------------------

PASS = f"{MX}; dkim=pass header.d=agency.test"
FAIL = f"{MX}; dkim=fail header.d=agency.test"


@pytest.mark.parametrize(("fields", "trusted", "methods"), [
    pytest.param([PASS], MX, [("dkim", "pass")], id="ours"),
    pytest.param([PASS], "", [], id="nothing-trusted-when-unconfigured"),
    pytest.param([PASS.upper()], MX, [("dkim", "pass")], id="authserv-id-any-case"),
    pytest.param(["mx.forger.test; dkim=pass header.d=agency.test"], MX, [],
                 id="someone-elses"),
    pytest.param([FAIL, f"{MX}; spf=pass smtp.mailfrom=ann@agency.test"], MX,
                 [("dkim", "fail"), ("spf", "pass")], id="a-run-of-ours-from-the-top"),
    pytest.param(["relay.test; none", PASS], MX, [],
                 id="ours-below-someone-elses-was-added-before-it-reached-us"),
    pytest.param([FAIL, "junk (", PASS], MX, [("dkim", "fail")],
                 id="stops-at-an-unreadable-field"),
    pytest.param([f"{MX}.evil.test; dkim=pass header.d=agency.test"], MX, [],
                 id="a-longer-id-is-another-id"),
])
def test_only_the_topmost_fields_of_our_server_count(
    fields: list[str], trusted: str, methods: list[tuple[str, str]]
) -> None:
    """Our receiving server prepends its fields (and deletes look-alikes, RFC 8601 §5): the
    run of fields with its authserv-id from the top counts, nothing below another's."""
    assert [(m.method, m.result) for m in trusted_results(fields, trusted)] == methods


# -- what proves the author -------------------------------------------------------------------

AUTHENTICATED = [
    ("dkim=pass header.d=agency.test", "dkim"),
    ("dkim=pass header.i=@agency.test", "dkim"),
    ("dkim=pass header.i=ann@agency.test", "dkim"),
    ("dkim=pass header.d=agency.test header.i=@agency.test", "dkim"),
    ("dkim=pass header.d=mail.agency.test", ""),  # a subdomain's key does not sign the parent
    ("dkim=pass header.d=evil.test", ""),
    ("dkim=pass header.d=agency.test.evil.test", ""),
    ("dkim=pass header.d=evilagency.test", ""),
    ("dkim=pass", ""),  # no signing domain named
    ("dkim=fail header.d=agency.test", ""),
    ("dkim=neutral header.d=agency.test", ""),
    ("dkim=fail header.d=agency.test; dkim=pass header.d=agency.test", "dkim"),
    ("spf=pass smtp.mailfrom=ann@agency.test; dmarc=pass header.from=agency.test",
     "spf+dmarc"),
    ("spf=pass; dmarc=pass", "spf+dmarc"),
    ("spf=pass smtp.mailfrom=ann@agency.test", ""),
    ("dmarc=pass header.from=agency.test", ""),
    ("spf=pass smtp.mailfrom=x@evil.test; dmarc=pass header.from=agency.test", ""),
    ("spf=pass smtp.mailfrom=ann@agency.test; dmarc=pass header.from=evil.test", ""),
    ("spf=softfail smtp.mailfrom=ann@agency.test; dmarc=pass header.from=agency.test", ""),
    ("spf=pass smtp.mailfrom=ann@agency.test; dmarc=fail header.from=agency.test", ""),
    ("none", ""),
]


@pytest.mark.parametrize(("results", "proof"), AUTHENTICATED)
def test_dkim_or_spf_with_dmarc_for_the_authors_domain_proves_the_author(
    results: str, proof: str
) -> None:
    """A passing DKIM signature of the author's domain (header.d, or header.i), or SPF and
    DMARC both passing for it; any other result, or another domain, proves nothing."""
    found = trusted_results([f"{MX}; {results}"], MX)
    assert authenticated(found, ANN) == proof


def test_an_author_without_a_domain_is_never_authenticated() -> None:
    """No domain to compare with: nothing passes for it."""
    assert authenticated(trusted_results([PASS], MX), "") == ""


# -- junk -------------------------------------------------------------------------------------

PIECES = st.sampled_from([
    MX, ";", "=", "/", "(", ")", "\\", '"', " ", "\r\n ", "dkim", "pass", "header.d",
    "agency.test", "@", ".", "reason", "none", "1", "\x00", "é", "\udcff",
])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(PIECES, max_size=40).map("".join)))
def test_junk_never_raises(value: str) -> None:
    """Any string at all: a reading or None, and the trust checks on it never raise."""
    parsed = parse_auth_results(value)
    assert parsed is None or isinstance(parsed, AuthResults)
    authenticated(trusted_results([value, value], MX), ANN)


def test_a_huge_field_is_read_in_bounded_time() -> None:
    """A field of megabytes (nested comments, never closed) is cut, not parsed whole."""
    value = f"{MX}; " + "(" * 500_000 + "dkim=pass header.d=agency.test"
    assert trusted_results([value], MX) == ()
