"""Settings: profile, password, language and theme, chat defaults, own provider keys, own usage and limits."""

import streamlit as st

from core.accounts import (
    change_password,
    get_preferences,
    list_presets,
    set_appearance,
    set_preferences,
    teams_of,
    update_profile,
)
from core.api import list_tokens
from core.keys import list_keys
from core.models import PreferencesPublic, utcnow
from core.ui import i18n, keys, preferences, state, tokens
from core.ui import monitoring as usage_view
from core.ui.actions import rerun_after, run_action, show_flash
from core.ui.auth.guards import require_user
from core.ui.auth.session import renew_cookie
from core.ui.chat.composer import quota_caption
from core.ui.feedback_panel import feedback_panel
from core.ui.forms import password_form, profile_form
from core.ui.i18n import t
from core.usage import RateLimitService, UsageFilter, dashboard, feedback_stats

user = require_user()
st.title(t("nav.settings"))
show_flash()
profile_tab, password_tab, appearance_tab, defaults_tab, keys_tab, tokens_tab, usage_tab = st.tabs(
    [t("settings.tab_profile"), t("settings.tab_password"), t("settings.tab_appearance"),
     t("settings.tab_defaults"), t("settings.tab_keys"), t("settings.tab_tokens"), t("settings.tab_usage")],
    key="settings_tabs", on_change="rerun")
prefs = run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic()

with profile_tab:
    if (update := profile_form(user)) is not None:
        rerun_after(lambda s: update_profile(session=s, user_id=user.id, user_in=update), t("profile.saved"))

with password_tab:
    if (change := password_form()) is not None and run_action(
            lambda s: change_password(session=s, user_id=user.id, current=change.current, new=change.new,
                                      repeat=change.repeat) or True, t("password.changed")):
        renew_cookie(utcnow())  # this session stays valid: its login time moves past the revocation
        st.rerun()

with appearance_tab:
    if (chosen := preferences.appearance_form(prefs)) is not None:
        saved = run_action(lambda s: set_appearance(session=s, user_id=user.id, language=chosen[0], theme=chosen[1]))
        if saved is not None:
            i18n.remember(user.id, saved.language, saved.theme)
            st.session_state[state.FLASH] = t("settings.appearance_saved")  # in the new language
            st.rerun()

with defaults_tab:
    if (defaults := preferences.defaults_form(prefs)) is not None:
        rerun_after(lambda s: set_preferences(session=s, user_id=user.id, prefs=defaults), t("prefs.saved"))
    presets = run_action(lambda s: list_presets(session=s, user_id=user.id)) or []
    if (asked := preferences.presets_editor(presets)) is not None:
        preferences.perform(asked, user_id=user.id)

with keys_tab:
    st.caption(t("keys.own_intro"))
    if (request := keys.key_panels(run_action(lambda s: list_keys(session=s, actor_id=user.id)) or [],
                                   org=False)) is not None:
        keys.perform(request, actor_id=user.id, org=False)

with tokens_tab:
    st.caption(t("tokens.intro", url=tokens.api_url()))
    tokens.new_token_notice()
    my_teams = run_action(lambda s: [(tm.id or 0, tm.name) for tm in teams_of(session=s, user_id=user.id)]) or []
    asked_token = tokens.create_form(my_teams) or tokens.token_table(
        run_action(lambda s: list_tokens(session=s, user_id=user.id)) or [], owners=False)
    if asked_token is not None:
        tokens.perform(asked_token, actor_id=user.id)

with usage_tab:
    quota_caption(run_action(lambda s: RateLimitService().quota(s, user.id).summary(), quiet=True))
    start, end = usage_view.range_picker("me")
    mine = UsageFilter(start=start, end=end, user_id=user.id)
    data = run_action(lambda s: dashboard(session=s, actor_id=user.id, filters=mine))
    if data is not None:
        usage_view.kpi_tiles(data)
        usage_view.chart_grid(data, usage_view.viewer_timezone(), per_user=False)
    rated = run_action(lambda s: feedback_stats(session=s, actor_id=user.id, filters=mine))
    if rated is not None:  # the user's own ratings of replies and their comments
        feedback_panel(rated, usage_view.viewer_timezone())
