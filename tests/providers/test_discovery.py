"""Discovery: what models a provider's server offers now, read with the real SDKs from the wire-protocol fake
(OpenAI's and a compatible server's GET /models, Anthropic's paged list), errors mapped like every call's."""

from __future__ import annotations

import pytest

from core.config import ModelInfo, ProviderCatalog
from core.errors import InvalidProviderKey, ProviderUnavailable
from core.providers.anthropic import AnthropicProvider
from core.providers.base import Credentials
from core.providers.compatible import CompatibleProvider
from core.providers.discovery import Discovered, discover, kind_of
from core.providers.local import LocalProvider
from core.providers.openai import OpenAIProvider
from tests.providers.test_providers import server  # noqa: F401  (fixture)


def _catalog(url: str) -> ProviderCatalog:
    return ProviderCatalog(base_url=url, max_retries=0, timeout_seconds=2)


def test_openai_and_compatible_servers_list_their_models(server) -> None:  # noqa: F811
    for cls in (OpenAIProvider, CompatibleProvider):
        found = discover(cls(_catalog(server.openai_url), Credentials(api_key="sk-good-key")))
        assert found == [Discovered("fake-model", "", "chat")]
    assert server.calls("/v1/models")[-1].headers["authorization"] == "Bearer sk-good-key"


def test_anthropic_lists_its_models_with_their_names(server) -> None:  # noqa: F811
    found = discover(AnthropicProvider(_catalog(server.anthropic_url), Credentials(api_key="sk-ant-good-key")))
    assert found == [Discovered("fake-model", "Fake", "chat")]


def test_a_bad_key_or_a_page_that_is_not_the_api_says_why(server) -> None:  # noqa: F811
    with pytest.raises(InvalidProviderKey):
        discover(OpenAIProvider(_catalog(server.openai_url), Credentials(api_key="sk-wrong")))
    server.models_page = b"<html><body>Welcome to the proxy</body></html>"
    try:
        with pytest.raises(ProviderUnavailable):
            discover(OpenAIProvider(_catalog(server.openai_url), Credentials(api_key="sk-good-key")))
    finally:
        server.models_page = None


def test_the_bundled_model_is_its_own_catalog() -> None:
    local = LocalProvider(ProviderCatalog(models={"smollm2-135m-instruct": ModelInfo()}), Credentials())
    assert discover(local) == [Discovered("smollm2-135m-instruct")]


@pytest.mark.parametrize(("model_id", "kind"), [
    ("gpt-4o-mini", "chat"), ("o4-mini", "chat"), ("text-embedding-3-small", "embedding"),
    ("nomic-embed-text:latest", "embedding"), ("tts-1", "other"), ("whisper-1", "other"), ("dall-e-3", "other"),
    ("omni-moderation-latest", "other"), ("gpt-4o-realtime-preview", "other"), ("llama3.2:3b", "chat"),
])
def test_what_a_model_is_for_is_read_from_its_id(model_id: str, kind: str) -> None:
    assert kind_of(model_id) == kind
