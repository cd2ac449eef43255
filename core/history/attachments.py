"""Files sent with a user's message (images): read and checked before anything is stored, kept in the database
with their message (core.models.Attachment says why there), shown to their owner as thumbnails, sent again as
context when the conversation goes on, and swept with their messages."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.config import Settings
from core.errors import ValidationError
from core.i18n import Msg
from core.models import Attachment, AttachmentBlob, Conversation, Message
from core.providers.images import Image, fit, read_image, scaled
from core.validation import sanitize

THUMBNAIL_EDGE = 320  # pixels: the thread shows thumbnails, the provider the image itself
NAME_MAX = 255


@dataclass(frozen=True)
class Upload:
    """A file as the composer took it: its name (shown only) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Prepared:
    """An upload read and checked, ready to store with its message: an image (with its thumbnail) or a document
    (with the text read from it)."""

    name: str
    kind: str  # image | document
    media_type: str
    data: bytes
    sha256: str
    image: Image | None = None
    thumbnail: bytes = b""
    text: str = ""
    passages: str = ""  # a long document's passages (JSON), when they are what goes with the message


def file_name(raw: str, default: str) -> str:
    """A file's name as it is kept and shown (one line, under the text rule)."""
    return sanitize(raw, max_chars=NAME_MAX, one_line=True)[:NAME_MAX] or default


def image_file(upload: Upload, settings: Settings) -> Prepared:
    """The upload read as an image within the limits (attachments.*), or ValidationError naming it and why."""
    limits = settings.attachments
    name = file_name(upload.name, "image")
    try:
        image = read_image(upload.data, max_bytes=int(limits.max_image_mb * 1_048_576),
                           max_pixels=int(limits.max_image_megapixels * 1_000_000))
    except ValidationError as exc:
        raise ValidationError(Msg("attachments.refused", name=name, reason=exc.user_message)) from None
    thumbnail = scaled(image, fit(image.width, image.height, long_edge=THUMBNAIL_EDGE)).data
    # Kept as read: upright, one frame, at the working size (what every later turn sends; the type it says).
    return Prepared(name, "image", image.media_type, image.data, _sha(image.data), image, thumbnail)


def document_file(name: str, data: bytes, media_type: str, text: str, *, kind: str = "document",
                  passages: str = "") -> Prepared:
    """A document whose text was read (by the knowledge parser, core.chat.files, or from an export)."""
    return Prepared(file_name(name, "document"), kind, media_type, data, _sha(data), text=text, passages=passages)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attach(session: Session, message_id: int, prepared: Sequence[Prepared]) -> None:
    """Store the files with their message, in the caller's transaction (each file's bytes once)."""
    for position, p in enumerate(prepared):
        _keep_blob(session, p.sha256, p.data)
        width, height = (p.image.width, p.image.height) if p.image else (0, 0)
        session.add(Attachment(message_id=message_id, position=position, name=p.name, media_type=p.media_type,
                               size_bytes=len(p.data), width=width, height=height, sha256=p.sha256,
                               thumbnail=p.thumbnail, kind=p.kind, text=p.text, passages=p.passages))
    session.flush()


def copy_attachments(session: Session, from_id: int, to_id: int) -> None:
    """The files of one message given to another (an edited version keeps its original's images)."""
    for a in attachments_of(session, [from_id]).get(from_id, []):
        session.add(Attachment(message_id=to_id, position=a.position, name=a.name, media_type=a.media_type,
                               size_bytes=a.size_bytes, width=a.width, height=a.height, sha256=a.sha256,
                               thumbnail=a.thumbnail, kind=a.kind, text=a.text, passages=a.passages))
    session.flush()


def _keep_blob(session: Session, sha256: str, data: bytes) -> None:
    """The bytes under their hash, unless already there (two requests storing one file at once: one row). On
    PostgreSQL the row is then locked (FOR KEY SHARE) until the attachment naming it commits: a purge's sweep
    running at that moment waits, then cannot delete it (the foreign key); one that deleted it just before is
    answered by writing it again."""
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    for _ in range(3):
        session.execute(insert(AttachmentBlob).values(sha256=sha256, data=data)
                        .on_conflict_do_nothing(index_elements=["sha256"]))
        if not postgres or session.execute(select(AttachmentBlob.sha256).where(AttachmentBlob.sha256 == sha256)
                                           .with_for_update(key_share=True)).first() is not None:
            return


def attachments_of(session: Session, message_ids: Sequence[int | None]) -> dict[int, list[Attachment]]:
    """The attachments (descriptions and thumbnails, not the bytes) of these messages, in their order. The caller
    has checked the messages are the reader's (they come from a conversation read as its owner)."""
    ids = [i for i in message_ids if i]
    found: dict[int, list[Attachment]] = {}
    if not ids:
        return found
    for row in session.exec(select(Attachment).where(col(Attachment.message_id).in_(ids))
                            .order_by(col(Attachment.message_id), col(Attachment.position))):
        found.setdefault(row.message_id, []).append(row)
    return found


@dataclass(frozen=True)
class Contents:
    """What these messages carry: images without their bytes (enough to count them: a window, a budget),
    documents sent whole as (name, text), long documents as (name, text, passages)."""

    images: dict[int, tuple[Image, ...]]
    documents: dict[int, tuple[tuple[str, str], ...]]
    long: dict[int, tuple[tuple[str, str, str], ...]]


def contents_of(session: Session, message_ids: Sequence[int | None]) -> Contents:
    found = Contents({}, {}, {})
    for m, rows in attachments_of(session, message_ids).items():
        seen = tuple(Image(a.media_type, b"", a.width, a.height) for a in rows if a.kind == "image")
        whole = tuple((a.name, a.text) for a in rows if a.kind == "document")
        long = tuple((a.name, a.text, a.passages) for a in rows if a.kind == "passages")
        found.images.update({m: seen} if seen else {})
        found.documents.update({m: whole} if whole else {})
        found.long.update({m: long} if long else {})
    return found


def images_of(session: Session, message_ids: Sequence[int]) -> dict[int, tuple[Image, ...]]:
    """The images of these messages, bytes included (what a provider is sent)."""
    found: dict[int, list[Image]] = {}
    rows = session.exec(select(Attachment, AttachmentBlob.data)  # type: ignore[call-overload]
                        .join(AttachmentBlob, col(AttachmentBlob.sha256) == col(Attachment.sha256))
                        .where(col(Attachment.message_id).in_(list(message_ids)), Attachment.kind == "image")
                        .order_by(col(Attachment.message_id), col(Attachment.position)))
    for a, data in rows:
        found.setdefault(a.message_id, []).append(Image(a.media_type, bytes(data), a.width, a.height))
    return {m: tuple(images) for m, images in found.items()}


def has_images(session: Session, user_id: int, conversation_id: int | None) -> bool:
    """The user's conversation has images (only models that can see them can go on with it)."""
    if not conversation_id:
        return False
    found = session.exec(select(Attachment.id).join(Message, col(Message.id) == col(Attachment.message_id))
                         .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                         .where(Conversation.id == conversation_id, Conversation.user_id == user_id,
                                Attachment.kind == "image").limit(1))
    return found.first() is not None


def sweep_blobs(session: Session) -> int:
    """Remove the bytes no attachment names any more (after messages were purged); returns how many."""
    named = select(Attachment.sha256).distinct()
    try:
        with session.begin_nested():  # a file just attached again (its row is new): left for the next sweep
            result = session.exec(sql_delete(AttachmentBlob).where(  # type: ignore[call-overload]
                col(AttachmentBlob.sha256).not_in(named)))
    except IntegrityError:
        return 0
    return int(result.rowcount or 0)


class ExportRoom:
    """How many more base64 characters of images an export may hold (then images are listed without bytes)."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, data: bytes) -> str | None:
        size = (len(data) + 2) // 3 * 4
        if size > self.left:
            return None
        self.left -= size
        return base64.b64encode(data).decode()


def exported(session: Session, message_ids: Sequence[int | None], room: ExportRoom) -> dict[int, list[dict[str, Any]]]:
    """The attachments of these messages as an export holds them: name, type and base64 bytes (while room lasts)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for m, rows in attachments_of(session, message_ids).items():  # one message's bytes in memory at a time
        found[m] = [{"name": a.name, "media_type": a.media_type, "kind": a.kind, "text": a.text or None,
                     "data": room.take(_blob(session, a.sha256)) if room.left > 0 else None} for a in rows]
    return found


def _blob(session: Session, sha256: str) -> bytes:
    blob = session.get(AttachmentBlob, sha256)
    return bytes(blob.data) if blob is not None else b""


def imported(session: Session, message_id: int, attachments: Sequence[Any], settings: Settings) -> None:
    """An imported message's files: an image read and checked as if sent now (ValidationError: the import stores
    nothing), a document with the text the export read from it; those an export left without bytes are not
    restored."""
    prepared = []
    for a in attachments:
        if a.data is None:
            continue
        try:
            data = base64.b64decode(a.data, validate=True)
        except (binascii.Error, ValueError):
            reason = Msg("attachments.not_image")
            raise ValidationError(Msg("attachments.refused", name=a.name, reason=reason)) from None
        prepared.append(document_file(a.name, data, a.media_type, a.text or "", kind=a.kind) if a.kind != "image"
                        else image_file(Upload(a.name, data), settings))  # passages: cut again when asked
    attach(session, message_id, prepared)
