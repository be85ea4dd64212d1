"""`compose_mime.on_one_line` folds exactly as the email package does, or declines.

Random header values, ASCII and not, around the 78-character line limit, for the fields we
write (structured ones included: addresses, message ids, MIME parameters): whenever the
shortcut gives an answer, it is the email package's own fold of the same header object.
"""

from __future__ import annotations

import email.policy

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from boundary_mail.compose_mime import on_one_line

NAMES = ["Subject", "To", "From", "Message-ID", "In-Reply-To", "References", "Content-Type",
         "Content-Disposition", "Content-Transfer-Encoding", "MIME-Version", "Date",
         "X-Boundary-Mail", "Auto-Submitted", "Resent-To"]
POLICIES = [email.policy.default, email.policy.SMTP, email.policy.default.clone(utf8=True),
            email.policy.default.clone(max_line_length=40)]
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
ANY = st.characters(blacklist_categories=("Cc", "Cs"))
SAMPLES = [
    'multipart/alternative; boundary="===============1234567890123456789=="',
    'text/plain; charset="utf-8"', 'attachment; filename="How we work together.txt"',
    "Maria Rossi <maria@acme.test>", '"Rossi, Maria" <maria@acme.test>',
    "<bm.0123456789abcdef0123456789abcdef@agency.test>", "Re: Question 12 about the campaign",
    "Tue, 01 Dec 2026 10:00:00 +0100", "quoted-printable", "1.0", "auto-replied",
]


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(NAMES),
       value=st.one_of(st.sampled_from(SAMPLES), st.text(ASCII, max_size=90),
                       st.text(ANY, max_size=90)),
       policy=st.sampled_from(POLICIES))
def test_a_header_on_one_line_folds_as_the_email_package_folds_it(
    name: str, value: str, policy: email.policy.EmailPolicy,
) -> None:
    try:
        header = email.policy.default.header_factory(name, value)
    except Exception:  # the email package's parser gives up on some garbage ("<", ":;0"),
        reject()  # each way its own (HeaderParseError, IndexError, AttributeError)
    fast = on_one_line(header, policy)
    if fast is not None:
        assert fast == header.fold(policy=policy)


def test_the_shortcut_takes_the_headers_of_every_message() -> None:
    """The point of it: the fields that differ per message are short ASCII lines."""
    for name, value in [("To", "maria@acme.test"), ("Message-ID", SAMPLES[5]),
                        ("Subject", SAMPLES[6]), ("Content-Type", SAMPLES[1])]:
        header = email.policy.default.header_factory(name, value)
        assert on_one_line(header, email.policy.SMTP) == header.fold(policy=email.policy.SMTP)


def test_what_does_not_fit_or_needs_encoding_is_left_to_the_email_package() -> None:
    long = email.policy.default.header_factory("Subject", "word " * 20)
    german = email.policy.default.header_factory("Subject", "Zahlungsbedingungen für März")
    assert on_one_line(long, email.policy.SMTP) is None
    assert on_one_line(german, email.policy.SMTP) is None
