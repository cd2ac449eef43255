"""Provider key widgets: masked status, add/replace, check, delete — for a user's own or the organisation's keys."""

from __future__ import annotations

import streamlit as st

from core.credentials import (
    KEYED_PROVIDERS,
    POLICY_BYOK,
    POLICY_ORG_FOR_ALL,
    delete_org_key,
    delete_user_key,
    list_org_keys,
    list_user_keys,
    policy,
    save_org_key,
    save_user_key,
    set_policy,
)
from core.db import session_scope
from core.keycheck import check_stored_key
from core.models import CredentialPublic, UserPublic
from core.ui import state
from core.ui.forms import run_action
from core.ui.i18n import t, tr

CHECK_ICONS = {"valid": "✅", "invalid": "❌", "unreachable": "⚠️"}


def label(provider: str) -> str:
    return t(f"keys.label_{provider}")


def check_status(status: str | None) -> str:
    return f"{CHECK_ICONS.get(status or '', '')} {t('keys.status_' + status) if status in CHECK_ICONS else status}"


def key_panels(user: UserPublic, *, org: bool) -> None:
    """One panel per provider. org=True manages the organisation's keys (admins only, checked in core)."""
    stored = run_action(lambda s: list_org_keys(session=s, actor_id=user.id) if org
                        else list_user_keys(session=s, user_id=user.id)) or []
    by_provider = {c.provider: c for c in stored}
    for provider in KEYED_PROVIDERS:
        with st.container(border=True):
            _panel(user, provider, by_provider.get(provider), org)


def _panel(user: UserPublic, provider: str, cred: CredentialPublic | None, org: bool) -> None:
    scope = "org" if org else "me"
    st.markdown(f"**{label(provider)}**")
    if cred is None:
        st.caption(t("keys.none"))
    else:
        checked = (" · " + t("keys.checked_at", when=f"{cred.last_checked_at:%Y-%m-%d %H:%M}",
                               status=check_status(cred.last_check_status))
                   if cred.last_checked_at else " · " + t("keys.not_checked"))
        url = f" · {cred.base_url}" if cred.base_url else ""
        st.code(cred.masked, language=None)
        st.caption(t("keys.saved_at", when=f"{cred.updated_at:%Y-%m-%d %H:%M}") + url + checked)
        cols = st.columns([1, 1, 4])
        if cols[0].button(t("keys.check"), key=f"key_check_{scope}_{provider}"):
            result = run_action(lambda s: check_stored_key(session=s, actor_id=user.id, provider=provider, org=org))
            if result is not None:  # stored with its time; shown above after the rerun
                st.session_state[state.FLASH] = t("keys.check_result", provider=label(provider),
                                                       status=check_status(result.status), message=tr(result.message))
                st.rerun()
        if cols[1].button(t("common.delete"), key=f"key_delete_{scope}_{provider}"):
            if run_action(lambda s: (delete_org_key(session=s, actor_id=user.id, provider=provider) if org
                                     else delete_user_key(session=s, user_id=user.id, provider=provider)) or True,
                          t("keys.deleted", provider=label(provider))):
                st.rerun()
    with st.form(f"key_form_{scope}_{provider}", clear_on_submit=True):
        key = st.text_input(t("keys.replace") if cred else t("keys.add"), type="password",
                            key=f"key_value_{scope}_{provider}",
                            autocomplete="off")
        url = st.text_input(t("keys.server_url"), value=cred.base_url if cred else "",
                            key=f"key_url_{scope}_{provider}",
                            placeholder="http://localhost:11434/v1") if provider == "compatible" else ""
        if st.form_submit_button(t("keys.save")):
            saved = run_action(lambda s: save_org_key(session=s, actor_id=user.id, provider=provider, api_key=key,
                                                      base_url=url) if org
                               else save_user_key(session=s, user_id=user.id, provider=provider, api_key=key,
                                                  base_url=url), t("keys.saved", provider=label(provider)))
            if saved is not None:
                st.rerun()


def policy_switches(admin: UserPublic) -> None:
    with session_scope() as session:
        current = policy(session)
    labels = {POLICY_BYOK: t("keys.policy_byok"), POLICY_ORG_FOR_ALL: t("keys.policy_org_for_all")}
    for name, label in labels.items():
        value = st.toggle(label, value=current[name], key=f"policy_{name}")
        if value != current[name]:
            _save_policy(admin, name, value)


def _save_policy(admin: UserPublic, name: str, enabled: bool) -> None:
    if run_action(lambda s: set_policy(session=s, actor_id=admin.id, name=name, enabled=enabled),
                  t("keys.policy_saved")) is not None:
        st.rerun()
