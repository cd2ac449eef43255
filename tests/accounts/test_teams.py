"""Teams: admins manage them (audited), members are charged to their default team unless they pick another, the
allow-list refuses other models with a clear message, the team's budget is shared, and the chargeback CSV and
the team filter add up to the usage records."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from core.accounts import (
    add_member,
    audit_log,
    charged_team,
    create_team,
    delete_team,
    remove_member,
    set_default_team,
    teams_of,
    update_team,
)
from core.chat import ConversationManager, TurnOptions
from core.errors import PermissionDenied, RateLimited, ValidationError
from core.models import Conversation, LimitPolicyUpdate, Message, TeamCreate, UsageEvent, UsageStatus, User
from core.providers.base import Usage
from core.usage import Budgets, RateLimitService, UsageFilter, chargeback_csv, dashboard, record_usage, set_user_limits
from tests.conftest import add_user
from tests.fakes.fake_provider import FakeProvider


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


def _team(session: Session, name: str, **fields: object) -> int:
    return create_team(session=session, actor_id=_admin(session), team_in=TeamCreate(name=name, **fields)).id


def test_only_admins_manage_teams_and_every_change_is_audited(engine, session: Session) -> None:
    admin, ann, bob = _admin(session), add_user(session, "ann"), add_user(session, "bob")
    with pytest.raises(PermissionDenied):
        create_team(session=session, actor_id=ann, team_in=TeamCreate(name="Sneaky"))
    research = _team(session, "Research", budget_usd_per_month=50.0)
    with pytest.raises(ValidationError, match="already a team called Research"):
        _team(session, "  Research ")
    with pytest.raises(ValidationError, match="not a model this portal offers"):
        _team(session, "Ops", allowed_models=["openai/gpt-9"])
    update_team(session=session, actor_id=admin, team_id=research,
                team_in=TeamCreate(name="Research", budget_usd_per_month=80.0, allowed_models=["openai/gpt-4o"]))
    add_member(session=session, actor_id=admin, team_id=research, user_id=ann)
    with pytest.raises(PermissionDenied):
        add_member(session=session, actor_id=ann, team_id=research, user_id=bob)
    remove_member(session=session, actor_id=admin, team_id=research, user_id=ann)
    delete_team(session=session, actor_id=admin, team_id=research)
    actions = [e.action for e in audit_log(session=session, actor_id=admin) if e.action.startswith("team.")]
    assert actions == ["team.delete", "team.member_remove", "team.member_add", "team.update", "team.create"]
    updated = next(e for e in audit_log(session=session, actor_id=admin) if e.action == "team.update")
    assert '"budget_usd_per_month": 50.0' in updated.detail and '"budget_usd_per_month": 80.0' in updated.detail


def test_the_default_team_is_charged_unless_the_user_picks_another_of_theirs(engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    first, second, other = _team(session, "First"), _team(session, "Second"), _team(session, "Other")
    assert charged_team(session=session, user_id=ann) is None  # no team: nothing shared applies
    add_member(session=session, actor_id=admin, team_id=first, user_id=ann)
    add_member(session=session, actor_id=admin, team_id=second, user_id=ann)
    assert [t.name for t in teams_of(session=session, user_id=ann)] == ["First", "Second"]  # the first is default
    assert charged_team(session=session, user_id=ann).id == first  # type: ignore[union-attr]
    assert charged_team(session=session, user_id=ann, requested="Second").id == second  # type: ignore[union-attr]
    with pytest.raises(PermissionDenied, match="does not exist or you are not a member") as refused:
        charged_team(session=session, user_id=ann, requested=other)
    assert "Other" not in str(refused.value.user_message)  # a non-member is never told a team's name
    set_default_team(session=session, actor_id=ann, user_id=ann, team_id=second)  # her own choice
    assert charged_team(session=session, user_id=ann).id == second  # type: ignore[union-attr]
    remove_member(session=session, actor_id=admin, team_id=second, user_id=ann)
    assert charged_team(session=session, user_id=ann).id == first  # type: ignore[union-attr]  # a default again


@pytest.fixture
def manager(engine: Engine) -> ConversationManager:
    return ConversationManager(engine=engine, provider_factory=lambda name, _uid: FakeProvider(name, "gpt-4o"))


def test_the_allow_list_refuses_other_models_naming_the_team_and_its_models(engine, session: Session,
                                                                           manager: ConversationManager) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    team = _team(session, "Frugal", allowed_models=["openai/gpt-4o-mini"])
    add_member(session=session, actor_id=admin, team_id=team, user_id=ann)
    refusal = r"Team Frugal may not use openai/gpt-4o\. Its models: openai/gpt-4o-mini"
    with pytest.raises(PermissionDenied, match=refusal):
        manager.send(user_id=ann, conversation_id=None, text="hi", options=TurnOptions(provider="openai",
                                                                                    model="gpt-4o"))
    assert session.exec(select(func.count()).select_from(Conversation)).one() == 0
    assert session.exec(select(func.count()).select_from(Message)).one() == 0


def test_a_team_budget_is_shared_and_its_refusal_names_the_team(engine, session: Session,
                                                                manager: ConversationManager) -> None:
    admin, ann, bob = _admin(session), add_user(session, "ann"), add_user(session, "bob")
    team = _team(session, "Lab", budget_usd_per_month=0.05)
    for uid in (ann, bob):
        add_member(session=session, actor_id=admin, team_id=team, user_id=uid)
    budgets = Budgets(engine=engine)
    lab = charged_team(session=session, user_id=ann)
    limits = RateLimitService().limits_for(session, ann, team=lab)[0]
    held = budgets.reserve(user_id=ann, limits=limits, exempt=False, provider="openai", model="gpt-4o",
                           prompt_tokens=0, max_tokens=4000, team=lab)  # $0.04 of Lab's $0.05
    assert held is not None
    options = TurnOptions(provider="openai", model="gpt-4o", max_tokens=2000)  # Bob's $0.02 would not fit
    with pytest.raises(RateLimited, match=r"\$0.01 of team Lab's \$0.05 budget for this month is left"):
        manager.send(user_id=bob, conversation_id=None, text="hello", options=options)
    budgets.release(held)
    turn = manager.send(user_id=bob, conversation_id=None, text="hello", options=options)
    "".join(turn.deltas())
    turn.close()
    event = session.exec(select(UsageEvent).where(UsageEvent.status == UsageStatus.complete)).one()
    assert event.team_id == team and event.user_id == bob
    quota = RateLimitService().quota(session, bob)
    assert "team Lab: $0.00 of $0.05 this month" in str(quota.summary())


def test_team_defaults_for_members_apply_under_the_users_own_limits(engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    team = _team(session, "Tight", member_tokens_per_day=5000, member_requests_per_minute=3)
    add_member(session=session, actor_id=admin, team_id=team, user_id=ann)
    service = RateLimitService()
    tight = charged_team(session=session, user_id=ann)
    limits, _ = service.limits_for(session, ann, team=tight)
    assert (limits.tokens_per_day, limits.requests_per_minute) == (5000, 3)
    set_user_limits(session=session, actor_id=admin, user_id=ann, limits_in=LimitPolicyUpdate(tokens_per_day=9000))
    limits, _ = service.limits_for(session, ann, team=tight)
    assert (limits.tokens_per_day, limits.requests_per_minute) == (9000, 3)  # her own override wins


def _usage(session: Session, user_id: int, team_id: int | None, model: str, tokens: int, when: datetime) -> None:
    event = record_usage(session=session, user_id=user_id, conversation_id=None, provider="openai", model=model,
                         usage=Usage(tokens, tokens // 2), status=UsageStatus.complete, error_kind=None,
                         ttft_ms=120.0, total_ms=300.0, team_id=team_id)
    event.created_at = when
    session.commit()


def test_chargeback_csv_and_the_team_filter_add_up_to_the_usage_records(engine, session: Session) -> None:
    admin, ann, bob = _admin(session), add_user(session, "ann"), add_user(session, "bob")
    lab, ops = _team(session, "Lab"), _team(session, "Ops")
    now = datetime.now(UTC).replace(hour=12)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for i, (uid, team, model) in enumerate([(ann, lab, "gpt-4o"), (ann, ops, "gpt-4o-mini"), (bob, lab, "gpt-4o"),
                                            (bob, None, "gpt-4o"), (ann, lab, "gpt-4o-mini")] * 3):
        _usage(session, uid, team, model, 1000 + 37 * i, month_start + timedelta(hours=i))
    _usage(session, ann, lab, "gpt-4o", 5000, month_start - timedelta(hours=1))  # last month: not in this one
    rows = list(csv.DictReader(io.StringIO(chargeback_csv(session=session, actor_id=admin, month=now.date()))))
    expected: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    names = {lab: "Lab", ops: "Ops", None: ""}
    users = {ann: "ann", bob: "bob"}
    for e in session.exec(select(UsageEvent).where(col(UsageEvent.created_at) >= month_start)):
        key = (names[e.team_id], users[e.user_id], e.model)
        expected[key][0] += e.tokens_in + e.tokens_out
        expected[key][1] += e.cost_usd
    got = {(r["team"], r["user"], r["model"]): [int(r["tokens"]), float(r["cost_usd"])] for r in rows}
    assert got.keys() == expected.keys()
    for key, (tokens, cost) in expected.items():
        assert got[key][0] == tokens and got[key][1] == pytest.approx(cost, abs=1e-7)
    with pytest.raises(PermissionDenied):
        chargeback_csv(session=session, actor_id=ann, month=now.date())
    for days in (1, 40):  # hourly (from the events) and daily (from the rollups)
        f = UsageFilter(start=month_start, end=month_start + timedelta(days=days), team_id=lab)
        board = dashboard(session=session, actor_id=admin, filters=f)
        lab_events = session.exec(select(UsageEvent).where(UsageEvent.team_id == lab,
                                                           col(UsageEvent.created_at) >= f.start,
                                                           col(UsageEvent.created_at) < f.end)).all()
        assert board.kpis.requests == len(lab_events)
        assert board.kpis.cost_usd == pytest.approx(sum(e.cost_usd for e in lab_events))
        assert {p["team"] for p in board.cost_by_team} == {"Lab"}



