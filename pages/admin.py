"""Admin: users (approve, disable/enable, role, password reset, limits, create). The audit trail is on Monitoring."""

import streamlit as st

from core.models import Role, UserCreate, UserStatus
from core.ui import auth
from core.ui.admin_views import user_actions, user_table
from core.ui.forms import run_action
from core.ui.i18n import labels, t
from core.ui.keys_view import key_panels, policy_switches
from core.users import create_user, list_users

admin = auth.require_admin()
st.title(t("nav.admin"))
auth.show_flash()
users_tab, create_tab, org_tab = st.tabs(
    [t("admin.tab_users"), t("admin.tab_add"), t("admin.tab_org_keys")], key="admin_tabs", on_change="rerun")

with users_tab:
    users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    pending = sum(1 for u in users if u.status == UserStatus.pending.value)
    st.caption(t("admin.users_caption", n=len(users), pending=pending))
    user_table(users)
    user_actions(admin, users)

with create_tab, st.form("create_user_form", clear_on_submit=True):
    name = st.text_input(t("fields.name"), max_chars=100, key="new_user_name")
    email = st.text_input(t("fields.email"), max_chars=254, key="new_user_email")
    username = st.text_input(t("fields.username"), max_chars=32, key="new_user_username")
    password = st.text_input(t("admin.initial_password"), type="password", key="new_user_password")
    role = st.selectbox(t("admin.col_role"), [r.value for r in Role], index=1, key="new_user_role",
                        format_func=labels({r.value: t(f"roles.{r.value}") for r in Role}))
    if st.form_submit_button(t("admin.add_user"), key="new_user_submit"):
        created = run_action(
            lambda s: create_user(session=s, actor_id=admin.id, user_in=UserCreate(
                username=username, email=email, display_name=name, password=password, role=Role(role))),
            t("admin.user_added", name=username.strip().lower()),
        )
        if created is not None:
            st.rerun()

with org_tab:
    st.caption(t("keys.org_intro"))
    policy_switches(admin)
    key_panels(admin, org=True)
