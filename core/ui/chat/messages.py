"""Chat bubbles: the conversation's messages, the search hit in context, and the last message's actions."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from core.i18n import Msg
from core.models import MessagePublic, MessageRole, MessageSource, MessageStatus
from core.ui import state
from core.ui.chat.markdown import images_as_links
from core.ui.i18n import t, tr
from core.validation import escape_markdown


def render_message(message: MessagePublic, sources: list[MessageSource] | None = None) -> None:
    with st.chat_message(message.role.value):
        if message.content:
            st.markdown(images_as_links(message.content))  # HTML stays escaped, images are links: never trusted
        if message.role != MessageRole.assistant:
            return
        if sources:
            render_sources(sources)
        if message.status == MessageStatus.error:
            st.error(tr(message.error) or t("chat.provider_failed"))
        parts = [escape_markdown(p) for p in (message.provider, message.model) if p]  # imported names are data
        if message.fallback_from:
            parts.append(t("chat.fallback_note", provider=escape_markdown(message.fallback_from)))
        if message.status == MessageStatus.interrupted:
            lost = message.error == Msg("chat.instance_lost")  # its server stopped mid-reply (core.chat.live)
            parts.append(tr(message.error) if lost else t("chat.interrupted_note"))
        elif message.status == MessageStatus.streaming:
            parts.append(t("chat.streaming_note"))
        if parts:
            st.caption(" · ".join(parts))


def render_sources(sources: list[MessageSource]) -> None:
    """The reply's numbered sources; each opens its document at the cited passage (Knowledge page)."""
    with st.expander(t("knowledge.sources", n=len(sources)), expanded=False):
        for source in sources:
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


def _set_pending(action: str) -> None:
    st.session_state[state.PENDING] = action


def _start_edit(content: str) -> None:
    st.session_state[state.EDITING] = content


def last_message_actions(messages: list[MessagePublic]) -> None:
    """Regenerate the last reply; edit the last user message and resend."""
    if not messages:
        return
    cols = st.columns([1.6, 1, 5])
    if messages[-1].role == MessageRole.assistant:
        cols[0].button(t("chat.regenerate"), key="chat_regenerate", on_click=_set_pending, args=("regenerate",),
                       icon=":material/refresh:")
    last_user = next((m for m in reversed(messages) if m.role == MessageRole.user), None)
    if last_user is not None and state.EDITING not in st.session_state:
        cols[1].button(t("chat.edit"), key="chat_edit", on_click=_start_edit, args=(last_user.content,),
                       icon=":material/edit:")


def regenerate_requested() -> bool:
    """True once after the Regenerate button was pressed."""
    return st.session_state.pop(state.PENDING, None) == "regenerate"
