"""The vector store: Chroma, embedded under data/chroma by default, or a `chroma run` server shared by every
instance with CHROMA_URL. One collection per embedder (vectors of one size); every vector carries its knowledge
base, document and chunk. Chroma has no users: every query here names the knowledge bases its caller may read."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import numpy as np

from core.config import Settings

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _client(target: str) -> Any:
    """One client per process and place ("http://host:port" or a directory)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if target.startswith(("http://", "https://")):
        url = urlparse(target)
        return chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000,
                                   ssl=url.scheme == "https", settings=chroma_settings)
    return chromadb.PersistentClient(path=target, settings=chroma_settings)


def collection_name(kb_id: int) -> str:
    """One collection per knowledge base (3-512 characters of [a-zA-Z0-9._-])."""
    return f"parley-kb-{kb_id}"


class VectorStore:
    """A collection per knowledge base: a query reads only the collections of the knowledge bases it names (no
    metadata filter over everyone's vectors: at 100,000 chunks Chroma's filtered search took ~250 ms, an
    unfiltered one a few ms), and deleting a knowledge base drops its collection."""

    def __init__(self, settings: Settings) -> None:
        self.target = settings.chroma_url or str(settings.data_dir / "chroma")

    def _collection(self, kb_id: int) -> Any:
        with _lock:
            return _client(self.target).get_or_create_collection(
                collection_name(kb_id), embedding_function=None, metadata={"hnsw:space": "cosine"})

    def add(self, kb_id: int, document_id: int, chunk_ids: list[int], vectors: np.ndarray) -> None:
        collection = self._collection(kb_id)
        for i in range(0, len(chunk_ids), 1000):
            ids = chunk_ids[i:i + 1000]
            collection.upsert(ids=[str(c) for c in ids], embeddings=vectors[i:i + 1000].tolist(),
                              metadatas=[{"kb_id": kb_id, "document_id": document_id, "chunk_id": c} for c in ids])

    def delete_document(self, kb_id: int, document_id: int) -> None:
        self._collection(kb_id).delete(where={"document_id": document_id})

    def delete_knowledge_base(self, kb_id: int) -> None:
        with _lock:
            client = _client(self.target)
            try:
                client.delete_collection(collection_name(kb_id))
            except Exception as exc:  # never created (no document was indexed): nothing to delete
                if "does not exist" not in str(exc).lower() and "not found" not in str(exc).lower():
                    raise

    def query(self, vector: np.ndarray, kb_ids: list[int], k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks in these knowledge bases only, best first."""
        return self.query_many([vector], kb_ids, k)[0]

    def query_many(self, vectors: list[np.ndarray], kb_ids: list[int], k: int) -> list[list[tuple[int, float]]]:
        """query() for several vectors (a question and its translations), one search per knowledge base."""
        found: list[list[tuple[int, float]]] = [[] for _ in vectors]
        for kb_id in kb_ids:
            try:
                with _lock:
                    collection = _client(self.target).get_collection(collection_name(kb_id), embedding_function=None)
            except Exception:  # no document indexed there yet: no collection, nothing to find
                continue
            count = collection.count()
            if not count:
                continue
            result = collection.query(query_embeddings=[v.tolist() for v in vectors], n_results=min(k, count),
                                      include=["metadatas", "distances"])
            for n, (metadatas, distances) in enumerate(zip(result.get("metadatas") or [], result.get("distances")
                                                           or [], strict=True)):
                found[n] += [(int(m["chunk_id"]), 1.0 - float(d)) for m, d in zip(metadatas, distances, strict=True)
                             if int(m["kb_id"]) == kb_id]  # checked again: a store mix-up leaks nothing
        return [sorted(near, key=lambda pair: -pair[1])[:k] for near in found]


def forget_clients() -> None:
    """Drop cached clients (tests point at new directories and servers)."""
    _client.cache_clear()
