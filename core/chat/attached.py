"""The files of a turn's messages: images' sizes (to count them against a window and a budget) read with the
history, their bytes read only for the messages a request sends, once per turn; documents' text (sent with their
message, core.chat.files.with_documents)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import session_scope
from core.history.attachments import Prepared, contents_of, images_of
from core.models import Message
from core.providers.images import Image

NEW = 0  # the key of the message being sent, until it is stored


@dataclass
class Attached:
    """Images and documents by message id (NEW: the message being sent or edited, not stored yet)."""

    engine: Engine
    sizes: dict[int, tuple[Image, ...]]
    documents: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # sent whole: (name, text)
    long: dict[int, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)  # (name, text, passages)
    loaded: dict[int, tuple[Image, ...]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, engine: Engine, history: Sequence[Message],
             new: Sequence[Prepared] | tuple[Image, ...] = (), new_documents: Sequence[tuple[str, str]] = (),
             new_long: Sequence[tuple[str, str, str]] = ()) -> Attached | None:
        """The files of history's stored messages, and new ones for the message being sent; None if none."""
        found = contents_of(session, [m.id for m in history if m.id])
        prepared = [p for p in new if isinstance(p, Prepared)]
        images = tuple(i for i in (p if isinstance(p, Image) else p.image for p in new) if i is not None)
        whole = (*new_documents, *((p.name, p.text) for p in prepared if p.kind == "document"))
        long = (*new_long, *((p.name, p.text, p.passages) for p in prepared if p.kind == "passages"))
        if images:
            found.images[NEW] = images
        if whole:
            found.documents[NEW] = whole
        if long:
            found.long[NEW] = long
        if not (found.images or found.documents or found.long):
            return None
        return cls(engine, found.images, found.documents, found.long, {NEW: images} if images else {})

    @property
    def has_images(self) -> bool:
        """Only a model that can see may answer."""
        return bool(self.sizes)

    def counted(self, message: Message) -> tuple[Image, ...]:
        """The message's images as far as counting goes (their bytes may not be read yet)."""
        return self.sizes.get(message.id or NEW, ())

    def documents_of(self, message: Message) -> tuple[tuple[str, str], ...]:
        return self.documents.get(message.id or NEW, ())

    def images(self, messages: Sequence[Message]) -> dict[int, tuple[Image, ...]]:
        """The images of these messages with their bytes (read from the database once, for those not read yet)."""
        keys = [m.id or NEW for m in messages if self.sizes.get(m.id or NEW)]
        missing = [k for k in keys if k not in self.loaded]
        if missing:
            with session_scope(self.engine) as session:
                self.loaded.update(images_of(session, missing))
        return {k: self.loaded.get(k, ()) for k in keys}

    def stored(self, message_id: int | None) -> None:
        """The message being sent was stored as message_id: its files are found under it from now on."""
        if not message_id:
            return
        if NEW in self.sizes:
            self.sizes[message_id] = self.sizes.pop(NEW)
            self.loaded[message_id] = self.loaded.pop(NEW, self.sizes[message_id])
        if NEW in self.documents:
            self.documents[message_id] = self.documents.pop(NEW)
        if NEW in self.long:
            self.long[message_id] = self.long.pop(NEW)
