"""Chat bubbles: the branch shown with its markers and actions, the search hit in context, the edit box in place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from core.chat import cited
from core.history import Version
from core.i18n import Msg
from core.models import Attachment, MessagePublic, MessageRole, MessageSource, MessageStatus
from core.ui import state
from core.ui.chat import message_actions
from core.ui.chat.markdown import display
from core.ui.i18n import t, tr
from core.validation import escape_markdown


@dataclass
class Shown:
    """What the page shows of a conversation: its branch, and what goes with the messages."""

    messages: list[MessagePublic]
    versions: dict[int, Version] = field(default_factory=dict)
    sources: dict[int, list[MessageSource]] = field(default_factory=dict)
    feedback: dict[int, tuple[int, str]] = field(default_factory=dict)  # reply id -> (rating, comment)
    busy: bool = False  # a reply is being written: no actions
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)  # a user message's images


def ratings(feedback: Mapping[int, Any] | None) -> dict[int, tuple[int, str]]:
    """Reply id -> (rating, comment), from the user's feedback on the replies shown."""
    return {mid: (int(f.rating), str(f.comment or "")) for mid, f in (feedback or {}).items()}


def render_message(message: MessagePublic, sources: list[MessageSource] | None = None) -> None:
    """One message as it is stored (HTML stays escaped, images are links: never trusted)."""
    with st.chat_message(message.role.value):
        _body(message, sources)


def _body(message: MessagePublic, sources: list[MessageSource] | None,
          attachments: list[Attachment] | None = None) -> None:
    if attachments:
        thumbnails(attachments)
    if message.content:
        st.markdown(display(message.content))
    if message.role != MessageRole.assistant:
        return
    if sources:
        render_sources(sources, cited(message.content))
    if message.status == MessageStatus.error:
        st.error(tr(message.error) or t("chat.provider_failed"))
    st.caption(" · ".join(_notes(message)))


def _notes(message: MessagePublic) -> list[str]:
    """The reply's provider and model, and why it ended early (stopped, cut at the token limit, instance lost)."""
    parts = [escape_markdown(p) for p in (message.provider, message.model) if p]  # imported names are data
    if message.fallback_from:
        parts.append(t("chat.fallback_note", provider=escape_markdown(message.fallback_from)))
    if message.status == MessageStatus.streaming:
        parts.append(t("chat.streaming_note"))
    elif message.error == Msg("chat.instance_lost"):  # its server stopped mid-reply (core.chat.live)
        parts.append(tr(message.error))
    elif message.stop_reason == "length":
        parts.append(t("chat.length_note"))
    elif message.stop_reason == "stopped" or message.status == MessageStatus.interrupted:
        parts.append(t("chat.interrupted_note"))
    return parts


def render_thread(shown: Shown, user_id: int, conversation_id: int) -> None:
    """The branch, each message with its versions and actions; the message being edited as an edit box in place."""
    message_actions.install_copy()
    editing = st.session_state.get(state.EDITING)
    last = shown.messages[-1].id if shown.messages else None
    for message in shown.messages:
        with st.chat_message(message.role.value):
            if editing == message.id and not shown.busy:
                message_actions.edit_box(message)
                continue
            _body(message, shown.sources.get(message.id), shown.attachments.get(message.id))
            if not shown.busy:
                message_actions.row(message, shown.versions.get(message.id), shown.feedback.get(message.id),
                                    user_id=user_id, conversation_id=conversation_id, last=message.id == last)


def thumbnails(attachments: list[Attachment]) -> None:
    """A user message's images, small, side by side, then its documents by name (names are data: shown
    literally)."""
    images = [a for a in attachments if a.kind == "image"]
    columns = st.columns(min(len(images), 4)) if images else []
    for n, attachment in enumerate(images):
        with columns[n % len(columns)]:
            st.image(attachment.thumbnail, width=160)
            st.caption(t("chat.image_of", name=escape_markdown(attachment.name)))
    for attachment in attachments:
        if attachment.kind in ("document", "passages"):
            key = "chat.document_of" if attachment.kind == "document" else "chat.document_passages_of"
            st.caption(":material/description: " + t(key, name=escape_markdown(attachment.name)))


def render_sources(sources: list[MessageSource], said: set[int]) -> None:
    """The reply's numbered sources, those it cites first (said: their numbers), then those only given to the
    model; each opens its document at the passage (Knowledge page)."""
    quoted = [s for s in sources if s.n in said]
    given = [s for s in sources if s.n not in said]
    with st.expander(t("knowledge.sources_cited", cited=len(quoted), given=len(given)), expanded=False):
        for source in quoted + given:
            if source is (given[0] if given else None):
                st.caption(t("knowledge.not_cited"))
            where = f"p. {source.page}" if source.page else source.section
            title = escape_markdown(f"[{source.n}] {source.document_name}" + (f" · {where}" if where else ""))
            if source.document_id:
                query = urlencode({"doc": source.document_id, "start": source.start, "end": source.end})
                st.markdown(f"[{title}](knowledge?{query})")
            else:
                st.markdown(title)
            st.caption(escape_markdown(source.snippet[:300] + ("…" if len(source.snippet) > 300 else "")))


def focus_callout(messages: list[MessagePublic]) -> None:
    """Opened from a search hit: show the hit with the messages around it before the whole conversation."""
    # Kept until the user moves on (new message, other conversation): reruns must not lose it.
    target = st.session_state.get(state.FOCUS)
    index = next((i for i, m in enumerate(messages) if m.id == target), None)
    if index is None:
        return
    with st.container(border=True):
        st.caption(t("chat.search_hit", n=index + 1, total=len(messages)))
        for message in messages[max(0, index - 1) : index + 2]:
            render_message(message)
