"""Chat widgets: model picker and parameters, message bubbles, streaming a turn with a stop button."""

from __future__ import annotations

import streamlit as st

from core.chat import ConversationManager, Turn, TurnOptions
from core.config import get_settings
from core.conversations import conversation_params, read_conversation, recent_conversations
from core.db import session_scope
from core.errors import AppError
from core.models import ConversationPublic, MessagePublic, UserPublic
from core.preferences import get_preferences, list_presets
from core.providers.registry import ProviderOption, provider_options, warm_up
from core.ratelimit import RateLimitService
from core.ui.i18n import labels, t, tr

_MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def escape_markdown(text: str) -> str:
    """Show text literally in a widget label (labels render Markdown)."""
    return text.translate(_MARKDOWN_SPECIALS)


CONV = "chat_conversation_id"
MODEL = "chat_model"
TEMPERATURE = "chat_temperature"
MAX_TOKENS = "chat_max_tokens"
SYSTEM = "chat_system_prompt"
PENDING = "chat_pending"
DRAFT = "chat_draft"
PREFS = "chat_preferences"
PRESET = "chat_preset"
FOCUS = "chat_focus_message"
DRAFT_ERROR = "chat_draft_error"
EDITING = "chat_editing"


@st.cache_resource(show_spinner=False)
def get_manager(database_url: str) -> ConversationManager:
    return ConversationManager()


def manager() -> ConversationManager:
    return get_manager(get_settings().sqlalchemy_url)


def _defaults(user: UserPublic) -> None:
    """First run of a session: the portal's parameters and the user's own default model and prompt."""
    chat = get_settings().chat
    st.session_state.setdefault(TEMPERATURE, chat.default_temperature)
    st.session_state.setdefault(MAX_TOKENS, chat.default_max_tokens)
    if PREFS not in st.session_state:
        with session_scope() as session:
            prefs = get_preferences(session=session, user_id=user.id)
        st.session_state[PREFS] = prefs
        if prefs.default_model and MODEL not in st.session_state:
            st.session_state[MODEL] = f"{prefs.default_provider}/{prefs.default_model}"
    st.session_state.setdefault(SYSTEM, st.session_state[PREFS].default_system_prompt)


def new_conversation() -> None:
    st.session_state[CONV] = None
    st.session_state.pop(FOCUS, None)
    prefs = st.session_state.get(PREFS)
    st.session_state[SYSTEM] = prefs.default_system_prompt if prefs else ""
    st.session_state.pop(EDITING, None)


def open_conversation(conv: ConversationPublic) -> None:
    """Switch to conv and load its model, system prompt and parameters into the widgets."""
    params = conversation_params(conv)
    st.session_state[CONV] = conv.id
    st.session_state.pop(FOCUS, None)
    st.session_state[MODEL] = f"{conv.provider}/{conv.model}"
    st.session_state[SYSTEM] = conv.system_prompt
    st.session_state[TEMPERATURE] = float(params.get("temperature", get_settings().chat.default_temperature))
    st.session_state[MAX_TOKENS] = int(params.get("max_tokens", get_settings().chat.default_max_tokens))
    st.session_state.pop(EDITING, None)


def restore_from_url(user: UserPublic) -> None:
    """On a new session (reload, shared link), reopen the conversation named in ?c=, if it is the user's."""
    if CONV in st.session_state:
        return
    st.session_state[CONV] = None
    raw = st.query_params.get("c", "")
    if not raw.isdigit():
        return
    try:
        with session_scope() as session:
            conv, _ = read_conversation(session=session, user_id=user.id, conversation_id=int(raw))
    except AppError:
        return  # not theirs or gone: start a new conversation
    open_conversation(conv)


def sync_url() -> None:
    """Keep ?c= in step with the open conversation so a reload reopens it."""
    conv_id = st.session_state.get(CONV)
    if conv_id:
        st.query_params["c"] = str(conv_id)
    elif "c" in st.query_params:
        del st.query_params["c"]


def sidebar(user: UserPublic) -> TurnOptions | None:
    """Conversation list, model picker and parameters; returns the options for the next turn."""
    _defaults(user)
    st.sidebar.button(t("chat.new"), key="chat_new", on_click=new_conversation, icon=":material/add:",
                      width="stretch")
    with session_scope() as session:
        recent = recent_conversations(session=session, user_id=user.id, limit=15)
    for conv in recent:
        current = conv.id == st.session_state.get(CONV)
        st.sidebar.button(escape_markdown(conv.title), key=f"chat_open_{conv.id}", on_click=open_conversation,
                          args=(conv,), type="primary" if current else "tertiary", width="stretch")
    return _model_settings(provider_options(user_id=user.id), user)


def _apply_preset(presets: dict[str, str]) -> None:
    chosen = st.session_state.get(PRESET)
    if chosen in presets:
        st.session_state[SYSTEM] = presets[chosen]


def _model_settings(options: list[ProviderOption], user: UserPublic) -> TurnOptions | None:
    choices = {f"{o.name}/{m}": (o, m) for o in options if o.unavailable is None for m in o.models}
    with st.sidebar.expander(t("chat.model_and_params"), expanded=False):
        if not choices:
            st.error(t("chat.no_provider"))
            return None
        default = next((k for k in choices if k.startswith(get_settings().chat.default_provider + "/")), None)
        if st.session_state.get(MODEL) not in choices:
            st.session_state[MODEL] = default or next(iter(choices))
        names = {k: f"{tr(o.label)} · {m}" for k, (o, m) in choices.items()}
        key = st.selectbox(t("common.model"), list(choices), key=MODEL, format_func=labels(names))
        for option in options:
            if option.unavailable:
                st.caption(f"{tr(option.label)}: {tr(option.unavailable)}")
        option, model = choices[key]
        st.slider(t("chat.temperature"), 0.0, 2.0, step=0.1, key=TEMPERATURE)
        st.number_input(t("chat.max_tokens"), min_value=16, max_value=8192, step=16, key=MAX_TOKENS)
        with session_scope() as session:
            presets = {p.name: p.content for p in list_presets(session=session, user_id=user.id)}
        if presets:
            st.selectbox(t("chat.preset"), list(presets), index=None, placeholder=t("chat.preset_placeholder"),
                         key=PRESET, on_change=_apply_preset, args=(presets,))
        st.text_area(t("chat.system_prompt"), key=SYSTEM, height=100, max_chars=8000)
    state = st.session_state
    return TurnOptions(provider=option.name, model=model, temperature=float(state[TEMPERATURE]),
                       max_tokens=int(state[MAX_TOKENS]), system_prompt=state[SYSTEM])


def load_messages(user: UserPublic) -> list[MessagePublic]:
    conv_id = st.session_state.get(CONV)
    if not conv_id:
        return []
    try:
        with session_scope() as session:
            _, messages = read_conversation(session=session, user_id=user.id, conversation_id=conv_id)
    except AppError as exc:
        st.session_state[CONV] = None
        st.error(tr(exc.user_message))
        return []
    return messages


def render_message(message: MessagePublic) -> None:
    with st.chat_message(message.role):
        if message.content:
            st.markdown(message.content)  # HTML stays escaped: model output is never trusted
        if message.role != "assistant":
            return
        if message.status == "error":
            st.error(tr(message.error) or t("chat.provider_failed"))
        parts = [p for p in (message.provider, message.model) if p]
        if message.fallback_from:
            parts.append(t("chat.fallback_note", provider=message.fallback_from))
        if message.status == "interrupted":
            parts.append(t("chat.interrupted_note"))
        if parts:
            st.caption(" · ".join(parts))


def _set_pending(action: str) -> None:
    st.session_state[PENDING] = action


def _start_edit(content: str) -> None:
    st.session_state[EDITING] = content


def last_message_actions(messages: list[MessagePublic]) -> None:
    """Regenerate the last reply; edit the last user message and resend."""
    if not messages:
        return
    cols = st.columns([1.6, 1, 5])
    if messages[-1].role == "assistant":
        cols[0].button(t("chat.regenerate"), key="chat_regenerate", on_click=_set_pending, args=("regenerate",),
                       icon=":material/refresh:")
    last_user = next((m for m in reversed(messages) if m.role == "user"), None)
    if last_user is not None and EDITING not in st.session_state:
        cols[1].button(t("chat.edit"), key="chat_edit", on_click=_start_edit, args=(last_user.content,),
                       icon=":material/edit:")


def _message_form(state_key: str, label: str, dismiss: str) -> str | None:
    """An editable message kept in state_key, with Send and a dismiss button; the text when sent."""
    with st.form(f"{state_key}_form"):
        text = st.text_area(label, value=st.session_state[state_key], key=f"{state_key}_text")
        cols = st.columns([1, 1, 6])
        send = cols[0].form_submit_button(t("chat.send"), type="primary")
        dismissed = cols[1].form_submit_button(dismiss)
    if dismissed:
        st.session_state.pop(state_key, None)
        st.rerun()
    return text if send else None


def edit_form() -> str | None:
    """The edit box for the last user message; returns the new text when submitted."""
    if EDITING not in st.session_state:
        return None
    text = _message_form(EDITING, t("chat.edit_label"), t("common.cancel"))
    if text is not None:
        st.session_state.pop(EDITING, None)
    return text


def stream_turn(turn: Turn, options: TurnOptions) -> None:
    """Stream the reply; whatever happens (stop button included) the turn is closed and stored."""
    st.session_state[CONV] = turn.conversation_id
    st.session_state.pop(FOCUS, None)
    sync_url()  # before streaming: a stopped script sends nothing more to the browser
    with st.chat_message("assistant"):
        if options.provider == "local":
            with st.spinner(t("chat.loading_local")):
                warm_up("local")
        try:
            st.write_stream(turn.deltas())
        finally:
            outcome = turn.close()  # runs on StopException too: the partial reply is kept
        if outcome.error and outcome.status == "error":
            st.error(tr(outcome.error))


def keep_draft(text: str, error: str) -> None:
    """A refused message is not lost: it comes back in an editable box with the reason."""
    st.session_state[DRAFT] = text
    st.session_state[DRAFT_ERROR] = error


def draft_form() -> str | None:
    """The kept message, editable, with Send; returns its text when sent again."""
    if DRAFT not in st.session_state:
        return None
    st.error(tr(st.session_state.get(DRAFT_ERROR)) or t("chat.not_sent"))
    return _message_form(DRAFT, t("chat.draft_label"), t("chat.discard"))


def clear_draft() -> None:
    st.session_state.pop(DRAFT, None)
    st.session_state.pop(DRAFT_ERROR, None)


def quota_caption(user: UserPublic) -> None:
    """Remaining quota, shown above the chat input."""
    try:
        with session_scope() as session:
            summary = RateLimitService().quota(session, user.id).summary()
    except AppError:
        return
    st.caption(tr(summary))


def focus_callout(messages: list[MessagePublic]) -> None:
    """Opened from a search hit: show the hit with the messages around it before the whole conversation."""
    # Kept until the user moves on (new message, other conversation): reruns must not lose it.
    target = st.session_state.get(FOCUS)
    index = next((i for i, m in enumerate(messages) if m.id == target), None)
    if index is None:
        return
    with st.container(border=True):
        st.caption(t("chat.search_hit", n=index + 1, total=len(messages)))
        for message in messages[max(0, index - 1) : index + 2]:
            render_message(message)
