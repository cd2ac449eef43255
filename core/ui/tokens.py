"""Settings → API tokens (a user's own) and Admin → API tokens (everyone's): create, list, revoke.

Widgets return what the user asked for (a TokenRequest); perform() calls the service. A new token is shown
once, on the run after it was created, and then only its last four characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from urllib.parse import urlsplit

import streamlit as st

from core.api import create_token, revoke_token
from core.models import ApiTokenPublic, utcnow
from core.ui import state
from core.ui.actions import rerun_after, run_action
from core.ui.i18n import labels, t


@dataclass(frozen=True)
class TokenRequest:
    action: Literal["create", "revoke"]
    name: str = ""
    expires_on: date | None = None
    token_id: int | None = None
    team_id: int | None = None  # the team its requests are charged to (None: the header's, else the default)


def api_url() -> str:
    """This server's API address as the browser reaches it."""
    parts = urlsplit(st.context.url or "http://localhost:8501")
    return f"{parts.scheme}://{parts.netloc}/v1"


def new_token_notice() -> None:
    """The token created on the previous run, shown this once."""
    token = st.session_state.pop(state.NEW_TOKEN, None)
    if token:
        st.success(t("tokens.created_once"))
        st.code(token, language=None)


def create_form(teams: list[tuple[int, str]] | None = None) -> TokenRequest | None:
    """A new token's name, expiry and (when the user belongs to several teams) the team it charges."""
    with st.form("token_form", clear_on_submit=True):
        cols = st.columns([3, 2, 2] if teams and len(teams) > 1 else [3, 2])
        name = cols[0].text_input(t("tokens.name"), max_chars=60, key="token_name")
        expires = cols[1].date_input(t("tokens.expiry"), value=None, min_value=utcnow().date() + timedelta(days=1),
                                     key="token_expiry")
        team = None
        if teams and len(teams) > 1:
            names = {0: t("tokens.team_default"), **dict(teams)}
            team = cols[2].selectbox(t("teams.pick"), list(names), key="token_team", format_func=labels(names)) or None
        if not st.form_submit_button(t("tokens.create"), key="token_create", type="primary"):
            return None
    return TokenRequest("create", name=name, expires_on=expires if isinstance(expires, date) else None, team_id=team)


def token_table(tokens: list[ApiTokenPublic], *, owners: bool) -> TokenRequest | None:
    """The tokens (masked), their dates and state; a picker to revoke an active one."""
    if not tokens:
        st.caption(t("tokens.none"))
        return None
    now = utcnow()
    rows = [{**({t("tokens.col_owner"): tok.owner} if owners else {}), t("tokens.col_name"): tok.name,
             t("tokens.col_token"): tok.masked, t("tokens.col_created"): tok.created_at,
             t("tokens.col_last_used"): tok.last_used_at, t("tokens.col_expires"): tok.expires_at,
             t("tokens.col_state"): t(f"tokens.state_{tok.state(now)}")} for tok in tokens]
    st.dataframe(rows, hide_index=True, width="stretch", key="tokens_table_all" if owners else "tokens_table")
    active = {tok.id: tok for tok in tokens if tok.state(now) == "active"}
    if not active:
        return None
    names = {i: f"{tok.owner} · {tok.name} ({tok.masked})" if owners else f"{tok.name} ({tok.masked})"
             for i, tok in active.items()}
    cols = st.columns([4, 1])
    picked = cols[0].selectbox(t("tokens.pick"), list(active), key="token_pick", format_func=labels(names))
    if cols[1].button(t("tokens.revoke"), key="token_revoke") and picked is not None:
        return TokenRequest("revoke", name=active[picked].name, token_id=picked)
    return None


def perform(asked: TokenRequest, *, actor_id: int) -> None:
    """Create (the token is kept for one run, to be shown once) or revoke."""
    if asked.action == "create":
        expires = datetime.combine(asked.expires_on + timedelta(days=1), time(0), UTC) if asked.expires_on else None
        created = run_action(lambda s: create_token(session=s, user_id=actor_id, name=asked.name, expires_at=expires,
                                                    team_id=asked.team_id))
        if created is not None:
            st.session_state[state.NEW_TOKEN] = created.token
            st.rerun()
    elif asked.token_id is not None:
        token_id = asked.token_id
        rerun_after(lambda s: revoke_token(session=s, actor_id=actor_id, token_id=token_id),
                    t("tokens.revoked_done", name=asked.name))
