"""Chat: stream a conversation with the chosen model; stop keeps the partial reply."""

import streamlit as st

from core.errors import AppError
from core.ui import auth
from core.ui import chat_view as view
from core.ui.i18n import t, tr

user = auth.require_user()
view.restore_from_url(user)
options = view.sidebar(user)
conv_id = st.session_state.get(view.CONV)

turn = None
edited = view.edit_form()
try:
    if options and conv_id and st.session_state.pop(view.PENDING, None) == "regenerate":
        turn = view.manager().regenerate(user_id=user.id, conversation_id=conv_id, options=options)
    elif options and conv_id and edited is not None:
        turn = view.manager().edit_last(user_id=user.id, conversation_id=conv_id, text=edited, options=options)
except AppError as exc:
    st.error(tr(exc.user_message))

messages = view.load_messages(user)
if not messages and turn is None:
    st.title(t("nav.chat"))
    st.caption(t("chat.intro"))
view.focus_callout(messages)
for message in messages:
    view.render_message(message)
if turn is None:
    view.last_message_actions(messages)

resent = view.draft_form()
view.quota_caption(user)
prompt = st.chat_input(t("chat.input_placeholder"), key="chat_input", submit_mode="stop", max_chars=None) or resent
if prompt and turn is None and options:
    try:
        turn = view.manager().send(user_id=user.id, conversation_id=conv_id, text=prompt, options=options)
    except AppError as exc:  # refused (limit, size, provider): the message comes back as a draft
        view.keep_draft(prompt, exc.user_message)
        st.rerun()
    view.clear_draft()
    with st.chat_message("user"):
        st.markdown(prompt)
if turn is not None and options:
    view.stream_turn(turn, options)
    st.rerun()
view.sync_url()
