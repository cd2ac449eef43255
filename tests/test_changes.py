"""core.changes: every change a request cache depends on gives the one version row a new value, in the change's own
transaction; activity that changes nothing cached (a token's last use, a failed login) leaves it alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from core import changes
from core.accounts import add_member, create_team, remove_member, set_role, set_status
from core.api import create_token, revoke_token
from core.keys import POLICY_BYOK, save_org_key, set_policy
from core.models import ApiToken, Role, TeamCreate, User, UserStatus, metadata, utcnow
from core.models.usage import LimitPolicyUpdate
from core.usage.overrides import clear_user_limits, set_user_limits
from tests.conftest import add_user


def test_every_table_is_either_watched_or_named_as_not_mattering() -> None:
    tables = set(metadata.tables)
    assert not changes.WATCHED & changes.UNWATCHED
    assert tables - changes.WATCHED - changes.UNWATCHED == set(), "place the new table in core/changes.py"


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


def _changes(engine: Engine, change: Callable[[], object]) -> bool:
    before = changes.current(engine)
    change()
    return changes.current(engine) != before


def test_each_change_a_caller_cache_depends_on_gives_a_new_version(engine: Engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    assert changes.current(engine) != 0
    token = create_token(session=session, user_id=ann, name="script")
    team: list[int] = []

    def new_team() -> None:
        team.append(create_team(session=session, actor_id=admin, team_in=TeamCreate(name="Research")).id)

    steps: dict[str, Callable[[], object]] = {
        "revoke": lambda: revoke_token(session=session, actor_id=ann, token_id=token.public.id),
        "disable": lambda: set_status(session=session, actor_id=admin, user_id=ann, status=UserStatus.disabled),
        "enable": lambda: set_status(session=session, actor_id=admin, user_id=ann, status=UserStatus.active),
        "role": lambda: set_role(session=session, actor_id=admin, user_id=ann, role=Role.admin),
        "limits": lambda: set_user_limits(session=session, actor_id=admin, user_id=ann,
                                          limits_in=LimitPolicyUpdate(requests_per_minute=3)),
        "limits cleared": lambda: clear_user_limits(session=session, actor_id=admin, user_id=ann),
        "team": new_team,
        "member": lambda: add_member(session=session, actor_id=admin, team_id=team[0], user_id=ann),
        "member removed": lambda: remove_member(session=session, actor_id=admin, team_id=team[0], user_id=ann),
        "org key": lambda: save_org_key(session=session, actor_id=admin, provider="openai",
                                        api_key="sk-" + "a" * 40),
        "policy": lambda: set_policy(session=session, actor_id=admin, name=POLICY_BYOK, enabled=False),
    }
    unchanged = [name for name, step in steps.items() if not _changes(engine, step)]
    assert unchanged == []


def test_activity_that_changes_nothing_cached_keeps_the_version(engine: Engine, session: Session) -> None:
    ann = add_user(session, "ann")
    token = create_token(session=session, user_id=ann, name="script")
    row = session.get(ApiToken, token.public.id)
    assert row is not None

    def last_used_by_orm() -> None:
        row.last_used_at = utcnow()
        session.add(row)
        session.commit()

    def last_used_in_bulk() -> None:
        session.exec(update(ApiToken).where(col(ApiToken.id) == row.id)  # type: ignore[call-overload]
                     .values(last_used_at=utcnow()))
        session.commit()

    def failed_login() -> None:
        user = session.get(User, ann)
        assert user is not None
        user.failed_login_attempts += 1
        session.add(user)
        session.commit()

    for step in (last_used_by_orm, last_used_in_bulk, failed_login):
        assert not _changes(engine, step), step.__name__


def test_a_change_rolled_back_leaves_the_version(engine: Engine, session: Session) -> None:
    ann = add_user(session, "ann")
    before = changes.current(engine)
    user = session.get(User, ann)
    assert user is not None
    user.role = Role.admin
    session.add(user)
    session.flush()
    session.rollback()
    assert changes.current(engine) == before


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_bulk_statements_on_watched_tables_change_the_version(engine: Engine, session: Session,
                                                              statement: str) -> None:
    ann = add_user(session, "ann")
    create_token(session=session, user_id=ann, name="script")

    def bulk() -> None:
        if statement == "update":
            session.exec(update(ApiToken).where(col(ApiToken.user_id) == ann)  # type: ignore[call-overload]
                         .values(revoked_at=utcnow()))
        else:
            from sqlmodel import delete
            session.exec(delete(ApiToken).where(col(ApiToken.user_id) == ann))  # type: ignore[call-overload]
        session.commit()

    assert _changes(engine, bulk)
