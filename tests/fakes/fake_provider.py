"""A scripted provider for ConversationManager tests: enqueue([...chunks]) and inspect history."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import ClassVar

from core.config import ModelInfo, ProviderCatalog
from core.errors import ProviderError
from core.providers.base import ChatRequest, Credentials, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage


@dataclass
class Script:
    chunks: list[str]
    usage: Usage | None
    error: ProviderError | None
    error_after: int
    stop_reason: str | None = None


class FakeProvider(Provider):
    needs_key: ClassVar[bool] = False

    def __init__(self, name: str = "fake", model: str = "fake-model", context_window: int = 4096,
                 unavailable: str | None = None) -> None:
        super().__init__(ProviderCatalog(models={model: ModelInfo(context_window=context_window)}), Credentials())
        self.name = name  # type: ignore[misc]
        self.label = name.title()  # type: ignore[misc]
        self.queue: deque[Script] = deque()
        self.history: list[ChatRequest] = []
        self.closed = 0
        self._unavailable = unavailable

    def enqueue(self, chunks: list[str], usage: Usage | None = None, error: ProviderError | None = None,
                error_after: int = 0, stop_reason: str | None = None) -> FakeProvider:
        self.queue.append(Script(chunks, usage, error, error_after, stop_reason))
        return self

    def count_tokens(self, text: str) -> int:
        return len(text.split())  # one token per word: easy to reason about in tests

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        self.history.append(request)
        script = self.queue.popleft() if self.queue else Script(["ok"], None, None, 0)
        try:
            for index, chunk in enumerate(script.chunks):
                if script.error is not None and index == script.error_after:
                    raise script.error
                yield TextDelta(chunk)
            if script.error is not None and script.error_after >= len(script.chunks):
                raise script.error
            usage = script.usage or Usage(sum(len(m.content.split()) for m in request.messages), len(script.chunks))
            yield Finished(usage=usage, model=request.model, stop_reason=script.stop_reason)
        finally:
            self.closed += 1

    def validate_key(self, api_key: str) -> KeyCheck:
        return KeyCheck("valid")

    def unavailable_reason(self) -> str | None:
        return self._unavailable
