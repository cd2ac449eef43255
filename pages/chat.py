"""Chat: stream a conversation with the chosen model; every version kept, stop keeps the partial reply."""

from dataclasses import replace

import streamlit as st

from core.accounts import get_preferences, list_presets, teams_of
from core.chat import chat_manager, sources_of
from core.config import get_settings
from core.errors import AppError, RateLimited
from core.history import feedback_for, read_conversation, read_thread, show_version
from core.knowledge import list_knowledge_bases
from core.models import PreferencesPublic
from core.ui.actions import run_action
from core.ui.auth.guards import require_user
from core.ui.chat import composer, conversation_list, message_actions, messages, sidebar
from core.ui.chat.markdown import display
from core.ui.i18n import t, tr
from core.usage import RateLimitService

user = require_user()
composer.wait_for_last_turn()  # a Stop (or any click) while a reply streamed: that reply is stored first
manager = chat_manager(get_settings().sqlalchemy_url)
providers = manager.providers_for(user.id)  # each provider's key resolved once for the picker and the turn

linked = sidebar.conversation_from_url()
if linked is not None:
    found = run_action(lambda s: read_conversation(session=s, user_id=user.id, conversation_id=linked), quiet=True)
    if found is not None:
        sidebar.open_conversation(found[0])
if sidebar.needs_preferences():
    sidebar.apply_preferences(run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic())
presets = run_action(lambda s: list_presets(session=s, user_id=user.id)) or []
options = sidebar.model_settings(providers.options(), presets)
team = sidebar.team_picker(run_action(lambda s: [(tm.id or 0, tm.name) for tm in teams_of(session=s, user_id=user.id)])
                           or [])
bases = run_action(lambda s: [(kb.id, kb.name) for kb in list_knowledge_bases(session=s, user_id=user.id)]) or []
if options is not None:
    options = replace(options, knowledge_bases=sidebar.knowledge_picker(bases))
conversation_list.render(user.id)  # under the pickers
conv_id = sidebar.current_conversation()

turn = None
pending = message_actions.take_pending()
try:
    if options and conv_id and pending and pending.kind == "regenerate":
        turn = manager.regenerate(user_id=user.id, conversation_id=conv_id, options=options, providers=providers,
                                  team=team)
    elif options and conv_id and pending and pending.kind == "continue":
        turn = manager.continue_reply(user_id=user.id, conversation_id=conv_id, options=options, providers=providers,
                                      team=team)
    elif options and conv_id and pending and pending.kind == "edit":
        turn = manager.edit(user_id=user.id, conversation_id=conv_id, message_id=pending.message_id,
                            text=pending.text, options=options, providers=providers, team=team)
except AppError as exc:
    st.error(tr(exc.user_message))

body = st.container()  # the conversation; what follows it keeps its place however long it grows
shown = messages.Shown([])
if conv_id:
    focus = sidebar.focus_target()
    thread = run_action(lambda s: read_thread(session=s, user_id=user.id, conversation_id=conv_id))
    if thread is not None and focus and focus not in {m.id for m in thread.messages}:  # a hit in another version
        run_action(lambda s: show_version(session=s, user_id=user.id, conversation_id=conv_id, message_id=focus),
                   quiet=True)
        thread = run_action(lambda s: read_thread(session=s, user_id=user.id, conversation_id=conv_id))
    if thread is None:
        sidebar.new_conversation()  # gone, or not this user's: the refusal is shown
    else:
        asked = turn.setup if turn is not None else None
        kept = None if asked is None else {m.id for m in asked.history if m.id != asked.continues}
        listed = [m for m in thread.messages if kept is None or m.id in kept]  # the turn's reply is streamed below
        replies = [m.id for m in listed if m.role == "assistant"]
        shown = messages.Shown(
            listed, thread.versions,
            run_action(lambda s: sources_of(s, replies), quiet=True) or {},
            messages.ratings(run_action(lambda s: feedback_for(session=s, user_id=user.id, message_ids=replies),
                                        quiet=True)),
            busy=turn is not None)
with body:
    if not shown.messages and turn is None:
        st.title(t("nav.chat"))
        st.caption(t("chat.intro"))
    messages.focus_callout(shown.messages)
    messages.render_thread(shown, user.id, conv_id or 0)

resent = composer.draft_form()
if composer.waiting():
    composer.countdown()
composer.quota_caption(run_action(lambda s: RateLimitService().quota(s, user.id, team).summary(), quiet=True))
prompt = st.chat_input(t("chat.input_placeholder"), key="chat_input", submit_mode="disable", max_chars=None,
                       disabled=composer.waiting()) or resent
if prompt and turn is None and options:
    try:
        turn = manager.send(user_id=user.id, conversation_id=conv_id, text=prompt, options=options,
                            providers=providers, team=team)
    except AppError as exc:  # refused (limit, size, provider): the message comes back as a draft
        composer.keep_draft(prompt, exc.user_message,
                            exc.retry_after_seconds if isinstance(exc, RateLimited) else None)
        st.rerun()
    composer.clear_draft()
    with body, st.chat_message("user"):
        st.markdown(display(prompt))  # as it shows after a reload
if turn is not None and options:
    with body:
        composer.stream_turn(turn, options)
    st.rerun()
sidebar.sync_url()
