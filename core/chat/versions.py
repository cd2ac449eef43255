"""New versions in a conversation's tree: regenerate the last reply, edit a user message, continue a reply that
stopped early. Mixed into ConversationManager (core.chat.manager), whose checks they share."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.chat.attached import Attached
from core.chat.choice import ProviderChooser
from core.chat.context import clean_options
from core.chat.options import Reserved, TeamChoice, TurnDeps, TurnOptions, TurnSetup
from core.chat.passages import best_passages
from core.chat.search import SourceSearch
from core.chat.turn import Turn
from core.config import Settings
from core.db import session_scope
from core.errors import ValidationError
from core.history import current_branch, get_owned, params_json, set_leaf, update_settings
from core.history.attachments import contents_of, copy_attachments, images_of
from core.i18n import Msg
from core.knowledge import Hit
from core.models import ConversationUpdate, Message, MessageRole
from core.validation import clean_message


class _Manager(Protocol):
    engine: Engine
    settings: Settings
    deps: TurnDeps
    search: SourceSearch

    def providers_for(self, user_id: int) -> ProviderChooser: ...
    def _checked(self, options: TurnOptions, providers: ProviderChooser) -> ProviderChooser: ...
    def _consume(self, session: Session, user_id: int, options: TurnOptions, providers: ProviderChooser,
                 history: list[Message], sources: tuple[Hit, ...], *, team: TeamChoice = None,
                 attached: Attached | None = None) -> Reserved: ...
    def _releasing(self, reserved: Reserved) -> AbstractContextManager[None]: ...
    def edit(self, *, user_id: int, conversation_id: int, message_id: int, text: str, options: TurnOptions,
             providers: ProviderChooser | None = None, team: TeamChoice = None) -> Turn: ...


def settings_of(options: TurnOptions) -> dict[str, Any]:
    """What a conversation keeps as last used: provider, model, system prompt, parameters, knowledge bases."""
    return {"provider": options.provider, "model": options.model, "system_prompt": options.system_prompt,
            "params": params_json(options.params()), "knowledge_bases": json.dumps(list(options.knowledge_bases))}


class VersionTurns:
    """Turns that add a version instead of overwriting (the earlier reply or message stays as a sibling)."""

    def regenerate(self: _Manager, *, user_id: int, conversation_id: int, options: TurnOptions,
                   providers: ProviderChooser | None = None, team: TeamChoice = None) -> Turn:
        """A new version of the last reply; the earlier one stays as its sibling."""
        options = clean_options(options, self.settings)
        providers = self._checked(options, providers or self.providers_for(user_id))
        with session_scope(self.engine) as session:
            conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = current_branch(session=session, conv=conv)
            if not history or history[-1].role != MessageRole.assistant:
                raise ValidationError(Msg("chat.nothing_to_regenerate"))
            question = next((m.content for m in reversed(history) if m.role == MessageRole.user), "")
            sources, notice = self.search.find(user_id, options, question,
                                               providers.choose(options.provider).provider, team=team)
            attached = Attached.read(session, self.engine, history[:-1])
            sources = (*sources, *best_passages(attached, question, self.settings, self.engine))
            reserved = self._consume(session, user_id, options, providers, history[:-1], sources, team=team,
                                     attached=attached)
            with self._releasing(reserved):
                update_settings(session=session, conv=conv, conv_in=ConversationUpdate(**settings_of(options)))
        # A regenerated reply must be new: the cache is skipped (its fresh answer replaces the entry).
        return Turn(self.deps, TurnSetup(user_id, conversation_id, options, history[:-1], providers, reserved,
                                         use_cache=False, sources=sources, notice=notice, attached=attached))

    def edit(self: _Manager, *, user_id: int, conversation_id: int, message_id: int, text: str, options: TurnOptions,
             providers: ProviderChooser | None = None, team: TeamChoice = None) -> Turn:
        """A new version of one of the branch's user messages, answered again; the earlier one (and what followed
        it) stays as its sibling."""
        text = clean_message(text, max_chars=self.settings.chat.max_input_chars)
        options = clean_options(options, self.settings)
        providers = self._checked(options, providers or self.providers_for(user_id))
        sources, notice = self.search.find(user_id, options, text, providers.choose(options.provider).provider,
                                           team=team)
        with session_scope(self.engine) as session:
            conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = current_branch(session=session, conv=conv)
            at = next((i for i, m in enumerate(history) if m.id == message_id and m.role == MessageRole.user), None)
            if at is None:
                raise ValidationError(Msg("chat.nothing_to_edit"))
            edited = Message(conversation_id=conversation_id, role=MessageRole.user, content=text,
                             parent_id=history[at].parent_id)
            kept = [*history[:at], edited]
            original = history[at].id or 0  # its images stay with the edited version
            kept_images = images_of(session, [original]).get(original, ())
            files = contents_of(session, [original])
            attached = Attached.read(session, self.engine, history[:at], kept_images,
                                     files.documents.get(original, ()), files.long.get(original, ()))
            sources = (*sources, *best_passages(attached, text, self.settings, self.engine))
            reserved = self._consume(session, user_id, options, providers, kept, sources, team=team,
                                     attached=attached)
            with self._releasing(reserved):
                session.add(edited)
                session.flush()
                copy_attachments(session, original, edited.id or 0)
                set_leaf(session=session, conv=conv, message_id=edited.id)
                update_settings(session=session, conv=conv, conv_in=ConversationUpdate(**settings_of(options)))
        if attached:
            attached.stored(edited.id)
        return Turn(self.deps, TurnSetup(user_id, conversation_id, options, kept, providers, reserved,
                                         sources=sources, notice=notice, attached=attached))

    def edit_last(self: _Manager, *, user_id: int, conversation_id: int, text: str, options: TurnOptions,
                  providers: ProviderChooser | None = None, team: TeamChoice = None) -> Turn:
        """A new version of the branch's last user message (see edit)."""
        with session_scope(self.engine) as session:
            conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            last = next((m for m in reversed(current_branch(session=session, conv=conv))
                         if m.role == MessageRole.user), None)
        if last is None:
            raise ValidationError(Msg("chat.nothing_to_edit"))
        return self.edit(user_id=user_id, conversation_id=conversation_id, message_id=last.id or 0, text=text,
                         options=options, providers=providers, team=team)

    def continue_reply(self: _Manager, *, user_id: int, conversation_id: int, options: TurnOptions,
                       providers: ProviderChooser | None = None, team: TeamChoice = None) -> Turn:
        """Go on with the branch's last reply where it stopped (the token limit, or its user): the new text is
        appended to the same reply; the call is metered as its own usage event."""
        options = clean_options(options, self.settings)
        providers = self._checked(options, providers or self.providers_for(user_id))
        with session_scope(self.engine) as session:
            conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = current_branch(session=session, conv=conv)
            last = history[-1] if history else None
            if last is None or last.role != MessageRole.assistant or not last.stop_reason or not last.content:
                raise ValidationError(Msg("chat.nothing_to_continue"))
            question = next((m.content for m in reversed(history) if m.role == MessageRole.user), "")
            sources, notice = self.search.find(user_id, options, question,
                                               providers.choose(options.provider).provider, team=team)
            attached = Attached.read(session, self.engine, history)
            sources = (*sources, *best_passages(attached, question, self.settings, self.engine))
            reserved = self._consume(session, user_id, options, providers, history, sources, team=team,
                                     attached=attached)
        return Turn(self.deps, TurnSetup(user_id, conversation_id, options, history, providers, reserved,
                                         use_cache=False, sources=sources, notice=notice, continues=last.id,
                                         attached=attached))
