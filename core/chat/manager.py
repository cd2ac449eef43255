"""ConversationManager: validate -> limit -> store the user message -> build context -> stream -> persist."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import lifecycle
from core.accounts import charged_team, check_allowed
from core.chat.attached import Attached
from core.chat.cache import ResponseCache, build_cache
from core.chat.choice import ProviderChoice, ProviderChooser, ProviderFactory, fits
from core.chat.context import clean_options, first_call_bound, stored_text
from core.chat.embedding import embedder_resolver
from core.chat.files import placed, prepare
from core.chat.options import Charged, PlainCalls, Reserved, TeamChoice, TurnDeps, TurnOptions, TurnSetup
from core.chat.passages import best_passages
from core.chat.search import SourceSearch
from core.chat.turn import Turn
from core.chat.versions import VersionTurns, settings_of
from core.config import LimitDefaults, Settings, get_settings
from core.db import get_engine, session_scope
from core.db_batch import group_commit
from core.errors import RateLimited, ServiceDraining, ValidationError
from core.history import (
    create_conversation,
    current_branch,
    get_owned,
    set_leaf,
    title_from,
    update_settings,
)
from core.history.attachments import Upload, attach
from core.i18n import Msg
from core.knowledge import Hit, Knowledge
from core.model_catalog import lookup
from core.models import (
    ConversationCreate,
    ConversationUpdate,
    Message,
    MessageRole,
    Role,
    Team,
    UsageSource,
    UsageStatus,
)
from core.providers.base import ChatMessage, Usage
from core.usage import RateLimitService, price_of, record_usage
from core.validation import clean_message, sanitize


class ConversationManager(VersionTurns):
    """Runs chat turns; one per process. Providers come from key resolution (or a test factory)."""

    def __init__(self, *, engine: Engine | None = None, settings: Settings | None = None,
                 provider_factory: ProviderFactory | None = None, limiter: RateLimitService | None = None,
                 cache: ResponseCache | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings or get_settings()
        self.engine = engine or get_engine(self.settings)
        self.limiter = limiter or RateLimitService(self.settings)
        self.deps = TurnDeps(self.engine, self.settings, cache or build_cache(self.settings), clock,
                             self.limiter.budgets, group_commit(self.engine))
        self._factory = provider_factory
        self.knowledge = Knowledge(engine=self.engine, settings=self.settings,
                                   embedder_for=embedder_resolver(self.engine, self.settings))
        self.search = SourceSearch(self.engine, self.settings, self.knowledge, self.limiter)

    def providers_for(self, user_id: int, role: Role | None = None, version: int | None = None) -> ProviderChooser:
        """The providers this user may use now; share it between the picker and the turn it starts."""
        return ProviderChooser(user_id, settings=self.settings, engine=self.engine, factory=self._factory, role=role,
                               version=version)

    def send(self, *, user_id: int, conversation_id: int | None, text: str, options: TurnOptions,
             providers: ProviderChooser | None = None, team: TeamChoice = None, files: Sequence[Upload] = ()) -> Turn:
        """Store the user's message with its files (creating the conversation if needed) and return the reply's
        Turn. Every file is read and checked first: a refused one stores nothing. With files, text may be empty."""
        prepared = prepare(files, self.settings) if files else ()
        text = sanitize(text, max_chars=self.settings.chat.max_input_chars) if prepared and not text.strip() else \
            clean_message(text, max_chars=self.settings.chat.max_input_chars)
        options = clean_options(options, self.settings)
        providers = self._checked(options, providers or self.providers_for(user_id))
        sources, notice = self.search.find(user_id, options, text, providers.choose(options.provider).provider,
                                           team=team)
        with session_scope(self.engine) as session:
            conv = None if conversation_id is None else get_owned(session=session, user_id=user_id,
                                                                   conversation_id=conversation_id)
            history = [] if conv is None else current_branch(session=session, conv=conv)
            # Before the first write: on SQLite the hold is taken on its own connection.
            asked = Message(conversation_id=0, role=MessageRole.user, content=text)
            prepared = placed(prepared, text, options, providers.choose(options.provider).provider, self.settings)
            attached = Attached.read(session, self.engine, history, prepared)
            sources = (*sources, *best_passages(attached, text, self.settings, self.engine))
            reserved = self._consume(session, user_id, options, providers, [*history, asked], sources, team=team,
                                     attached=attached)
            with self._releasing(reserved):
                if conv is None:
                    conv = create_conversation(session=session, user_id=user_id, conv_in=ConversationCreate(
                        **settings_of(options), title=title_from(text or prepared[0].name,
                                                                 self.settings.chat.title_chars)))
                else:
                    update_settings(session=session, conv=conv, conv_in=ConversationUpdate(**settings_of(options)))
                message = Message(conversation_id=conv.id or 0, role=MessageRole.user, content=text,
                                  parent_id=history[-1].id if history else None)
                session.add(message)
                session.flush()
                attach(session, message.id or 0, prepared)
                set_leaf(session=session, conv=conv, message_id=message.id)
                conv_id = conv.id or 0
        if attached:
            attached.stored(message.id)
        return Turn(self.deps, TurnSetup(user_id, conv_id, options, [*history, message], providers, reserved,
                                         sources=sources, notice=notice, attached=attached))

    def ask(self, *, user_id: int, conversation: list[ChatMessage], options: TurnOptions,
            providers: ProviderChooser | None = None, token_name: str | None = None,
            count_request: bool = True, limits: tuple[LimitDefaults, bool] | None = None,
            team: TeamChoice = None, charged: Charged | None = None, plain: bool = False,
            calls: PlainCalls | None = None) -> Turn:
        """An API request: the whole context comes with it (system prompt in options) and must fit the model.

        Kept as a conversation only with api.store_conversations; its usage is recorded either way.
        count_request=False: the caller (slowapi) already took the request slot in the shared counters.
        limits: the user's limits and exemption, when the caller read them for this request (as a member of team).
        team: the team to charge (id or name; default: the user's default team); charged: that team, already read.
        plain: ask the provider for the whole reply at once (the client did not ask for a stream), through calls
        (where it can be abandoned when the client leaves) when given.
        """
        limit = self.settings.api.max_body_kb * 1024
        conversation = [replace(m, content=sanitize(m.content, max_chars=limit)) for m in conversation]
        options = clean_options(options, self.settings)
        providers = self._checked(options, providers or self.providers_for(user_id))
        # With tools or images, the conversation goes to the provider as it came (calls, results, images); what is
        # kept of it (api.store_conversations) reads them as text (core.chat.context.stored_text).
        whole = options.tooling is not None or any(m.role == "tool" or m.tool_calls or m.images for m in conversation)
        exchange = tuple(conversation) if whole else ()
        history = [Message(conversation_id=0, role=MessageRole.assistant if m.role == "assistant" else MessageRole.user,
                           content=sanitize(stored_text(m), max_chars=limit)) for m in conversation]
        question = next((m.content for m in reversed(conversation) if m.role == "user"), "")
        sources, notice = self.search.find(user_id, options, question, providers.choose(options.provider).provider,
                                           team=team, source=UsageSource.api, token_name=token_name, known=limits,
                                           charged=charged)
        with session_scope(self.engine) as session:
            reserved = self._consume(session, user_id, options, providers, history, sources, trim=False,
                                     source=UsageSource.api, token_name=token_name, count_request=count_request,
                                     known=limits, team=team, charged=charged, exchange=exchange)
            with self._releasing(reserved):
                conv_id = self._keep_api_conversation(session, user_id, options, history)
        return Turn(self.deps, TurnSetup(user_id, conv_id, options, history, providers, reserved,
                                         source=UsageSource.api, token_name=token_name, trim=False,
                                         sources=sources, notice=notice, plain=plain, calls=calls, exchange=exchange))

    def _keep_api_conversation(self, session: Session, user_id: int, options: TurnOptions,
                               history: list[Message]) -> int | None:
        if not self.settings.api.store_conversations:
            return None
        last = next(m.content for m in reversed(history) if m.role == MessageRole.user)
        conv = create_conversation(session=session, user_id=user_id, conv_in=ConversationCreate(
            **settings_of(options), title=title_from(last, self.settings.chat.title_chars)))
        parent = None
        for message in history:  # one branch, each message after the one before
            message.conversation_id, message.parent_id = conv.id or 0, parent
            session.add(message)
            session.flush()
            parent = message.id
        set_leaf(session=session, conv=conv, message_id=parent)
        return conv.id

    @contextmanager
    def _releasing(self, reserved: Reserved) -> Iterator[None]:
        """Release the hold if storing the request fails (no turn will settle it)."""
        try:
            yield
        except BaseException:
            self.limiter.budgets.release(reserved.hold)
            raise

    def _consume(self, session: Session, user_id: int, options: TurnOptions, providers: ProviderChooser,
                 history: list[Message], sources: tuple[Hit, ...], *, trim: bool = True,
                 source: UsageSource = UsageSource.ui, token_name: str | None = None, count_request: bool = True,
                 known: tuple[LimitDefaults, bool] | None = None, team: TeamChoice = None,
                 charged: Charged | None = None, exchange: tuple[ChatMessage, ...] = (),
                 attached: Attached | None = None) -> Reserved:
        """Check the model sees the conversation's images and the team's allow-list, hold the call's worst case
        against the user's and the team's budgets and take a request slot; a refusal is recorded (for the
        dashboards) and raised, and nothing stays held."""
        if attached and attached.has_images and not providers.sees(options.provider, options.model):
            raise ValidationError(Msg("chat.model_blind", model=options.model[:128]))
        charged = charged if charged is not None else Charged(charged_team(session=session, user_id=user_id,
                                                                           requested=team))
        return self._reserve(session, user_id, options, providers, history, sources, trim=trim, source=source,
                             token_name=token_name, count_request=count_request, known=known, charged=charged.team,
                             exchange=exchange, attached=attached)

    def _reserve(self, session: Session, user_id: int, options: TurnOptions, providers: ProviderChooser,
                 history: list[Message], sources: tuple[Hit, ...], *, trim: bool, source: UsageSource,
                 token_name: str | None, count_request: bool, known: tuple[LimitDefaults, bool] | None,
                 charged: Team | None, exchange: tuple[ChatMessage, ...] = (),
                 attached: Attached | None = None) -> Reserved:
        check_allowed(charged, options.provider, options.model)
        hold = None
        try:
            limits = self.limiter.limits_for(session, user_id, known, charged)
            hold = self.limiter.budgets.reserve(
                user_id=user_id, limits=limits[0], exempt=limits[1], provider=options.provider, model=options.model,
                prompt_tokens=first_call_bound(providers.choose(options.provider).provider, options, history, sources,
                                               trim, exchange, attached),
                max_tokens=options.max_tokens, team=charged, source=source, token_name=token_name)
            if count_request and not limits[1]:
                self.limiter.consume_request(user_id, limits[0])
        except RateLimited:
            self.limiter.budgets.release(hold)
            with session_scope(self.engine) as own:  # its own transaction: the caller's is rolled back
                record_usage(session=own, user_id=user_id, conversation_id=None, provider=options.provider,
                             model=options.model, usage=Usage(0, 0), status=UsageStatus.refused,
                             error_kind="rate_limited", ttft_ms=None, total_ms=None, settings=self.settings,
                             source=source, token_name=token_name, team_id=charged.id if charged else None)
            raise
        return Reserved(limits, hold, charged)

    def _checked(self, options: TurnOptions, providers: ProviderChooser) -> ProviderChooser:
        """providers, once the chosen provider can answer for this user; ValidationError saying why not.

        First of all: an instance that is stopping (SIGTERM) starts no new turn and stores nothing for one."""
        if lifecycle.draining():
            raise ServiceDraining()
        choice: ProviderChoice = providers.choose(options.provider)
        if choice.unavailable_reason:
            raise ValidationError(Msg("chat.cannot_answer", provider=choice.provider.label,
                                      reason=choice.unavailable_reason))
        if options.model not in choice.provider.list_models():
            # Only catalog models: each has a price (0 where it is free), so nothing is recorded at $0 by accident.
            raise ValidationError(Msg("chat.unknown_model", model=options.model[:128], provider=choice.provider.label))
        entry = lookup(self.settings, self.engine, options.provider, options.model)
        if entry is not None and not entry.configured and price_of(options.provider, options.model, self.settings,
                                                                   self.engine) is None:  # its price went since
            raise ValidationError(Msg("catalog.price_first", model=entry.id))
        if not fits(choice.provider, options.model, options.max_tokens):  # the catalog's reply cap for this model
            cap = choice.provider.catalog.models[options.model].max_output
            raise ValidationError(Msg("chat.over_max_output", model=options.model[:128], max=cap))
        return providers

