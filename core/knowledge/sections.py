"""A parsed document: its type and its sections (pages or headings), collected within the upload's bounds, their
text tidied (whitespace normalised, control characters gone) without ever costing more than a copy or two of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.knowledge.bounds import ParseLimits, too_long

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML, MARKDOWN, TEXT = "text/html", "text/markdown", "text/plain"


@dataclass
class Section:
    """One stretch of the document: its page (PDF) or heading (others) and its text."""

    text: str
    page: int | None = None
    heading: str = ""


@dataclass
class Parsed:
    mime: str
    sections: list[Section] = field(default_factory=list)
    pages: int | None = None


class Sections:
    """The document's non-empty sections, tidied as they come; refused the moment there are more, or more text,
    than one document may be indexed with (each section is at least one passage), not after reading it all."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits, self.items, self.chars = limits, list[Section](), 0

    def add(self, text: str, *, page: int | None = None, heading: str = "") -> None:
        text = tidy(text)
        if not text.strip():
            return
        self.chars += len(text) + len(heading)
        if len(self.items) >= self.limits.max_sections or self.chars > self.limits.max_chars:
            raise too_long(self.limits)
        self.items.append(Section(text, page=page, heading=heading))


_CONTROL = dict.fromkeys([*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])  # deleted by str.translate
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WHITE = " \t\u00a0\n"
_TIDY_PIECE = 256 * 1024  # re.sub keeps every match's piece until it joins them: millions of spaces cost GBs


def tidy(text: str) -> str:
    """Whitespace normalised (runs of spaces, 3+ newlines), control characters gone; a piece at a time, each cut
    between two characters that are not whitespace, so that no run spans two pieces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)
    pieces, at = [], 0
    while at < len(text):
        end = min(len(text), at + _TIDY_PIECE)
        while end < len(text) and (text[end] in _WHITE or text[end - 1] in _WHITE):
            end += 1
        pieces.append(_BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text[at:end])))
        at = end
    return "".join(pieces).strip()
