"""The API reserves through the chat's budgets: a request that could overrun is a 429 naming the budget, with
nothing asked or stored; an answered one settles its hold to the recorded cost."""

from __future__ import annotations

import openai
import pytest
from sqlmodel import Session, col, func, select

from core.models import BudgetHold, LimitPolicyUpdate, UsageEvent, UsageStatus
from core.usage import Budgets, RateLimitService, set_user_limits
from tests.fakes.provider_server import Reply


def test_a_request_that_could_overrun_the_budget_is_429_naming_it(api, token, provider, session: Session, alice,
                                                                   admin_id) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(budget_usd_per_month=0.01))
    client = openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30)
    with pytest.raises(openai.RateLimitError) as refused:  # 2,000 x $10/M = $0.02 could be spent
        client.chat.completions.create(model="openai/gpt-4o", max_tokens=2000,
                                       messages=[{"role": "user", "content": "An essay, please"}])
    assert "could cost up to $0.02" in str(refused.value) and "$0.01 budget for this month" in str(refused.value)
    assert provider.history == []
    session.expire_all()
    assert [e.status for e in session.exec(select(UsageEvent))] == [UsageStatus.refused]
    provider.enqueue("openai", Reply(chunks=["Short."], tokens_in=8, tokens_out=2))
    reply = client.chat.completions.create(model="openai/gpt-4o", max_tokens=200,
                                           messages=[{"role": "user", "content": "Briefly"}])
    assert reply.choices[0].message.content == "Short."
    session.expire_all()
    event = session.exec(select(UsageEvent).order_by(col(UsageEvent.id).desc())).first()
    assert event is not None and event.hold_id and event.cost_usd == pytest.approx((8 * 2.5 + 2 * 10) / 1e6)
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0
    standing = Budgets().standing(alice, RateLimitService().limits_for(session, alice)[0])
    assert standing.usd_month == pytest.approx(event.cost_usd, abs=1e-6) and standing.usd_held == 0


def test_the_team_header_or_a_team_bound_token_picks_the_team_charged(api, token, provider, session: Session,
                                                                       alice, admin_id) -> None:
    from core.accounts import add_member, create_team
    from core.api import create_token
    from core.errors import PermissionDenied
    from core.models import TeamCreate

    first = create_team(session=session, actor_id=admin_id, team_in=TeamCreate(name="First")).id
    second = create_team(session=session, actor_id=admin_id, team_in=TeamCreate(name="Second")).id
    outside = create_team(session=session, actor_id=admin_id, team_in=TeamCreate(name="Outside")).id
    for team in (first, second):
        add_member(session=session, actor_id=admin_id, team_id=team, user_id=alice)
    bound = create_token(session=session, user_id=alice, name="bound", team_id=second).token
    with pytest.raises(PermissionDenied):
        create_token(session=session, user_id=alice, name="nope", team_id=outside)
    hello = [{"role": "user", "content": "Hi"}]
    for key, headers in ((token, {}), (token, {"X-Parley-Team": "Second"}), (bound, {})):
        provider.enqueue("openai", Reply(chunks=["ok"]))
        client = openai.OpenAI(api_key=key, base_url=api.base_url, max_retries=0, timeout=30, default_headers=headers)
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=hello)
    session.expire_all()
    charged = [e.team_id for e in session.exec(select(UsageEvent).order_by(col(UsageEvent.id)))]
    assert charged == [first, second, second]
    client = openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30,
                           default_headers={"X-Parley-Team": "Outside"})
    with pytest.raises(openai.PermissionDeniedError, match="does not exist or you are not a member"):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=hello)
