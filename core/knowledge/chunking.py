"""Sections -> the document's text and its chunks: cut by structure (never across a page or a heading), at
paragraph and sentence boundaries, with overlap; each chunk knows its page or section and its character offsets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge.parsing import Section


def _syllables(*, without_final: str = "", finals: frozenset[int] = frozenset()) -> str:
    """Hangul syllables ending in one of these final consonants (jamo index 1-27), and the listed open ones."""
    return without_final + "".join(chr(c) for c in range(0xAC00, 0xD7A4) if (c - 0xAC00) % 28 in finals)


# Korean without a full stop: a sentence ends at 다 or 요 only when they close a verb or adjective, so that
# "바다 위에서" (sea), "A보다 B" (than) or "필요 서류" (needed) are not cut. 다 after a closed syllable (한다, 했다,
# 있다, 좋다, 아름답다; not ㅇ), after 니 (합니다), 이, 하, 되, 지 or an adjective's 쁘/프/크/르/쓰; 요 after the
# endings of polite speech (해요, 세요, 어요, 예요, 네요, 죠, 까요, 는데요, 거든요).
_DA = _syllables(without_final="니이하되지쁘프크르쓰", finals=frozenset(range(1, 28)) - {21})
_YO = _syllables(without_final="세어아해에예네죠까데래게지여워와봐줘돼나가니라서고대", finals=frozenset({4}))
_SENTENCE = re.compile(rf"(?<=[.!?。？！])\s+|(?<=[{_DA}]다)\s+|(?<=[{_YO}]요)\s+")
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), _SENTENCE, re.compile(r"\s+"))


def embedded_text(title: str, section: str, text: str) -> str:
    """What is embedded for a passage: its document's title and its section before its text, so that a short
    section ("Pay: the first month is paid in full") still says what it is about (issue #25, cause 2)."""
    where = " › ".join(part for part in (title, section) if part)
    return f"{where}\n{text}" if where else text


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    text: str
    page: int | None
    section: str
    start: int  # offsets into the document's text
    end: int
    title: str = ""  # the document's

    @property
    def embedded(self) -> str:
        return embedded_text(self.title, self.section, self.text)

    @property
    def content_hash(self) -> str:
        """The hash of what is embedded (the embedding cache's key)."""
        return hashlib.sha256(self.embedded.encode()).hexdigest()


def document_text(sections: list[Section]) -> tuple[str, list[tuple[int, int, Section]]]:
    """The document's text (each section's heading on its own line first) and where each section lies in it."""
    parts: list[str] = []
    spans: list[tuple[int, int, Section]] = []
    at = 0
    for section in sections:
        body = f"{section.heading}\n{section.text}" if section.heading else section.text
        if parts:
            parts.append("\n\n")
            at += 2
        spans.append((at, at + len(body), section))
        parts.append(body)
        at += len(body)
    return "".join(parts), spans


def chunk(sections: list[Section], *, size: int, overlap: int, max_chunks: int | None = None,
          title: str = "") -> tuple[str, list[ChunkDraft]]:
    """The document's text and its chunks of at most about `size` characters, `overlap` shared with the next (each
    embedded with title and its section); ValidationError as soon as there would be more than max_chunks (the
    cutting stops there)."""
    text, spans = document_text(sections)
    drafts: list[ChunkDraft] = []
    for start, end, section in spans:
        for a, b in _windows(text, start, end, size, overlap):
            piece = text[a:b].strip()
            if piece:
                if max_chunks is not None and len(drafts) >= max_chunks:
                    raise ValidationError(Msg("knowledge.too_long_early", max=max_chunks))
                lead = len(text[a:b]) - len(text[a:b].lstrip())
                a += lead
                drafts.append(ChunkDraft(len(drafts), piece, section.page, section.heading[:300], a, a + len(piece),
                                         title))
    return text, drafts


def _windows(text: str, start: int, end: int, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """[a, b) ranges covering text[start:end], each ending at the best boundary before a + size (one at a time:
    the caller stops at its cap)."""
    a = start
    while a < end:
        b = min(end, a + size)
        if b < end:
            b = _boundary(text, a + size // 2, b)
        yield a, b
        if b >= end:
            break
        nxt = max(a + 1, b - overlap)
        a = _boundary_after(text, nxt, b)  # start the overlap at a word, not mid-word


def _boundary(text: str, low: int, high: int) -> int:
    """The last paragraph, line, sentence or word break in text[low:high] (high itself when there is none)."""
    window = text[low:high]
    for pattern in _BREAKS:
        found = [m.end() for m in pattern.finditer(window)]
        if found:
            return low + found[-1]
    return high


def _boundary_after(text: str, at: int, limit: int) -> int:
    match = re.compile(r"\s+").search(text, at, limit)
    return match.end() if match else at
