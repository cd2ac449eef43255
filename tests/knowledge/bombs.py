"""Hostile uploads made on the fly (tests and bench/parse_bombs.py): a DOCX whose document.xml inflates to tens of
MB, a DOCX flooded with tiny XML elements, a zip of many parts, Markdown and HTML that explode into sections, and a
PDF whose content stream is a flate bomb. Each is written in pieces: building one never holds its inflated size."""

from __future__ import annotations

import io
import zipfile
import zlib
from importlib import resources

import docx

MB = 1024 * 1024
PARAGRAPH = b"<w:p><w:r><w:t>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</w:t></w:r></w:p>"


def _template() -> zipfile.ZipFile:
    """python-docx's own blank document, read as a file (tests replace docx.Document to catch it being called)."""
    return zipfile.ZipFile(io.BytesIO((resources.files(docx) / "templates" / "default.docx").read_bytes()))


def docx_with_body(piece: bytes, repeat: int, *, stored: bool = False, extra_parts: int = 0) -> bytes:
    """A valid DOCX (python-docx's own template) whose body is `piece` x `repeat`, deflated at level 9 (or stored:
    no compression, ratio 1), plus `extra_parts` tiny parts."""
    source, out = _template(), io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename != "word/document.xml":
                archive.writestr(info.filename, data)
                continue
            head, tail = data.split(b"<w:body>", 1)
            part = zipfile.ZipInfo("word/document.xml", date_time=info.date_time)
            part.compress_type = method
            with archive.open(part, "w", force_zip64=True) as stream:
                stream.write(head + b"<w:body>")
                per_block = max(1, MB // len(piece))
                block, left = piece * per_block, repeat
                while left > 0:
                    n = min(left, per_block)
                    stream.write(block if n == per_block else piece * n)
                    left -= n
                stream.write(tail)
        for i in range(extra_parts):
            archive.writestr(f"customXml/item{i}.bin", b"")
    return out.getvalue()


def docx_bomb(inflated_mb: int = 50) -> bytes:
    """A DOCX of about 150 KB whose word/document.xml inflates to `inflated_mb` MB (the review's bomb)."""
    return docx_with_body(PARAGRAPH, inflated_mb * MB // len(PARAGRAPH))


def docx_element_flood(elements: int = 1_000_000) -> bytes:
    """A DOCX whose document.xml is `elements` empty paragraphs, stored: no ratio or size rule catches it."""
    return docx_with_body(b"<w:p/>", elements, stored=True)


def markdown_explosion(lines: int = 3_200_000) -> bytes:
    """`# h\\nx\\n` x lines: 19 MB by default, one section (and one passage) per two lines."""
    return b"# h\nx\n" * lines


def html_explosion(repeat: int = 1_000_000) -> bytes:
    return b"<html><body>" + b"<h1>h</h1><p>x</p>" * repeat + b"</body></html>"


def pdf_flate_bomb(inflated_mb: int = 60, pages: int = 1) -> bytes:
    """A PDF whose one content stream (shown on every page) is `inflated_mb` MB of text instructions, deflated."""
    line = b"BT /F1 11 Tf 72 720 Td (Lorem ipsum dolor sit amet) Tj ET\n"
    squeeze = zlib.compressobj(9)
    block = line * (MB // len(line))
    data = b"".join(squeeze.compress(block) for _ in range(inflated_mb)) + squeeze.flush()
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    content = 4 + pages
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                f"/Contents {content} 0 R >>".encode()] * pages
    objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()
