"""The conversation as the page shows it, read for a run: before a reply streams (no actions), and again once the
turn is stored (its markers, versions and actions), drawn over the first in the same run: no second run per reply."""

from __future__ import annotations

from core.chat import Turn, sources_of
from core.history import feedback_for, read_thread, show_version
from core.history.attachments import attachments_of
from core.ui.actions import run_action
from core.ui.chat import messages, sidebar


def read_shown(user_id: int, conversation_id: int, turn: Turn | None = None) -> messages.Shown | None:
    """The branch shown, with its versions, sources and ratings; None when the conversation is gone (or not this
    user's: the refusal is shown). With a turn about to stream: nothing has actions, the turn's reply is left out."""
    focus = sidebar.focus_target()
    thread = run_action(lambda s: read_thread(session=s, user_id=user_id, conversation_id=conversation_id))
    if thread is not None and focus and focus not in {m.id for m in thread.messages}:  # a hit in another version
        run_action(lambda s: show_version(session=s, user_id=user_id, conversation_id=conversation_id,
                                          message_id=focus), quiet=True)
        thread = run_action(lambda s: read_thread(session=s, user_id=user_id, conversation_id=conversation_id))
    if thread is None:
        return None
    asked = turn.setup if turn is not None else None
    kept = None if asked is None else {m.id for m in asked.history if m.id != asked.continues}
    listed = [m for m in thread.messages if kept is None or m.id in kept]  # the turn's reply is streamed below
    replies = [m.id for m in listed if m.role == "assistant"]
    return messages.Shown(
        listed, thread.versions,
        run_action(lambda s: sources_of(s, replies), quiet=True) or {},
        messages.ratings(run_action(lambda s: feedback_for(session=s, user_id=user_id, message_ids=replies),
                                    quiet=True)),
        busy=turn is not None,
        attachments=run_action(lambda s: attachments_of(s, [m.id for m in listed if m.role == "user"]),
                               quiet=True) or {})
