"""Answers from knowledge bases: the retrieved passages as numbered sources in the system prompt (within the
model's context window), and the sources kept with the reply so its [n] citations can be opened later."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from core.i18n import Msg
from core.knowledge import Hit
from core.models import MessageSource
from core.providers.base import Provider

INSTRUCTIONS = ("Answer from the numbered sources below when they hold the answer, and cite them inline as [1], [2] "
                "(several as [1][3]). If the sources do not answer the question, say so before answering "
                "from general knowledge.")
SNIPPET_CHARS = 2000
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,，]\s*\d{1,3})*)\]")  # [2], [1][3], [1, 3]


def cited(reply: str) -> set[int]:
    """The source numbers a reply cites ([n], [n][m], [n, m]); the other sources were only given to the model."""
    return {int(n) for group in _CITATION.findall(reply) for n in re.split(r"[,，]", group)}


def label(hit: Hit) -> str:
    """Where a source is: its document, and its page or section."""
    where = f"p. {hit.page}" if hit.page else hit.section
    return f"{hit.document_name} ({where})" if where else hit.document_name


def system_with_sources(system: str, sources: tuple[Hit, ...], provider: Provider, budget_tokens: int) -> str:
    """The system prompt with as many numbered sources as fit budget_tokens (the first ones: the best)."""
    if not sources:
        return system
    parts = [system, INSTRUCTIONS] if system else [INSTRUCTIONS]
    used = provider.count_tokens("\n\n".join(parts))
    for n, hit in enumerate(sources, start=1):
        block = f"[{n}] {label(hit)}\n{hit.text[:SNIPPET_CHARS]}"
        cost = provider.count_tokens(block)
        if used + cost > budget_tokens:
            break
        parts.append(block)
        used += cost
    return "\n\n".join(parts)


def store_sources(session: Session, message_id: int, sources: tuple[Hit, ...]) -> None:
    """The reply's numbered sources, kept even if the document is deleted later (name, place and snippet)."""
    for n, hit in enumerate(sources, start=1):
        session.add(MessageSource(message_id=message_id, n=n, kb_id=hit.kb_id, document_id=hit.document_id,
                                  chunk_id=hit.chunk_id, document_name=hit.document_name[:200], page=hit.page,
                                  section=hit.section[:300], start=hit.start, end=hit.end,
                                  snippet=hit.text[:SNIPPET_CHARS]))


def sources_of(session: Session, message_ids: list[int]) -> dict[int, list[MessageSource]]:
    """Each message's sources, in citation order (one query for a whole conversation)."""
    found: dict[int, list[MessageSource]] = {}
    if message_ids:
        rows = session.exec(select(MessageSource).where(col(MessageSource.message_id).in_(message_ids))
                            .order_by(col(MessageSource.message_id), col(MessageSource.n))).all()
        for row in rows:
            found.setdefault(row.message_id, []).append(row)
    return found


def indexing_notice(still_indexing: list[str]) -> str | None:
    """What to tell the asker when some documents are not searchable yet."""
    if not still_indexing:
        return None
    return Msg("knowledge.still_indexing", names=", ".join(still_indexing[:5]))
