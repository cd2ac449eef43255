"""The passages a turn is given: its knowledge bases searched with the question, and with the question put in the
documents' other languages when they differ (core.chat.translate); optionally ordered by the model
(core.chat.rerank). Each such call is charged as the turn is."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.accounts import charged_team, check_allowed
from core.chat.embedding import EmbeddingCharge, EmbeddingMeter
from core.chat.options import Charged, TeamChoice, TurnOptions
from core.chat.rerank import Reranker
from core.chat.sources import indexing_notice
from core.chat.translate import Asked, QueryTranslator
from core.config import LimitDefaults, Settings
from core.db import session_scope
from core.knowledge import Hit, Knowledge
from core.models import UsageSource
from core.providers.base import Provider
from core.usage import RateLimitService


class SourceSearch:
    def __init__(self, engine: Engine, settings: Settings, knowledge: Knowledge, limiter: RateLimitService) -> None:
        self.engine, self.knowledge, self.limiter = engine, knowledge, limiter
        meter = EmbeddingMeter(engine, settings)
        self.translator, self.reranker = QueryTranslator(settings, meter), Reranker(settings, meter)

    def find(self, user_id: int, options: TurnOptions, question: str, provider: Provider, *, team: TeamChoice = None,
             source: UsageSource = UsageSource.ui, token_name: str | None = None,
             known: tuple[LimitDefaults, bool] | None = None,
             charged: Charged | None = None) -> tuple[tuple[Hit, ...], str | None]:
        """The passages for question from the options' knowledge bases (NotFound for one the user may not read:
        nothing is stored, nothing is asked), and a notice when some of their documents are still being indexed.
        A translation or a reranking is charged like the turn: to its team (or the one asked for), with its limits
        and source."""
        if not options.knowledge_bases or not question.strip():
            return (), None
        kb_ids = list(options.knowledge_bases)
        also: list[str] = []
        asked: Asked | None = None

        def asking() -> Asked:
            if asked is not None:
                return asked
            charge = self._charge(user_id, team, source, token_name, known, charged)
            check_allowed(charge.team, options.provider, options.model)  # the turn's own check, before any call
            return Asked(user_id, provider, options.model, charge)

        if self.translator.active(question, provider):  # only then: which languages do the documents hold?
            languages = self.knowledge.languages(user_id=user_id, kb_ids=kb_ids)
            if self.translator.wanted(question, languages, provider):
                asked = asking()
                also = self.translator.translations(question, languages, asked)
        settings = self.knowledge.settings.knowledge
        reranking = self.reranker.active(provider)
        found = self.knowledge.search(user_id=user_id, kb_ids=kb_ids, query=question, also=also,
                                      k=settings.rerank_candidates if reranking else None)
        hits = found.hits
        if reranking:  # the model's order, or the retrieval's when it is refused or fails: top_k of it either way
            hits = (self.reranker.rerank(question, hits, asking()) if len(hits) > 1 else hits)[: settings.top_k]
        return tuple(hits), indexing_notice(found.still_indexing)

    def _charge(self, user_id: int, team: TeamChoice, source: UsageSource, token_name: str | None,
                known: tuple[LimitDefaults, bool] | None, charged: Charged | None) -> EmbeddingCharge:
        with session_scope(self.engine) as session:
            payer = charged.team if charged is not None else charged_team(session=session, user_id=user_id,
                                                                          requested=team)
            return EmbeddingCharge(payer, self.limiter.limits_for(session, user_id, known, payer), source, token_name)
