"""Files sent with a chat message: images (read by core.history.attachments) and documents (PDF, DOCX, Markdown,
HTML, text: read by the knowledge parser, within its limits). A short document goes with the message as text; a long
one (or one the model's window cannot take whole) by its passages, retrieved for each question and cited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.chat.options import TurnOptions
from core.chat.passages import passages_json
from core.config import Settings
from core.errors import ValidationError
from core.history.attachments import Prepared, Upload, document_file, file_name, image_file
from core.i18n import Msg
from core.knowledge import ParseLimits, parse
from core.knowledge.chunking import document_text
from core.providers.base import Provider
from core.providers.images import looks_like_image

SAFETY_MARGIN = 16  # as core.chat.context's
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff", "heic", "avif"})


def prepare(uploads: Sequence[Upload], settings: Settings) -> tuple[Prepared, ...]:
    """Every upload read and checked (an image, or a document's text), in order; ValidationError naming the first
    that is refused and why: nothing of the message is stored until all of its files are taken."""
    images = sum(1 for u in uploads if looks_like_image(u.data) or _named_image(u.name))
    limits = settings.attachments
    if images > limits.max_images_per_message:
        raise ValidationError(Msg("attachments.too_many", n=limits.max_images_per_message))
    if len(uploads) - images > limits.max_documents_per_message:
        raise ValidationError(Msg("attachments.too_many_documents", n=limits.max_documents_per_message))
    return tuple(image_file(u, settings) if looks_like_image(u.data) or _named_image(u.name) else
                 _document(u, settings) for u in uploads)


def _named_image(name: str) -> bool:
    """A file named as an image is read as one (and refused if it is not: never taken as text instead)."""
    return name.lower().rsplit(".", 1)[-1] in IMAGE_EXTENSIONS


def _document(upload: Upload, settings: Settings) -> Prepared:
    name, knowledge = file_name(upload.name, "document"), settings.knowledge
    try:
        if len(upload.data) > knowledge.max_file_mb * 1_048_576:
            raise ValidationError(Msg("knowledge.too_big", size=f"{len(upload.data) / 1e6:.1f}",
                                      limit=knowledge.max_file_mb))
        parsed = parse(upload.data, name, ParseLimits.of(knowledge))  # bounded memory and time, refused early
        passages = passages_json(parsed.sections, settings)  # used if it is too long to go whole
    except ValidationError as exc:
        raise ValidationError(Msg("attachments.refused", name=name, reason=exc.user_message)) from None
    return document_file(name, upload.data, parsed.mime, document_text(parsed.sections)[0], passages=passages)


def with_documents(text: str, documents: Sequence[tuple[str, str]]) -> str:
    """A message's text with its documents before it, each marked with its name (what the model is sent)."""
    blocks = [f'<document name="{name.replace(chr(34), chr(39))}">\n{body}\n</document>' for name, body in documents]
    return "\n\n".join([*blocks, text]) if blocks else text


def placed(prepared: Sequence[Prepared], text: str, options: TurnOptions, provider: Provider,
           settings: Settings) -> tuple[Prepared, ...]:
    """The documents that go whole with the message (up to attachments.inline_document_tokens each, and what the
    model's window leaves after the system prompt, the message and the reply's room), the others marked for their
    passages (retrieved for each question and cited: core.chat.passages)."""
    room = provider.context_window(options.model) - options.max_tokens - SAFETY_MARGIN - provider.count_tokens(text)
    room -= provider.count_tokens(options.system_prompt) if options.system_prompt else 0
    placed_files: list[Prepared] = []
    for p in prepared:
        cost = provider.count_tokens(with_documents("", [(p.name, p.text)])) if p.kind == "document" else 0
        if p.kind == "document" and cost <= min(room, settings.attachments.inline_document_tokens):
            room -= cost
            placed_files.append(replace(p, passages=""))
        else:
            placed_files.append(replace(p, kind="passages") if p.kind == "document" else p)
    return tuple(placed_files)
