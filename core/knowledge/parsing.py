"""Uploaded bytes -> the document's text in sections (pages, headings), the type sniffed from the bytes.

A file's name is never trusted for its type: a PDF renamed .docx is read as a PDF, a program renamed .pdf is
refused. Encrypted, corrupt or image-only PDFs, and anything unreadable, are refused with the reason. What parsing
may cost is bounded (core.knowledge.bounds): a DOCX is checked before python-docx sees it, and every parser stops as
soon as the document has more sections or text than it could ever be indexed with.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import islice

from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge.bounds import ParseLimits, check_zip_entries
from core.knowledge.documents import read_docx, read_pdf
from core.knowledge.sections import DOCX, HTML, MARKDOWN, PDF, TEXT, Parsed, Section, Sections

__all__ = ["DOCX", "HTML", "MARKDOWN", "PDF", "TEXT", "Parsed", "Section", "Sections", "parse", "sniff"]
_HEADING_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<h[1-6][\s>]|<p[\s>]|<div[\s>])", re.IGNORECASE)


def sniff(raw: bytes, name: str = "", limits: ParseLimits | None = None) -> str:
    """The document's type from its bytes (the name only tells Markdown from plain text)."""
    if raw.startswith(b"%PDF-"):
        return PDF
    if raw.startswith(b"PK\x03\x04"):
        check_zip_entries(raw, limits or ParseLimits())
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                if "word/document.xml" in archive.namelist():
                    return DOCX
        except zipfile.BadZipFile as exc:
            raise ValidationError(Msg("knowledge.corrupt", kind="DOCX")) from exc
        raise ValidationError(Msg("knowledge.unsupported"))
    text = _decode(raw)
    if _HTML_START.match(raw[:2048]):
        return HTML
    if name.lower().endswith((".md", ".markdown")) or any(_HEADING_MD.match(line) for line in _lines(text, 200)):
        return MARKDOWN
    return TEXT


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError(Msg("knowledge.unsupported"))
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(Msg("knowledge.unsupported"))


def _lines(text: str, limit: int | None = None) -> Iterator[str]:
    """text's lines one at a time: a list of millions of lines costs hundreds of MB (and io.StringIO holds four
    bytes per character)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # the same string when there is nothing to replace
    lines = _split(text)
    return islice(lines, limit) if limit is not None else lines


def _split(text: str) -> Iterator[str]:
    at = 0
    while at < len(text):
        end = text.find("\n", at)
        if end < 0:
            end = len(text)
        yield text[at:end]
        at = end + 1


def parse(raw: bytes, name: str = "", limits: ParseLimits | None = None) -> Parsed:
    """The document's sections; ValidationError saying why there is nothing to index (or too much)."""
    if not raw or raw.isspace():  # (strip() would copy the whole file)
        raise ValidationError(Msg("knowledge.empty"))
    limits = limits or ParseLimits()
    mime = sniff(raw, name, limits)
    sections = Sections(limits)
    parsed = {PDF: read_pdf, DOCX: read_docx, HTML: _html, MARKDOWN: _markdown, TEXT: _text}[mime](raw, sections)
    if not parsed.sections:
        raise ValidationError(Msg("knowledge.no_text"))
    return parsed


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg"}
    BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "pre", "blockquote"}

    def __init__(self, sections: Sections) -> None:
        super().__init__(convert_charrefs=True)
        self.sections, self.tags = sections, 0
        self.heading, self.skipping, self.in_heading = "", 0, False
        self.parts: list[str] = []
        self.heading_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        if self.tags > self.sections.limits.max_elements:
            raise ValidationError(Msg("knowledge.html_elements", max=self.sections.limits.max_elements))
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.sections.add("".join(self.parts), heading=self.heading)
            self.parts, self.in_heading, self.heading_parts = [], True, []
        elif tag in self.BLOCK or tag in ("td", "th"):
            self.parts.append(" | " if tag in ("td", "th") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.in_heading:
            self.heading, self.in_heading = " ".join("".join(self.heading_parts).split()), False

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            (self.heading_parts if self.in_heading else self.parts).append(data)


def _html(raw: bytes, sections: Sections) -> Parsed:
    reader = _HtmlText(sections)
    reader.feed(_decode(raw))
    reader.close()
    sections.add("".join(reader.parts), heading=reader.heading)
    return Parsed(HTML, sections.items)


def _markdown(raw: bytes, sections: Sections) -> Parsed:
    heading, lines, fenced = "", list[str](), False
    for line in _lines(_decode(raw)):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING_MD.match(line)
        if match:
            sections.add("\n".join(lines), heading=heading)
            heading, lines = match.group(2).strip(), []
        else:
            lines.append(line)
    sections.add("\n".join(lines), heading=heading)
    return Parsed(MARKDOWN, sections.items)


def _text(raw: bytes, sections: Sections) -> Parsed:
    sections.add(_decode(raw))
    return Parsed(TEXT, sections.items)


