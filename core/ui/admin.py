"""Admin widgets: the user table, the form for a new user, per-user actions and limits.

Each returns what the admin asked for; the Admin page hands it to perform(), which calls the service through
the one database helper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from core.accounts import reset_password, set_role, set_status
from core.config import get_settings
from core.models import LimitPolicyUpdate, Role, UserCreate, UserPublic, UserStatus
from core.ui.actions import rerun_after, run_action
from core.ui.i18n import labels, t
from core.usage import clear_user_limits, set_user_limits

LIMIT_FIELDS = {"requests_per_minute": 1, "requests_per_day": 1, "tokens_per_day": 1000, "budget_usd_per_month": 1.0}


@dataclass(frozen=True)
class UserRequest:
    action: Literal["status", "role", "reset_password", "limits", "clear_limits"]
    target: UserPublic
    status: UserStatus | None = None
    role: Role | None = None
    limits: LimitPolicyUpdate | None = None


def user_table(users: list[UserPublic]) -> None:
    st.dataframe(
        [
            {t("fields.username"): u.username, t("fields.name"): u.display_name, t("fields.email"): u.email,
             t("admin.col_role"): t(f"roles.{u.role}"), t("admin.col_status"): t(f"statuses.{u.status}"),
             t("admin.col_created"): u.created_at, t("admin.col_last_login"): u.last_login_at}
            for u in users
        ],
        hide_index=True,
        width="stretch",
        key="users_table",
    )


def pick_user(users: list[UserPublic]) -> UserPublic | None:
    """The user the admin works on."""
    if not users:
        return None
    by_name = {u.username: u for u in users}
    target = by_name[st.selectbox(t("common.user"), list(by_name), key="admin_selected_user")]
    st.caption(t("admin.status_line", status=t(f"statuses.{target.status}"), role=t(f"roles.{target.role}")))
    return target


def user_actions(target: UserPublic) -> UserRequest | None:
    """Approve / disable / enable / change role / reset password for the picked user."""
    cols = st.columns(4)
    status_buttons = {
        UserStatus.pending: ("admin.approve", "admin_approve", UserStatus.active),
        UserStatus.active: ("admin.disable", "admin_disable", UserStatus.disabled),
        UserStatus.disabled: ("admin.enable", "admin_enable", UserStatus.active),
    }
    text, key, to = status_buttons[target.status]
    asked = None
    if cols[0].button(t(text), key=key, type="primary" if target.status == UserStatus.pending else "secondary"):
        asked = UserRequest("status", target, status=to)
    other = Role.user if target.role == Role.admin else Role.admin
    if cols[1].button(t(f"admin.make_{other}"), key="admin_role"):
        asked = UserRequest("role", target, role=other)
    if cols[2].button(t("admin.reset_password"), key="admin_reset"):
        asked = UserRequest("reset_password", target)
    return asked


def limits_form(target: UserPublic, current: LimitPolicyUpdate) -> UserRequest | None:
    """A user's own limits; an empty field follows the role default from config.yaml (0 = unlimited)."""
    defaults = get_settings().limits.for_role(target.role)
    with st.expander(t("admin.limits_for", name=target.username)), st.form(f"limits_form_{target.id}"):
        values = {}
        for field, step in LIMIT_FIELDS.items():
            values[field] = st.number_input(
                t(f"limits.{field}"), min_value=0 * step, step=step, value=getattr(current, field),
                placeholder=t("admin.role_default", value=getattr(defaults, field)), key=f"limit_{field}_{target.id}")
        cols = st.columns([1, 1, 4])
        save = cols[0].form_submit_button(t("admin.save_limits"), type="primary")
        clear = cols[1].form_submit_button(t("admin.use_defaults"))
    if save:
        return UserRequest("limits", target, limits=LimitPolicyUpdate(**values))
    return UserRequest("clear_limits", target) if clear else None


def new_user_form() -> UserCreate | None:
    """Name, email, username, initial password and role of a new account; the account when submitted."""
    with st.form("create_user_form", clear_on_submit=True):
        name = st.text_input(t("fields.name"), max_chars=100, key="new_user_name")
        email = st.text_input(t("fields.email"), max_chars=254, key="new_user_email")
        username = st.text_input(t("fields.username"), max_chars=32, key="new_user_username")
        password = st.text_input(t("admin.initial_password"), type="password", key="new_user_password")
        role = st.selectbox(t("admin.col_role"), [r.value for r in Role], index=1, key="new_user_role",
                            format_func=labels({r.value: t(f"roles.{r.value}") for r in Role}))
        if not st.form_submit_button(t("admin.add_user"), key="new_user_submit"):
            return None
    return UserCreate(username=username, email=email, display_name=name, password=password, role=Role(role))


def perform(asked: UserRequest, *, admin_id: int) -> None:
    """Carry out what the admin asked for on one user; the outcome is shown after the rerun."""
    target, name = asked.target, asked.target.username
    if asked.action == "status" and asked.status is not None:
        to = asked.status
        done = "admin.disabled" if to == UserStatus.disabled else (
            "admin.approved" if target.status == UserStatus.pending else "admin.enabled")
        rerun_after(lambda s: set_status(session=s, actor_id=admin_id, user_id=target.id, status=to),
                    t(done, name=name))
    elif asked.action == "role" and asked.role is not None:
        role = asked.role
        rerun_after(lambda s: set_role(session=s, actor_id=admin_id, user_id=target.id, role=role),
                    t("admin.role_changed", name=name, role=t(f"roles.{role}")))
    elif asked.action == "reset_password":
        password = run_action(lambda s: reset_password(session=s, actor_id=admin_id, user_id=target.id))
        if password:
            st.success(t("admin.new_password", name=name))
            st.code(password, language=None)  # shown once: only its hash is stored
    elif asked.action == "limits" and asked.limits is not None:
        limits = asked.limits
        rerun_after(lambda s: set_user_limits(session=s, actor_id=admin_id, user_id=target.id, limits_in=limits),
                    t("admin.limits_saved", name=name))
    elif asked.action == "clear_limits":
        rerun_after(lambda s: clear_user_limits(session=s, actor_id=admin_id, user_id=target.id),
                    t("admin.limits_cleared", name=name))
