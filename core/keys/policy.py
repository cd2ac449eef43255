"""The organisation's key switches: may users bring their own keys; are organisation keys for everyone."""

from __future__ import annotations

from sqlmodel import Session, select

from core.accounts import record_audit, require_admin
from core.errors import ValidationError
from core.i18n import Msg
from core.models import OrgSetting, utcnow

POLICY_BYOK = "users_may_bring_keys"
POLICY_ORG_FOR_ALL = "org_keys_for_all_users"
POLICY_DEFAULTS = {POLICY_BYOK: True, POLICY_ORG_FOR_ALL: True}


def policy(session: Session) -> dict[str, bool]:
    """Each switch's value (stored by an admin, else its default)."""
    stored = {s.key: s.value == "true" for s in session.exec(select(OrgSetting)).all()}
    return {k: stored.get(k, v) for k, v in POLICY_DEFAULTS.items()}


def set_policy(*, session: Session, actor_id: int, name: str, enabled: bool) -> bool:
    require_admin(session=session, actor_id=actor_id)
    if name not in POLICY_DEFAULTS:
        raise ValidationError(Msg("keys.unknown_policy"))
    setting = session.get(OrgSetting, name) or OrgSetting(key=name, value="")
    setting.value, setting.updated_at, setting.updated_by = ("true" if enabled else "false"), utcnow(), actor_id
    session.add(setting)
    record_audit(session=session, actor_id=actor_id, action="policy.set", target=name, detail={"enabled": enabled})
    session.commit()
    return enabled
