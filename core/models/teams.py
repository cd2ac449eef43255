"""Teams: shared monthly budgets, the models members may use, default limits for members, and who belongs."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models.base import utcnow

TEAM_NAME_MAX = 60


class TeamBase(SQLModel):
    name: str
    budget_usd_per_month: float = 0.0  # 0: no team budget (members' own limits still apply)
    tokens_per_month: int = 0
    # Default limits for members, over their role's defaults and under their own overrides; None keeps the role's.
    member_requests_per_minute: int | None = None
    member_requests_per_day: int | None = None
    member_tokens_per_day: int | None = None
    member_budget_usd_per_month: float | None = None


class TeamCreate(TeamBase):
    allowed_models: list[str] = []  # "provider/model"; empty: every model


class TeamUpdate(TeamCreate):
    pass


class Team(TeamBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=TEAM_NAME_MAX, unique=True, index=True)
    allowed_models: str = Field(default="[]")  # JSON list of "provider/model"
    created_at: datetime = Field(default_factory=utcnow)

    def allowed(self) -> list[str]:
        return list(json.loads(self.allowed_models or "[]"))


class TeamPublic(TeamBase):
    id: int
    allowed_models: list[str]
    members: list[str] = []  # usernames


class TeamMember(SQLModel, table=True):
    """A user's membership; each user has at most one default team (charged unless they pick another)."""

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)
    is_default: bool = False
    added_at: datetime = Field(default_factory=utcnow)
