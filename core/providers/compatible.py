"""Any server speaking the OpenAI API: Ollama, vLLM, llama.cpp server, LM Studio."""

from __future__ import annotations

from typing import ClassVar

from core.i18n import Msg
from core.providers.openai import OpenAIProvider


class CompatibleProvider(OpenAIProvider):
    name: ClassVar[str] = "compatible"
    label: ClassVar[str] = Msg("keys.label_compatible")
    max_tokens_param: ClassVar[str] = "max_tokens"  # what those servers understand
    needs_key: ClassVar[bool] = False

    def unavailable_reason(self) -> str | None:
        if not (self.credentials.base_url or self.catalog.base_url):
            return Msg("providers.no_url")
        return None
