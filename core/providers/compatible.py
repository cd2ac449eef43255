"""Any server speaking the OpenAI API: Ollama, vLLM, llama.cpp server, LM Studio."""

from __future__ import annotations

from typing import ClassVar

from core.i18n import Msg
from core.providers.base import Provider
from core.providers.images import Image
from core.providers.openai import OpenAIProvider


class CompatibleProvider(OpenAIProvider):
    name: ClassVar[str] = "compatible"
    label: ClassVar[str] = Msg("keys.label_compatible")
    max_tokens_param: ClassVar[str] = "max_tokens"  # what those servers understand
    needs_key: ClassVar[bool] = False
    capabilities: ClassVar[frozenset[str]] = frozenset()  # what a server's model can do: its catalog entry says

    def image_tokens(self, model: str, image: Image) -> int:
        # Not OpenAI's model behind it: its count or one token per patch, whichever is more (Provider's).
        return Provider.image_tokens(self, model, image)

    def unavailable_reason(self) -> str | None:
        if not (self.credentials.base_url or self.catalog.base_url):
            return Msg("providers.no_url")
        return None
