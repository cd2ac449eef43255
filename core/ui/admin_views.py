"""Admin widgets: the user table, per-user actions and the read-only audit table."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.models import LimitPolicyUpdate, Role, UserPublic, UserStatus
from core.policies import clear_user_limits, get_user_limits, set_user_limits
from core.ui.forms import run_action
from core.ui.i18n import t
from core.users import reset_password, set_role, set_status

LIMIT_FIELDS = {"requests_per_minute": 1, "requests_per_day": 1, "tokens_per_day": 1000, "budget_usd_per_month": 1.0}


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


def user_actions(admin: UserPublic, users: list[UserPublic]) -> None:
    """Pick a user, then approve / disable / enable / change role / reset password."""
    if not users:
        return
    by_name = {u.username: u for u in users}
    name = st.selectbox(t("common.user"), list(by_name), key="admin_selected_user")
    target = by_name[name]
    st.caption(t("admin.status_line", status=t(f"statuses.{target.status}"), role=t(f"roles.{target.role}")))
    cols = st.columns(4)
    pending = target.status == UserStatus.pending.value
    if pending and cols[0].button(t("admin.approve"), key="admin_approve", type="primary"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.active),
             t("admin.approved", name=name))
    if target.status == UserStatus.active.value and cols[0].button(t("admin.disable"), key="admin_disable"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.disabled),
             t("admin.disabled", name=name))
    if target.status == UserStatus.disabled.value and cols[0].button(t("admin.enable"), key="admin_enable"):
        _act(lambda s: set_status(session=s, actor_id=admin.id, user_id=target.id, status=UserStatus.active),
             t("admin.enabled", name=name))
    other = Role.user if target.role == Role.admin.value else Role.admin
    if cols[1].button(t(f"admin.make_{other.value}"), key="admin_role"):
        _act(lambda s: set_role(session=s, actor_id=admin.id, user_id=target.id, role=other),
             t("admin.role_changed", name=name, role=t(f"roles.{other.value}")))
    if cols[2].button(t("admin.reset_password"), key="admin_reset"):
        password = run_action(lambda s: reset_password(session=s, actor_id=admin.id, user_id=target.id))
        if password:
            st.success(t("admin.new_password", name=name))
            st.code(password, language=None)
    limits_form(admin, target)


def limits_form(admin: UserPublic, target: UserPublic) -> None:
    """A user's own limits; an empty field follows the role default from config.yaml (0 = unlimited)."""
    current = run_action(lambda s: get_user_limits(session=s, actor_id=admin.id, user_id=target.id))
    if current is None:
        return
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
        _act(lambda s: set_user_limits(session=s, actor_id=admin.id, user_id=target.id,
                                       limits_in=LimitPolicyUpdate(**values)),
             t("admin.limits_saved", name=target.username))
    if clear:
        _act(lambda s: clear_user_limits(session=s, actor_id=admin.id, user_id=target.id) or True,
             t("admin.limits_cleared", name=target.username))


def _act(action, message: str) -> None:  # type: ignore[no-untyped-def]
    if run_action(action, message) is not None:
        st.rerun()
