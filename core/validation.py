"""Input rules shared by every form: sizes, character classes, control characters."""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationError
from core.models import DISPLAY_NAME_MAX, EMAIL_MAX, USERNAME_MAX

USERNAME_MIN = 3
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# Deliberately simple: one @, no spaces; single-label domains (admin@localhost) are fine on an
# intranet. Delivery is the real test.
_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+$")


def has_control_chars(text: str) -> bool:
    """True when text holds a control/format character other than tab and newline."""
    return any(unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\t\n" for ch in text)


def clean_username(raw: str) -> str:
    """Lower-cased, trimmed username, or ValidationError saying what is wrong."""
    username = (raw or "").strip().lower()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise ValidationError(
            f"Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long."
        )
    if not _USERNAME_RE.match(username):
        raise ValidationError(
            "Username may contain only letters a-z, digits, '.', '_' and '-', "
            "and must start with a letter or digit."
        )
    return username


def clean_email(raw: str) -> str:
    """Lower-cased, trimmed email address, or ValidationError."""
    email = (raw or "").strip().lower()
    if not email:
        raise ValidationError("Email is required.")
    if len(email) > EMAIL_MAX:
        raise ValidationError(f"Email must be at most {EMAIL_MAX} characters long.")
    if not _EMAIL_RE.match(email) or has_control_chars(email):
        raise ValidationError("Email address is not valid.")
    return email


def clean_display_name(raw: str) -> str:
    """Trimmed display name (any script), or ValidationError."""
    name = unicodedata.normalize("NFC", (raw or "").strip())
    if not name:
        raise ValidationError("Name is required.")
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationError(f"Name must be at most {DISPLAY_NAME_MAX} characters long.")
    if has_control_chars(name) or "\n" in name or "\t" in name:
        raise ValidationError("Name must not contain control characters or line breaks.")
    return name


def check_password(password: str, *, min_length: int, max_bytes: int = 72) -> str:
    """The password unchanged if it meets the rules, else ValidationError."""
    if len(password or "") < min_length:
        raise ValidationError(f"Password must be at least {min_length} characters long.")
    # bcrypt only looks at the first 72 bytes (and bcrypt 5 refuses more): say so up front.
    if len(password.encode("utf-8")) > max_bytes:
        raise ValidationError(f"Password must be at most {max_bytes} bytes long.")
    if has_control_chars(password) or "\n" in password:
        raise ValidationError("Password must not contain control characters.")
    if password.strip() != password:
        raise ValidationError("Password must not start or end with a space.")
    return password


def clean_message(raw: str, *, max_chars: int) -> str:
    """A chat message with control characters removed; ValidationError if empty or too long."""
    # Zero-width joiners stay: emoji sequences and some scripts need them.
    keep = "\t\n\u200c\u200d"
    text = "".join(ch for ch in (raw or "") if ch in keep or unicodedata.category(ch) not in {"Cc", "Cf"})
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ValidationError("Type a message first.")
    if len(text) > max_chars:
        raise ValidationError(
            f"Your message is {len(text):,} characters long; the limit is {max_chars:,}. Shorten it or split it."
        )
    return text
