"""Input rules shared by every form: sizes, character classes, control characters.

The text rule, for everything a user types or imports (messages, prompts, titles, search terms, names, preset
names and bodies, imported fields, the API's messages), the same on SQLite and PostgreSQL:
1. the length is bounded before any other work;
2. a lone surrogate (not a character: no UTF-8 encodes it) becomes U+FFFD;
3. the text is normalised to NFC (what you type and what you search compare equal);
4. NUL and the other control characters are removed (tab and newline stay, CRLF becomes LF), and so are
   invisible format characters, bidi overrides included (they make a title read backwards), except the
   zero-width (non-)joiners that emoji and some scripts need;
5. one-line fields (titles, names, search terms) have every run of white space folded to one space.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationError
from core.i18n import Msg
from core.models import DISPLAY_NAME_MAX, EMAIL_MAX, USERNAME_MAX

USERNAME_MIN = 3
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# Deliberately simple: one @, no spaces; single-label domains (admin@localhost) are fine on an
# intranet. Delivery is the real test.
_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+$")


def has_control_chars(text: str) -> bool:
    """True when text holds a control/format character other than tab and newline, or a lone surrogate."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} and ch not in "\t\n" for ch in text)


def clean_username(raw: str) -> str:
    """Lower-cased, trimmed username, or ValidationError saying what is wrong."""
    username = (raw or "").strip().lower()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise ValidationError(Msg("validation.username_length", min=USERNAME_MIN, max=USERNAME_MAX))
    if not _USERNAME_RE.match(username):
        raise ValidationError(Msg("validation.username_chars"))
    return username


def clean_email(raw: str) -> str:
    """Lower-cased, trimmed email address, or ValidationError."""
    email = (raw or "").strip().lower()
    if not email:
        raise ValidationError(Msg("validation.email_required"))
    if len(email) > EMAIL_MAX:
        raise ValidationError(Msg("validation.email_too_long", max=EMAIL_MAX))
    if not _EMAIL_RE.match(email) or has_control_chars(email):
        raise ValidationError(Msg("validation.email_invalid"))
    return email


def clean_display_name(raw: str) -> str:
    """Trimmed display name (any script), or ValidationError."""
    name = unicodedata.normalize("NFC", (raw or "").strip())
    if not name:
        raise ValidationError(Msg("validation.name_required"))
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationError(Msg("validation.name_too_long", max=DISPLAY_NAME_MAX))
    if has_control_chars(name) or "\n" in name or "\t" in name:
        raise ValidationError(Msg("validation.name_control"))
    return name


def check_password(password: str, *, min_length: int, max_bytes: int = 72) -> str:
    """The password unchanged if it meets the rules, else ValidationError."""
    if len(password or "") < min_length:
        raise ValidationError(Msg("validation.password_short", min=min_length))
    # bcrypt only looks at the first 72 bytes (and bcrypt 5 refuses more): say so up front.
    if len(password.encode("utf-8")) > max_bytes:
        raise ValidationError(Msg("validation.password_long", max=max_bytes))
    if has_control_chars(password) or "\n" in password:
        raise ValidationError(Msg("validation.password_control"))
    if password.strip() != password:
        raise ValidationError(Msg("validation.password_space"))
    return password


_SURROGATE = re.compile("[\ud800-\udfff]")
_KEEP = frozenset("\t\n\u200c\u200d")  # tab, newline, zero-width non-joiner and joiner
_DROPPED = frozenset({"Cc", "Cf"})


def sanitize(raw: str, *, max_chars: int, one_line: bool = False) -> str:
    """The text rule above (steps 2-5), after refusing input far over max_chars (step 1); not yet trimmed
    to max_chars: the caller says what is too long with its own message."""
    if not isinstance(raw, str):
        raise ValidationError(Msg("validation.not_text"))
    if len(raw) > max_chars * 4 + 1024:  # bounded before any work: no normalising of megabytes
        raise ValidationError(Msg("validation.text_too_long", max=max_chars))
    text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", raw).replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(ch for ch in text if ch in _KEEP or unicodedata.category(ch) not in _DROPPED)
    return " ".join(text.split()) if one_line else text.strip()


def clean_line(raw: str, *, max_chars: int) -> str:
    """A one-line field under the text rule; ValidationError when longer than max_chars."""
    text = sanitize(raw, max_chars=max_chars, one_line=True)
    if len(text) > max_chars:
        raise ValidationError(Msg("validation.text_too_long", max=max_chars))
    return text


def clean_message(raw: str, *, max_chars: int) -> str:
    """A chat message under the text rule; ValidationError if empty or too long."""
    text = sanitize(raw or "", max_chars=max_chars)
    if not text:
        raise ValidationError(Msg("validation.message_empty"))
    if len(text) > max_chars:
        raise ValidationError(Msg("validation.message_too_long", length=len(text), max=max_chars))
    return text


_MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def escape_markdown(text: str) -> str:
    """Text shown literally where Markdown is rendered (labels, snippets): every special character escaped."""
    return text.translate(_MARKDOWN_SPECIALS)
