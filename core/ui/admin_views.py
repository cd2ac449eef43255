"""Admin widgets: the user table, per-user actions and the read-only audit table."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.models import LimitPolicyUpdate, Role, UserPublic, UserStatus
from core.policies import clear_user_limits, get_user_limits, set_user_limits
from core.ui.forms import run_action
from core.users import reset_password, set_role, set_status

LIMIT_FIELDS = {
    "requests_per_minute": ("Requests per minute", 1),
    "requests_per_day": ("Requests per day", 1),
    "tokens_per_day": ("Tokens per day", 1000),
    "budget_usd_per_month": ("Budget per month (USD)", 1.0),
}


def user_table(users: list[UserPublic]) -> None:
    st.dataframe(
        [
            {"username": u.username, "name": u.display_name, "email": u.email, "role": u.role,
             "status": u.status, "created": u.created_at, "last login": u.last_login_at}
            for u in users
        ],
        hide_index=True,
        width="stretch",
        key="users_table",
    )


def user_actions(admin: UserPublic, users: list[UserPublic]) -> None:
    """Pick a user, then approve / disable / enable / change role / reset password."""
    if not users:
        return
    by_name = {u.username: u for u in users}
    name = st.selectbox("User", list(by_name), key="admin_selected_user")
    target = by_name[name]
    st.caption(f"Status: **{target.status}** · role: **{target.role}**")
    cols = st.columns(4)
    if target.status == UserStatus.pending.value and cols[0].button("Approve", key="admin_approve", type="primary"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.active),
             f"{name} approved.")
    if target.status == UserStatus.active.value and cols[0].button("Disable", key="admin_disable"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.disabled),
             f"{name} disabled; their sessions ended.")
    if target.status == UserStatus.disabled.value and cols[0].button("Enable", key="admin_enable"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.active),
             f"{name} enabled.")
    other = Role.user if target.role == Role.admin.value else Role.admin
    if cols[1].button(f"Make {other.value}", key="admin_role"):
        _act(lambda s: set_role(session=s, actor_id=admin.id, user_id=target.id, role=other),
             f"{name} is now {other.value}.")
    if cols[2].button("Reset password", key="admin_reset"):
        password = run_action(lambda s: reset_password(session=s, actor_id=admin.id, user_id=target.id))
        if password:
            st.success(f"New password for {name} (shown once, pass it on privately):")
            st.code(password, language=None)
    limits_form(admin, target)


def limits_form(admin: UserPublic, target: UserPublic) -> None:
    """A user's own limits; an empty field follows the role default from config.yaml (0 = unlimited)."""
    current = run_action(lambda s: get_user_limits(session=s, actor_id=admin.id, user_id=target.id))
    if current is None:
        return
    defaults = get_settings().limits.for_role(target.role)
    with st.expander(f"Limits for {target.username}"), st.form(f"limits_form_{target.id}"):
        values = {}
        for field, (label, step) in LIMIT_FIELDS.items():
            values[field] = st.number_input(
                label, min_value=0 * step, step=step, value=getattr(current, field),
                placeholder=f"role default: {getattr(defaults, field)}", key=f"limit_{field}_{target.id}")
        cols = st.columns([1, 1, 4])
        save = cols[0].form_submit_button("Save limits", type="primary")
        clear = cols[1].form_submit_button("Use role defaults")
    if save:
        _act(lambda s: set_user_limits(session=s, actor_id=admin.id, user_id=target.id,
                                       limits_in=LimitPolicyUpdate(**values)),
             f"Limits for {target.username} saved.")
    if clear:
        _act(lambda s: clear_user_limits(session=s, actor_id=admin.id, user_id=target.id) or True,
             f"{target.username} follows the role defaults again.")


def _act(action, message: str) -> None:  # type: ignore[no-untyped-def]
    if run_action(action, message) is not None:
        st.rerun()
