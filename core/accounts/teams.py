"""Teams: admins create them, set their budgets, allowed models and default member limits, and add or remove
members (all audited). A user may belong to several teams; one is their default, charged unless they pick another.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, update
from sqlmodel import Session, col, select

from core.accounts.audit import record_audit
from core.accounts.guards import require_admin
from core.config import get_settings
from core.db import get_engine
from core.errors import NotFound, PermissionDenied, ValidationError
from core.i18n import Msg
from core.model_catalog import entries
from core.models import Team, TeamCreate, TeamMember, TeamPublic, User
from core.models.teams import TEAM_NAME_MAX
from core.validation import clean_line

LIMIT_MAX = 2_000_000_000


def catalog_models(engine: Engine | Connection | None = None) -> list[str]:
    """Every chat model the catalog offers ("provider/model", enabled), the values an allow-list may hold."""
    settings = get_settings()
    return [e.id for e in entries(settings, engine or get_engine(settings)) if e.kind == "chat" and e.enabled]


def _checked(session: Session, team_in: TeamCreate, team_id: int | None) -> tuple[str, list[str]]:
    name = clean_line(team_in.name, max_chars=TEAM_NAME_MAX)
    if not name:
        raise ValidationError(Msg("teams.name_required"))
    clash = session.exec(select(Team.id).where(col(Team.name) == name)).first()
    if clash is not None and clash != team_id:
        raise ValidationError(Msg("teams.name_taken", name=name))
    numbers = [team_in.budget_usd_per_month, team_in.tokens_per_month, team_in.member_requests_per_minute,
               team_in.member_requests_per_day, team_in.member_tokens_per_day, team_in.member_budget_usd_per_month]
    if any(v is not None and v < 0 for v in numbers):
        raise ValidationError(Msg("limits.negative"))
    if any(v is not None and v > LIMIT_MAX for v in numbers):
        raise ValidationError(Msg("limits.too_large", max=f"{LIMIT_MAX:,}"))
    current = session.get(Team, team_id) if team_id is not None else None
    kept = current.allowed() if current is not None else []
    offered = set(catalog_models(session.get_bind())) | set(kept)  # a model disabled since it was allowed stays
    unknown = [m for m in team_in.allowed_models if m not in offered]
    if unknown:
        raise ValidationError(Msg("teams.unknown_model", model=unknown[0][:120]))
    return name, sorted(set(team_in.allowed_models))


def _public(session: Session, team: Team) -> TeamPublic:
    members = session.exec(select(User.username).join(TeamMember, col(TeamMember.user_id) == col(User.id))
                           .where(TeamMember.team_id == team.id).order_by(col(User.username))).all()
    return TeamPublic.model_validate(team, update={"allowed_models": team.allowed(), "members": list(members)})


def list_teams(*, session: Session, actor_id: int) -> list[TeamPublic]:
    require_admin(session=session, actor_id=actor_id)
    return [_public(session, t) for t in session.exec(select(Team).order_by(col(Team.name))).all()]


def create_team(*, session: Session, actor_id: int, team_in: TeamCreate) -> TeamPublic:
    require_admin(session=session, actor_id=actor_id)
    name, allowed = _checked(session, team_in, None)
    team = Team.model_validate(team_in, update={"name": name, "allowed_models": _dump(allowed)})
    session.add(team)
    session.flush()
    record_audit(session=session, actor_id=actor_id, action="team.create", target=name,
                 detail=team_in.model_dump(mode="json") | {"name": name, "allowed_models": allowed})
    session.commit()
    return _public(session, team)


def update_team(*, session: Session, actor_id: int, team_id: int, team_in: TeamCreate) -> TeamPublic:
    require_admin(session=session, actor_id=actor_id)
    team = _team(session, team_id)
    name, allowed = _checked(session, team_in, team_id)
    before = _public(session, team).model_dump(mode="json", exclude={"members"})
    team.sqlmodel_update(team_in.model_dump(exclude={"allowed_models"}) | {"name": name,
                                                                          "allowed_models": _dump(allowed)})
    session.add(team)
    after = team_in.model_dump(mode="json") | {"name": name, "allowed_models": allowed}
    record_audit(session=session, actor_id=actor_id, action="team.update", target=name,
                 detail={"before": before, "after": after})
    session.commit()
    return _public(session, team)


def delete_team(*, session: Session, actor_id: int, team_id: int) -> None:
    """Remove a team and its memberships; its usage keeps the team's id (chargeback names it "#id")."""
    require_admin(session=session, actor_id=actor_id)
    team = _team(session, team_id)
    members = session.exec(select(TeamMember).where(TeamMember.team_id == team_id)).all()
    for member in members:
        session.delete(member)
    session.flush()
    for member in members:
        _ensure_default(session, member.user_id)
    session.delete(team)
    record_audit(session=session, actor_id=actor_id, action="team.delete", target=team.name,
                 detail={"members": len(members)})
    session.commit()


def add_member(*, session: Session, actor_id: int, team_id: int, user_id: int) -> None:
    """Add a user to a team (their first team becomes their default)."""
    require_admin(session=session, actor_id=actor_id)
    team, user = _team(session, team_id), session.get(User, user_id)
    if user is None:
        raise NotFound(Msg("users.not_found"))
    if session.get(TeamMember, (team_id, user_id)) is not None:
        raise ValidationError(Msg("teams.already_member", user=user.username, team=team.name))
    session.add(TeamMember(team_id=team_id, user_id=user_id))
    session.flush()
    _ensure_default(session, user_id)
    record_audit(session=session, actor_id=actor_id, action="team.member_add", target=team.name,
                 detail={"user": user.username})
    session.commit()


def remove_member(*, session: Session, actor_id: int, team_id: int, user_id: int) -> None:
    require_admin(session=session, actor_id=actor_id)
    team, member = _team(session, team_id), session.get(TeamMember, (team_id, user_id))
    user = session.get(User, user_id)
    if member is None or user is None:
        raise NotFound(Msg("teams.not_a_member"))
    session.delete(member)
    session.flush()
    _ensure_default(session, user_id)
    record_audit(session=session, actor_id=actor_id, action="team.member_remove", target=team.name,
                 detail={"user": user.username})
    session.commit()


def set_default_team(*, session: Session, actor_id: int, user_id: int, team_id: int) -> None:
    """A user's default team (the user themself, or an admin); audited."""
    if actor_id != user_id:
        require_admin(session=session, actor_id=actor_id)
    team = _team(session, team_id)
    if session.get(TeamMember, (team_id, user_id)) is None:
        raise PermissionDenied(Msg("teams.not_member", team=team.name))
    session.exec(update(TeamMember).where(col(TeamMember.user_id) == user_id)  # type: ignore[call-overload]
                 .values(is_default=col(TeamMember.team_id) == team_id))
    user = session.get(User, user_id)
    record_audit(session=session, actor_id=actor_id, action="team.default", target=team.name,
                 detail={"user": user.username if user else user_id})
    session.commit()


def teams_of(*, session: Session, user_id: int) -> list[Team]:
    """The user's teams, their default first."""
    rows = session.exec(select(Team, TeamMember.is_default).join(TeamMember, col(TeamMember.team_id) == col(Team.id))
                        .where(TeamMember.user_id == user_id)).all()
    return [team for team, _ in sorted(rows, key=lambda r: (not r[1], r[0].name))]


def charged_team(*, session: Session, user_id: int, requested: int | str | None = None) -> Team | None:
    """The team a request is charged to: the one asked for (by id or name; the user must belong to it), else the
    user's default team, else none."""
    teams = teams_of(session=session, user_id=user_id)
    if requested is None or requested == "":
        return teams[0] if teams else None
    for team in teams:
        if team.id == requested or team.name == requested or str(team.id) == str(requested):
            return team
    # One refusal for a team that does not exist and one the user is not in, and never its name: the answer must
    # not tell a non-member which ids or names exist. Nothing is looked up, so no value can overflow a column.
    raise PermissionDenied(Msg("teams.not_yours"))


def allows(team: Team | None, provider: str, model: str) -> bool:
    """Whether a request charged to team may use provider/model (no team, or an empty allow-list: any)."""
    allowed = team.allowed() if team is not None else []
    return not allowed or f"{provider}/{model}" in allowed


def check_allowed(team: Team | None, provider: str, model: str) -> None:
    """PermissionDenied, naming the team and its models, when the team may not use provider/model."""
    if team is not None and not allows(team, provider, model):
        raise PermissionDenied(Msg("teams.model_not_allowed", team=team.name, model=f"{provider}/{model}"[:200],
                                   allowed=", ".join(team.allowed())))


def _ensure_default(session: Session, user_id: int) -> None:
    """Exactly one default among the user's teams (when they have any)."""
    members = session.exec(select(TeamMember).where(TeamMember.user_id == user_id)
                           .order_by(col(TeamMember.added_at))).all()
    if members and not any(m.is_default for m in members):
        members[0].is_default = True
        session.add(members[0])


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(Msg("teams.not_found"))
    return team


def _dump(models: list[str]) -> str:
    return json.dumps(models)
