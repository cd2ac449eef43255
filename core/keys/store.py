"""Stored provider keys: users' own and the organisation's, encrypted; nobody reads a key back.

Functions return CredentialPublic (masked). Only core.keys.resolve decrypts for the owner's own chat calls,
and decrypt_for_check for a validity check by the key's owner. Every change is audited.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.accounts import record_audit, require_admin
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.keys.policy import POLICY_BYOK, policy
from core.keys.resolve import KEYED_PROVIDERS
from core.keys.urls import check_public_url
from core.keys.vault import KeyVault, KeyVaultError
from core.models import CheckStatus, CredentialPublic, ProviderCredential, utcnow
from core.providers.base import KeyCheck

_ALLOWED = set(string.ascii_letters + string.digits + "-_.:+/=")


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


def clean_base_url(raw: str, provider: str, *, users_own: bool = True) -> str:
    """The compatible server's address; a user's own must be public (see core.keys.urls)."""
    url = (raw or "").strip()
    if provider != "compatible":
        return ""
    if not url.startswith(("http://", "https://")) or any(ch.isspace() for ch in url) or len(url) > 500:
        raise ValidationError(Msg("keys.bad_url"))
    if users_own:
        check_public_url(url)
    return url


def _check_provider(provider: str) -> None:
    if provider not in KEYED_PROVIDERS:
        raise ValidationError(Msg("keys.unknown_provider", providers=", ".join(KEYED_PROVIDERS)))


def _find(session: Session, owner_id: int | None, provider: str) -> ProviderCredential | None:
    owner = col(ProviderCredential.owner_id)
    return session.exec(select(ProviderCredential).where(
        owner.is_(None) if owner_id is None else owner == owner_id, ProviderCredential.provider == provider)).first()


def _save(session: Session, owner_id: int | None, provider: str, api_key: str, base_url: str, actor_id: int,
          vault: KeyVault | None) -> CredentialPublic:
    _check_provider(provider)
    key, url = clean_key(api_key), clean_base_url(base_url, provider, users_own=owner_id is not None)
    sealed = (vault or KeyVault.from_settings()).encrypt(key)
    cred = _find(session, owner_id, provider) or ProviderCredential(owner_id=owner_id, provider=provider,
                                                                    ciphertext="", key_version="", last4="")
    cred.ciphertext, cred.key_version, cred.last4, cred.base_url = sealed.ciphertext, sealed.key_version, key[-4:], url
    cred.updated_at, cred.last_checked_at, cred.last_check_status = utcnow(), None, None
    session.add(cred)
    action = "keys.user_save" if owner_id is not None else "keys.org_save"
    record_audit(session=session, actor_id=actor_id, action=action, target=provider)
    session.commit()
    return CredentialPublic.model_validate(cred)


def _delete(session: Session, owner_id: int | None, provider: str, actor_id: int) -> bool:
    cred = _find(session, owner_id, provider)
    if cred is None:
        return False
    session.delete(cred)
    action = "keys.user_delete" if owner_id is not None else "keys.org_delete"
    record_audit(session=session, actor_id=actor_id, action=action, target=provider)
    session.commit()
    return True


def _list(session: Session, owner_id: int | None) -> list[CredentialPublic]:
    owner = col(ProviderCredential.owner_id)
    rows = session.exec(select(ProviderCredential).where(owner.is_(None) if owner_id is None
                                                         else owner == owner_id)).all()
    return [CredentialPublic.model_validate(c) for c in rows]


def save_user_key(*, session: Session, user_id: int, provider: str, api_key: str, base_url: str = "",
                  vault: KeyVault | None = None) -> CredentialPublic:
    """Add or replace the user's own key for a provider."""
    if not policy(session)[POLICY_BYOK]:
        raise ValidationError(Msg("keys.byok_off"))
    return _save(session, user_id, provider, api_key, base_url, user_id, vault)


def delete_user_key(*, session: Session, user_id: int, provider: str) -> bool:
    return _delete(session, user_id, provider, user_id)


def list_user_keys(*, session: Session, user_id: int) -> list[CredentialPublic]:
    return _list(session, user_id)


def save_org_key(*, session: Session, actor_id: int, provider: str, api_key: str, base_url: str = "",
                 vault: KeyVault | None = None) -> CredentialPublic:
    require_admin(session=session, actor_id=actor_id)
    return _save(session, None, provider, api_key, base_url, actor_id, vault)


def delete_org_key(*, session: Session, actor_id: int, provider: str) -> bool:
    require_admin(session=session, actor_id=actor_id)
    return _delete(session, None, provider, actor_id)


def list_org_keys(*, session: Session, actor_id: int) -> list[CredentialPublic]:
    require_admin(session=session, actor_id=actor_id)
    return _list(session, None)


def record_check(*, session: Session, credential_id: int, check: KeyCheck) -> None:
    cred = session.get(ProviderCredential, credential_id)
    if cred is None:
        raise NotFound(Msg("keys.gone"))
    cred.last_checked_at, cred.last_check_status = utcnow(), CheckStatus(check.status)
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
    if cred.base_url and not org:
        check_public_url(cred.base_url)  # again: the name may resolve elsewhere now, or the rule may have changed
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


def list_keys(*, session: Session, actor_id: int, org: bool = False) -> list[CredentialPublic]:
    """The actor's own keys, or (org=True, admins only) the organisation's."""
    return list_org_keys(session=session, actor_id=actor_id) if org else list_user_keys(session=session,
                                                                                       user_id=actor_id)


def save_key(*, session: Session, actor_id: int, provider: str, api_key: str, base_url: str = "", org: bool = False,
             vault: KeyVault | None = None) -> CredentialPublic:
    """Add or replace the actor's own key, or (org=True, admins only) the organisation's."""
    if org:
        return save_org_key(session=session, actor_id=actor_id, provider=provider, api_key=api_key,
                            base_url=base_url, vault=vault)
    return save_user_key(session=session, user_id=actor_id, provider=provider, api_key=api_key, base_url=base_url,
                         vault=vault)


def delete_key(*, session: Session, actor_id: int, provider: str, org: bool = False) -> bool:
    """Delete the actor's own key, or (org=True, admins only) the organisation's."""
    if org:
        return delete_org_key(session=session, actor_id=actor_id, provider=provider)
    return delete_user_key(session=session, user_id=actor_id, provider=provider)
