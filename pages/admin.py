"""Admin: users (approve, disable/enable, role, password reset, limits, create), teams, the model catalog (settings,
prices, discovery), organisation keys and API tokens. The audit trail is on Monitoring."""

import streamlit as st

from core.accounts import create_user, list_teams, list_users
from core.api import list_all_tokens
from core.catalog import catalog_table, last_runs, running
from core.keys import POLICY_DEFAULTS, list_keys, policy, set_policy
from core.models import UserStatus
from core.ui import admin as view
from core.ui import catalog, keys, teams, tokens
from core.ui.actions import rerun_after, run_action, show_flash
from core.ui.auth.guards import require_admin
from core.ui.i18n import t
from core.usage import get_user_limits

admin = require_admin()
st.title(t("nav.admin"))
show_flash()
users_tab, create_tab, teams_tab, models_tab, org_tab, tokens_tab = st.tabs(
    [t("admin.tab_users"), t("admin.tab_add"), t("admin.tab_teams"), t("admin.tab_models"), t("admin.tab_org_keys"),
     t("admin.tab_tokens")], key="admin_tabs", on_change="rerun")

with users_tab:
    users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    st.caption(t("admin.users_caption", n=len(users), pending=sum(u.status == UserStatus.pending for u in users)))
    view.user_table(users)
    if (target := view.pick_user(users)) is not None:
        asked = view.user_actions(target)
        limits = run_action(lambda s: get_user_limits(session=s, actor_id=admin.id, user_id=target.id))
        asked = (view.limits_form(target, limits) if limits is not None else None) or asked
        if asked is not None:
            view.perform(asked, admin_id=admin.id)

with create_tab:
    if (new := view.new_user_form()) is not None:
        rerun_after(lambda s: create_user(session=s, actor_id=admin.id, user_in=new),
                    t("admin.user_added", name=new.username.strip().lower()))

with teams_tab:
    all_teams = run_action(lambda s: list_teams(session=s, actor_id=admin.id)) or []
    teams.team_table(all_teams)
    everyone_users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    for team in all_teams:
        with st.expander(t("teams.edit", team=team.name)):
            if (asked_team := teams.team_form(team) or teams.members(team, everyone_users)) is not None:
                teams.perform(asked_team, admin_id=admin.id)
    with st.expander(t("teams.new")):
        if (new_team := teams.team_form(None)) is not None:
            teams.perform(new_team, admin_id=admin.id)

with models_tab:
    st.caption(t("catalog.intro"))
    runs = run_action(lambda s: last_runs(session=s, actor_id=admin.id)) or []
    asked_model = catalog.discovery(runs, any(r.finished_at is None for r in runs) and bool(run_action(running)))
    model_rows = run_action(lambda s: catalog_table(session=s, actor_id=admin.id)) or []
    catalog.table(model_rows)
    if asked_model is None and (picked := catalog.pick(model_rows)) is not None:
        asked_model = catalog.actions(picked)
    if asked_model is not None:
        catalog.perform(asked_model, admin_id=admin.id)

with org_tab:
    st.caption(t("keys.org_intro"))
    if (switched := keys.policy_switches(run_action(policy) or POLICY_DEFAULTS)) is not None:
        rerun_after(lambda s: set_policy(session=s, actor_id=admin.id, name=switched[0], enabled=switched[1]),
                    t("keys.policy_saved"))
    if (request := keys.key_panels(run_action(lambda s: list_keys(session=s, actor_id=admin.id, org=True)) or [],
                                   org=True)) is not None:
        keys.perform(request, actor_id=admin.id, org=True)

with tokens_tab:
    st.caption(t("tokens.admin_intro"))
    everyone = run_action(lambda s: list_all_tokens(session=s, actor_id=admin.id)) or []
    if (revoke := tokens.token_table(everyone, owners=True)) is not None:
        tokens.perform(revoke, actor_id=admin.id)
