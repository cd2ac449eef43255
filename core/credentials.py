"""Provider keys: users' own and the organisation's, stored encrypted; resolved at chat time.

Nobody reads a key back: functions return CredentialPublic (masked); only resolve() decrypts, for the
owner's own chat calls. Admins manage organisation keys and policy; every admin change is audited.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.audit import record_audit
from core.config import ORG_KEY_VARS, Settings, get_settings
from core.crypto import KeyVault, KeyVaultError
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.models import CredentialPublic, OrgSetting, ProviderCredential, Role, User, utcnow
from core.providers.base import Credentials, KeyCheck
from core.users import require_admin

KEYED_PROVIDERS = ("openai", "anthropic", "compatible")
POLICY_BYOK = "users_may_bring_keys"
POLICY_ORG_FOR_ALL = "org_keys_for_all_users"
POLICY_DEFAULTS = {POLICY_BYOK: True, POLICY_ORG_FOR_ALL: True}
_ALLOWED = set(string.ascii_letters + string.digits + "-_.:+/=")


def mask(last4: str, provider: str) -> str:
    prefix = {"openai": "sk-", "anthropic": "sk-ant-"}.get(provider, "")
    return f"{prefix}…{last4}"


def clean_key(raw: str) -> str:
    """The key without surrounding whitespace; ValidationError (never echoing it) if it cannot be one."""
    key = (raw or "").strip()
    if not key:
        raise ValidationError(Msg("keys.empty"))
    if any(ch.isspace() for ch in key):
        raise ValidationError(Msg("keys.whitespace"))
    if not 8 <= len(key) <= 512 or not set(key) <= _ALLOWED:
        raise ValidationError(Msg("keys.malformed"))
    return key


def clean_base_url(raw: str, provider: str) -> str:
    url = (raw or "").strip()
    if provider != "compatible":
        return ""
    if not url.startswith(("http://", "https://")) or any(ch.isspace() for ch in url) or len(url) > 500:
        raise ValidationError(Msg("keys.bad_url"))
    return url


def _public(cred: ProviderCredential) -> CredentialPublic:
    return CredentialPublic.model_validate(cred, update={"masked": mask(cred.last4, cred.provider)})


def _check_provider(provider: str) -> None:
    if provider not in KEYED_PROVIDERS:
        raise ValidationError(Msg("keys.unknown_provider", providers=", ".join(KEYED_PROVIDERS)))


def _find(session: Session, owner_id: int | None, provider: str) -> ProviderCredential | None:
    owner = col(ProviderCredential.owner_id)
    return session.exec(select(ProviderCredential).where(
        owner.is_(None) if owner_id is None else owner == owner_id, ProviderCredential.provider == provider)).first()


def _save(session: Session, owner_id: int | None, provider: str, api_key: str, base_url: str,
          vault: KeyVault) -> ProviderCredential:
    _check_provider(provider)
    key, url = clean_key(api_key), clean_base_url(base_url, provider)
    sealed = vault.encrypt(key)
    cred = _find(session, owner_id, provider) or ProviderCredential(owner_id=owner_id, provider=provider,
                                                                    ciphertext="", key_version="", last4="")
    cred.ciphertext, cred.key_version, cred.last4, cred.base_url = sealed.ciphertext, sealed.key_version, key[-4:], url
    cred.updated_at, cred.last_checked_at, cred.last_check_status = utcnow(), None, None
    session.add(cred)
    return cred


def policy(session: Session) -> dict[str, bool]:
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


def save_user_key(*, session: Session, user_id: int, provider: str, api_key: str, base_url: str = "",
                  vault: KeyVault | None = None) -> CredentialPublic:
    """Add or replace the user's own key for a provider."""
    if not policy(session)[POLICY_BYOK]:
        raise ValidationError(Msg("keys.byok_off"))
    cred = _save(session, user_id, provider, api_key, base_url, vault or KeyVault.from_settings())
    record_audit(session=session, actor_id=user_id, action="keys.user_save", target=provider)
    session.commit()
    return _public(cred)


def _delete(session: Session, owner_id: int | None, provider: str, actor_id: int, action: str) -> bool:
    cred = _find(session, owner_id, provider)
    if cred is None:
        return False
    session.delete(cred)
    record_audit(session=session, actor_id=actor_id, action=action, target=provider)
    session.commit()
    return True


def delete_user_key(*, session: Session, user_id: int, provider: str) -> bool:
    return _delete(session, user_id, provider, user_id, "keys.user_delete")


def list_user_keys(*, session: Session, user_id: int) -> list[CredentialPublic]:
    rows = session.exec(select(ProviderCredential).where(ProviderCredential.owner_id == user_id)).all()
    return [_public(c) for c in rows]


def save_org_key(*, session: Session, actor_id: int, provider: str, api_key: str, base_url: str = "",
                 vault: KeyVault | None = None) -> CredentialPublic:
    require_admin(session=session, actor_id=actor_id)
    cred = _save(session, None, provider, api_key, base_url, vault or KeyVault.from_settings())
    record_audit(session=session, actor_id=actor_id, action="keys.org_save", target=provider)
    session.commit()
    return _public(cred)


def delete_org_key(*, session: Session, actor_id: int, provider: str) -> bool:
    require_admin(session=session, actor_id=actor_id)
    return _delete(session, None, provider, actor_id, "keys.org_delete")


def list_org_keys(*, session: Session, actor_id: int) -> list[CredentialPublic]:
    require_admin(session=session, actor_id=actor_id)
    rows = session.exec(select(ProviderCredential).where(col(ProviderCredential.owner_id).is_(None))).all()
    return [_public(c) for c in rows]


@dataclass(frozen=True)
class Resolution:
    credentials: Credentials | None
    reason: str | None  # why the provider is not offered


def resolve(*, session: Session, user_id: int, provider: str, settings: Settings | None = None,
            vault: KeyVault | None = None) -> Resolution:
    """The key a user's chat uses: their own, else the organisation's (if allowed), else a reason."""
    settings = settings or get_settings()
    if provider not in KEYED_PROVIDERS:
        return Resolution(Credentials(source="none"), None)
    rules = policy(session)
    user = session.get(User, user_id)
    own = _find(session, user_id, provider) if rules[POLICY_BYOK] else None
    org = _find(session, None, provider)
    org_allowed = rules[POLICY_ORG_FOR_ALL] or (user is not None and user.role == Role.admin.value)
    for cred, source in ((own, "user"), (org if org_allowed else None, "org")):
        if cred is not None:
            try:
                key = (vault or KeyVault.from_settings(settings)).decrypt(cred.ciphertext)
            except KeyVaultError:
                return Resolution(None, Msg("keys.reason_undecryptable"))
            return Resolution(Credentials(api_key=key, base_url=cred.base_url or None, source=source), None)
    env_key = settings.org_keys.get(provider) if org_allowed else None
    if env_key is not None:
        return Resolution(Credentials(api_key=env_key.get_secret_value(), source="org"), None)
    if provider == "compatible" and org_allowed and settings.providers.get("compatible", None) and \
            settings.providers["compatible"].base_url:
        return Resolution(Credentials(source="org"), None)  # a keyless local server configured by the operator
    if not org_allowed and (org is not None or provider in settings.org_keys):
        return Resolution(None, Msg("keys.reason_admins_only"))
    return Resolution(None, Msg("keys.reason_no_key", env=ORG_KEY_VARS[provider]))


def record_check(*, session: Session, credential_id: int, check: KeyCheck) -> None:
    cred = session.get(ProviderCredential, credential_id)
    if cred is None:
        raise NotFound(Msg("keys.gone"))
    cred.last_checked_at, cred.last_check_status = utcnow(), check.status
    session.add(cred)
    session.commit()


def decrypt_for_check(*, session: Session, actor_id: int, provider: str, org: bool = False,
                      vault: KeyVault | None = None) -> tuple[int, str, str]:
    """(credential id, key, base_url) for a validity check by the key's owner (or an admin for org keys)."""
    if org:
        require_admin(session=session, actor_id=actor_id)
    cred = _find(session, None if org else actor_id, provider)
    if cred is None or cred.id is None:
        raise NotFound(Msg("keys.not_stored"))
    return cred.id, (vault or KeyVault.from_settings()).decrypt(cred.ciphertext), cred.base_url


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    current: int
    failed: int


def rotate_all(*, session: Session, vault: KeyVault) -> RotationReport:
    """Re-encrypt every stored key under the newest master key; safe to re-run."""
    rotated = current = failed = 0
    for cred in session.exec(select(ProviderCredential)).all():
        if cred.key_version == vault.current_version:
            current += 1
            continue
        try:
            sealed = vault.rotate(cred.ciphertext)
        except KeyVaultError:
            failed += 1
            continue
        cred.ciphertext, cred.key_version = sealed.ciphertext, sealed.key_version
        session.add(cred)
        rotated += 1
    session.commit()
    return RotationReport(rotated, current, failed)
