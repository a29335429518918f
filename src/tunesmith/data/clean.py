"""Cleaning steps on text: Unicode/whitespace normalisation, markup stripping, scrubbing of personal data.

Each function returns the new text and what it did, so every step can be reported with counts.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter

CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200d\u2060\ufeff]")
TRAILING_SPACE = re.compile(r"[ \t]+\n")
BLANK_LINES = re.compile(r"\n{3,}")
MARKUP_BLOCK = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
TAG = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.S)

# Order matters: account and card numbers before phone numbers, which would otherwise claim their digits.
PII_PATTERNS = {
    "EMAIL": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "IBAN": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
    "CARD": re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
    "IP": re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
                     r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"),
    "PHONE": re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?![\w])"),
}


DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def normalise(text: str) -> str:
    """NFC, no control or zero-width characters, \\n line ends, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = CONTROL.sub("", text)
    text = TRAILING_SPACE.sub("\n", text)
    return BLANK_LINES.sub("\n\n", text).strip()


def strip_markup(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    return html.unescape(TAG.sub(" ", MARKUP_BLOCK.sub(" ", text))).replace("  ", " ").strip()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    rotated = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def _is_pii(kind: str, match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    if kind == "CARD":
        return 13 <= len(digits) <= 19 and luhn_valid(digits)
    if kind == "IBAN":
        return iban_valid(match)
    if kind == "PHONE":
        # Quantities, years and prices are short; a phone number has 8-15 digits and some grouping.
        return 8 <= len(digits) <= 15 and not DATE_LIKE.fullmatch(match)
    return True


def scrub_pii(text: str, kinds: tuple[str, ...] = tuple(PII_PATTERNS)) -> tuple[str, Counter]:
    """Replace personal data with typed placeholders ([EMAIL], [PHONE], ...); returns the count by type."""
    found: Counter = Counter()
    if not any(ch.isdigit() for ch in text) and "@" not in text:
        return text, found
    for kind in kinds:
        def replace(match: re.Match, kind=kind) -> str:
            if _is_pii(kind, match.group(0)):
                found[kind] += 1
                return f"[{kind}]"
            return match.group(0)

        text = PII_PATTERNS[kind].sub(replace, text)
    return text, found


def clean_text(text: str, *, normalise_text: bool, strip_html: bool, pii: tuple[str, ...]) -> tuple[str, Counter]:
    """One text through the enabled steps; the counter says which steps changed it and which PII it held."""
    steps: Counter = Counter()
    for name, enabled, step in (("markup_stripped", strip_html, strip_markup), ("normalised", normalise_text, normalise)):
        if enabled:
            new = step(text)
            steps[name] += new != text
            text = new
    if pii:
        text, found = scrub_pii(text, pii)
        steps.update({f"pii_{kind.lower()}": n for kind, n in found.items()})
    return text, steps
