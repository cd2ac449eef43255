"""The model catalog behind /v1: a model discovered from the provider's server and enabled by an admin is listed
with its name and served; disabled, it leaves /v1/models and is refused at once; its default parameters and
reply cap apply to API calls as to Chat."""

from __future__ import annotations

import openai
import pytest
from sqlmodel import Session

from core.catalog import run_discovery, set_enabled, update_model
from core.config import get_settings
from core.db import get_engine
from core.usage import set_price
from tests.catalog.test_catalog import _settings_of
from tests.fakes.provider_server import LISTED, FakeProviderServer, Reply

HELLO = [{"role": "user", "content": "Hello there"}]


def _client(api, token: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=api.base_url, api_key=token, max_retries=0)


def test_a_discovered_model_is_served_once_enabled_and_refused_once_disabled(api, token, admin_id, session: Session,
                                                                             provider: FakeProviderServer) -> None:
    provider.listed = [("fake-model", "Fake")]
    try:
        outcome = {o.provider: o for o in run_discovery(get_engine(), get_settings(), admin_id, ["openai"])}
    finally:
        provider.listed = list(LISTED)
    assert outcome["openai"].added == 1
    client = _client(api, token)
    assert "openai/fake-model" not in {m.id for m in client.models.list()}  # disabled until priced and enabled
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/fake-model", messages=HELLO)

    set_price(session=session, actor_id=admin_id, provider="openai", model="fake-model", price_in=1, price_out=1)
    update_model(session=session, actor_id=admin_id, provider="openai", model="fake-model", change=_settings_of(
        session, "openai", "fake-model", enabled=True, display_name="Fake", description="The test server's model",
        default_max_tokens=77, default_temperature=0.3))
    listed = {m.id: m for m in client.models.list()}
    assert listed["openai/fake-model"].model_extra["display_name"] == "Fake"  # type: ignore[index]
    assert listed["openai/fake-model"].model_extra["description"] == "The test server's model"  # type: ignore[index]
    provider.enqueue("openai", Reply(chunks=["served"]))
    reply = client.chat.completions.create(model="openai/fake-model", messages=HELLO)
    assert reply.choices[0].message.content == "served"
    sent = provider.history[-1].body  # the catalog's defaults, the request setting neither
    assert (sent["max_completion_tokens"], sent["temperature"]) == (77, 0.3)

    set_enabled(session=session, actor_id=admin_id, provider="openai", model="fake-model", enabled=False)
    assert "openai/fake-model" not in {m.id for m in client.models.list()}  # the next request, no restart
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/fake-model", messages=HELLO)


def test_a_reply_cap_is_a_400_naming_it(api, token, admin_id, session: Session, provider) -> None:  # type: ignore[no-untyped-def]
    update_model(session=session, actor_id=admin_id, provider="openai", model="gpt-4o-mini",
                 change=_settings_of(session, "openai", "gpt-4o-mini", max_output=100))
    client = _client(api, token)
    assert {m.id: m for m in client.models.list()}["openai/gpt-4o-mini"].model_extra["max_output"] == 100  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="100"):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, max_tokens=500)
    assert provider.history == []


def test_a_cap_below_the_portal_default_lowers_the_default_instead_of_refusing(api, token, admin_id,  # type: ignore[no-untyped-def]
                                                                               session: Session, provider) -> None:
    update_model(session=session, actor_id=admin_id, provider="openai", model="gpt-4o-mini",
                 change=_settings_of(session, "openai", "gpt-4o-mini", max_output=100))  # below chat's 512
    provider.enqueue("openai", Reply(chunks=["short"]))
    reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert reply.choices[0].message.content == "short" and provider.history[-1].body["max_completion_tokens"] == 100


def test_a_disabled_embedding_model_is_refused_even_on_the_callers_own_key(api, token, admin_id, alice,  # type: ignore[no-untyped-def]
                                                                          session: Session, provider) -> None:
    from core.keys import save_user_key

    save_user_key(session=session, user_id=alice, provider="openai", api_key="sk-good-key")
    client = _client(api, token)
    assert len(client.embeddings.create(model="openai/text-embedding-3-small", input="x").data) == 1
    set_enabled(session=session, actor_id=admin_id, provider="openai", model="text-embedding-3-small", enabled=False)
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="openai/text-embedding-3-small", input="x")
    assert "openai/text-embedding-3-small" not in {m.id for m in client.models.list()}
