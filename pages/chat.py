"""Chat: stream a conversation with the chosen model; stop keeps the partial reply."""

from dataclasses import replace

import streamlit as st

from core.accounts import get_preferences, list_presets, teams_of
from core.chat import chat_manager, sources_of
from core.config import get_settings
from core.errors import AppError
from core.history import read_conversation, recent_conversations
from core.knowledge import list_knowledge_bases
from core.models import MessagePublic, PreferencesPublic
from core.ui.actions import run_action
from core.ui.auth.guards import require_user
from core.ui.chat import composer, messages, sidebar
from core.ui.chat.markdown import images_as_links
from core.ui.i18n import t, tr
from core.usage import RateLimitService

user = require_user()
manager = chat_manager(get_settings().sqlalchemy_url)
providers = manager.providers_for(user.id)  # each provider's key resolved once for the picker and the turn

linked = sidebar.conversation_from_url()
if linked is not None:
    found = run_action(lambda s: read_conversation(session=s, user_id=user.id, conversation_id=linked), quiet=True)
    if found is not None:
        sidebar.open_conversation(found[0])
if sidebar.needs_preferences():
    sidebar.apply_preferences(run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic())
sidebar.conversation_list(run_action(lambda s: recent_conversations(session=s, user_id=user.id, limit=15)) or [])
presets = run_action(lambda s: list_presets(session=s, user_id=user.id)) or []
options = sidebar.model_settings(providers.options(), presets)
team = sidebar.team_picker(run_action(lambda s: [(tm.id or 0, tm.name) for tm in teams_of(session=s, user_id=user.id)])
                           or [])
bases = run_action(lambda s: [(kb.id, kb.name) for kb in list_knowledge_bases(session=s, user_id=user.id)]) or []
if options is not None:
    options = replace(options, knowledge_bases=sidebar.knowledge_picker(bases))
conv_id = sidebar.current_conversation()

turn = None
edited = composer.edit_form()
try:
    if options and conv_id and messages.regenerate_requested():
        turn = manager.regenerate(user_id=user.id, conversation_id=conv_id, options=options, providers=providers,
                                  team=team)
    elif options and conv_id and edited is not None:
        turn = manager.edit_last(user_id=user.id, conversation_id=conv_id, text=edited, options=options,
                                 providers=providers, team=team)
except AppError as exc:
    st.error(tr(exc.user_message))

shown: list[MessagePublic] = []
if conv_id:
    opened = run_action(lambda s: read_conversation(session=s, user_id=user.id, conversation_id=conv_id))
    if opened is None:
        sidebar.new_conversation()  # gone, or not this user's: the refusal is shown
    shown = opened[1] if opened else []
if not shown and turn is None:
    st.title(t("nav.chat"))
    st.caption(t("chat.intro"))
messages.focus_callout(shown)
cited = run_action(lambda s: sources_of(s, [m.id for m in shown if m.role == "assistant"]), quiet=True) or {}
for message in shown:
    messages.render_message(message, cited.get(message.id))
if turn is None:
    messages.last_message_actions(shown)

resent = composer.draft_form()
composer.quota_caption(run_action(lambda s: RateLimitService().quota(s, user.id, team).summary(), quiet=True))
prompt = st.chat_input(t("chat.input_placeholder"), key="chat_input", submit_mode="stop", max_chars=None) or resent
if prompt and turn is None and options:
    try:
        turn = manager.send(user_id=user.id, conversation_id=conv_id, text=prompt, options=options,
                            providers=providers, team=team)
    except AppError as exc:  # refused (limit, size, provider): the message comes back as a draft
        composer.keep_draft(prompt, exc.user_message)
        st.rerun()
    composer.clear_draft()
    with st.chat_message("user"):
        st.markdown(images_as_links(prompt))  # as it shows after a reload
if turn is not None and options:
    composer.stream_turn(turn, options)
    st.rerun()
sidebar.sync_url()
