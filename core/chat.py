"""ConversationManager: validate -> limit -> store the user message -> build context -> stream -> persist."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete

from core.cache import ResponseCache, build_cache
from core.config import Settings, get_settings
from core.conversations import create_conversation, get_owned, messages_of, title_from, update_settings
from core.db import get_engine, session_scope
from core.errors import RateLimited, ValidationError
from core.i18n import Msg
from core.models import Message
from core.providers.base import Provider, Usage
from core.providers.registry import provider_for_user
from core.ratelimit import RateLimitService
from core.turn import Turn, TurnOptions, TurnOutcome
from core.usage import record_usage
from core.validation import clean_message

__all__ = ["ConversationManager", "Turn", "TurnOptions", "TurnOutcome"]


class ConversationManager:
    """Runs chat turns for one user at a time; providers come from the registry (or a test factory)."""

    def __init__(self, *, engine: Engine | None = None, settings: Settings | None = None,
                 provider_factory: Callable[[str, int], Provider] | None = None,
                 limiter: RateLimitService | None = None, cache: ResponseCache | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings or get_settings()
        self.engine = engine or get_engine(self.settings)
        # (provider name, user id) -> adapter with the key that user may use
        self.provider_factory = provider_factory or (
            lambda name, user_id: provider_for_user(name, user_id, self.settings))
        self.limiter = limiter or RateLimitService(self.settings)
        self.cache = cache or build_cache(self.settings)
        self.clock = clock

    def send(self, *, user_id: int, conversation_id: int | None, text: str, options: TurnOptions) -> Turn:
        """Store the user's message (creating the conversation if needed) and return the reply's Turn."""
        text = clean_message(text, max_chars=self.settings.chat.max_input_chars)
        provider = self._check_provider(options, user_id)
        with session_scope(self.engine) as session:
            self._consume(session, user_id, options)  # before anything is stored or asked
            if conversation_id is None:
                conv = create_conversation(session=session, user_id=user_id, provider=options.provider,
                                           model=options.model, system_prompt=options.system_prompt,
                                           params=options.params(),
                                           title=title_from(text, self.settings.chat.title_chars))
            else:
                conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
                update_settings(session=session, conv=conv, provider=options.provider, model=options.model,
                                system_prompt=options.system_prompt, params=options.params())
            history = [] if conversation_id is None else messages_of(session=session, conversation_id=conv.id or 0)
            message = Message(conversation_id=conv.id or 0, role="user", content=text)
            session.add(message)
            session.flush()
            conv_id = conv.id or 0
        return Turn(self, user_id, conv_id, options, [*history, message], provider=provider)

    def regenerate(self, *, user_id: int, conversation_id: int, options: TurnOptions) -> Turn:
        """Replace the last reply with a new one."""
        provider = self._check_provider(options, user_id)
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = messages_of(session=session, conversation_id=conversation_id)
            if not history or history[-1].role != "assistant":
                raise ValidationError(Msg("chat.nothing_to_regenerate"))
            self._consume(session, user_id, options)
            session.delete(history[-1])
        # A regenerated reply must be new: the cache is skipped (its fresh answer replaces the entry).
        return Turn(self, user_id, conversation_id, options, history[:-1], use_cache=False, provider=provider)

    def edit_last(self, *, user_id: int, conversation_id: int, text: str, options: TurnOptions) -> Turn:
        """Change the last user message, drop what followed it, and answer again."""
        text = clean_message(text, max_chars=self.settings.chat.max_input_chars)
        provider = self._check_provider(options, user_id)
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = messages_of(session=session, conversation_id=conversation_id)
            last_user = next((m for m in reversed(history) if m.role == "user"), None)
            if last_user is None:
                raise ValidationError(Msg("chat.nothing_to_edit"))
            self._consume(session, user_id, options)
            last_user.content = text
            session.add(last_user)
            later = delete(Message).where(col(Message.conversation_id) == conversation_id,
                                          col(Message.id) > (last_user.id or 0))
            session.exec(later)  # type: ignore[call-overload]
            kept = [m for m in history if (m.id or 0) <= (last_user.id or 0)]
        return Turn(self, user_id, conversation_id, options, kept, provider=provider)

    def _consume(self, session: Session, user_id: int, options: TurnOptions) -> None:
        """Take a request slot; a refusal is recorded (for the dashboards) and raised."""
        try:
            self.limiter.check_and_consume(session, user_id)
        except RateLimited:
            with session_scope(self.engine) as own:  # its own transaction: the caller's is rolled back
                record_usage(session=own, user_id=user_id, conversation_id=None, provider=options.provider,
                             model=options.model, usage=Usage(0, 0), status="refused", error_kind="rate_limited",
                             ttft_ms=None, total_ms=None, settings=self.settings)
            raise

    def _check_provider(self, options: TurnOptions, user_id: int) -> Provider:
        """The chosen provider with the key this user may use; ValidationError saying why not."""
        provider = self.provider_factory(options.provider, user_id)
        reason = provider.unavailable_reason()
        if reason:
            raise ValidationError(Msg("chat.cannot_answer", provider=provider.label, reason=reason))
        return provider
