import pytest

from tunesmith.data.clean import clean_text, iban_valid, luhn_valid, normalise, scrub_pii, strip_markup


def test_normalise_unicode_and_whitespace():
    assert normalise("cafe\u0301 \u200bok  \r\nline\x07\n\n\n\nend  ") == "café ok\nline\n\nend"
    assert normalise("    indented code\n        stays") == "indented code\n        stays"


def test_strip_markup():
    assert strip_markup("<p>Fish &amp; chips</p><script>alert(1)</script>") == "Fish & chips"
    assert strip_markup("3 < 4 and 5 > 2") == "3 < 4 and 5 > 2"


@pytest.mark.parametrize("text, expected, kinds", [
    ("write to ana.lopez@example.org today", "write to [EMAIL] today", {"EMAIL": 1}),
    ("call +44 20 7946 0958 or (555) 123-4567", "call [PHONE] or [PHONE]", {"PHONE": 2}),
    ("host 10.0.0.254 and fe80:0:0:0:202:b3ff:fe1e:8329", "host [IP] and [IP]", {"IP": 2}),
    ("card 4111 1111 1111 1111 exp 12/26", "card [CARD] exp 12/26", {"CARD": 1}),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please", {"IBAN": 1}),
])
def test_pii_is_replaced_by_typed_placeholders(text, expected, kinds):
    scrubbed, found = scrub_pii(text)
    assert scrubbed == expected and dict(found) == kinds


@pytest.mark.parametrize("text", [
    "I want 12 lattes at 3 pm for 2 people",
    "version 1.2.3 released on 2024-05-06",
    "order 4111 1111 1111 1112 is not a valid card",  # fails the Luhn check
    "ref GB00WEST12345698765432",  # fails the IBAN checksum
    "the year 1999 and 300.000 rows",
])
def test_ordinary_numbers_are_left_alone(text):
    assert scrub_pii(text) == (text, {})


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB83 WEST 1234 5698 7654 32")


def test_clean_text_reports_each_step():
    text, steps = clean_text("<b>Mail</b> me: jo@x.io\u200b ", normalise_text=True, strip_html=True,
                             pii=("EMAIL",))
    assert text == "Mail me: [EMAIL]"
    assert steps == {"markup_stripped": 1, "normalised": 1, "pii_email": 1}
    assert clean_text("plain", normalise_text=True, strip_html=False, pii=())[1] == {"normalised": 0}
