"""Indexing off the page: an upload is checked and parsed at once (a bad file is refused, nothing stored), then
embedded in the background with visible progress; it becomes `ready` in one transaction with its chunks (and its
vectors already in the store) or `failed: <reason>` with nothing left behind. Never half-indexed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select, update

from core.errors import AppError
from core.i18n import Msg
from core.knowledge.chunking import ChunkDraft
from core.knowledge.embedders import EmbedderFor, cached_passages
from core.knowledge.vectors import VectorStore
from core.logging import log_event
from core.models import utcnow
from core.models.knowledge import Chunk, DocumentStatus, KbDocument, KnowledgeBase

logger = logging.getLogger(__name__)

def index_document(engine: Engine, store: VectorStore, embedder_for: EmbedderFor, document_id: int,
                   drafts: list[ChunkDraft]) -> None:
    """Embed and store one document's chunks; its status ends `ready` or `failed` (never stays `indexing`)."""
    with Session(engine) as session:
        document = session.get(KbDocument, document_id)
        kb = session.get(KnowledgeBase, document.kb_id) if document else None
        if document is None or kb is None:
            return  # deleted while it waited
        kb_id = kb.id or 0
    try:
        embedder = embedder_for(kb, kb.owner_id)  # the owner's key, the owner's budget
        vectors = cached_passages(engine, embedder, [d.embedded for d in drafts], [d.content_hash for d in drafts],
                                  progress=_progress(engine, document_id, len(drafts)))
        with Session(engine) as session:
            rows = [Chunk(document_id=document_id, kb_id=kb_id, ordinal=d.ordinal, text=d.text, page=d.page,
                          section=d.section, start=d.start, end=d.end, content_hash=d.content_hash) for d in drafts]
            session.add_all(rows)
            session.flush()
            store.add(kb_id, document_id, [r.id or 0 for r in rows], vectors)
            done = (update(KbDocument).where(col(KbDocument.id) == document_id,
                                             col(KbDocument.status) == DocumentStatus.indexing)
                    .values(status=DocumentStatus.ready, progress=1.0, chunks=len(rows), indexed_at=utcnow(),
                            updated_at=utcnow()))
            if session.exec(done).rowcount != 1:  # type: ignore[call-overload]
                raise LookupError(document_id)  # deleted while it was indexed: nothing to keep
            session.commit()
        log_event(logger, "document indexed", document_id=document_id, chunks=len(drafts))
    except Exception as exc:
        _failed(engine, store, kb_id, document_id, exc)


def _failed(engine: Engine, store: VectorStore, kb_id: int, document_id: int, exc: Exception) -> None:
    reason = str(exc.user_message) if isinstance(exc, AppError) else Msg("knowledge.index_failed",
                                                                          kind=type(exc).__name__)
    if not isinstance(exc, LookupError):
        logger.warning("indexing document %s failed", document_id, exc_info=not isinstance(exc, AppError))
    try:
        store.delete_document(kb_id, document_id)
    except Exception:  # the store being down is what may have failed: its vectors go with the next delete
        logger.warning("could not remove the vectors of document %s", document_id, exc_info=True)
    with Session(engine) as session:
        session.exec(delete(Chunk).where(col(Chunk.document_id) == document_id))  # type: ignore[call-overload]
        session.exec(update(KbDocument).where(col(KbDocument.id) == document_id)  # type: ignore[call-overload]
                     .values(status=DocumentStatus.failed, error=reason[:500], progress=0.0, updated_at=utcnow()))
        session.commit()


def _progress(engine: Engine, document_id: int, total: int) -> Callable[[int], None]:
    """Store progress at most twice a second (the page polls it)."""
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and done < total:
            return
        last[0] = now
        with Session(engine) as session:
            session.exec(update(KbDocument).where(col(KbDocument.id) == document_id)  # type: ignore[call-overload]
                         .values(progress=min(0.99, done / max(1, total)), updated_at=utcnow()))
            session.commit()

    return report


def fail_interrupted(engine: Engine, minutes: float = 10) -> int:
    """Documents left `indexing` by a process that stopped (no progress for `minutes`) become failed."""
    cutoff = utcnow() - timedelta(minutes=minutes)
    with Session(engine) as session:
        stale = session.exec(select(KbDocument.id).where(KbDocument.status == DocumentStatus.indexing,
                                                         col(KbDocument.updated_at) < cutoff)).all()
        if stale:
            session.exec(update(KbDocument).where(col(KbDocument.id).in_(stale))  # type: ignore[call-overload]
                         .values(status=DocumentStatus.failed, error=Msg("knowledge.interrupted")))
            session.commit()
    return len(stale)
