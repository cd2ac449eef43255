"""Team widgets for admins: the team list, a form for a new or changed team, and members (add, remove, default).

Each widget returns what the admin asked for (a TeamRequest); perform() hands it to the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from core.accounts import add_member, catalog_models, create_team, delete_team, remove_member, set_default_team
from core.accounts import update_team as save_team
from core.models import TeamCreate, TeamPublic, UserPublic
from core.ui.actions import rerun_after
from core.ui.i18n import t


@dataclass(frozen=True)
class TeamRequest:
    action: Literal["create", "update", "delete", "add", "remove", "default"]
    team_id: int = 0
    team: TeamCreate | None = None
    user_id: int = 0
    name: str = ""


def team_table(teams: list[TeamPublic]) -> None:
    if not teams:
        st.caption(t("teams.no_teams"))
        return
    st.dataframe([{t("teams.col_name"): tm.name, t("teams.col_budget"): tm.budget_usd_per_month or "–",
                   t("teams.col_tokens"): tm.tokens_per_month or "–",
                   t("teams.col_models"): ", ".join(tm.allowed_models) or t("teams.all_models"),
                   t("teams.col_members"): ", ".join(tm.members)} for tm in teams],
                 hide_index=True, width="stretch", key="teams_table")


def team_form(current: TeamPublic | None) -> TeamRequest | None:
    """Name, budgets, allowed models and default member limits of a new team (current None) or of current."""
    key = f"team_form_{current.id if current else 'new'}"
    with st.form(key, clear_on_submit=current is None):
        name = st.text_input(t("teams.col_name"), value=current.name if current else "", max_chars=60,
                             key=f"{key}_name")
        left, right = st.columns(2)
        budget = left.number_input(t("teams.budget"), min_value=0.0, step=10.0, key=f"{key}_budget",
                                      value=float(current.budget_usd_per_month) if current else 0.0)
        tokens = right.number_input(t("teams.tokens"), min_value=0, step=100_000, key=f"{key}_tokens",
                                      value=int(current.tokens_per_month) if current else 0)
        allowed = current.allowed_models if current else []
        enabled = catalog_models()
        offered = enabled + [m for m in allowed if m not in enabled]  # a model disabled since it was allowed stays
        models = st.multiselect(t("teams.models"), offered, default=allowed, placeholder=t("teams.all_models"),
                                key=f"{key}_models")
        st.caption(t("teams.member_defaults"))
        cols = st.columns(4)
        member = {field: cols[i].number_input(t(f"limits.{field}"), min_value=0 * step, step=step,
                                              value=getattr(current, f"member_{field}") if current else None,
                                              placeholder=t("teams.role_default"), key=f"{key}_{field}")
                  for i, (field, step) in enumerate((("requests_per_minute", 1), ("requests_per_day", 1),
                                                     ("tokens_per_day", 1000), ("budget_usd_per_month", 1.0)))}
        if not st.form_submit_button(t("teams.save") if current else t("teams.create"), type="primary"):
            return None
    team = TeamCreate.model_validate({"name": name, "budget_usd_per_month": budget, "tokens_per_month": tokens,
                                      "allowed_models": models, **{f"member_{k}": v for k, v in member.items()}})
    return TeamRequest("update", current.id, team) if current else TeamRequest("create", team=team)


def members(team: TeamPublic, users: list[UserPublic]) -> TeamRequest | None:
    """Add a user to the team, remove a member, or make this team a member's default."""
    by_name = {u.username: u.id for u in users}
    cols = st.columns(3)
    outsiders = [n for n in by_name if n not in team.members]
    joining = cols[0].selectbox(t("teams.add_member"), ["", *outsiders], key=f"team_add_{team.id}")
    if cols[0].button(t("teams.add"), key=f"team_add_btn_{team.id}", disabled=not joining):
        return TeamRequest("add", team.id, user_id=by_name[joining], name=joining)
    member = cols[1].selectbox(t("teams.member"), ["", *team.members], key=f"team_member_{team.id}")
    if cols[1].button(t("teams.remove"), key=f"team_remove_btn_{team.id}", disabled=not member):
        return TeamRequest("remove", team.id, user_id=by_name[member], name=member)
    if cols[2].button(t("teams.make_default"), key=f"team_default_btn_{team.id}", disabled=not member):
        return TeamRequest("default", team.id, user_id=by_name[member], name=member)
    if st.button(t("teams.delete"), key=f"team_delete_{team.id}"):
        return TeamRequest("delete", team.id, name=team.name)
    return None


def perform(asked: TeamRequest, *, admin_id: int) -> None:
    """Carry out what the admin asked; the outcome shows after the rerun."""
    team_id, user_id, team = asked.team_id, asked.user_id, asked.team
    if asked.action == "create" and team is not None:
        rerun_after(lambda s: create_team(session=s, actor_id=admin_id, team_in=team),
                    t("teams.created", team=team.name.strip()))
    elif asked.action == "update" and team is not None:
        rerun_after(lambda s: save_team(session=s, actor_id=admin_id, team_id=team_id, team_in=team),
                    t("teams.saved", team=team.name.strip()))
    elif asked.action == "delete":
        rerun_after(lambda s: delete_team(session=s, actor_id=admin_id, team_id=team_id),
                    t("teams.deleted", team=asked.name))
    elif asked.action == "add":
        rerun_after(lambda s: add_member(session=s, actor_id=admin_id, team_id=team_id, user_id=user_id),
                    t("teams.member_added", user=asked.name))
    elif asked.action == "remove":
        rerun_after(lambda s: remove_member(session=s, actor_id=admin_id, team_id=team_id, user_id=user_id),
                    t("teams.member_removed", user=asked.name))
    elif asked.action == "default":
        rerun_after(lambda s: set_default_team(session=s, actor_id=admin_id, user_id=user_id, team_id=team_id),
                    t("teams.default_set", user=asked.name))
