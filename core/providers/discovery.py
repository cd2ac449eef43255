"""What models a provider's server offers now (the model catalog's discovery): OpenAI's and an OpenAI-compatible
server's `GET /models` (Ollama, vLLM, llama.cpp server, LM Studio), Anthropic's model list (every page), the
bundled model's own catalog. Read with the credentials the caller resolved (an organisation key); errors are the
adapters' own (invalid key, unreachable, a page that is not the API's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import httpx2 as httpx
import openai

from core.errors import ProviderUnavailable
from core.i18n import Msg
from core.providers.anthropic import AnthropicProvider
from core.providers.base import Provider
from core.providers.openai import OpenAIProvider
from core.providers.sdk_errors import map_sdk_error

Kind = Literal["chat", "embedding", "other"]
# Model ids OpenAI's list holds that do not chat (audio, images, moderation): offered nowhere until an admin says.
NOT_CHAT = ("tts", "whisper", "dall-e", "gpt-image", "moderation", "transcribe", "realtime", "audio", "davinci",
            "babbage", "search", "sora", "computer-use")


@dataclass(frozen=True)
class Discovered:
    """One model a provider offers: its id, the name it shows (when the server says one), what it is for."""

    id: str
    display_name: str = ""
    kind: Kind = "chat"


def kind_of(model_id: str) -> Kind:
    """What a model is for, from its id (servers do not say): embeddings, chat, or something else."""
    lowered = model_id.lower()
    if "embed" in lowered:
        return "embedding"
    return "other" if any(word in lowered for word in NOT_CHAT) else "chat"


def discover(provider: Provider) -> list[Discovered]:
    """The models provider's server offers, sorted by id; ProviderError saying why it could not be asked."""
    if isinstance(provider, AnthropicProvider):
        found = _anthropic(provider)
    elif isinstance(provider, OpenAIProvider):
        found = _openai(provider)
    else:  # the bundled model, plugins: their own catalog
        found = [Discovered(m) for m in provider.list_models()]
    return sorted({d.id: d for d in found}.values(), key=lambda d: d.id)


def _openai(provider: OpenAIProvider) -> list[Discovered]:
    try:
        page: Any = provider._client().models.list()  # noqa: SLF001  (the adapter's own client, its settings)
        return [Discovered(str(m.id), "", kind_of(str(m.id))) for m in page if getattr(m, "id", None)]
    except (openai.OpenAIError, httpx.HTTPError) as exc:
        raise map_sdk_error(exc, openai, provider.label, provider.credentials.api_key) from None
    except (ValueError, TypeError, AttributeError):  # a 200 that is not the API's JSON
        raise ProviderUnavailable(Msg("providers.unfinished", provider=provider.label)) from None


def _anthropic(provider: AnthropicProvider) -> list[Discovered]:
    try:
        pages: Any = provider._client().models.list(limit=100)  # noqa: SLF001  (iterating follows every page)
        return [Discovered(str(m.id), str(getattr(m, "display_name", "") or ""), kind_of(str(m.id)))
                for m in pages if getattr(m, "id", None)]
    except (anthropic.AnthropicError, httpx.HTTPError) as exc:
        raise map_sdk_error(exc, anthropic, provider.label, provider.credentials.api_key) from None
    except (ValueError, TypeError, AttributeError):
        raise ProviderUnavailable(Msg("providers.unfinished", provider=provider.label)) from None
