"""Chat sidebar: new and recent conversations, the model picker and the parameters of the next turn."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.chat import ProviderOption, TurnOptions
from core.config import get_settings
from core.history import conversation_knowledge, conversation_params
from core.models import ConversationPublic, PreferencesPublic, PromptPresetPublic
from core.ui import state
from core.ui.i18n import labels, t, tr
from core.ui.params import query_id
from core.validation import escape_markdown

MAX_TOKENS_CAP = 8192  # a reply's max tokens when the catalog sets no max output for the model


def current_conversation() -> int | None:
    return st.session_state.get(state.CONV)


def chosen_model() -> tuple[str, str] | None:
    """The provider and model picked in the sidebar (before the picker runs this time), if any."""
    picked = st.session_state.get(state.MODEL)
    provider, _, model = picked.partition("/") if isinstance(picked, str) else ("", "", "")
    return (provider, model) if provider and model else None


def focus_target() -> int | None:
    """The message a search hit opened the conversation at (until the user moves on)."""
    return st.session_state.get(state.FOCUS)


def needs_preferences() -> bool:
    """True on a session's first run: the user's default model and prompt are not loaded yet."""
    return state.PREFS not in st.session_state


def apply_preferences(prefs: PreferencesPublic) -> None:
    """The user's own default model and prompt, for a new session."""
    st.session_state[state.PREFS] = prefs
    if prefs.default_model and state.MODEL not in st.session_state:
        st.session_state[state.MODEL] = f"{prefs.default_provider}/{prefs.default_model}"


def _defaults() -> None:
    """Every run: widgets not drawn on the last page lost their state; the portal's and the user's defaults."""
    chat = get_settings().chat
    st.session_state.setdefault(state.TEMPERATURE, chat.default_temperature)
    st.session_state.setdefault(state.MAX_TOKENS, chat.default_max_tokens)
    prefs = st.session_state.get(state.PREFS)
    st.session_state.setdefault(state.SYSTEM, prefs.default_system_prompt if prefs else "")


def _model_defaults(choices: dict[str, tuple[ProviderOption, str]]) -> None:
    """The chosen model's default parameters, where the catalog sets them (else the values in place stay)."""
    option, model = choices[st.session_state[state.MODEL]]
    info = option.infos.get(model)
    if info is not None and info.default_temperature is not None:
        st.session_state[state.TEMPERATURE] = info.default_temperature
    if info is not None and info.default_max_tokens is not None:
        st.session_state[state.MAX_TOKENS] = min(info.default_max_tokens, info.max_output or MAX_TOKENS_CAP)


def new_conversation() -> None:
    st.session_state[state.CONV] = None
    st.session_state.pop(state.FOCUS, None)
    prefs = st.session_state.get(state.PREFS)
    st.session_state[state.SYSTEM] = prefs.default_system_prompt if prefs else ""
    st.session_state.pop(state.EDITING, None)


def show_conversation(conversation_id: int | None) -> None:
    """The conversation a turn writes in (a new one included) is the one shown; a search hit's focus ends."""
    st.session_state[state.CONV] = conversation_id
    st.session_state.pop(state.FOCUS, None)


def open_conversation(conv: ConversationPublic, focus: int | None = None) -> None:
    """Switch to conv (at message `focus`) and load its model, system prompt and parameters into the widgets."""
    params = conversation_params(conv)
    chat = get_settings().chat
    st.session_state[state.CONV] = conv.id
    st.session_state[state.FOCUS] = focus
    st.session_state[state.MODEL] = f"{conv.provider}/{conv.model}"
    st.session_state[state.SYSTEM] = conv.system_prompt
    st.session_state[state.TEMPERATURE] = float(params.get("temperature", chat.default_temperature))
    st.session_state[state.MAX_TOKENS] = int(params.get("max_tokens", chat.default_max_tokens))
    st.session_state[state.KNOWLEDGE] = list(conversation_knowledge(conv))  # its questions search these again
    st.session_state.pop(state.EDITING, None)


def conversation_from_url() -> int | None:
    """On a new session (reload, shared link): the conversation named in ?c=, to reopen if it is the user's."""
    if state.CONV in st.session_state:
        return None
    st.session_state[state.CONV] = None
    return query_id("c")  # a mangled link opens a new conversation, never an error


def sync_url() -> None:
    """Keep ?c= in step with the open conversation so a reload reopens it."""
    conv_id = st.session_state.get(state.CONV)
    if conv_id:
        st.query_params["c"] = str(conv_id)
    elif "c" in st.query_params:
        del st.query_params["c"]


def _apply_preset(presets: dict[str, str]) -> None:
    chosen = st.session_state.get(state.PRESET)
    if chosen in presets:
        st.session_state[state.SYSTEM] = presets[chosen]


def model_settings(options: list[ProviderOption], presets: list[PromptPresetPublic],
                   sees: Callable[[str, str], bool] | None = None) -> TurnOptions | None:
    """The model picker (saying why a provider is not offered) and parameters; the options of the next turn.
    sees: the conversation has images, and this says which models can see them (only those are offered)."""
    _defaults()
    every = {f"{o.name}/{m}": (o, m) for o in options if o.unavailable is None for m in o.models}
    seeing = {k: v for k, v in every.items() if sees is not None and sees(v[0].name, v[1])}
    # None of them can see: all are offered (a message without its images can still go), saying so.
    choices = seeing if sees is not None and seeing else every
    with st.sidebar.expander(t("chat.model_and_params"), expanded=sees is not None):
        if sees is not None:
            st.caption(t("chat.sees_only") if seeing else t("chat.sees_none"))
        if not choices:
            st.error(t("chat.no_provider"))
            return None
        default = next((k for k in choices if k.startswith(get_settings().chat.default_provider + "/")), None)
        if st.session_state.get(state.MODEL) not in choices:
            st.session_state[state.MODEL] = default or next(iter(choices))
            _model_defaults(choices)
        names = {k: f"{tr(o.label)} · {o.title(m)}" for k, (o, m) in choices.items()}
        key = st.selectbox(t("common.model"), list(choices), key=state.MODEL, format_func=labels(names),
                           on_change=_model_defaults, args=(choices,))
        option, model = choices[key]
        info = option.infos.get(model)
        if info is not None and info.description:
            st.caption(escape_markdown(info.description))
        for unavailable in options:
            if unavailable.unavailable:
                st.caption(f"{tr(unavailable.label)}: {tr(unavailable.unavailable)}")
        cap = info.max_output if info is not None and info.max_output else MAX_TOKENS_CAP
        st.session_state[state.MAX_TOKENS] = min(int(st.session_state[state.MAX_TOKENS]), cap)
        st.slider(t("chat.temperature"), 0.0, 2.0, step=0.1, key=state.TEMPERATURE)
        st.number_input(t("chat.max_tokens"), min_value=min(16, cap), max_value=cap, step=16, key=state.MAX_TOKENS)
        by_name = {p.name: p.content for p in presets}
        if by_name:
            st.selectbox(t("chat.preset"), list(by_name), index=None, placeholder=t("chat.preset_placeholder"),
                         key=state.PRESET, on_change=_apply_preset, args=(by_name,))
        st.text_area(t("chat.system_prompt"), key=state.SYSTEM, height=100, max_chars=8000)
    session = st.session_state
    return TurnOptions(provider=option.name, model=model, temperature=float(session[state.TEMPERATURE]),
                       max_tokens=int(session[state.MAX_TOKENS]), system_prompt=session[state.SYSTEM])


def team_picker(teams: list[tuple[int, str]]) -> int | None:
    """The team this chat is charged to: a choice when the user belongs to several (their default first)."""
    if not teams:
        return None
    names = dict(teams)
    if len(teams) == 1:
        st.sidebar.caption(t("teams.charged", team=teams[0][1]))
        return teams[0][0]
    if st.session_state.get(state.TEAM) not in names:
        st.session_state[state.TEAM] = teams[0][0]
    return int(st.sidebar.selectbox(t("teams.pick"), list(names), key=state.TEAM, format_func=labels(names)))


def knowledge_picker(bases: list[tuple[int, str]]) -> tuple[int, ...]:
    """The knowledge bases the next answers come from (none: the model alone)."""
    if not bases:
        return ()
    names = dict(bases)
    kept = [kb for kb in st.session_state.get(state.KNOWLEDGE, []) if kb in names]
    st.session_state[state.KNOWLEDGE] = kept
    chosen = st.sidebar.multiselect(t("knowledge.ask_from"), list(names), key=state.KNOWLEDGE,
                                    format_func=labels(names), placeholder=t("knowledge.ask_from_placeholder"))
    return tuple(int(kb) for kb in chosen)
