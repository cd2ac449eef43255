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
    """An upload read and checked: the image, its thumbnail, its hash; ready to store with its message."""

    name: str
    image: Image
    thumbnail: bytes
    sha256: str


def prepare(uploads: Sequence[Upload], settings: Settings) -> tuple[Prepared, ...]:
    """Every upload read as an image within the limits (attachments.*), or ValidationError naming the first that
    is not one and why: nothing is stored for a message until all of its files are taken."""
    limits = settings.attachments
    if len(uploads) > limits.max_images_per_message:
        raise ValidationError(Msg("attachments.too_many", n=limits.max_images_per_message))
    prepared = []
    for upload in uploads:
        name = sanitize(upload.name, max_chars=NAME_MAX, one_line=True)[:NAME_MAX] or "image"
        try:
            image = read_image(upload.data, max_bytes=int(limits.max_image_mb * 1_048_576),
                               max_pixels=int(limits.max_image_megapixels * 1_000_000))
        except ValidationError as exc:
            raise ValidationError(Msg("attachments.refused", name=name, reason=exc.user_message)) from None
        thumbnail = scaled(image, fit(image.width, image.height, long_edge=THUMBNAIL_EDGE)).data
        prepared.append(Prepared(name, image, thumbnail, hashlib.sha256(upload.data).hexdigest()))
    return tuple(prepared)


def attach(session: Session, message_id: int, prepared: Sequence[Prepared]) -> None:
    """Store the files with their message, in the caller's transaction (each file's bytes once)."""
    for position, p in enumerate(prepared):
        _keep_blob(session, p.sha256, p.image.data)
        session.add(Attachment(message_id=message_id, position=position, name=p.name, media_type=p.image.media_type,
                               size_bytes=len(p.image.data), width=p.image.width, height=p.image.height,
                               sha256=p.sha256, thumbnail=p.thumbnail))
    session.flush()


def copy_attachments(session: Session, from_id: int, to_id: int) -> None:
    """The files of one message given to another (an edited version keeps its original's images)."""
    for a in attachments_of(session, [from_id]).get(from_id, []):
        session.add(Attachment(message_id=to_id, position=a.position, name=a.name, media_type=a.media_type,
                               size_bytes=a.size_bytes, width=a.width, height=a.height, sha256=a.sha256,
                               thumbnail=a.thumbnail))
    session.flush()


def _keep_blob(session: Session, sha256: str, data: bytes) -> None:
    """The bytes under their hash, unless already there (two requests storing one file at once: one row)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AttachmentBlob).values(sha256=sha256, data=data)
                    .on_conflict_do_nothing(index_elements=["sha256"]))


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


def sizes_of(session: Session, message_ids: Sequence[int | None]) -> dict[int, tuple[Image, ...]]:
    """The images of these messages without their bytes: enough to count them (a window, a budget)."""
    return {m: tuple(Image(a.media_type, b"", a.width, a.height) for a in rows)
            for m, rows in attachments_of(session, message_ids).items()}


def images_of(session: Session, message_ids: Sequence[int]) -> dict[int, tuple[Image, ...]]:
    """The images of these messages, bytes included (what a provider is sent)."""
    found: dict[int, list[Image]] = {}
    rows = session.exec(select(Attachment, AttachmentBlob.data)  # type: ignore[call-overload]
                        .join(AttachmentBlob, col(AttachmentBlob.sha256) == col(Attachment.sha256))
                        .where(col(Attachment.message_id).in_(list(message_ids)))
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
                         .where(Conversation.id == conversation_id, Conversation.user_id == user_id).limit(1))
    return found.first() is not None


def sweep_blobs(session: Session) -> int:
    """Remove the bytes no attachment names any more (after messages were purged); returns how many."""
    named = select(Attachment.sha256).distinct()
    result = session.exec(sql_delete(AttachmentBlob).where(  # type: ignore[call-overload]
        col(AttachmentBlob.sha256).not_in(named)))
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
        images = images_of(session, [m]).get(m, ()) if room.left > 0 else ()
        found[m] = [{"name": a.name, "media_type": a.media_type, "data": room.take(i.data) if i else None}
                    for a, i in zip(rows, images or [None] * len(rows), strict=True)]
    return found


def imported(session: Session, message_id: int, attachments: Sequence[Any], settings: Settings) -> None:
    """An imported message's images, read and checked as if sent now (ValidationError: the import stores
    nothing); those an export left without bytes are not restored."""
    uploads = []
    for a in attachments:
        if a.data is None:
            continue
        try:
            uploads.append(Upload(a.name, base64.b64decode(a.data, validate=True)))
        except (binascii.Error, ValueError):
            reason = Msg("attachments.not_image")
            raise ValidationError(Msg("attachments.refused", name=a.name, reason=reason)) from None
    attach(session, message_id, prepare(uploads, settings))
