"""A question put in its knowledge bases' language before they are searched (issue #25, cause 3).

The bundled embedder (multilingual-e5-small) favours the question's language: a Korean question ranks almost any
Korean passage above the English one that answers it. When the knowledge bases hold documents in another language
than the question (each document's language is detected at upload, core.knowledge.languages), the conversation's
model is asked for the question in that language, and retrieval searches with both wordings (each passage counts
its best match, core.knowledge.retrieval).

- Only a capable model is asked: never the bundled local model (135M parameters; it does not translate). With it
  the question is searched as it is.
- The call is metered like the reply: its worst case is held against the user's and the team's budgets before it goes
  out, it is recorded as usage kind `translation` (same source, team and token as the turn) and settled after.
- A translation is kept in the process (the user's own question, language and model): a regenerated or edited turn
  on the same question does not ask, nor pay, again.
- Off with `knowledge.translate_queries: false`. A refused or failed translation leaves the question as it is: the
  turn goes on (a refusal by a budget then refuses the reply too, as it would have).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from core.chat.embedding import EmbeddingCharge, EmbeddingMeter
from core.config import Settings
from core.errors import ProviderError, RateLimited
from core.knowledge.languages import detect, name
from core.logging import log_event
from core.models import UsageKind
from core.providers.base import ChatMessage, ChatRequest, Provider, Usage, estimate_tokens, request_bound

logger = logging.getLogger(__name__)
SYSTEM = ("You translate search questions for a document search. Put the user's question into {language}. Keep "
          "names, numbers, codes and product terms as they are. Reply with the translation only: one line, no "
          "quotes, no explanation.")
MAX_LANGUAGES = 2  # the knowledge bases' other languages asked for, at most
LOCAL = "local"  # the bundled model's provider: never asked
MAX_QUESTION_CHARS = 2000  # a longer question is searched as asked: the embedder reads ~512 tokens of it anyway
KNOWN = 1024  # translations kept in this process (a user's question, language and model): asked again, not paid again


@dataclass(frozen=True)
class Asked:
    """Who asks, on which model: the turn's provider and model, and whom the call is charged to."""

    user_id: int
    provider: Provider
    model: str
    charge: EmbeddingCharge | None = None  # None: the user's default team, source ui


class QueryTranslator:
    """The question in the documents' other languages, by the conversation's model (see the module)."""

    def __init__(self, settings: Settings, meter: EmbeddingMeter) -> None:
        self.settings, self.meter = settings, meter
        self._known: OrderedDict[tuple[int, str, str, str, str], str] = OrderedDict()  # regenerate, edit: asked once
        self._lock = threading.Lock()

    def active(self, question: str, provider: Provider) -> bool:
        """Whether anything may be asked: translation on, a model that translates, a question of at most
        MAX_QUESTION_CHARS whose language is sure."""
        return (self.settings.knowledge.translate_queries and provider.name != LOCAL
                and len(question) <= MAX_QUESTION_CHARS and bool(detect(question)))

    def wanted(self, question: str, languages: set[str], provider: Provider) -> list[str]:
        """The languages to ask for: the documents' languages other than the question's (none unless active)."""
        if not self.active(question, provider):
            return []
        own = detect(question)
        return sorted(language for language in languages if language and language != own)[:MAX_LANGUAGES]

    def translations(self, question: str, languages: set[str], asked: Asked) -> list[str]:
        """question in each wanted language (see wanted()); [] when none is wanted or every call failed."""
        found = []
        for language in self.wanted(question, languages, asked.provider):
            key = (asked.user_id, asked.provider.name, asked.model, language,
                   hashlib.sha256(question.encode()).hexdigest())
            with self._lock:
                text = self._known.get(key, "")
            if text:
                found.append(text)
                continue
            try:
                text = self._translate(question, language, asked)
            except (ProviderError, RateLimited) as exc:  # recorded by the meter; the question is searched as it is
                log_event(logger, "translation_skipped", level=logging.WARNING, language=language,
                          reason=type(exc).__name__)
                continue
            if text and text != question:
                found.append(text)
                with self._lock:
                    self._known[key] = text
                    while len(self._known) > KNOWN:
                        self._known.popitem(last=False)
        return found

    def _translate(self, question: str, language: str, asked: Asked) -> str:
        limit = min(512, 2 * estimate_tokens(question) + 32)  # a translation is about as long as the question
        request = ChatRequest(model=asked.model, messages=[ChatMessage(role="user", content=question)],
                              system=SYSTEM.format(language=name(language)), temperature=0.0, max_tokens=limit)

        def run() -> tuple[str, Usage]:
            result = asked.provider.generate(request)
            return result.text, result.usage

        text = self.meter.metered(asked.provider.name, asked.model, asked.user_id, run,
                                  prompt_tokens=request_bound(request, asked.provider),
                                  max_tokens=limit, kind=UsageKind.translation, charge=asked.charge)
        return clean(text, len(question))


def clean(text: str, asked_chars: int) -> str:
    """The translation's first line, without quotes or a label, bounded by the question's length."""
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    if ":" in line[:24] and line.split(":", 1)[0].strip().lower() in {"translation", "english", "korean", "번역"}:
        line = line.split(":", 1)[1].strip()
    return line.strip("\"'“”‘’「」 ")[: 4 * asked_chars + 100]
