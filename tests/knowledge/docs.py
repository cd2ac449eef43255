"""Test documents made on the fly: a PDF (hand-written, with a table), DOCX (python-docx), Markdown, HTML."""

from __future__ import annotations

import io


def pdf(pages: list[list[tuple[float, float, str]]]) -> bytes:
    """A PDF whose pages hold text at (x, y) in Helvetica (ASCII); an empty list of lines makes an image-only page."""
    objects: list[bytes] = []
    font_id = 3
    page_ids = []
    contents = []
    for lines in pages:
        if lines:
            ops = "".join(f"BT /F1 11 Tf {x:.0f} {y:.0f} Td ({_escape(t)}) Tj ET\n" for x, y, t in lines)
        else:  # a filled rectangle: something on the page, no text
            ops = "0.5 g 72 400 300 200 re f\n"
        contents.append(ops.encode("latin-1"))
    n = len(pages)
    first_page = 4
    first_content = first_page + n
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{first_page + i} 0 R" for i in range(n))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i in range(n):
        page_ids.append(first_page + i)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} "
                       f"0 R >> >> /Contents {first_content + i} 0 R >>".encode())
    for data in contents:
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"endstream")
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


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(pages: list[str]) -> bytes:
    """A PDF with each page's paragraphs as lines from the top."""
    return pdf([[(72, 720 - 16 * i, line) for i, line in enumerate(page.splitlines())] for page in pages])


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(["Confidential numbers"]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(blocks: list[tuple[str, object]]) -> bytes:
    """blocks: ("heading", text) | ("p", text) | ("table", [[cell, ...], ...])."""
    import docx as python_docx

    document = python_docx.Document()
    for kind, value in blocks:
        if kind == "heading":
            document.add_heading(str(value), level=1)
        elif kind == "p":
            document.add_paragraph(str(value))
        else:
            rows = value  # type: ignore[assignment]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))  # type: ignore[arg-type]
            for r, row in enumerate(rows):  # type: ignore[arg-type]
                for c, cell in enumerate(row):
                    table.cell(r, c).text = str(cell)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
