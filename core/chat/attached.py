"""The images of a turn's messages: their sizes (to count them against a window and a budget) read with the
history, their bytes read only for the messages a request sends, once per turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import session_scope
from core.history.attachments import Prepared, images_of, sizes_of
from core.models import Message
from core.providers.images import Image

NEW = 0  # the key of the message being sent, until it is stored


@dataclass
class Attached:
    """Images by message id (NEW: the message being sent or edited, not stored yet)."""

    engine: Engine
    sizes: dict[int, tuple[Image, ...]]
    loaded: dict[int, tuple[Image, ...]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, engine: Engine, history: Sequence[Message],
             new: Sequence[Prepared] | tuple[Image, ...] = ()) -> Attached | None:
        """The images of history's stored messages, and new ones for the message being sent; None if none."""
        sizes = sizes_of(session, [m.id for m in history if m.id])
        images = tuple(p.image if isinstance(p, Prepared) else p for p in new)
        if images:
            sizes[NEW] = images
        return cls(engine, sizes, {NEW: images} if images else {}) if sizes else None

    def counted(self, message: Message) -> tuple[Image, ...]:
        """The message's images as far as counting goes (their bytes may not be read yet)."""
        return self.sizes.get(message.id or NEW, ())

    def images(self, messages: Sequence[Message]) -> dict[int, tuple[Image, ...]]:
        """The images of these messages with their bytes (read from the database once, for those not read yet)."""
        keys = [m.id or NEW for m in messages if self.sizes.get(m.id or NEW)]
        missing = [k for k in keys if k not in self.loaded]
        if missing:
            with session_scope(self.engine) as session:
                self.loaded.update(images_of(session, missing))
        return {k: self.loaded.get(k, ()) for k in keys}

    def stored(self, message_id: int | None) -> None:
        """The message being sent was stored as message_id: its images are found under it from now on."""
        if message_id and NEW in self.sizes:
            self.sizes[message_id] = self.sizes.pop(NEW)
            self.loaded[message_id] = self.loaded.pop(NEW, self.sizes[message_id])
