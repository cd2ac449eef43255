"""Admin: users (approve, disable/enable, role, password reset, limits, create). The audit trail is on Monitoring."""

import streamlit as st

from core.models import Role, UserCreate, UserStatus
from core.ui import auth
from core.ui.admin_views import user_actions, user_table
from core.ui.forms import run_action
from core.ui.keys_view import key_panels, policy_switches
from core.users import create_user, list_users

admin = auth.require_admin()
st.title("Admin")
auth.show_flash()
users_tab, create_tab, org_tab = st.tabs(
    ["Users", "Add user", "Organisation keys"], key="admin_tabs", on_change="rerun")

with users_tab:
    users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    pending = sum(1 for u in users if u.status == UserStatus.pending.value)
    st.caption(f"{len(users)} users · {pending} waiting for approval")
    user_table(users)
    user_actions(admin, users)

with create_tab, st.form("create_user_form", clear_on_submit=True):
    name = st.text_input("Name", max_chars=100, key="new_user_name")
    email = st.text_input("Email", max_chars=254, key="new_user_email")
    username = st.text_input("Username", max_chars=32, key="new_user_username")
    password = st.text_input("Initial password", type="password", key="new_user_password")
    role = st.selectbox("Role", [r.value for r in Role], index=1, key="new_user_role")
    if st.form_submit_button("Add user", key="new_user_submit"):
        created = run_action(
            lambda s: create_user(session=s, actor_id=admin.id, user_in=UserCreate(
                username=username, email=email, display_name=name, password=password, role=Role(role))),
            f"User {username.strip().lower()} added.",
        )
        if created is not None:
            st.rerun()

with org_tab:
    st.caption("Organisation keys answer for users without their own key. They are stored encrypted; nobody can "
               "read them back. Keys from the environment (OPENAI_API_KEY, …) still apply when none is stored.")
    policy_switches(admin)
    key_panels(admin, org=True)
