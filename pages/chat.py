"""Chat: stream a conversation with the chosen model; every version kept, stop keeps the partial reply.

One run per reply: the message is stored first (a new conversation is in the list before the reply streams), the
conversation is drawn without actions while the reply streams, then drawn again over itself once the turn is stored
(markers, versions, actions), with the quota line after it: the page is whole when the run ends, without running
again."""

from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.accounts import get_preferences, list_presets, teams_of
from core.chat import chat_manager
from core.config import get_settings
from core.errors import AppError, RateLimited
from core.history import read_conversation
from core.history.attachments import has_images
from core.knowledge import list_knowledge_bases
from core.models import PreferencesPublic
from core.ui.actions import run_action
from core.ui.auth.guards import require_user
from core.ui.chat import composer, conversation_list, message_actions, messages, sidebar
from core.ui.chat.thread import read_shown
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
# Only models that see are offered while the draft or the conversation has images, or while this run sends some
# to a model that sees; a model that cannot see, chosen before the images were attached, is kept: the message is
# refused saying why and comes back as a draft (never sent elsewhere without the user's choice).
chosen = sidebar.chosen_model()
imaged = composer.draft_images() or bool(run_action(
    lambda s: has_images(s, user.id, sidebar.current_conversation()), quiet=True)) or (
    composer.images_sent() and chosen is not None and providers.sees(*chosen))
options = sidebar.model_settings(providers.options(), presets, providers.sees if imaged else None)
team = sidebar.team_picker(run_action(lambda s: [(tm.id or 0, tm.name) for tm in teams_of(session=s, user_id=user.id)])
                           or [])
bases = run_action(lambda s: [(kb.id, kb.name) for kb in list_knowledge_bases(session=s, user_id=user.id)]) or []
if options is not None:
    options = replace(options, knowledge_bases=sidebar.knowledge_picker(bases))
conversations = conversation_list.place()  # under the pickers; drawn last
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

if turn is not None:
    conv_id = turn.conversation_id
body = st.empty()  # the conversation; what follows it keeps its place however long it grows
draft = st.empty()
with draft.container():
    resent = composer.draft_form()
    if composer.waiting():
        composer.countdown()
quota = st.empty()
sent = composer.chat_box(disabled=composer.waiting()) or resent
if sent and turn is None and options:
    prompt, files = sent
    try:  # stored before anything is drawn: a new conversation is in the list, the message in the thread
        with composer.reading(files):  # a long document's passages are embedded once, here
            turn = manager.send(user_id=user.id, conversation_id=conv_id, text=prompt, options=options,
                                providers=providers, team=team, files=files)
    except AppError as exc:  # refused (limit, size, an image, the model): the message comes back as a draft
        composer.keep_draft(prompt, exc.user_message,
                            exc.retry_after_seconds if isinstance(exc, RateLimited) else None, files)
        st.rerun()
    composer.clear_draft()
    draft.empty()
    conv_id = turn.conversation_id
    sidebar.show_conversation(conv_id)


def show_quota() -> None:
    with quota:
        composer.quota_caption(run_action(lambda s: RateLimitService().quota(s, user.id, team).summary(),
                                          quiet=True))


def draw(shown: messages.Shown, conv: int | None) -> DeltaGenerator:
    """The conversation in its place (over what was there); the container, for a reply to stream into."""
    box = body.container()
    with box:
        if turn is None and not shown.messages:
            st.title(t("nav.chat"))
            st.caption(t("chat.intro"))
        messages.focus_callout(shown.messages)
        messages.render_thread(shown, user.id, conv or 0)
    return box


conversation_list.render(user.id, conversations)  # before a reply streams: it stays fresh, never faded
show_quota()
shown = messages.Shown([])
if conv_id:
    stored = read_shown(user.id, conv_id, turn)
    if stored is None:
        sidebar.new_conversation()  # gone, or not this user's: the refusal is shown
        conv_id = None
    else:
        shown = stored
box = draw(shown, conv_id)
if turn is not None and options:
    with box:
        composer.stream_turn(turn, options)
    draw(read_shown(user.id, turn.conversation_id) or messages.Shown([]), turn.conversation_id)  # as stored
    show_quota()
sidebar.sync_url()
