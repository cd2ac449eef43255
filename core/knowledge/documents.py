"""PDF and DOCX, read within the upload's bounds (core.knowledge.bounds): a DOCX's zip is checked before python-docx
parses its parts whole in memory; a PDF's streams are decompressed under pypdf's limits set from ours, its pages'
content is counted as it is read, and reading stops at a CPU deadline (pypdf reads about 1 MB of content a second).
"""

from __future__ import annotations

import io
import time
import zipfile

from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge.bounds import check_docx
from core.knowledge.sections import DOCX, PDF, Parsed, Sections


def read_pdf(raw: bytes, sections: Sections) -> Parsed:
    """A PDF's text, a section per page; refused when encrypted, damaged, or past the bounds."""
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    most = sections.limits.max_inflated_bytes  # decompressed: any one stream (pypdf's default: 75 MB), all pages
    pages = 0
    try:
        with apply_configuration(zlib_maximum_output_length=most, lzw_maximum_output_length=most,
                                 run_length_maximum_output_length=most, brotli_maximum_output_length=most,
                                 array_based_stream_maximum_output_length=most,
                                 stream_decoding_work_maximum_length=4 * most,
                                 stream_parsing_work_maximum_count=500_000):  # pypdf: 2 M, about 40 s of one page
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted and not reader.decrypt(""):  # an owner password only still opens with ""
                raise ValidationError(Msg("knowledge.encrypted"))
            # Every page's instructions together, decompressed (pages may all show one heavy stream): pypdf reads
            # about 1 MB of them a second, so this bounds the time too.
            content, deadline = 0, time.thread_time() + sections.limits.max_seconds  # this thread's CPU time
            for pages, page in enumerate(reader.pages, start=1):
                stream = page.get_contents()  # decoded once: pypdf keeps it for extract_text
                content += len(stream.get_data()) if stream is not None else 0
                if content > most:
                    raise _too_inflated(most)
                if time.thread_time() > deadline:
                    raise ValidationError(Msg("knowledge.too_slow", seconds=f"{sections.limits.max_seconds:,.0f}"))
                sections.add(page.extract_text() or "", page=pages)
    except ValidationError:
        raise
    except LimitReachedError as exc:
        raise _too_inflated(most) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ValidationError(Msg("knowledge.corrupt", kind="PDF")) from exc
    except Exception as exc:  # pypdf raises many kinds on broken files; none of them may crash an upload
        if "crypt" in type(exc).__name__.lower() or "password" in str(exc).lower():
            raise ValidationError(Msg("knowledge.encrypted")) from exc
        raise ValidationError(Msg("knowledge.corrupt", kind="PDF")) from exc
    return Parsed(PDF, sections.items, pages=pages)


def read_docx(raw: bytes, sections: Sections) -> Parsed:
    """A DOCX's text, a section per heading (tables as `a | b` lines); its zip checked before python-docx reads it."""
    import docx
    from docx.document import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            check_docx(archive, sections.limits)  # before python-docx parses every part whole in memory
        document: Document = docx.Document(io.BytesIO(raw))
    except ValidationError:
        raise
    except Exception as exc:  # python-docx raises KeyError, BadZipFile, lxml errors... for a broken file
        raise ValidationError(Msg("knowledge.corrupt", kind="DOCX")) from exc
    heading, lines = "", list[str]()
    styles: dict[str | None, str] = {}  # by style id: python-docx looks a style up in styles.xml at each call (ms)
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style_id = block._p.style  # the paragraph's style id (None: the default style)
            if style_id not in styles:
                styles[style_id] = ((block.style.name if block.style is not None else "") or "").lower()
            if styles[style_id].startswith(("heading", "title")) and block.text.strip():
                sections.add("\n".join(lines), heading=heading)
                heading, lines = block.text.strip(), []
            else:
                lines.append(block.text)
        elif isinstance(block, Table):
            lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
    sections.add("\n".join(lines), heading=heading)
    return Parsed(DOCX, sections.items)


def _too_inflated(most: int) -> ValidationError:
    return ValidationError(Msg("knowledge.pdf_inflated", limit=f"{most / 1024 / 1024:,.0f}"))
