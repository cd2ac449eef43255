"""Provider key widgets: masked status, add/replace, check, delete; the organisation's switches.

Each widget returns what the user asked for (a KeyRequest); the page hands it to perform(), which calls the
service through the one database helper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from core.keys import KEYED_PROVIDERS, POLICY_BYOK, POLICY_ORG_FOR_ALL, check_stored_key, delete_key, save_key
from core.models import CredentialPublic
from core.ui import state
from core.ui.actions import rerun_after, run_action
from core.ui.i18n import t, tr

CHECK_ICONS = {"valid": "✅", "invalid": "❌", "unreachable": "⚠️"}


@dataclass(frozen=True)
class KeyRequest:
    action: Literal["save", "check", "delete"]
    provider: str
    api_key: str = ""
    base_url: str = ""


def label(provider: str) -> str:
    return t(f"keys.label_{provider}")


def check_status(status: str | None) -> str:
    return f"{CHECK_ICONS.get(status or '', '')} {t('keys.status_' + status) if status in CHECK_ICONS else status}"


def key_panels(stored: list[CredentialPublic], *, org: bool) -> KeyRequest | None:
    """One panel per provider (org=True: the organisation's keys); what the user asked for, if anything."""
    by_provider = {c.provider: c for c in stored}
    asked = None
    for provider in KEYED_PROVIDERS:
        with st.container(border=True):
            asked = _panel(provider, by_provider.get(provider), org) or asked
    return asked


def _panel(provider: str, cred: CredentialPublic | None, org: bool) -> KeyRequest | None:
    scope = "org" if org else "me"
    asked = None
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
            asked = KeyRequest("check", provider)
        if cols[1].button(t("common.delete"), key=f"key_delete_{scope}_{provider}"):
            asked = KeyRequest("delete", provider)
    with st.form(f"key_form_{scope}_{provider}", clear_on_submit=True):
        key = st.text_input(t("keys.replace") if cred else t("keys.add"), type="password",
                            key=f"key_value_{scope}_{provider}", autocomplete="off")
        url = st.text_input(t("keys.server_url"), value=cred.base_url if cred else "",
                            key=f"key_url_{scope}_{provider}",
                            placeholder="http://localhost:11434/v1") if provider == "compatible" else ""
        if st.form_submit_button(t("keys.save")):
            asked = KeyRequest("save", provider, key, url)
    return asked


def policy_switches(current: dict[str, bool]) -> tuple[str, bool] | None:
    """The organisation's two switches; (name, new value) when one was flipped."""
    names = {POLICY_BYOK: t("keys.policy_byok"), POLICY_ORG_FOR_ALL: t("keys.policy_org_for_all")}
    for name, text in names.items():
        value = st.toggle(text, value=current[name], key=f"policy_{name}")
        if value != current[name]:
            return name, value
    return None


def perform(asked: KeyRequest, *, actor_id: int, org: bool) -> None:
    """Carry out what a key panel asked for; its outcome is shown after the rerun."""
    name = label(asked.provider)
    if asked.action == "save":
        rerun_after(lambda s: save_key(session=s, actor_id=actor_id, provider=asked.provider, api_key=asked.api_key,
                                       base_url=asked.base_url, org=org), t("keys.saved", provider=name))
    elif asked.action == "delete":
        rerun_after(lambda s: delete_key(session=s, actor_id=actor_id, provider=asked.provider, org=org),
                    t("keys.deleted", provider=name))
    else:
        result = run_action(lambda s: check_stored_key(session=s, actor_id=actor_id, provider=asked.provider, org=org))
        if result is not None:  # stored with its time; shown above after the rerun
            st.session_state[state.FLASH] = t("keys.check_result", provider=name, status=check_status(result.status),
                                              message=tr(result.message))
            st.rerun()
