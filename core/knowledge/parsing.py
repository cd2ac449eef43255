"""Uploaded bytes -> the document's text in sections (pages, headings), the type sniffed from the bytes.

A file's name is never trusted for its type: a PDF renamed .docx is read as a PDF, a program renamed .pdf is
refused. Encrypted, corrupt or image-only PDFs, and anything unreadable, are refused with the reason.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser

from core.errors import ValidationError
from core.i18n import Msg

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML, MARKDOWN, TEXT = "text/html", "text/markdown", "text/plain"
_HEADING_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<h[1-6][\s>]|<p[\s>]|<div[\s>])", re.IGNORECASE)


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


def sniff(raw: bytes, name: str = "") -> str:
    """The document's type from its bytes (the name only tells Markdown from plain text)."""
    if raw.startswith(b"%PDF-"):
        return PDF
    if raw.startswith(b"PK\x03\x04"):
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
    if name.lower().endswith((".md", ".markdown")) or any(_HEADING_MD.match(line) for line in text.splitlines()[:200]):
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


def parse(raw: bytes, name: str = "") -> Parsed:
    """The document's sections; ValidationError saying why there is nothing to index."""
    if not raw.strip():
        raise ValidationError(Msg("knowledge.empty"))
    mime = sniff(raw, name)
    parsed = {PDF: _pdf, DOCX: _docx, HTML: _html, MARKDOWN: _markdown, TEXT: _text}[mime](raw)
    parsed.sections = [s for s in parsed.sections if s.text.strip()]
    if not parsed.sections:
        raise ValidationError(Msg("knowledge.no_text"))
    return parsed


def _pdf(raw: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):  # an owner password only still opens with ""
            raise ValidationError(Msg("knowledge.encrypted"))
        pages = [page.extract_text() or "" for page in reader.pages]
    except ValidationError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ValidationError(Msg("knowledge.corrupt", kind="PDF")) from exc
    except Exception as exc:  # pypdf raises many kinds on broken files; none of them may crash an upload
        if "crypt" in type(exc).__name__.lower() or "password" in str(exc).lower():
            raise ValidationError(Msg("knowledge.encrypted")) from exc
        raise ValidationError(Msg("knowledge.corrupt", kind="PDF")) from exc
    return Parsed(PDF, [Section(_tidy(text), page=n) for n, text in enumerate(pages, start=1)], pages=len(pages))


def _docx(raw: bytes) -> Parsed:
    import docx
    from docx.document import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document: Document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises KeyError, BadZipFile, lxml errors... for a broken file
        raise ValidationError(Msg("knowledge.corrupt", kind="DOCX")) from exc
    sections: list[Section] = []
    heading, lines = "", list[str]()
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = (block.style.name if block.style is not None else "") or ""
            if style.lower().startswith(("heading", "title")) and block.text.strip():
                sections.append(Section("\n".join(lines), heading=heading))
                heading, lines = block.text.strip(), []
            else:
                lines.append(block.text)
        elif isinstance(block, Table):
            lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
    sections.append(Section("\n".join(lines), heading=heading))
    return Parsed(DOCX, [Section(_tidy(s.text), heading=s.heading) for s in sections])


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg"}
    BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "pre", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.heading, self.skipping, self.in_heading = "", 0, False
        self.parts: list[str] = []
        self.heading_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.sections.append(Section("".join(self.parts), heading=self.heading))
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


def _html(raw: bytes) -> Parsed:
    reader = _HtmlText()
    reader.feed(_decode(raw))
    reader.close()
    reader.sections.append(Section("".join(reader.parts), heading=reader.heading))
    return Parsed(HTML, [Section(_tidy(s.text), heading=s.heading) for s in reader.sections])


def _markdown(raw: bytes) -> Parsed:
    sections: list[Section] = []
    heading, lines, fenced = "", list[str](), False
    for line in _decode(raw).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING_MD.match(line)
        if match:
            sections.append(Section("\n".join(lines), heading=heading))
            heading, lines = match.group(2).strip(), []
        else:
            lines.append(line)
    sections.append(Section("\n".join(lines), heading=heading))
    return Parsed(MARKDOWN, [Section(_tidy(s.text), heading=s.heading) for s in sections])


def _text(raw: bytes) -> Parsed:
    return Parsed(TEXT, [Section(_tidy(_decode(raw)))])


def _tidy(text: str) -> str:
    """Whitespace normalised (runs of spaces, 3+ newlines), control characters gone."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
