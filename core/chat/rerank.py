"""Listwise reranking of retrieved passages by the conversation's model (issue #25), off by default.

With `knowledge.rerank: true`, a turn's knowledge search keeps `knowledge.rerank_candidates` passages instead of
`top_k`; the model reads the question and those passages (numbered, each cut to RERANK_PASSAGE_CHARS) and answers
with their numbers, most useful first; the first `top_k` of that order are the turn's sources. A passage the model
does not name keeps its place after the ones it named, a number it makes up is ignored, and a refused or failed call
leaves the retrieval's order. Metered like the reply (usage kind `rerank`, held before it goes out). Never asked of
the bundled model: bench/rag_eval.py measured it there (`python bench/rag_eval.py rerank`) and it makes the order
worse.
"""

from __future__ import annotations

import logging
import re

from core.chat.embedding import EmbeddingMeter
from core.chat.translate import LOCAL, Asked
from core.config import Settings
from core.errors import ProviderError, RateLimited
from core.knowledge import Hit
from core.logging import log_event
from core.models import UsageKind
from core.providers.base import ChatMessage, ChatRequest, Provider, Usage, request_bound

logger = logging.getLogger(__name__)
SYSTEM = ("You rank search results. You get a question and numbered passages. Answer with the numbers of the "
          "passages that help answer the question, the most useful first, separated by commas, for example: 3, 1, 4. "
          "Answer with the numbers only.")
RERANK_PASSAGE_CHARS = 700
_NUMBER = re.compile(r"\d{1,3}")


def prompt(question: str, hits: list[Hit]) -> str:
    """The question and the numbered passages, as the model reads them."""
    passages = "\n\n".join(f"[{n}] {hit.document_name}{' › ' + hit.section if hit.section else ''}\n"
                           f"{hit.text[:RERANK_PASSAGE_CHARS]}" for n, hit in enumerate(hits, start=1))
    return f"Question: {question}\n\nPassages:\n\n{passages}"


def reordered(hits: list[Hit], answer: str) -> list[Hit]:
    """hits in the order the answer names them; the ones it does not name after, as they were."""
    named = list(dict.fromkeys(int(n) for n in _NUMBER.findall(answer) if 1 <= int(n) <= len(hits)))
    return [hits[n - 1] for n in named] + [hit for n, hit in enumerate(hits, start=1) if n not in named]


class Reranker:
    def __init__(self, settings: Settings, meter: EmbeddingMeter) -> None:
        self.settings, self.meter = settings, meter

    def active(self, provider: Provider) -> bool:
        return self.settings.knowledge.rerank and provider.name != LOCAL

    def rerank(self, question: str, hits: list[Hit], asked: Asked) -> list[Hit]:
        """hits in the model's order (see the module); as they were when the call is refused or fails."""
        if len(hits) < 2:
            return hits
        limit = 4 * len(hits) + 16
        request = ChatRequest(model=asked.model, messages=[ChatMessage(role="user", content=prompt(question, hits))],
                              system=SYSTEM, temperature=0.0, max_tokens=limit)

        def run() -> tuple[str, Usage]:
            result = asked.provider.generate(request)
            return result.text, result.usage

        try:
            answer = self.meter.metered(asked.provider.name, asked.model, asked.user_id, run,
                                        prompt_tokens=request_bound(request, asked.provider),
                                        max_tokens=limit, kind=UsageKind.rerank, charge=asked.charge)
        except (ProviderError, RateLimited) as exc:  # recorded by the meter; the retrieval's order stands
            log_event(logger, "rerank_skipped", level=logging.WARNING, reason=type(exc).__name__)
            return hits
        return reordered(hits, answer)
