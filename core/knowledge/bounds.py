"""What parsing one upload may cost, checked before a parser runs and while it cuts (never after).

`knowledge.max_file_mb` bounds only the bytes received: a DOCX is a zip whose parts may inflate a thousandfold, and
python-docx parses every XML part whole in memory. So a DOCX is read first from its zip directory (how many parts,
how big each says it is once inflated, how much it inflates) and then streamed through expat to count its XML
elements, with memory and time bounded by these limits. zipfile itself never yields more than a part's declared
size (a part that lies fails its CRC check), so the declared sizes are upper bounds.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from typing import IO
from xml.parsers import expat

from core.config_sections import KnowledgeSettings
from core.errors import ValidationError
from core.i18n import Msg

MB = 1024 * 1024
RATIO_FROM = MB  # parts smaller than this may inflate as much as they like (they cost little either way)
_READ = 64 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on one upload's parsing (from config.yaml's `knowledge` section)."""

    max_sections: int = 20_000  # non-empty pages or sections: each one is at least one passage (max_chunks)
    max_chars: int = 20_000_000  # the document's text: more could never fit max_chunks passages of chunk_chars
    max_inflated_bytes: int = 40 * MB  # a DOCX's parts together, or one PDF stream, once decompressed
    max_ratio: int = 100  # how much a DOCX part above RATIO_FROM may inflate
    max_elements: int = 500_000  # XML elements of a DOCX (all parts), tags of an HTML page
    max_members: int = 10_000  # parts of a DOCX
    max_seconds: float = 120.0  # CPU seconds reading a PDF's pages (pypdf reads about 1 MB of page content a second)

    @classmethod
    def of(cls, knowledge: KnowledgeSettings) -> ParseLimits:
        return cls(max_sections=knowledge.max_chunks, max_chars=knowledge.max_chunks * knowledge.chunk_chars,
                   max_inflated_bytes=int(knowledge.max_inflated_mb * MB), max_ratio=knowledge.max_inflate_ratio,
                   max_elements=knowledge.max_elements, max_seconds=knowledge.max_parse_seconds)


def too_long(limits: ParseLimits) -> ValidationError:
    """The document would make more passages than a document may have (found while parsing or cutting)."""
    return ValidationError(Msg("knowledge.too_long_early", max=limits.max_sections))


def zip_entries(raw: bytes) -> int:
    """How many entries a zip's end-of-directory record announces, read before zipfile parses the directory
    (a directory of 400,000 entries costs hundreds of MB as ZipInfo objects); a zip64 record counts as too many."""
    at = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 65_557))
    if at < 0 or at + 12 > len(raw):
        raise ValidationError(Msg("knowledge.corrupt", kind="DOCX"))
    entries = int.from_bytes(raw[at + 10:at + 12], "little")
    return 1 << 32 if entries == 0xFFFF else entries


def check_zip_entries(raw: bytes, limits: ParseLimits) -> None:
    if zip_entries(raw) > limits.max_members:
        raise ValidationError(Msg("knowledge.docx_parts", max=limits.max_members))


def check_docx(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    """Refuse a DOCX that would inflate past the limits or hold too many XML elements, before any parser sees it."""
    infos = archive.infolist()
    total = 0
    for info in infos:
        total += info.file_size
        if total > limits.max_inflated_bytes:
            raise ValidationError(Msg("knowledge.docx_inflated", limit=_mb(limits.max_inflated_bytes)))
        if info.file_size > RATIO_FROM and info.file_size > limits.max_ratio * max(1, info.compress_size):
            raise ValidationError(Msg("knowledge.docx_ratio", part=info.filename[:100], max=limits.max_ratio))
    budget = limits.max_elements
    for info in infos:
        if info.filename.endswith((".xml", ".rels")):
            with archive.open(info) as part:
                budget -= count_elements(part, budget, limits)


def count_elements(stream: IO[bytes], budget: int, limits: ParseLimits) -> int:
    """The XML elements in stream, read in small pieces (constant memory); refused past budget. A DTD (entity
    definitions: the "billion laughs") has no place in a DOCX part and is refused."""
    parser = expat.ParserCreate()
    count = 0

    def start(_name: str, _attrs: object) -> None:
        nonlocal count
        count += 1
        if count > budget:
            raise ValidationError(Msg("knowledge.docx_elements", max=limits.max_elements))

    def doctype(*_args: object) -> None:
        raise ValidationError(Msg("knowledge.corrupt", kind="DOCX"))

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        while piece := stream.read(_READ):
            parser.Parse(piece, False)
        parser.Parse(b"", True)
    except (expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValidationError(Msg("knowledge.corrupt", kind="DOCX")) from exc
    return count


def _mb(size: int) -> str:
    return f"{size / MB:,.0f}"
